package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/passhub/passhub/core"
)

// Chore is periodic housekeeping that runs beside the worker, such as
// purging expired idempotency keys.
type Chore struct {
	Name     string
	Interval time.Duration
	Run      func(ctx context.Context) error
}

// RunChores runs every chore once at start and then every Interval until
// ctx ends. A chore's error is logged and the chore runs again at its
// next interval; one chore never delays another.
func RunChores(ctx context.Context, log *slog.Logger, chores ...Chore) error {
	log = loggerOrDefault(log).With("component", "chores")
	for _, c := range chores {
		if c.Interval <= 0 || c.Run == nil {
			return errors.New("chore " + c.Name + ": needs a positive interval and a function")
		}
	}
	var wg sync.WaitGroup
	for _, c := range chores {
		wg.Go(func() {
			ticker := time.NewTicker(c.Interval)
			defer ticker.Stop()
			for {
				if err := c.Run(ctx); err != nil && ctx.Err() == nil {
					log.Error("running chore", "chore", c.Name, "err", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-ticker.C:
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// DefaultIdempotencyKeyTTL is how long an Idempotency-Key is remembered.
const DefaultIdempotencyKeyTTL = 24 * time.Hour

// PurgeIdempotencyKeys is the hourly chore that deletes idempotency
// records older than ttl (default 24h).
func PurgeIdempotencyKeys(store core.IdempotencyStore, ttl time.Duration, log *slog.Logger) Chore {
	if ttl <= 0 {
		ttl = DefaultIdempotencyKeyTTL
	}
	log = loggerOrDefault(log)
	return Chore{
		Name:     "purge-idempotency-keys",
		Interval: time.Hour,
		Run: func(ctx context.Context) error {
			n, err := store.PurgeIdempotencyKeys(ctx, time.Now().Add(-ttl))
			if err != nil {
				return fmt.Errorf("purging idempotency keys: %w", err)
			}
			if n > 0 {
				log.Info("purged idempotency keys", "count", n)
			}
			return nil
		},
	}
}
