package core

import (
	"errors"
	"fmt"
	"time"
)

// Domain errors. Adapters translate them to transport answers in one place
// (the HTTP API maps them to status codes); stores translate driver errors
// into them.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	// ErrJobDone says a job was already completed by someone else: the
	// caller's work was a duplicate delivery and must have no effect.
	ErrJobDone = errors.New("job already done")
	// ErrPermanent marks a failure that retrying cannot fix.
	ErrPermanent = errors.New("permanent failure")
)

// FieldError is a validation failure that names the offending field with a
// JSON pointer-ish path ("data.points", "fields.primary[0].key").
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Invalid builds a FieldError.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ConflictError is a conflict with the current state, naming the field
// whose value collides where there is one.
type ConflictError struct {
	Field  string
	Reason string
}

func (e *ConflictError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}
func (e *ConflictError) Unwrap() error { return ErrConflict }

// RetryAfterError is a transient failure that knows when to try again
// (an upstream Retry-After, a quota window). The queue honours the delay.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }
