package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/postgres/pgtest"
	"github.com/passhub/passhub/adapters/queue/redistest"
)

// buildBinary builds passhub once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "passhub-e2e")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "passhub")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a running passhub binary.
type process struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	stderr *lockedBuffer
	base   string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPasshub runs `passhub serve` with env and waits until /readyz says 200.
// It returns the process and the admin key printed at first start, if any.
func startPasshub(t *testing.T, env ...string) (*process, string) {
	t.Helper()
	return startPasshubCmd(t, "serve", env...)
}

// startPasshubCmd runs `passhub sub` (serve or api) likewise.
func startPasshubCmd(t *testing.T, sub string, env ...string) (*process, string) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, sub)
	cmd.Env = append(append(os.Environ(), "PASSHUB_ADDR="+addr), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stdout: &bytes.Buffer{}, stderr: &lockedBuffer{}, base: "http://" + addr}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("passhub stderr:\n%s", p.stderr.String())
		}
	})
	keyCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		key := ""
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "phk_") && key == "" {
				key = line
				keyCh <- key
			}
		}
		close(keyCh)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(p.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("passhub not ready after 30s; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case key := <-keyCh:
		return p, key
	case <-time.After(200 * time.Millisecond):
		return p, ""
	}
}

func call(t *testing.T, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %s", method, url, raw)
		}
	}
	return res.StatusCode, out
}

// TestReadmeWalkthrough is the README's promise: with nothing installed,
// passhub starts, prints an admin key, and curl can create a template and
// a pass and read the pass.record_added event back.
func TestReadmeWalkthrough(t *testing.T) {
	dataDir := t.TempDir()
	p, key := startPasshub(t, "PASSHUB_DATA_DIR="+dataDir)
	if !regexp.MustCompile(`^phk_[a-z0-9]+$`).MatchString(key) {
		t.Fatalf("first start printed no admin key; stdout key = %q", key)
	}
	if strings.Contains(p.stderr.String(), key) {
		t.Fatal("the admin key appears in the logs")
	}
	st, tpl := call(t, "POST", p.base+"/v1/templates", key, `{"name":"Loyalty","style":"storeCard","organizationName":"Acme","description":"Acme card",
		"fields":{"primary":[{"key":"points","label":"Points","changeMessage":"You have %@ points"}]}}`)
	if st != 201 {
		t.Fatalf("create template: %d %v", st, tpl)
	}
	tplID := tpl["id"].(string)
	st, pass := call(t, "PUT", p.base+"/v1/templates/"+tplID+"/passes/crm-42", key, `{"data":{"name":"Ada","points":10}}`)
	if st != 201 {
		t.Fatalf("put pass: %d %v", st, pass)
	}
	st, events := call(t, "GET", p.base+"/v1/events?type=pass.record_added", key, "")
	if st != 200 {
		t.Fatalf("events: %d %v", st, events)
	}
	list, _ := events["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("want one pass.record_added event, got %v", events)
	}
	ev := list[0].(map[string]any)
	if data := ev["data"].(map[string]any); data["passId"] != pass["id"] || data["externalId"] != "crm-42" {
		t.Fatalf("event data = %v, want pass %v", data, pass["id"])
	}

	// A graceful stop, then a second start over the same data: no new
	// key is printed and the old one still works.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("passhub exited uncleanly on SIGTERM: %v\n%s", err, p.stderr.String())
	}
	p2, key2 := startPasshub(t, "PASSHUB_DATA_DIR="+dataDir)
	if key2 != "" {
		t.Fatalf("second start printed a new key")
	}
	if st, me := call(t, "GET", p2.base+"/v1/me", key, ""); st != 200 {
		t.Fatalf("/v1/me after restart: %d %v", st, me)
	}
}

func TestWorkspacesCreateAndVersion(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "passhub ") {
		t.Fatalf("version: %q %v", out, err)
	}
	cmd := exec.Command(bin, "workspaces", "create", "acme")
	cmd.Env = append(os.Environ(), "PASSHUB_DATA_DIR="+t.TempDir())
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("workspaces create: %v", err)
	}
	var got struct{ WorkspaceID, APIKey string }
	if err := json.Unmarshal(out, &got); err != nil || !strings.HasPrefix(got.WorkspaceID, "ws_") || !strings.HasPrefix(got.APIKey, "phk_") {
		t.Fatalf("workspaces create printed %q (%v)", out, err)
	}
	bad := exec.Command(bin, "serve")
	bad.Env = append(os.Environ(), "PASSHUB_ADDR=nonsense")
	msg, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "PASSHUB_ADDR") {
		t.Fatalf("invalid config: exit %v, output %q; want a failure naming PASSHUB_ADDR", err, msg)
	}
}

// TestAPIAndWorkerOnPostgresAndRedis runs the production shape: PostgreSQL, a real
// Redis, a bootstrap key, and the dispatch job of a new pass done by the
// worker half.
func TestAPIAndWorkerOnPostgresAndRedis(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	redisURL := redistest.URL(redistest.NewRedis(t))
	masterKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	const boot = "phk_e2e_bootstrap_key_0123456789"
	env := []string{
		"PASSHUB_DATA_DIR=" + t.TempDir(),
		"PASSHUB_DATABASE_URL=" + dsn,
		"PASSHUB_REDIS_URL=" + redisURL,
		"PASSHUB_MASTER_KEY=" + masterKey,
		"PASSHUB_BOOTSTRAP_KEY=" + boot,
	}
	// The two halves, as compose runs them: the API process answers and
	// commits, the worker process relays and runs the jobs.
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	w := exec.Command(bin, "worker")
	w.Env = append(append(os.Environ(), "PASSHUB_ADDR="+freeAddr(t)), env...)
	wlog := &lockedBuffer{}
	w.Stderr = wlog
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.Process.Signal(syscall.SIGTERM)
		if err := w.Wait(); err != nil {
			t.Errorf("worker did not stop cleanly on SIGTERM: %v\n%s", err, wlog.String())
		}
	})
	p, printed := startPasshubCmd(t, "api", env...)
	if printed != "" {
		t.Fatal("with a bootstrap key no key may be printed")
	}
	st, tpl := call(t, "POST", p.base+"/v1/templates", boot, `{"name":"Tickets","style":"eventTicket","organizationName":"Acme","description":"Acme ticket"}`)
	if st != 201 {
		t.Fatalf("create template: %d %v", st, tpl)
	}
	st, pass := call(t, "POST", p.base+"/v1/passes", boot, fmt.Sprintf(`{"templateId":%q,"externalId":"t-1","data":{"seat":"A1"}}`, tpl["id"]))
	if st != 201 {
		t.Fatalf("create pass: %d %v", st, pass)
	}
	db, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	deadline := time.Now().Add(20 * time.Second)
	for {
		var state string
		err := db.QueryRow(context.Background(), `SELECT state FROM jobs WHERE kind = 'event.dispatch' ORDER BY id LIMIT 1`).Scan(&state)
		if err == nil && state == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dispatch job not done after 20s (state %q, err %v)", state, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func decodeJSON(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}
