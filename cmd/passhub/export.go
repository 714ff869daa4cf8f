package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/adapters/httpapi"
	"github.com/passhub/passhub/core"
)

// exportCSVColumns are the columns of `passhub export passes --format
// csv`, in order. Times are RFC 3339 in UTC as the API writes them, empty
// when unset; data is the pass's data as one JSON object.
var exportCSVColumns = []string{
	"id", "externalId", "templateId", "lifecycle", "version", "walletStatus",
	"appleWalletInstalledAt", "googleWalletInstalledAt", "walletLastChangedAt", "walletLastEvent",
	"createdAt", "updatedAt", "data",
}

const exportUsage = "usage: passhub export passes --format csv|jsonl [--workspace NAME|ID] [--wallet-status S] [--changed-since T] [--template-id ID] [--lifecycle L] [--out FILE] [flags]"

// exportPageSize is the page the export reads passes in.
const exportPageSize = 1000

// runExport writes every pass of a workspace (changed since a time) in
// change order, as GET /v1/passes?changedSince= pages them, straight from
// the configured store: a source system's full rebuild without the API.
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "passes" {
		return errors.New(exportUsage)
	}
	fs := flag.NewFlagSet("passhub export passes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "", "csv or jsonl (one pass per line, as the API shows it)")
	workspace := fs.String("workspace", "default", "workspace name or ID")
	walletStatus := fs.String("wallet-status", "", "only passes with this wallet status: none, apple, google or both")
	changedSince := fs.String("changed-since", "", "only passes changed at or after this RFC 3339 time (default: every pass)")
	templateID := fs.String("template-id", "", "only passes of this template")
	lifecycle := fs.String("lifecycle", "", "only passes in this lifecycle: active, expired, voided or deleted")
	out := fs.String("out", "", "file to write (replaced only once the export is complete); default standard output")
	// The server's settings select the store as `serve` does; they are
	// handed to the one config parser.
	var settingArgs []string
	for _, s := range settings() {
		fs.Func(s.flag, fmt.Sprintf("%s (env %s)", s.usage, s.env), func(v string) error {
			settingArgs = append(settingArgs, "--"+s.flag+"="+v)
			return nil
		})
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("export passes: unexpected arguments %q", fs.Args())
	}
	if *format != "csv" && *format != "jsonl" {
		return fmt.Errorf("export passes: --format must be csv or jsonl\n%s", exportUsage)
	}
	if s := core.WalletStatus(*walletStatus); s != "" && !s.Valid() {
		return errors.New("export passes: --wallet-status must be none, apple, google or both")
	}
	if l := core.Lifecycle(*lifecycle); l != "" && !l.Valid() {
		return errors.New("export passes: --lifecycle must be active, expired, voided or deleted")
	}
	q := core.PassChangeQuery{
		PassQuery: core.PassQuery{
			Page:         core.Page{Limit: exportPageSize},
			TemplateID:   *templateID,
			WalletStatus: core.WalletStatus(*walletStatus),
			Lifecycle:    core.Lifecycle(*lifecycle),
		},
		ChangedSince: time.Unix(0, 0).UTC(),
	}
	if *changedSince != "" {
		t, err := time.Parse(time.RFC3339Nano, *changedSince)
		if err != nil {
			return fmt.Errorf("export passes: --changed-since must be an RFC 3339 time such as 2025-01-31T12:00:00Z")
		}
		q.ChangedSince = t
	}
	cfg, _, err := loadConfig("export passes", settingArgs, getenv, stderr)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	ws, err := findWorkspace(ctx, a.store, *workspace)
	if err != nil {
		return err
	}

	w, commit, abort, err := exportTarget(*out, stdout)
	if err != nil {
		return err
	}
	n, latest, err := exportPasses(ctx, a.service, ws.ID, q, *format, w)
	if err != nil {
		abort()
		return fmt.Errorf("export passes: %w", err)
	}
	if err := commit(); err != nil {
		return fmt.Errorf("export passes: %w", err)
	}
	msg := fmt.Sprintf("exported %d passes of workspace %s (%s)", n, ws.Name, ws.ID)
	if !latest.IsZero() {
		msg += "; to catch up later: --changed-since " + latest.Format(time.RFC3339Nano)
	}
	fmt.Fprintln(stderr, msg)
	return nil
}

