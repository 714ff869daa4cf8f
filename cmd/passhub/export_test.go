package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExportPasses runs the binary: `passhub export passes` over the
// SQLite data dir of a running server writes what GET
// /v1/passes?changedSince= shows, byte for byte (jsonl) or as the
// documented columns (csv).
func TestExportPasses(t *testing.T) {
	dataDir := t.TempDir()
	p, key := startPasshub(t, "PASSHUB_DATA_DIR="+dataDir)
	st, tpl := call(t, "POST", p.base+"/v1/templates", key, `{"name":"Loyalty","style":"storeCard","organizationName":"Acme","description":"Acme card",
		"fields":{"primary":[{"key":"points","label":"Points"}]}}`)
	if st != 201 {
		t.Fatalf("create template: %d %v", st, tpl)
	}
	tplID := tpl["id"].(string)
	for i := range 5 {
		body := fmt.Sprintf(`{"data":{"name":"Ada \"%d\", <x>","points":%d,"tags":["a","b"]}}`, i, i*10)
		if st, pass := call(t, "PUT", fmt.Sprintf("%s/v1/templates/%s/passes/crm-%d", p.base, tplID, i), key, body); st != 201 {
			t.Fatalf("put pass: %d %v", st, pass)
		}
	}
	if st, pass := call(t, "PATCH", p.base+"/v1/templates/"+tplID+"/passes/crm-1", key, `{"data":{"points":11}}`); st != 200 {
		t.Fatalf("patch pass: %d %v", st, pass)
	}

	// What the API shows, raw, in change order.
	var api []json.RawMessage
	cursor := ""
	for {
		url := p.base + "/v1/passes?limit=2&changedSince=1970-01-01T00:00:00Z"
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data       []json.RawMessage
			NextCursor string
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET /v1/passes: %d %v", res.StatusCode, err)
		}
		api = append(api, page.Data...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(api) != 5 {
		t.Fatalf("the API shows %d passes, want 5", len(api))
	}

	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	export := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, append([]string{"export", "passes"}, args...)...)
		cmd.Env = append(os.Environ(), "PASSHUB_DATA_DIR="+dataDir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	// jsonl: one pass per line, exactly the API's bytes, in its order.
	out, logs, err := export("--format", "jsonl")
	if err != nil {
		t.Fatalf("export jsonl: %v\n%s", err, logs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(api) {
		t.Fatalf("jsonl has %d lines, the API %d passes:\n%s", len(lines), len(api), out)
	}
	for i, line := range lines {
		if line != string(api[i]) {
			t.Errorf("line %d:\n%s\nthe API shows:\n%s", i, line, api[i])
		}
	}
	m := regexp.MustCompile(`exported 5 passes of workspace default \(ws_\w+\); to catch up later: --changed-since (\S+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("export summary missing from stderr:\n%s", logs)
	}

	// csv: the documented columns, one row per pass, same order.
	path := filepath.Join(t.TempDir(), "passes.csv")
	out, logs, err = export("--format=csv", "--out", path, "--workspace", "default")
	if err != nil || out != "" {
		t.Fatalf("export csv: %v, stdout %q\n%s", err, out, logs)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatalf("reading the CSV: %v", err)
	}
	header := []string{"id", "externalId", "templateId", "lifecycle", "version", "walletStatus",
		"appleWalletInstalledAt", "googleWalletInstalledAt", "walletLastChangedAt", "walletLastEvent", "createdAt", "updatedAt", "data"}
	if !slices.Equal(rows[0], header) {
		t.Fatalf("CSV header %v, want %v", rows[0], header)
	}
	if len(rows) != 1+len(api) {
		t.Fatalf("CSV has %d rows, want a header and %d passes", len(rows), len(api))
	}
	for i, raw := range api {
		var pass map[string]any
		if err := json.Unmarshal(raw, &pass); err != nil {
			t.Fatal(err)
		}
		row := rows[i+1]
		for j, col := range header {
			want := ""
			switch v := pass[col].(type) {
			case nil:
			case string:
				want = v
			case float64:
				want = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				b, _ := json.Marshal(v)
				want = string(b)
			}
			if col == "data" {
				var got, w any
				if json.Unmarshal([]byte(row[j]), &got) != nil || json.Unmarshal([]byte(want), &w) != nil || fmt.Sprint(got) != fmt.Sprint(w) {
					t.Errorf("row %d data %s, want %s", i, row[j], want)
				}
				continue
			}
			if row[j] != want {
				t.Errorf("row %d %s = %q, want %q", i, col, row[j], want)
			}
		}
	}

	// The catch-up time of the first export finds the pass changed last;
	// filters apply.
	out, logs, err = export("--format", "jsonl", "--changed-since", m[1])
	if err != nil || !strings.Contains(out, `"externalId":"crm-1"`) {
		t.Errorf("export since the catch-up time: %v\n%s\n%s", err, out, logs)
	}
	out, logs, err = export("--format", "jsonl", "--changed-since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if err != nil || out != "" {
		t.Errorf("export since the future: %v %q\n%s", err, out, logs)
	}
	out, _, err = export("--format", "jsonl", "--wallet-status", "apple")
	if err != nil || out != "" {
		t.Errorf("export of passes in Apple Wallet: %v %q", err, out)
	}

	// Refusals name what is wrong and write nothing.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--format"},
		{[]string{"--format", "xml"}, "--format"},
		{[]string{"--format", "csv", "--wallet-status", "pocket"}, "--wallet-status"},
		{[]string{"--format", "csv", "--changed-since", "yesterday"}, "--changed-since"},
		{[]string{"--format", "csv", "--workspace", "nope", "--out", filepath.Join(t.TempDir(), "x.csv")}, `"nope"`},
	} {
		out, logs, err := export(c.args...)
		if err == nil || out != "" || !strings.Contains(logs, c.want) {
			t.Errorf("export %v: %v, stdout %q, stderr %q; want a failure naming %s", c.args, err, out, logs, c.want)
		}
	}
}
