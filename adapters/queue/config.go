package queue

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/passhub/passhub/core"
)

// Queue names and their default priorities: with all three busy, workers
// take critical tasks 60% of the time, default 30%, low 10%.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueLow      = "low"
)

// Defaults for task options.
const (
	DefaultMaxRetry = 25
	DefaultTimeout  = 5 * time.Minute
)

// DefaultQueues are the queues a worker serves, with their priorities.
func DefaultQueues() map[string]int {
	return map[string]int{QueueCritical: 6, QueueDefault: 3, QueueLow: 1}
}

// KindOptions say how the tasks of one job kind are queued.
type KindOptions struct {
	// Queue is the queue the kind's tasks go to (default "default").
	Queue string
	// MaxRetry is how often a failing task is retried before its job is
	// failed for good. Zero means DefaultMaxRetry (25); a negative value
	// means no retry at all.
	MaxRetry int
	// Timeout bounds one run of a task (default 5 minutes).
	Timeout time.Duration
}

func (o KindOptions) withDefaults(d KindOptions) KindOptions {
	if o.Queue == "" {
		o.Queue = d.Queue
	}
	if o.MaxRetry == 0 {
		o.MaxRetry = d.MaxRetry
	}
	if o.Timeout == 0 {
		o.Timeout = d.Timeout
	}
	return o
}

// maxRetry is the value asynq wants (0 = no retry).
func (o KindOptions) maxRetry() int { return max(o.MaxRetry, 0) }

// Routing maps job kinds to queues and retry policy. The Enqueuer and the
// Worker must be given the same routing: the worker serves exactly the
// queues listed here.
type Routing struct {
	// Queues maps queue names to priorities (default DefaultQueues).
	Queues map[string]int
	// Kinds holds per-kind options; kinds not listed use Default. Event
	// dispatch goes to the critical queue (if there is one) unless listed
	// here, so fan-out is never stuck behind slow deliveries.
	Kinds map[string]KindOptions
	// Default applies to kinds not in Kinds and fills unset fields of
	// those that are (default: queue "default", 25 retries, 5 minutes).
	Default KindOptions
}

// WithDefaults returns r with every unset field at its default.
func (r Routing) WithDefaults() Routing {
	r.setDefaults()
	return r
}

func (r *Routing) setDefaults() {
	if len(r.Queues) == 0 {
		r.Queues = DefaultQueues()
	}
	_, listed := r.Kinds[core.JobKindDispatch]
	if _, critical := r.Queues[QueueCritical]; critical && !listed {
		kinds := maps.Clone(r.Kinds)
		if kinds == nil {
			kinds = map[string]KindOptions{}
		}
		kinds[core.JobKindDispatch] = KindOptions{Queue: QueueCritical}
		r.Kinds = kinds
	}
	r.Default = r.Default.withDefaults(KindOptions{Queue: QueueDefault, MaxRetry: DefaultMaxRetry, Timeout: DefaultTimeout})
}

// Validate reports a routing that would strand tasks in a queue no worker
// serves.
func (r Routing) Validate() error {
	for q, p := range r.Queues {
		if q == "" {
			return errors.New("routing: empty queue name")
		}
		if p <= 0 {
			return fmt.Errorf("routing: queue %q has priority %d, must be positive", q, p)
		}
	}
	check := func(what string, o KindOptions) error {
		if _, ok := r.Queues[o.Queue]; !ok {
			return fmt.Errorf("routing: %s goes to queue %q, which is not in Queues %v", what, o.Queue, slices.Sorted(maps.Keys(r.Queues)))
		}
		if o.Timeout < 0 {
			return fmt.Errorf("routing: %s has negative timeout %s", what, o.Timeout)
		}
		return nil
	}
	if err := check("the default kind", r.Default); err != nil {
		return err
	}
	for k, o := range r.Kinds {
		if k == "" {
			return errors.New("routing: empty job kind")
		}
		if err := check("kind "+k, o.withDefaults(r.Default)); err != nil {
			return err
		}
	}
	return nil
}

// For returns the options of kind, defaults applied.
func (r Routing) For(kind string) KindOptions {
	return r.Kinds[kind].withDefaults(r.Default)
}