// findWorkspace resolves a workspace name, or failing that an ID.
func findWorkspace(ctx context.Context, st store, nameOrID string) (core.Workspace, error) {
	ws, err := st.WorkspaceByName(ctx, nameOrID)
	if errors.Is(err, core.ErrNotFound) {
		ws, err = st.Workspace(ctx, nameOrID)
	}
	if errors.Is(err, core.ErrNotFound) {
		return core.Workspace{}, fmt.Errorf("export passes: no workspace named or with ID %q", nameOrID)
	}
	if err != nil {
		return core.Workspace{}, fmt.Errorf("export passes: looking up workspace %q: %w", nameOrID, err)
	}
	return ws, nil
}

// exportTarget is standard output, or a temporary file beside path that
// commit renames over it, so a failed export never leaves a file that
// looks complete.
func exportTarget(path string, stdout io.Writer) (w io.Writer, commit func() error, abort func(), err error) {
	if path == "" {
		return stdout, func() error { return nil }, func() {}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("export passes: creating %s: %w", path, err)
	}
	abort = func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	commit = func() error {
		if err := f.Sync(); err != nil {
			abort()
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			_ = os.Remove(f.Name())
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := os.Rename(f.Name(), path); err != nil {
			_ = os.Remove(f.Name())
			return fmt.Errorf("replacing %s: %w", path, err)
		}
		return nil
	}
	return f, commit, abort, nil
}

// exportPasses writes every page of the change walk to w and returns how
// many passes it wrote and the latest updatedAt or walletLastChangedAt
// among them (where a later export can start).
func exportPasses(ctx context.Context, svc *core.Service, workspaceID string, q core.PassChangeQuery, format string, w io.Writer) (int, time.Time, error) {
	var write func(core.Pass) error
	var flush func() error
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w) // as the API encodes: one object and a newline
		write = func(p core.Pass) error { return enc.Encode(p) }
		flush = func() error { return nil }
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(exportCSVColumns); err != nil {
			return 0, time.Time{}, fmt.Errorf("writing CSV header: %w", err)
		}
		write = func(p core.Pass) error {
			row, err := csvRow(p)
			if err != nil {
				return err
			}
			return cw.Write(row)
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	}
	n := 0
	var latest time.Time
	for {
		page, next, err := svc.ListPassChanges(ctx, workspaceID, q)
		if err != nil {
			return n, latest, fmt.Errorf("reading passes: %w", err)
		}
		for _, p := range page {
			p = httpapi.PassView(p)
			if err := write(p); err != nil {
				return n, latest, fmt.Errorf("writing pass %s: %w", p.ID, err)
			}
			n++
			if p.UpdatedAt.After(latest) {
				latest = p.UpdatedAt
			}
			if t := p.WalletLastChangedAt; t != nil && t.After(latest) {
				latest = *t
			}
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if err := flush(); err != nil {
		return n, latest, fmt.Errorf("writing: %w", err)
	}
	return n, latest, nil
}

// csvRow is a pass in the order of exportCSVColumns.
func csvRow(p core.Pass) ([]string, error) {
	data, err := json.Marshal(p.Data)
	if err != nil {
		return nil, fmt.Errorf("encoding data of pass %s: %w", p.ID, err)
	}
	tm := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return []string{
		p.ID, p.ExternalID, p.TemplateID, string(p.Lifecycle), strconv.FormatInt(p.Version, 10), string(p.WalletStatus),
		tm(p.AppleWalletInstalledAt), tm(p.GoogleWalletInstalledAt), tm(p.WalletLastChangedAt), string(p.WalletLastEvent),
		tm(&p.CreatedAt), tm(&p.UpdatedAt), strings.TrimSpace(string(data)),
	}, nil
}
