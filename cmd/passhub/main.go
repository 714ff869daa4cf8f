// Command passhub is the integration hub: the REST API, the wallet
// endpoints and the workers, in one binary with subcommands.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/passhub/passhub/mappings"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

var randRead = rand.Read

const usage = `passhub — wallet passes from your customer data

Usage:
  passhub [serve] [flags]           API and workers in one process (the default)
  passhub api [flags]               the HTTP API only
  passhub worker [flags]            the workers only (relay, sweeper, tasks)
  passhub migrate [flags]           apply database migrations and exit
  passhub workspaces create NAME    create a workspace; prints {"workspaceId","apiKey"}
  passhub mappings check DIR        validate every mapping file in DIR (exit 1 on any problem)
  passhub mappings test DIR         run the test cases beside each mapping (<name>_test.yaml)
  passhub export passes --format csv|jsonl [--workspace W] [--changed-since T] [--out FILE]
                                    every pass (changed since T) in change order, for a CRM rebuild
  passhub version                   print the version

Every flag has an environment variable (flags win); run "passhub serve -h".
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "passhub:", err)
		os.Exit(1)
	}
}

// run is the whole program with its inputs made explicit, so tests can
// drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve", "api", "worker", "migrate":
		cfg, rest, err := loadConfig(cmd, args, getenv, stderr)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return fmt.Errorf("%s: unexpected arguments %q", cmd, rest)
		}
		return runServer(ctx, cmd, cfg, stdout, stderr)
	case "workspaces":
		if len(args) == 0 || args[0] != "create" {
			return errors.New("usage: passhub workspaces create NAME [flags]")
		}
		cfg, rest, err := loadConfig("workspaces create", args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			return errors.New("usage: passhub workspaces create NAME [flags]")
		}
		return createWorkspace(ctx, cfg, rest[0], stdout, stderr)
	case "mappings":
		return runMappings(args, stdout)
	case "export":
		return runExport(ctx, args, getenv, stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// runMappings checks or tests a directory of mapping files offline, so a
// user's CI can run it. Template names are not checked against a server:
// any name is accepted.
func runMappings(args []string, stdout io.Writer) error {
	if len(args) != 2 || (args[0] != "check" && args[0] != "test") {
		return errors.New("usage: passhub mappings check|test DIR")
	}
	dir := args[1]
	if args[0] == "check" {
		if err := mappings.CheckDir(dir, mappings.AnyTemplate); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "mappings in %s are valid\n", dir)
		return nil
	}
	report, err := mappings.RunTests(dir, mappings.AnyTemplate)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, report.String())
	if !report.OK() {
		return fmt.Errorf("%d mapping test(s) failed", report.Failed())
	}
	return nil
}

func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 && v == "dev" {
				v += "+" + s.Value[:12]
			}
		}
	}
	return "passhub " + v
}

func createWorkspace(ctx context.Context, cfg Config, name string, stdout, stderr io.Writer) error {
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	ws, key, err := a.service.CreateWorkspace(ctx, name, "")
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"workspaceId": ws.ID, "apiKey": key})
}
