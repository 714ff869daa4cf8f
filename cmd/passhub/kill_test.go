package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestKill9MidLoadLosesNothing kills `passhub serve` (API, relay and worker
// in one process, embedded SQLite and in-process Redis) with SIGKILL while
// clients create passes. Every pass whose creation was answered 201 must
// exist after a restart, with its pass.record_added event, and every
// event's dispatch job must end done exactly once — though the in-process
// Redis and every task in it died with the process.
func TestKill9MidLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server")
	}
	dataDir := t.TempDir()
	env := []string{"PASSHUB_DATA_DIR=" + dataDir, "PASSHUB_SWEEP_AFTER=1s", "PASSHUB_BOOTSTRAP_KEY=phk_kill_test_bootstrap_key_01"}
	const key = "phk_kill_test_bootstrap_key_01"
	p, _ := startPasshub(t, env...)
	st, tpl := call(t, "POST", p.base+"/v1/templates", key, `{"name":"T","style":"generic","organizationName":"Acme","description":"d"}`)
	if st != 201 {
		t.Fatalf("create template: %d %v", st, tpl)
	}
	tplID := tpl["id"].(string)

	client := &http.Client{Timeout: 5 * time.Second}
	// The pass IDs answered 201.
	accepted := loadUntilKilled(t, p, "passes", func(c, i int) (string, bool, error) {
		body := fmt.Sprintf(`{"templateId":%q,"externalId":"c%d-%d","data":{"n":%d}}`, tplID, c, i, i)
		req, _ := http.NewRequest("POST", p.base+"/v1/passes", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return "", false, err
		}
		var out struct{ ID string }
		err = decodeJSON(res, &out)
		return out.ID, res.StatusCode == 201 && err == nil, nil
	})
	t.Logf("%d passes accepted before SIGKILL", len(accepted))

	p2, _ := startPasshub(t, env...)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "passhub.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitJobsDone(t, db)
	var events, jobs, doneOnce int
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	must(db.QueryRow(`SELECT count(*) FROM events`).Scan(&events))
	must(db.QueryRow(`SELECT count(*) FROM jobs WHERE kind = 'event.dispatch'`).Scan(&jobs))
	must(db.QueryRow(`SELECT count(DISTINCT key) FROM jobs WHERE kind = 'event.dispatch' AND state = 'done' AND key IN (SELECT id FROM events)`).Scan(&doneOnce))
	if events != jobs || jobs != doneOnce {
		t.Fatalf("%d events, %d dispatch jobs, %d done: want one done job per event", events, jobs, doneOnce)
	}
	for _, id := range accepted {
		if st, body := call(t, "GET", p2.base+"/v1/passes/"+id, key, ""); st != 200 {
			t.Fatalf("pass %s was answered 201 before the kill but is now %d %v", id, st, body)
		}
		var n int
		must(db.QueryRow(`SELECT count(*) FROM events WHERE type = 'pass.record_added' AND pass_id = ?`, id).Scan(&n))
		if n != 1 {
			t.Fatalf("pass %s has %d pass.record_added events, want 1", id, n)
		}
	}
}

// TestKill9MidWebhooksLosesNothing kills `passhub serve` while Shopify
// posts customers/create webhooks. The process runs the triggers it
// accepts itself (claimed, no queue hop), so a kill catches triggers
// accepted but not yet mapped, mid-mapping and mid-push. After a restart
// every delivery answered 200 must end applied, with its customer's pass.
func TestKill9MidWebhooksLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server")
	}
	dataDir := t.TempDir()
	const key = "phk_kill_hooks_bootstrap_key_1"
	env := []string{"PASSHUB_DATA_DIR=" + dataDir, "PASSHUB_SWEEP_AFTER=1s", "PASSHUB_BOOTSTRAP_KEY=" + key,
		"PASSHUB_MAPPINGS_DIR=../../mappings/examples"}
	p, _ := startPasshub(t, env...)
	if st, body := call(t, "POST", p.base+"/v1/templates", key, `{"name":"loyalty","style":"storeCard","organizationName":"Acme","description":"Acme card"}`); st != 201 {
		t.Fatalf("template: %d %v", st, body)
	}
	st, con := call(t, "POST", p.base+"/v1/connectors", key, `{"name":"shop","kind":"shopify","secrets":{"secrets":["shpss_kill"]},"mapping":"shopify-loyalty"}`)
	if st != 201 {
		t.Fatalf("connector: %d %v", st, con)
	}
	url := con["url"].(string)

	client := &http.Client{Timeout: 5 * time.Second}
	// The customer IDs whose delivery was answered 200.
	accepted := loadUntilKilled(t, p, "deliveries", func(c, i int) (string, bool, error) {
		id := fmt.Sprintf("%d%06d", c+1, i)
		body := fmt.Sprintf(`{"id":%s,"email":"c%s@example.com","first_name":"C","last_name":%q,"created_at":"2026-11-20T10:00:00Z"}`, id, id, id)
		res, err := client.Do(shopifyRequest(url, "shpss_kill", "customers/create", "wh-"+id, body))
		if err != nil {
			return "", false, err
		}
		_ = res.Body.Close()
		return id, res.StatusCode == 200, nil
	})

	startPasshub(t, env...)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "passhub.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitJobsDone(t, db)
	var unapplied, passes int
	if err := db.QueryRow(`SELECT count(*) FROM triggers WHERE status <> 'applied'`).Scan(&unapplied); err != nil {
		t.Fatal(err)
	}
	if unapplied != 0 {
		t.Errorf("%d triggers not applied after the restart", unapplied)
	}
	for _, id := range accepted {
		if err := db.QueryRow(`SELECT count(*) FROM passes WHERE external_id = ?`, id).Scan(&passes); err != nil {
			t.Fatal(err)
		}
		if passes != 1 {
			t.Fatalf("customer %s: delivery answered 200 before the kill, %d passes now", id, passes)
		}
	}
	t.Logf("%d deliveries accepted before SIGKILL, every one applied after the restart", len(accepted))
}

// waitJobsDone waits up to a minute for every job in db to be done.
func waitJobsDone(t *testing.T, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var open int
		if err := db.QueryRow(`SELECT count(*) FROM jobs WHERE state <> 'done'`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still not done 60s after the restart", open)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// loadUntilKilled sends from 8 clients (send's c) for 1.5 s, kills p
// with SIGKILL mid-load and returns what send reported accepted. A send
// fails once the server is gone, which ends its client.
func loadUntilKilled(t *testing.T, p *process, what string, send func(c, i int) (id string, ok bool, err error)) []string {
	t.Helper()
	var mu sync.Mutex
	var accepted []string
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id, ok, err := send(c, i)
				if err != nil {
					return
				}
				if ok {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	_ = p.cmd.Wait()
	if len(accepted) < 50 {
		t.Fatalf("only %d %s accepted before the kill: the load did not run", len(accepted), what)
	}
	return accepted
}
