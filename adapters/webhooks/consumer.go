package webhooks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/passhub/passhub/core"
)

// DefaultCacheTTL is how long the Consumer reuses a workspace's list of
// active subscriptions: a new subscription gets events at most this long
// after it was created.
const DefaultCacheTTL = time.Second

// maxCachedWorkspaces bounds the cache before expired entries are swept.
const maxCachedWorkspaces = 4096

// ActiveWebhooks lists a workspace's enabled subscriptions (the store
// does).
type ActiveWebhooks interface {
	ListActiveWebhooks(ctx context.Context, workspaceID string) ([]core.WebhookSubscription, error)
}

// ConsumerConfig configures a Consumer. Store is required.
type ConsumerConfig struct {
	Store ActiveWebhooks
	// TTL is how long a workspace's subscription list is reused (default
	// DefaultCacheTTL; negative: never cached).
	TTL time.Duration
	// Now is the cache's clock (default time.Now).
	Now func() time.Time
}

// Consumer fans an event out to one webhook.deliver job per matching
// active subscription. It keeps each workspace's subscription list for a
// short while, so a burst of events reads it once, however many
// subscriptions there are.
type Consumer struct {
	cfg   ConsumerConfig
	mu    sync.Mutex
	cache map[string]*subsEntry
}

var _ core.EventConsumer = (*Consumer)(nil)

// subsEntry is one workspace's list; ready closes when it is loaded, so
// concurrent misses wait for one query instead of each making their own.
type subsEntry struct {
	ready  chan struct{}
	loaded time.Time // when the query started
	subs   []core.WebhookSubscription
	err    error
}

// NewConsumer returns a Consumer for cfg.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("webhook consumer: Store is required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Consumer{cfg: cfg, cache: map[string]*subsEntry{}}, nil
}

// JobsFor returns a webhook.deliver job for each active subscription of
// the event's workspace that wants it. The job key is the message ID, so
// a re-run of the fan-out creates no second job.
func (c *Consumer) JobsFor(ctx context.Context, ev core.Event) ([]core.Job, error) {
	subs, err := c.active(ctx, ev.WorkspaceID)
	if err != nil {
		return nil, err
	}
	var jobs []core.Job
	for _, s := range subs {
		if s.Matches(ev) {
			jobs = append(jobs, core.WebhookDeliverJob(ev.WorkspaceID, s.ID, ev.ID, "", ev.OccurredAt))
		}
	}
	return jobs, nil
}

func (c *Consumer) active(ctx context.Context, workspaceID string) ([]core.WebhookSubscription, error) {
	if c.cfg.TTL < 0 {
		return c.load(ctx, workspaceID)
	}
	now := c.cfg.Now()
	c.mu.Lock()
	e, ok := c.cache[workspaceID]
	if ok && !c.fresh(e, now) {
		ok = false
	}
	if !ok {
		e = &subsEntry{ready: make(chan struct{}), loaded: now}
		if len(c.cache) >= maxCachedWorkspaces {
			c.sweep(now)
		}
		c.cache[workspaceID] = e
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil {
			return e.subs, nil
		}
		// The load we waited for failed; try ourselves.
		return c.load(ctx, workspaceID)
	}
	e.subs, e.err = c.load(ctx, workspaceID)
	close(e.ready)
	if e.err != nil {
		c.mu.Lock()
		if c.cache[workspaceID] == e {
			delete(c.cache, workspaceID)
		}
		c.mu.Unlock()
	}
	return e.subs, e.err
}

// fresh reports whether e is loading or was loaded less than TTL ago.
func (c *Consumer) fresh(e *subsEntry, now time.Time) bool {
	return now.Sub(e.loaded) < c.cfg.TTL
}

// sweep drops expired entries; c.mu is held.
func (c *Consumer) sweep(now time.Time) {
	for ws, e := range c.cache {
		if !c.fresh(e, now) {
			delete(c.cache, ws)
		}
	}
}

func (c *Consumer) load(ctx context.Context, workspaceID string) ([]core.WebhookSubscription, error) {
	subs, err := c.cfg.Store.ListActiveWebhooks(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("listing webhooks of workspace %s: %w", workspaceID, err)
	}
	return subs, nil
}
