package apple

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/passhub/passhub/core"
)

// Job kinds of the Apple push.
const (
	// JobPush wakes the devices holding some passes: the passes of one
	// event, or the template's passes on one batch of devices.
	JobPush = "apple.push"
	// JobTemplatePush pages through the devices holding a template's
	// passes and fans out one JobPush per batch of a page, so "push all"
	// for a large template is many small tasks, never one giant one.
	JobTemplatePush = "apple.template_push"
)

// DefaultPushBatch is how many devices one template push job wakes.
const DefaultPushBatch = 500

// DefaultPageBatches is how many push jobs one template page fans out.
// Pages run one after another (each creates the next), so with one
// batch a page the chain of pages, not the pushes, set the pace of a
// large push-all (a page waits for the relay, a worker and two store
// commits); ten batches a page keep every worker busy.
const DefaultPageBatches = 10

// Sender pushes the empty Wallet update notification to tokens with the
// credentials' certificate; results come back in token order.
type Sender interface {
	Send(ctx context.Context, key string, creds *Credentials, tokens []string) []PushResult
}

// PushStore is what the pusher needs of the store.
type PushStore interface {
	TouchPasses(ctx context.Context, workspaceID string, passIDs []string) ([]core.PushTarget, error)
	TemplateDevices(ctx context.Context, workspaceID, templateID, after string, limit int) ([]string, error)
	TouchTemplateDevices(ctx context.Context, workspaceID, templateID string, deviceIDs []string) ([]core.PushTarget, error)
	DropPushToken(ctx context.Context, workspaceID, token string, invalidSince time.Time) (int64, error)
	AppendPushLogs(ctx context.Context, logs []core.PushLog) error
	FinishPushJob(ctx context.Context, logs []core.PushLog, jobID int64, at time.Time) error
	SettledTokens(ctx context.Context, jobID int64) (map[string]bool, error)
	CreateJobs(ctx context.Context, jobs []core.Job) (int, error)
}

// CredentialSource gives the parsed credentials of a workspace.
type CredentialSource interface {
	Credentials(ctx context.Context, workspaceID string) (*Credentials, core.AppleCredentials, error)
}

// Pusher turns pass changes into APNs pushes. It is an event consumer
// (one push job per change) and the handler of both push job kinds.
type Pusher struct {
	store  PushStore
	creds  CredentialSource
	sender Sender
	log    *slog.Logger
	// Batch is the number of devices per template push job.
	Batch int
	// PageBatches is the number of push jobs per template page (each
	// page lists Batch*PageBatches devices).
	PageBatches int
	now         func() time.Time
}

// NewPusher returns a pusher.
func NewPusher(store PushStore, creds CredentialSource, sender Sender, log *slog.Logger) *Pusher {
	return &Pusher{store: store, creds: creds, sender: sender, log: log, Batch: DefaultPushBatch, PageBatches: DefaultPageBatches, now: time.Now}
}

type pushPayload struct {
	PassIDs    []string `json:"passIds,omitempty"`
	TemplateID string   `json:"templateId,omitempty"`
	DeviceIDs  []string `json:"deviceIds,omitempty"`
}

type templatePushPayload struct {
	TemplateID string `json:"templateId"`
	// Root is the key of the push-all request; every page and batch job
	// is keyed under it, so re-running a page creates nothing twice.
	Root  string `json:"root"`
	After string `json:"after,omitempty"`
}

// JobsFor answers every change a device must fetch with a push job.
func (p *Pusher) JobsFor(_ context.Context, ev core.Event) ([]core.Job, error) {
	switch ev.Type {
	case core.EventUpdated, core.EventExpired, core.EventVoided, core.EventDeleted:
	default:
		return nil, nil
	}
	payload, err := json.Marshal(pushPayload{PassIDs: []string{ev.Data.PassID}})
	if err != nil {
		return nil, fmt.Errorf("encoding push payload: %w", err)
	}
	return []core.Job{{Kind: JobPush, Key: ev.ID, Payload: payload}}, nil
}

// StartTemplatePush records the job that pushes every device holding a
// not-deleted pass of the template; it returns the job's key.
func (p *Pusher) StartTemplatePush(ctx context.Context, workspaceID, templateID string) (string, error) {
	root := templateID + "/" + core.NewID("push")
	payload, err := json.Marshal(templatePushPayload{TemplateID: templateID, Root: root})
	if err != nil {
		return "", fmt.Errorf("encoding template push: %w", err)
	}
	j := core.Job{WorkspaceID: workspaceID, Kind: JobTemplatePush, Key: root, Payload: payload, State: core.JobPending, CreatedAt: p.now()}
	if _, err := p.store.CreateJobs(ctx, []core.Job{j}); err != nil {
		return "", fmt.Errorf("creating template push job: %w", err)
	}
	return root, nil
}

