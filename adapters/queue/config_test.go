package queue_test

import (
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/core"
)

func TestRoutingValidate(t *testing.T) {
	tests := []struct {
		name    string
		routing queue.Routing
		wantErr string
	}{
		{name: "defaults"},
		{name: "custom queue for a kind", routing: queue.Routing{
			Queues:  map[string]int{"fast": 2, "slow": 1},
			Kinds:   map[string]queue.KindOptions{"a": {Queue: "fast"}},
			Default: queue.KindOptions{Queue: "slow"},
		}},
		{name: "kind in unknown queue", routing: queue.Routing{
			Kinds: map[string]queue.KindOptions{"a": {Queue: "nope"}},
		}, wantErr: `kind a goes to queue "nope"`},
		{name: "default in unknown queue", routing: queue.Routing{
			Queues: map[string]int{"only": 1},
		}, wantErr: `the default kind goes to queue "default"`},
		{name: "non-positive priority", routing: queue.Routing{
			Queues: map[string]int{"default": 0},
		}, wantErr: "priority 0"},
		{name: "negative timeout", routing: queue.Routing{
			Kinds: map[string]queue.KindOptions{"a": {Timeout: -time.Second}},
		}, wantErr: "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.routing.WithDefaults().Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRoutingFor(t *testing.T) {
	r := queue.Routing{
		Kinds:   map[string]queue.KindOptions{"webhook.deliver": {Queue: queue.QueueLow, MaxRetry: -1}},
		Default: queue.KindOptions{MaxRetry: 3},
	}
	r = r.WithDefaults()
	tests := []struct {
		kind string
		want queue.KindOptions
	}{
		{"webhook.deliver", queue.KindOptions{Queue: queue.QueueLow, MaxRetry: -1, Timeout: queue.DefaultTimeout}},
		{"apple.push", queue.KindOptions{Queue: queue.QueueDefault, MaxRetry: 3, Timeout: queue.DefaultTimeout}},
	}
	for _, tt := range tests {
		if got := r.For(tt.kind); got != tt.want {
			t.Errorf("For(%q) = %+v, want %+v", tt.kind, got, tt.want)
		}
	}
	def := queue.Routing{}.WithDefaults()
	if got := def.For(core.JobKindDispatch).Queue; got != queue.QueueCritical {
		t.Errorf("default routing sends dispatch to %q, want critical", got)
	}
}
