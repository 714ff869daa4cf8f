package httpapi

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP request metrics, labelled by method, route pattern
// (never the raw path) and status.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"method", "route", "status"}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "passhub", Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered, by method, route pattern and status.",
	}, labels)
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "passhub", Subsystem: "http", Name: "request_duration_seconds",
		Help:    "HTTP request latency, by method, route pattern and status.",
		Buckets: prometheus.DefBuckets,
	}, labels)
	var err error
	if requests, err = register(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	return &metrics{requests: requests, duration: duration}, nil
}

// register adds c to reg, or reuses the identical collector already there
// (a second Server on the same registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("registering HTTP metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) observe(method, route string, status int, latency time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(method, route, code).Inc()
	m.duration.WithLabelValues(method, route, code).Observe(latency.Seconds())
}