// HandleJob runs a push or a template push page.
func (p *Pusher) HandleJob(ctx context.Context, j core.Job) ([]core.Job, error) {
	switch j.Kind {
	case JobTemplatePush:
		return p.templatePage(ctx, j)
	case JobPush:
		_, err := p.push(ctx, j, false)
		return nil, err
	}
	return nil, core.Permanent(fmt.Errorf("apple pusher: unknown job kind %q", j.Kind))
}

// FinishJob is HandleJob writing a push job's log and its completion
// together: one write fewer per push.
func (p *Pusher) FinishJob(ctx context.Context, j core.Job) ([]core.Job, bool, error) {
	if j.Kind != JobPush {
		children, err := p.HandleJob(ctx, j)
		return children, false, err
	}
	done, err := p.push(ctx, j, true)
	return nil, done, err
}

func (p *Pusher) templatePage(ctx context.Context, j core.Job) ([]core.Job, error) {
	var in templatePushPayload
	if err := json.Unmarshal(j.Payload, &in); err != nil || in.TemplateID == "" {
		return nil, core.Permanent(fmt.Errorf("template push job %d: bad payload", j.ID))
	}
	batch := max(p.Batch, 1)
	page := batch * max(p.PageBatches, 1)
	devices, err := p.store.TemplateDevices(ctx, j.WorkspaceID, in.TemplateID, in.After, page)
	if err != nil {
		return nil, fmt.Errorf("listing devices of template %s: %w", in.TemplateID, err)
	}
	if len(devices) == 0 {
		return nil, nil
	}
	child := func(kind, key string, v any) (core.Job, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return core.Job{}, fmt.Errorf("encoding %s payload: %w", kind, err)
		}
		return core.Job{WorkspaceID: j.WorkspaceID, Kind: kind, Key: key, Payload: b, State: core.JobPending, CreatedAt: p.now()}, nil
	}
	var jobs []core.Job
	last := devices[len(devices)-1]
	if len(devices) == page {
		// The next page first: the relay hands pending jobs over in
		// creation order, so the next page runs alongside these batches
		// rather than after them.
		next, err := child(JobTemplatePush, in.Root+"/after/"+last, templatePushPayload{TemplateID: in.TemplateID, Root: in.Root, After: last})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, next)
	}
	for rest := devices; len(rest) > 0; {
		n := min(batch, len(rest))
		push, err := child(JobPush, in.Root+"/push/"+rest[n-1], pushPayload{TemplateID: in.TemplateID, DeviceIDs: rest[:n]})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, push)
		rest = rest[n:]
	}
	return jobs, nil
}

