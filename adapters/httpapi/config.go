package httpapi

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/passhub/passhub/core"
)

// DefaultMaxBodyBytes bounds request bodies unless Config says otherwise.
const DefaultMaxBodyBytes = 1 << 20

// Idempotency windows: a completed answer is replayed for IdempotencyTTL;
// a claim never completed (the process died mid-request) may be taken over
// after idempotencyStaleAfter, so a crash does not block a key for a day.
const (
	IdempotencyTTL        = 24 * time.Hour
	idempotencyStaleAfter = 2 * time.Minute
)

// readinessTimeout is how long /readyz waits for every Pinger.
const readinessTimeout = 2 * time.Second

// Config is what the REST API needs. Service is required; everything else
// has a default (see withDefaults).
type Config struct {
	// Service runs the use cases. Required.
	Service *core.Service
	// Idempotency remembers answers to requests carrying an
	// Idempotency-Key. Nil disables the feature: the header is ignored.
	Idempotency core.IdempotencyStore
	// Readiness lists the backing services /readyz pings, by name
	// ("store", "redis"). Nil entries are not allowed.
	Readiness map[string]core.Pinger
	// Logger receives one structured line per request. Default: discard.
	Logger *slog.Logger
	// Registerer and Gatherer are where HTTP metrics go and where /metrics
	// reads them. Both nil: a private registry with Go and process
	// collectors. Set both or neither.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// MaxBodyBytes bounds request bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Version is reported by /healthz and the OpenAPI document's server.
	Version string
	// OnCommit is called after every successful write (2xx answer to a
	// POST, PUT, PATCH or DELETE that was not a replay), so an in-process
	// outbox relay can wake up. It must not block. May be nil.
	OnCommit func()
	// Apple serves Apple credentials, pass downloads, share links, the
	// push log and the PassKit web service. Nil: those routes are absent.
	Apple *AppleConfig
	// Google serves Google credentials, save links, template images for
	// Google and the save/delete callbacks. Nil: those routes are absent.
	Google *GoogleConfig
	// Connectors serves connectors, their hook URLs, triggers and mapping
	// files. Nil: those routes are absent.
	Connectors *ConnectorsConfig
	// Webhooks serves outbound webhook subscriptions, their delivery log
	// and replays. Nil: those routes are absent.
	Webhooks *WebhooksConfig
	// Now is the clock for idempotency records. Default time.Now (UTC).
	Now func() time.Time
}

// withDefaults returns cfg with every unset optional field filled in.
func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil && cfg.Gatherer == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		cfg.Registerer, cfg.Gatherer = reg, reg
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.OnCommit == nil {
		cfg.OnCommit = func() {}
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	return cfg
}

// Validate reports what is wrong with cfg (after defaults).
func (cfg Config) Validate() error {
	var errs []error
	if cfg.Service == nil {
		errs = append(errs, errors.New("Service is required"))
	}
	if (cfg.Registerer == nil) != (cfg.Gatherer == nil) {
		errs = append(errs, errors.New("Registerer and Gatherer must be set together"))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("MaxBodyBytes must not be negative"))
	}
	if cfg.Apple != nil {
		if err := cfg.Apple.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Connectors != nil {
		if err := cfg.Connectors.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Webhooks != nil {
		if err := cfg.Webhooks.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Google != nil {
		if err := cfg.Google.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for name, p := range cfg.Readiness {
		if name == "" {
			errs = append(errs, errors.New("Readiness has an empty name"))
		}
		if p == nil {
			errs = append(errs, errors.New("Readiness "+name+" is nil"))
		}
	}
	return errors.Join(errs...)
}
