// Package queue carries outbox jobs over asynq (Redis): the Enqueuer
// turns a job into a task, the Worker runs tasks through core.JobRunner,
// the Relayer moves pending jobs from the store to the queue and sweeps
// lost ones back in, and Embedded is an in-process Redis for a
// single-binary setup.
//
// Redis is transport, the store is the truth. A task carries only its job
// ID (payload {"jobId":N}, type = job kind, task ID "job-<id>"), so:
//
//   - enqueueing a job whose task still exists is a no-op (task ID
//     conflict), which makes the relay and the sweeper safe to repeat;
//   - a task is deleted from Redis when it succeeds (retention 0): done is
//     recorded by the store, and a deleted task ID can be used again if the
//     store still wants the job run;
//   - a task lost with Redis (FLUSHALL, an embedded Redis restarted) or
//     stuck on a killed worker is re-driven by the sweeper from the store,
//     and asynq itself recovers a dead worker's tasks once their lease
//     has expired (about a minute);
//   - a task may run more than once; core.JobRunner makes every run after
//     the first completion a no-op.
//
// Shutdown: Worker.Shutdown stops fetching tasks and waits up to
// ShutdownTimeout for running handlers; a task still running then is
// pushed back to its queue (asynq semantics) and runs again elsewhere, so
// a handler interrupted mid-way must be safe to repeat, as every handler
// already has to be.
package queue
