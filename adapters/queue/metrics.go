package queue

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// workerMetrics count task outcomes by job kind.
type workerMetrics struct {
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	duplicate *prometheus.CounterVec
}

func newWorkerMetrics(reg prometheus.Registerer) (*workerMetrics, error) {
	m := &workerMetrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "passhub", Subsystem: "jobs", Name: "processed_total",
			Help: "Job task deliveries that ended without error (duplicates included), by kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "passhub", Subsystem: "jobs", Name: "failed_total",
			Help: "Job task runs that failed, by kind and whether the failure was final.",
		}, []string{"kind", "final"}),
		duplicate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "passhub", Subsystem: "jobs", Name: "duplicate_total",
			Help: "Deliveries of jobs that were already done (no effect), by kind.",
		}, []string{"kind"}),
	}
	var err error
	if m.processed, err = register(reg, m.processed); err != nil {
		return nil, err
	}
	if m.failed, err = register(reg, m.failed); err != nil {
		return nil, err
	}
	if m.duplicate, err = register(reg, m.duplicate); err != nil {
		return nil, err
	}
	return m, nil
}

// relayMetrics count what the relay and the sweeper hand to the queue.
type relayMetrics struct {
	enqueued prometheus.Counter
	redriven prometheus.Counter
}

func newRelayMetrics(reg prometheus.Registerer) (*relayMetrics, error) {
	m := &relayMetrics{
		enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "passhub", Subsystem: "relay", Name: "enqueued_total",
			Help: "Pending jobs the relay handed to the queue.",
		}),
		redriven: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "passhub", Subsystem: "sweeper", Name: "redriven_total",
			Help: "Stale jobs the sweeper handed to the queue again (a no-op when their task was still alive).",
		}),
	}
	var err error
	if m.enqueued, err = register(reg, m.enqueued); err != nil {
		return nil, err
	}
	if m.redriven, err = register(reg, m.redriven); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered
// under its name so that two components in one process can share one
// registry. A nil registry leaves c unregistered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("registering metrics: %w", err)
	}
	return c, nil
}
