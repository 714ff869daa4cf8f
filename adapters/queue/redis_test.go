package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/adapters/queue/redistest"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		url     string
		want    asynq.RedisClientOpt
		tls     bool
		wantErr bool
	}{
		{url: "redis://localhost:6379", want: asynq.RedisClientOpt{Network: "tcp", Addr: "localhost:6379"}},
		{url: "redis://:secret@redis:6380/3", want: asynq.RedisClientOpt{Network: "tcp", Addr: "redis:6380", Password: "secret", DB: 3}},
		{url: "redis://user:pw@redis/2", want: asynq.RedisClientOpt{Network: "tcp", Addr: "redis:6379", Username: "user", Password: "pw", DB: 2}},
		{url: "rediss://redis.example.com:6380/0", want: asynq.RedisClientOpt{Network: "tcp", Addr: "redis.example.com:6380"}, tls: true},
		{url: "redis://localhost/notanumber", wantErr: true},
		{url: "http://localhost", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := queue.ParseRedisURL(tt.url)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.TLSConfig != nil) != tt.tls {
				t.Errorf("TLS = %v, want %v", got.TLSConfig != nil, tt.tls)
			}
			got.TLSConfig = nil
			// Timeouts and pool size are go-redis defaults; not ours to pin.
			got.DialTimeout, got.ReadTimeout, got.WriteTimeout, got.PoolSize = 0, 0, 0, 0
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPinger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	up, err := queue.NewPinger(redistest.NewRedis(t))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if err := up.Ping(ctx); err != nil {
		t.Errorf("ping of a live redis: %v", err)
	}

	down, err := queue.NewPinger(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if err := down.Ping(ctx); err == nil {
		t.Error("ping of a closed port succeeded")
	}
}
