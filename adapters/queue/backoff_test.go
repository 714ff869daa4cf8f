package queue_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/core"
)

func TestBackoffDelay(t *testing.T) {
	b := queue.Backoff{Base: time.Second, Max: 10 * time.Minute}
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{0, 500 * time.Millisecond, time.Second},
		{1, time.Second, 2 * time.Second},
		{5, 16 * time.Second, 32 * time.Second},
		{9, 256 * time.Second, 512 * time.Second},
		{10, 5 * time.Minute, 10 * time.Minute},  // capped
		{100, 5 * time.Minute, 10 * time.Minute}, // no overflow
	}
	for _, tt := range tests {
		for range 50 {
			if d := b.Delay(tt.n); d < tt.min || d > tt.max {
				t.Fatalf("Delay(%d) = %s, want in [%s, %s]", tt.n, d, tt.min, tt.max)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"plain", errors.New("boom"), 0, false},
		{"direct", &core.RetryAfterError{After: time.Minute, Err: errors.New("429")}, time.Minute, true},
		{"wrapped", fmt.Errorf("running job 7: %w", &core.RetryAfterError{After: 3 * time.Second}), 3 * time.Second, true},
		{"zero delay means backoff", &core.RetryAfterError{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := queue.RetryAfter(tt.err)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("RetryAfter = %s, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
