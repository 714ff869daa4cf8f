package httpapi

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/core"
)

// Page sizes of list endpoints.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// list is the envelope of every list answer. NextCursor is omitted on the
// last page.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"nextCursor,omitempty"`
}

func listOf[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{} // an empty page is [], not null
	}
	return list[T]{Data: items, NextCursor: next}
}

// pageParams reads cursor and limit.
func pageParams(c echo.Context) (core.Page, error) {
	p := core.Page{Cursor: c.QueryParam("cursor"), Limit: DefaultLimit}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return p, badRequest(errBadParameter, "limit", fmt.Sprintf("limit must be an integer from 1 to %d", MaxLimit))
		}
		p.Limit = n
	}
	return p, nil
}

// paramError reports a core validation failure of a query parameter
// (an unknown cursor) as the 400 every other bad parameter gets.
func paramError(err error, params ...string) error {
	var fe *core.FieldError
	if errors.As(err, &fe) && slices.Contains(params, fe.Field) {
		return badRequest(errBadParameter, fe.Field, fe.Field+" "+fe.Reason)
	}
	return err
}

// timeParam reads an optional RFC 3339 timestamp.
func timeParam(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest(errBadParameter, name, name+" must be an RFC 3339 timestamp such as 2025-01-31T12:00:00Z")
	}
	return t, nil
}
