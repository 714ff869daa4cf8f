package webhooks_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/webhooks"
	"github.com/passhub/passhub/core"
)

// countingLister counts the store queries the Consumer makes and can
// fail the next one.
type countingLister struct {
	webhooks.ActiveWebhooks
	queries atomic.Int64
	failOne atomic.Bool
}

func (c *countingLister) ListActiveWebhooks(ctx context.Context, ws string) ([]core.WebhookSubscription, error) {
	c.queries.Add(1)
	if c.failOne.CompareAndSwap(true, false) {
		return nil, errors.New("database unavailable")
	}
	return c.ActiveWebhooks.ListActiveWebhooks(ctx, ws)
}

func subIDsOf(t *testing.T, jobs []core.Job) []string {
	t.Helper()
	var ids []string
	for _, j := range jobs {
		if j.Kind != core.JobKindWebhookDeliver {
			t.Fatalf("job kind %s", j.Kind)
		}
		ids = append(ids, payloadOf(t, j).SubscriptionID)
	}
	slices.Sort(ids)
	return ids
}

func TestConsumerFansOutToMatchingSubscriptions(t *testing.T) {
	e := newDeliveryEnv(t)
	other, err := e.svc.CreateTemplate(e.ctx, e.ws, core.Template{Name: "Ticket", Style: core.StyleEventTicket, Description: "d", OrganizationName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:1/in"
	all := e.subscribe(webhooks.Input{URL: url, Events: []string{"*"}})
	passes := e.subscribe(webhooks.Input{URL: url, Events: []string{"pass.*"}})
	e.subscribe(webhooks.Input{URL: url, Events: []string{"pass.installed"}})
	e.subscribe(webhooks.Input{URL: url, Events: []string{"pass.*"}, TemplateID: other.ID})
	sameTpl := e.subscribe(webhooks.Input{URL: url, Events: []string{"pass.record_added"}, TemplateID: e.tpl.ID})
	paused := e.subscribe(webhooks.Input{URL: url, Events: []string{"*"}})
	yes := true
	if _, err := e.m.Update(e.ctx, e.ws, paused.Subscription.ID, webhooks.Patch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}

	c, err := webhooks.NewConsumer(webhooks.ConsumerConfig{Store: e.store})
	if err != nil {
		t.Fatal(err)
	}
	ev := core.Event{ID: core.NewID(core.PrefixEvent), WorkspaceID: e.ws, Type: core.EventRecordAdded, OccurredAt: e.clock.Now(),
		Data: core.EventData{TemplateID: e.tpl.ID}}
	jobs, err := c.JobsFor(e.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{all.Subscription.ID, passes.Subscription.ID, sameTpl.Subscription.ID}
	slices.Sort(want)
	if got := subIDsOf(t, jobs); !slices.Equal(got, want) {
		t.Fatalf("jobs for %v, want %v", got, want)
	}
	for _, j := range jobs {
		p := payloadOf(t, j)
		if j.Key != core.WebhookDeliveryID(ev.ID, p.SubscriptionID) || p.EventID != ev.ID {
			t.Errorf("job key %s payload %+v", j.Key, p)
		}
	}
}

func TestConsumerReadsEachWorkspaceOncePerTTL(t *testing.T) {
	e := newDeliveryEnv(t)
	first := e.subscribe(webhooks.Input{URL: "http://127.0.0.1:1/a"})
	lister := &countingLister{ActiveWebhooks: e.store}
	clock := &testClock{t: time.Now()}
	c, err := webhooks.NewConsumer(webhooks.ConsumerConfig{Store: lister, TTL: 2 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ev := func() core.Event {
		return core.Event{ID: core.NewID(core.PrefixEvent), WorkspaceID: e.ws, Type: core.EventUpdated, Data: core.EventData{TemplateID: e.tpl.ID}}
	}

	// A burst of events, concurrently, from a cold cache: one query.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			jobs, err := c.JobsFor(e.ctx, ev())
			if err != nil || len(jobs) != 1 {
				t.Errorf("JobsFor: %d jobs, %v", len(jobs), err)
			}
		})
	}
	wg.Wait()
	if n := lister.queries.Load(); n != 1 {
		t.Fatalf("%d queries for 50 events, want 1", n)
	}

	// A subscription created now gets events once the TTL has passed.
	second := e.subscribe(webhooks.Input{URL: "http://127.0.0.1:1/b"})
	clock.Advance(2*time.Second - time.Millisecond)
	jobs, _ := c.JobsFor(e.ctx, ev())
	if got := subIDsOf(t, jobs); !slices.Equal(got, []string{first.Subscription.ID}) {
		t.Fatalf("within the TTL: jobs for %v", got)
	}
	clock.Advance(time.Millisecond)
	jobs, _ = c.JobsFor(e.ctx, ev())
	want := []string{first.Subscription.ID, second.Subscription.ID}
	slices.Sort(want)
	if got := subIDsOf(t, jobs); !slices.Equal(got, want) {
		t.Fatalf("after the TTL: jobs for %v, want %v", got, want)
	}
	if n := lister.queries.Load(); n != 2 {
		t.Fatalf("%d queries, want 2", n)
	}

	// A failed query is not cached.
	clock.Advance(time.Hour)
	lister.failOne.Store(true)
	if _, err := c.JobsFor(e.ctx, ev()); err == nil {
		t.Fatal("the store's error was not returned")
	}
	if jobs, err := c.JobsFor(e.ctx, ev()); err != nil || len(jobs) != 2 {
		t.Fatalf("after a failed query: %d jobs, %v", len(jobs), err)
	}
}
