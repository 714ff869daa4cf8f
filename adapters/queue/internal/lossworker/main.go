// Command lossworker is the worker process of the queue's kill -9 loss
// test: it runs the relay, the sweeper and a worker with the dispatch and
// effect handlers against a PostgreSQL store and a Redis database, and
// appends "ran <job>" and "done <job>" lines to a record file. It is
// built and killed by the test; nothing else uses it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/passhub/passhub/adapters/postgres"
	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/adapters/queue/internal/losstest"
	"github.com/passhub/passhub/core"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lossworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("lossworker", flag.ContinueOnError)
	dsn := fs.String("postgres", "", "PostgreSQL DSN of the store")
	redisURL := fs.String("redis", "", "Redis URL, database included")
	recordPath := fs.String("record", "", "file to append effect runs and completions to")
	effectDelay := fs.Duration("effect-delay", 2*time.Millisecond, "how long an effect takes, so some are in flight when killed")
	staleAge := fs.Duration("stale-age", time.Second, "sweeper stale age")
	sweep := fs.Duration("sweep", 250*time.Millisecond, "sweeper interval")
	concurrency := fs.Int("concurrency", 8, "worker concurrency")
	verbose := fs.Bool("v", false, "log to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" || *redisURL == "" || *recordPath == "" {
		return errors.New("-postgres, -redis and -record are required")
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	store, err := postgres.Open(ctx, *dsn, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	redisOpt, err := queue.ParseRedisURL(*redisURL)
	if err != nil {
		return err
	}
	rec, err := openRecord(*recordPath)
	if err != nil {
		return err
	}
	defer rec.f.Close()

	runner := losstest.NewRunner(store, store, rec, func(ctx context.Context, _ core.Job) error {
		select {
		case <-time.After(*effectDelay):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	enq, err := queue.NewEnqueuer(redisOpt, queue.EnqueuerConfig{})
	if err != nil {
		return err
	}
	defer enq.Close()
	relayer, err := queue.NewRelayer(&core.Relay{Store: store, Queue: enq}, queue.RelayConfig{
		PollInterval: 20 * time.Millisecond, SweepInterval: *sweep, StaleAge: *staleAge, Logger: log,
	})
	if err != nil {
		return err
	}
	worker, err := queue.NewWorker(queue.WorkerConfig{
		Redis: redisOpt, Runner: runner, Concurrency: *concurrency, Logger: log,
		TaskPoll: 20 * time.Millisecond, RetryPoll: 200 * time.Millisecond,
		Backoff: queue.Backoff{Base: 10 * time.Millisecond, Max: 200 * time.Millisecond},
	})
	if err != nil {
		return err
	}
	if err := worker.Start(); err != nil {
		return err
	}
	defer worker.Shutdown()
	fmt.Println("ready")
	return relayer.Run(ctx)
}

// record appends one line per event; O_APPEND makes each line's single
// write land whole even with two processes writing.
type record struct {
	mu sync.Mutex
	f  *os.File
}

func openRecord(path string) (*record, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening record: %w", err)
	}
	return &record{f: f}, nil
}

func (r *record) Ran(id int64)       { r.write("ran", id) }
func (r *record) Completed(id int64) { r.write("done", id) }

func (r *record) write(what string, id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.WriteString(what + " " + strconv.FormatInt(id, 10) + "\n"); err != nil {
		fmt.Fprintln(os.Stderr, "lossworker: writing record:", err)
	}
}