// push wakes every device holding the job's passes, once per token.
// Tokens an earlier attempt of this job settled (pushed, refused for good,
// or dropped) are skipped; dead tokens lose the registrations of devices
// not refreshed since APNs dated the token's end; transient failures fail
// the job so the queue retries it with backoff. With finish, a push that
// needs no retry completes j with its log (done).
func (p *Pusher) push(ctx context.Context, j core.Job, finish bool) (done bool, err error) {
	var in pushPayload
	if err := json.Unmarshal(j.Payload, &in); err != nil {
		return false, core.Permanent(fmt.Errorf("push job %d: bad payload: %w", j.ID, err))
	}
	// The log of a push that needs no retry, with the job's completion
	// when finishing.
	final := func(logs []core.PushLog) (bool, error) {
		if !finish || len(logs) == 0 {
			return false, p.appendLogs(ctx, logs)
		}
		err := p.store.FinishPushJob(ctx, logs, j.ID, p.now())
		if errors.Is(err, core.ErrJobDone) {
			return false, nil // a duplicate run: the runner's completion says so
		}
		if err != nil {
			return false, fmt.Errorf("writing push log: %w", err)
		}
		return true, nil
	}
	var targets []core.PushTarget
	switch {
	case len(in.PassIDs) > 0:
		targets, err = p.store.TouchPasses(ctx, j.WorkspaceID, in.PassIDs)
	case in.TemplateID != "" && len(in.DeviceIDs) > 0:
		targets, err = p.store.TouchTemplateDevices(ctx, j.WorkspaceID, in.TemplateID, in.DeviceIDs)
	default:
		return false, core.Permanent(fmt.Errorf("push job %d: no passes or devices", j.ID))
	}
	if err != nil {
		return false, fmt.Errorf("marking passes updated: %w", err)
	}
	if len(targets) == 0 {
		return false, nil
	}
	creds, rec, err := p.creds.Credentials(ctx, j.WorkspaceID)
	if errors.Is(err, core.ErrNotFound) {
		// Registered devices but no credentials any more: nothing can be
		// sent; say so in the log rather than retry forever.
		return final(p.logs(j, targets, func(int) (core.PushStatus, int, string, time.Duration) {
			return core.PushCancelled, 0, "no Apple credentials", 0
		}))
	}
	if err != nil {
		return false, err
	}
	var settled map[string]bool
	if j.Attempts > 1 {
		if settled, err = p.store.SettledTokens(ctx, j.ID); err != nil {
			return false, fmt.Errorf("reading earlier attempts: %w", err)
		}
	}
	todo := targets[:0:0]
	for _, t := range targets {
		if !settled[TokenHash(t.PushToken)] {
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return false, nil
	}
	tokens := make([]string, len(todo))
	for i, t := range todo {
		tokens[i] = t.PushToken
	}
	sentAt := p.now()
	results := p.sender.Send(ctx, clientKey(rec), creds, tokens)

	retries := 0
	var lastRetry PushResult
	statuses := make([]core.PushStatus, len(results))
	for i, r := range results {
		switch r.Class() {
		case ClassOK:
			statuses[i] = core.PushOK
		case ClassDropped:
			// APNs dates the token's end; a device that registered or
			// refreshed since then is still valid. Without a date, the
			// push's own time stands in.
			since := r.Timestamp
			if since.IsZero() {
				since = sentAt
			}
			n, err := p.store.DropPushToken(ctx, j.WorkspaceID, r.Token, since)
			if err != nil {
				return false, fmt.Errorf("dropping a dead push token: %w", err)
			}
			// "dropped" only when registrations went (see core.PushStatus).
			statuses[i] = core.PushFailed
			if n > 0 {
				statuses[i] = core.PushDropped
			}
		case ClassPermanent:
			statuses[i] = core.PushFailed
		default:
			statuses[i] = core.PushRetry
			retries++
			lastRetry = r
		}
	}
	logs := p.logs(j, todo, func(i int) (core.PushStatus, int, string, time.Duration) {
		r := results[i]
		reason := r.Reason
		if reason == "" && r.Err != nil {
			reason = r.Err.Error()
		}
		return statuses[i], r.Status, reason, r.Latency
	})
	if retries == 0 {
		return final(logs)
	}
	if err := p.appendLogs(ctx, logs); err != nil {
		return false, err
	}
	why := lastRetry.Reason
	if why == "" && lastRetry.Err != nil {
		why = lastRetry.Err.Error()
	}
	return false, fmt.Errorf("%d of %d pushes need a retry (last: status %d %s)", retries, len(results), lastRetry.Status, why)
}

func (p *Pusher) logs(j core.Job, targets []core.PushTarget, outcome func(i int) (core.PushStatus, int, string, time.Duration)) []core.PushLog {
	at := p.now().UTC().Truncate(time.Microsecond)
	var out []core.PushLog
	for i, t := range targets {
		status, code, reason, latency := outcome(i)
		hash := TokenHash(t.PushToken)
		for _, ref := range t.Passes {
			out = append(out, core.PushLog{
				WorkspaceID: j.WorkspaceID, At: at, Platform: core.PlatformApple, PassID: ref.PassID, ExternalID: ref.ExternalID,
				TokenHash: hash, Status: status, HTTPStatus: code, Reason: reason, LatencyMS: latency.Milliseconds(), JobID: j.ID,
			})
		}
	}
	return out
}

func (p *Pusher) appendLogs(ctx context.Context, logs []core.PushLog) error {
	if err := p.store.AppendPushLogs(ctx, logs); err != nil {
		return fmt.Errorf("writing push log: %w", err)
	}
	return nil
}

// TokenHash is how push tokens appear in logs.
func TokenHash(token string) string { return core.SHA256Hex(token) }

// clientKey names the APNs client of one uploaded credential: a new
// upload gets a new client (new TLS identity).
func clientKey(rec core.AppleCredentials) string {
	return fmt.Sprintf("%s@%d", rec.WorkspaceID, rec.UpdatedAt.UnixMicro())
}
