package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/core"
)

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	create := func(key, ext string, keyHeader string) response {
		return e.do(req{Method: "POST", Path: "/v1/passes", Key: key, Body: `{"templateId":"` + tplID + `","externalId":"` + ext + `"}`,
			Header: map[string]string{"Idempotency-Key": keyHeader}})
	}
	countPasses := func(key string) int {
		var page struct{ Data []core.Pass }
		e.ok(req{Method: "GET", Path: "/v1/passes", Key: key}, http.StatusOK, &page)
		return len(page.Data)
	}

	t.Run("the same key twice replays the first answer and creates one pass", func(t *testing.T) {
		first := create(e.admin, "c1", "create-c1")
		second := create(e.editor, "c1", "create-c1") // another key of the same workspace
		if first.Status != http.StatusCreated || second.Status != first.Status || string(second.Body) != string(first.Body) {
			t.Fatalf("first %d %s, replay %d %s", first.Status, first.Body, second.Status, second.Body)
		}
		if second.Header.Get("Content-Type") != first.Header.Get("Content-Type") {
			t.Errorf("replayed Content-Type %q, want %q", second.Header.Get("Content-Type"), first.Header.Get("Content-Type"))
		}
		if first.Header.Get(HeaderIdempotentReplayed) != "" || second.Header.Get(HeaderIdempotentReplayed) != "true" {
			t.Errorf("Idempotent-Replayed: first %q, replay %q", first.Header.Get(HeaderIdempotentReplayed), second.Header.Get(HeaderIdempotentReplayed))
		}
		if n := countPasses(e.admin); n != 1 {
			t.Fatalf("%d passes, want 1", n)
		}
	})
	t.Run("the same key with another request is 422", func(t *testing.T) {
		problem(t, create(e.admin, "c2", "create-c1"), http.StatusUnprocessableEntity, "Idempotency-Key")
		res := e.do(req{Method: "PATCH", Path: "/v1/passes/x", Key: e.admin, Body: `{}`, Header: map[string]string{"Idempotency-Key": "create-c1"}})
		problem(t, res, http.StatusUnprocessableEntity, "Idempotency-Key")
	})
	t.Run("keys are scoped per workspace", func(t *testing.T) {
		otherTpl := e.template(e.other, "theirs")
		res := e.do(req{Method: "POST", Path: "/v1/passes", Key: e.other, Body: `{"templateId":"` + otherTpl + `"}`,
			Header: map[string]string{"Idempotency-Key": "create-c1"}})
		if res.Status != http.StatusCreated || res.Header.Get(HeaderIdempotentReplayed) != "" {
			t.Fatalf("other workspace: %d %s", res.Status, res.Body)
		}
	})
	t.Run("a 4xx answer is replayed too", func(t *testing.T) {
		first := create(e.admin, "c1", "dup") // external ID taken: 409
		problem(t, first, http.StatusConflict, "externalId")
		second := create(e.admin, "c1", "dup")
		problem(t, second, http.StatusConflict, "externalId")
		if second.Header.Get(HeaderIdempotentReplayed) != "true" {
			t.Errorf("4xx was not replayed")
		}
	})
	t.Run("a request still in progress is 409", func(t *testing.T) {
		body := `{"templateId":"` + tplID + `","externalId":"slow"}`
		now := time.Now().UTC()
		_, ok, err := e.store.ReserveIdempotencyKey(context.Background(), core.IdempotencyRecord{
			WorkspaceID: e.wsID, Key: "slow", Fingerprint: fingerprint("POST", "/v1/passes", []byte(body)), CreatedAt: now,
		}, now.Add(-IdempotencyTTL), now.Add(-time.Minute))
		if err != nil || !ok {
			t.Fatalf("reserving: %v %v", ok, err)
		}
		res := e.do(req{Method: "POST", Path: "/v1/passes", Key: e.admin, Body: body, Header: map[string]string{"Idempotency-Key": "slow"}})
		problem(t, res, http.StatusConflict, "Idempotency-Key")
	})
	t.Run("DELETE with a key replays", func(t *testing.T) {
		p := e.pass(e.admin, map[string]any{"templateId": tplID})
		r := req{Method: "DELETE", Path: "/v1/passes/" + p.ID, Key: e.admin, Header: map[string]string{"Idempotency-Key": "del-1"}}
		first, second := e.do(r), e.do(r)
		if first.Status != 200 || string(first.Body) != string(second.Body) || second.Header.Get(HeaderIdempotentReplayed) != "true" {
			t.Fatalf("first %d, second %d %v", first.Status, second.Status, second.Header)
		}
	})
	t.Run("a replay does not wake the relay again", func(t *testing.T) {
		before := e.commits.Load()
		create(e.admin, "c3", "commit-once")
		create(e.admin, "c3", "commit-once")
		if got := e.commits.Load() - before; got != 1 {
			t.Fatalf("OnCommit called %d times, want 1", got)
		}
	})
	t.Run("expired records are forgotten", func(t *testing.T) {
		clock := time.Now().UTC()
		e2 := newEnv(t, func(c *Config) { c.Now = func() time.Time { return clock } })
		tpl := e2.template(e2.admin, "card")
		body := `{"templateId":"` + tpl + `"}`
		r := req{Method: "POST", Path: "/v1/passes", Key: e2.admin, Body: body, Header: map[string]string{"Idempotency-Key": "k"}}
		first := e2.do(r)
		clock = clock.Add(IdempotencyTTL + time.Minute)
		second := e2.do(r)
		if first.Status != 201 || second.Status != 201 || second.Header.Get(HeaderIdempotentReplayed) != "" || string(first.Body) == string(second.Body) {
			t.Fatalf("after the TTL the request must run again: %d %d", first.Status, second.Status)
		}
	})
}

// flakyStore fails the next CreatePass calls with an internal error.
type flakyStore struct {
	*sqlite.Store
	failures atomic.Int32
}

func (s *flakyStore) CreatePass(ctx context.Context, p core.Pass, events []core.Event) error {
	if s.failures.Add(-1) >= 0 {
		return errors.New("disk I/O error at /var/lib/passhub/db.sqlite")
	}
	return s.Store.CreatePass(ctx, p, events)
}

func TestIdempotencyKeyReleasedOn5xx(t *testing.T) {
	st := openSQLite(t)
	flaky := &flakyStore{Store: st}
	e := newEnvWith(t, st, core.NewService(flaky))
	tplID := e.template(e.admin, "card")
	r := req{Method: "POST", Path: "/v1/passes", Key: e.admin, Body: `{"templateId":"` + tplID + `"}`,
		Header: map[string]string{"Idempotency-Key": "retry-me", "X-Request-ID": "req-500"}}

	flaky.failures.Store(1)
	p := problem(t, e.do(r), http.StatusInternalServerError, "")
	if strings.Contains(p.Detail, "disk") || strings.Contains(p.Detail, "/var/lib") {
		t.Errorf("500 leaks internals: %q", p.Detail)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "disk I/O error") || !strings.Contains(logs, "req-500") {
		t.Errorf("the cause is not logged with the request ID:\n%s", logs)
	}
	res := e.ok(r, http.StatusCreated, nil)
	if res.Header.Get(HeaderIdempotentReplayed) != "" {
		t.Fatalf("the retry after a 5xx must run, not replay")
	}
	if replay := e.do(r); replay.Status != http.StatusCreated || replay.Header.Get(HeaderIdempotentReplayed) != "true" {
		t.Fatalf("the successful answer must be replayed: %d", replay.Status)
	}
}
