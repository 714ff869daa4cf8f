package queue

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/passhub/passhub/core"
)

// ParseRedisURL parses redis://[[user]:password@]host[:port][/db] (or
// rediss:// for TLS, with go-redis query options such as dial_timeout)
// into asynq connection options.
func ParseRedisURL(raw string) (asynq.RedisClientOpt, error) {
	o, err := redis.ParseURL(raw)
	if err != nil {
		return asynq.RedisClientOpt{}, fmt.Errorf("parsing redis URL: %w", err)
	}
	return asynq.RedisClientOpt{
		Network:      o.Network,
		Addr:         o.Addr,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  o.DialTimeout,
		ReadTimeout:  o.ReadTimeout,
		WriteTimeout: o.WriteTimeout,
		PoolSize:     o.PoolSize,
		TLSConfig:    o.TLSConfig,
	}, nil
}

// Pinger checks that Redis answers, for readiness probes.
type Pinger struct{ rdb redis.UniversalClient }

var _ core.Pinger = (*Pinger)(nil)

// NewPinger returns a pinger with its own small connection pool.
func NewPinger(opt asynq.RedisConnOpt) (*Pinger, error) {
	rdb, err := redisClient(opt)
	if err != nil {
		return nil, err
	}
	return &Pinger{rdb: rdb}, nil
}

// Ping reports whether Redis answers.
func (p *Pinger) Ping(ctx context.Context) error {
	if err := p.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging redis: %w", err)
	}
	return nil
}

// Close releases the connection.
func (p *Pinger) Close() error { return p.rdb.Close() }
