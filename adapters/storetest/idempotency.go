package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

func idemRecord(workspaceID, key, fingerprint string, at time.Time) core.IdempotencyRecord {
	return core.IdempotencyRecord{WorkspaceID: workspaceID, Key: key, Fingerprint: fingerprint, CreatedAt: at}
}

var idempotencyCases = []testCase{
	{"Idempotency/ReserveCompleteReplay", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		t0 := now()
		expires, stale := t0.Add(-24*time.Hour), t0.Add(-time.Minute)
		rec := idemRecord(ws.ID, "k1", "POST /v1/passes sha256:aa", t0)

		_, ok, err := s.ReserveIdempotencyKey(ctx, rec, expires, stale)
		must(t, "ReserveIdempotencyKey", err)
		if !ok {
			t.Fatal("first reserve did not claim the key")
		}
		// A retry while the first request runs sees the claim.
		again := idemRecord(ws.ID, "k1", "POST /v1/passes sha256:bb", t0.Add(time.Second))
		existing, ok, err := s.ReserveIdempotencyKey(ctx, again, expires, stale)
		must(t, "ReserveIdempotencyKey", err)
		if ok || existing.Done || existing.Fingerprint != rec.Fingerprint || existing.Key != "k1" || existing.WorkspaceID != ws.ID ||
			!existing.CreatedAt.Equal(us(t0)) {
			t.Errorf("second reserve: ok %v, record %+v; want the running claim", ok, existing)
		}
		// The same key in another workspace is another key.
		other := mustWorkspace(t, s)
		_, ok, err = s.ReserveIdempotencyKey(ctx, idemRecord(other.ID, "k1", "x", t0), expires, stale)
		must(t, "ReserveIdempotencyKey", err)
		if !ok {
			t.Error("the key of another workspace blocked a reserve")
		}

		done := rec
		done.Done, done.Status, done.ContentType, done.Body = true, 201, "application/json", []byte(`{"id":"pass_1"}`)
		must(t, "CompleteIdempotencyKey", s.CompleteIdempotencyKey(ctx, done))
		existing, ok, err = s.ReserveIdempotencyKey(ctx, again, expires, stale)
		must(t, "ReserveIdempotencyKey", err)
		if ok || !existing.Done || existing.Status != 201 || existing.ContentType != "application/json" ||
			string(existing.Body) != `{"id":"pass_1"}` || existing.Fingerprint != rec.Fingerprint {
			t.Errorf("reserve after completion: ok %v, record %+v (body %s); want the stored answer", ok, existing, existing.Body)
		}
		// A completed record outlives the stale window...
		existing, ok, err = s.ReserveIdempotencyKey(ctx, again, expires, t0.Add(time.Hour))
		must(t, "ReserveIdempotencyKey", err)
		if ok || !existing.Done {
			t.Errorf("completed record replaced as stale: ok %v, %+v", ok, existing)
		}
		// ...but not its expiry.
		existing, ok, err = s.ReserveIdempotencyKey(ctx, again, t0.Add(time.Second), stale)
		must(t, "ReserveIdempotencyKey", err)
		if !ok {
			t.Errorf("expired record not replaced: %+v", existing)
		}
		existing, ok, err = s.ReserveIdempotencyKey(ctx, rec, expires, stale)
		must(t, "ReserveIdempotencyKey", err)
		if ok || existing.Done || existing.Fingerprint != again.Fingerprint {
			t.Errorf("after replacement: ok %v, %+v; want the new claim", ok, existing)
		}
	}},
	{"Idempotency/StaleAndRelease", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		t0 := now()
		expires := t0.Add(-24 * time.Hour)
		rec := idemRecord(ws.ID, "k", "f1", t0.Add(-2*time.Minute))
		_, ok, err := s.ReserveIdempotencyKey(ctx, rec, expires, t0.Add(-time.Minute))
		must(t, "ReserveIdempotencyKey", err)
		if !ok {
			t.Fatal("first reserve did not claim the key")
		}
		// A claim older than staleBefore and never completed is replaced.
		_, ok, err = s.ReserveIdempotencyKey(ctx, idemRecord(ws.ID, "k", "f2", t0), expires, t0.Add(-time.Minute))
		must(t, "ReserveIdempotencyKey", err)
		if !ok {
			t.Error("stale claim not replaced")
		}
		must(t, "ReleaseIdempotencyKey", s.ReleaseIdempotencyKey(ctx, ws.ID, "k"))
		_, ok, err = s.ReserveIdempotencyKey(ctx, idemRecord(ws.ID, "k", "f3", t0), expires, t0.Add(-time.Minute))
		must(t, "ReserveIdempotencyKey", err)
		if !ok {
			t.Error("released key not claimable")
		}
		// Release leaves a completed answer alone.
		must(t, "CompleteIdempotencyKey", s.CompleteIdempotencyKey(ctx, core.IdempotencyRecord{WorkspaceID: ws.ID, Key: "k", Fingerprint: "f3", Done: true, Status: 200}))
		must(t, "ReleaseIdempotencyKey", s.ReleaseIdempotencyKey(ctx, ws.ID, "k"))
		existing, ok, err := s.ReserveIdempotencyKey(ctx, idemRecord(ws.ID, "k", "f4", t0), expires, t0.Add(-time.Minute))
		must(t, "ReserveIdempotencyKey", err)
		if ok || !existing.Done || existing.Status != 200 {
			t.Errorf("release dropped a completed answer: ok %v, %+v", ok, existing)
		}
		must(t, "ReleaseIdempotencyKey missing", s.ReleaseIdempotencyKey(ctx, ws.ID, "never"))
	}},
	{"Idempotency/ConcurrentReserve", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		t0 := now()
		for round := range 5 {
			key := "race-" + string(rune('a'+round))
			const callers = 10
			var wg sync.WaitGroup
			oks := make([]bool, callers)
			errs := make([]error, callers)
			for i := range callers {
				wg.Go(func() {
					_, oks[i], errs[i] = s.ReserveIdempotencyKey(ctx, idemRecord(ws.ID, key, "f", t0), t0.Add(-time.Hour), t0.Add(-time.Minute))
				})
			}
			wg.Wait()
			claimed := 0
			for i := range callers {
				must(t, "ReserveIdempotencyKey", errs[i])
				if oks[i] {
					claimed++
				}
			}
			if claimed != 1 {
				t.Errorf("%s: %d of %d concurrent reserves claimed the key, want exactly 1", key, claimed, callers)
			}
		}
	}},
	{"Idempotency/Purge", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		t0 := now()
		far := t0.Add(-100 * 24 * time.Hour)
		for i, age := range []time.Duration{3 * time.Hour, 2 * time.Hour, time.Minute} {
			rec := idemRecord(ws.ID, "p"+string(rune('0'+i)), "f", t0.Add(-age))
			_, ok, err := s.ReserveIdempotencyKey(ctx, rec, far, far)
			must(t, "ReserveIdempotencyKey", err)
			if !ok {
				t.Fatal("reserve did not claim")
			}
		}
		n, err := s.PurgeIdempotencyKeys(ctx, t0.Add(-time.Hour))
		must(t, "PurgeIdempotencyKeys", err)
		if n != 2 {
			t.Errorf("purged %d, want 2", n)
		}
		_, ok, err := s.ReserveIdempotencyKey(ctx, idemRecord(ws.ID, "p0", "f", t0), far, far)
		must(t, "ReserveIdempotencyKey", err)
		if !ok {
			t.Error("purged key still held")
		}
		_, ok, err = s.ReserveIdempotencyKey(ctx, idemRecord(ws.ID, "p2", "f", t0), far, far)
		must(t, "ReserveIdempotencyKey", err)
		if ok {
			t.Error("young key purged")
		}
		n, err = s.PurgeIdempotencyKeys(ctx, far)
		must(t, "PurgeIdempotencyKeys", err)
		if n != 0 {
			t.Errorf("purged %d before %v, want 0", n, far)
		}
	}},
}
