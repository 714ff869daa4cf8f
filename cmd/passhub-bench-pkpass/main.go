// Command passhub-bench-pkpass measures passhub's .pkpass render+sign rate
// on one core against a peer, the npm package passkit-generator (pinned in
// bench/peer/package-lock.json), generating the same pass with the same
// certificates in the same run (issue 7). `make bench-peer` runs it.
//
// It writes the inputs (a test PKI's PEM files, the pass model, the
// per-pass values) to a temporary directory, installs the peer there with
// `npm ci`, has one package of each side verified (manifest hashes, and
// the signature by `openssl cms -verify` up to the WWDR certificate), and
// then runs alternating rounds: in each, one process per side, pinned to
// the same CPU, renders and signs passes for -duration after a warm-up.
// It prints the median (min–max) of each side and the ratio of the
// medians, and writes them as JSON.
//
//	go run ./cmd/passhub-bench-pkpass -rounds 5 -duration 3s -out bench/results/peer-pkpass.json
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/internal/runstats"
)

type options struct {
	Rounds   int
	Duration time.Duration
	Warmup   time.Duration
	PeerDir  string
	Out      string
	CPU      int
	Keep     bool
	Images   string
	// Worker mode: this binary measuring passhub in a child process.
	Worker string
	Inputs string
	Once   string
}

func main() {
	var o options
	flag.IntVar(&o.Rounds, "rounds", 5, "alternating rounds per side")
	flag.DurationVar(&o.Duration, "duration", 3*time.Second, "timed part of each round, per side")
	flag.DurationVar(&o.Warmup, "warmup", time.Second, "untimed warm-up before each timed part (JIT, caches)")
	flag.StringVar(&o.PeerDir, "peer", "bench/peer", "directory with the peer's package.json, package-lock.json and peer.mjs")
	flag.StringVar(&o.Out, "out", "", "write the results as JSON to this file")
	flag.IntVar(&o.CPU, "cpu", runtime.NumCPU()-1, "pin both sides to this CPU with taskset (-1: do not pin)")
	flag.StringVar(&o.Images, "images", "benchmark", "benchmark: BenchmarkRenderAndSign's images (tiny placeholders); pictures: PNGs at Apple's icon and logo sizes")
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (inputs, installed peer, verified packages)")
	flag.StringVar(&o.Worker, "worker", "", "internal: measure passhub in this process")
	flag.StringVar(&o.Inputs, "inputs", "", "internal: inputs directory (worker mode)")
	flag.StringVar(&o.Once, "once", "", "internal: write one package here instead of measuring (worker mode)")
	flag.Parse()
	var err error
	if o.Worker == "passhub" {
		err = passhubWorker(o.Inputs, o.Warmup, o.Duration, o.Once, os.Stdout)
	} else {
		err = run(o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "passhub-bench-pkpass:", err)
		os.Exit(1)
	}
}

// side is one implementation's measurements.
type side struct {
	Name string `json:"name"`
	// PassesPerSecond is wall-clock passes per second of each round's timed
	// part; the headline figure.
	PassesPerSecond runstats.Spread `json:"passesPerSecond"`
	// PassesPerCPUSecond divides by the CPU time (user+system, all threads:
	// GC, JIT) the process used during the timed part: less sensitive to
	// other work on a shared machine than the wall clock.
	PassesPerCPUSecond runstats.Spread `json:"passesPerCpuSecond"`
	Runs               []roundResult   `json:"runs"`
	Check              packageCheck    `json:"check"`
}

type roundResult struct {
	Passes     int     `json:"passes"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Rate       float64 `json:"passesPerSecond"`
}

// report is the JSON written to -out.
type report struct {
	Figure          string  `json:"figure"`
	Time            string  `json:"time"`
	Cores           int     `json:"cores"`
	PinnedCPU       int     `json:"pinnedCpu"` // -1: not pinned
	Rounds          int     `json:"rounds"`
	DurationSeconds float64 `json:"durationSeconds"`
	WarmupSeconds   float64 `json:"warmupSeconds"`
	Images          string  `json:"images"`
	ImageBytes      int     `json:"imageBytes"`
	Go              string  `json:"go"`
	Node            string  `json:"node"`
	PeerPackage     string  `json:"peerPackage"`
	PeerVersion     string  `json:"peerVersion"`
	NodeForge       string  `json:"nodeForgeVersion"`
	Passhub         side    `json:"passhub"`
	Peer            side    `json:"peer"`
	// Ratio is passhub's median rate ÷ the peer's (issue 7's target: ≥ 20).
	Ratio       float64 `json:"ratio"`
	RatioPerCPU float64 `json:"ratioPerCpuSecond"`
	// RoundRatios are passhub's rate ÷ the peer's within each round (the
	// two ran back to back), which a load that drifts across rounds
	// disturbs less than the ratio of medians.
	RoundRatios   runstats.Spread `json:"roundRatios"`
	PassJSONDiffs []string        `json:"passJsonDifferences"`
	Command       string          `json:"command"`
}

func run(o options, stdout io.Writer) error {
	if o.Rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	for _, tool := range []string{"node", "npm", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is required: %w", tool, err)
		}
	}
	pin := []string(nil)
	if o.CPU >= 0 {
		if _, err := exec.LookPath("taskset"); err != nil {
			return fmt.Errorf("taskset is required to pin to CPU %d (or pass -cpu -1): %w", o.CPU, err)
		}
		pin = []string{"taskset", "-c", strconv.Itoa(o.CPU)}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "passhub-bench-pkpass-")
	if err != nil {
		return err
	}
	if o.Keep {
		fmt.Fprintln(stdout, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	inputs, peerDir, work := filepath.Join(tmp, "inputs"), filepath.Join(tmp, "peer"), filepath.Join(tmp, "work")
	for _, d := range []string{inputs, peerDir, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var images map[string][]byte
	switch o.Images {
	case "benchmark":
		images = benchImages()
	case "pictures":
		if images, err = pictureImages(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-images must be benchmark or pictures, not %q", o.Images)
	}
	if err := writeInputs(inputs, images); err != nil {
		return err
	}
	if err := installPeer(o.PeerDir, peerDir); err != nil {
		return err
	}
	rep := report{
		Figure:          ".pkpass render+sign, one core: passhub vs passkit-generator, same pass, same certificates",
		Time:            time.Now().UTC().Format(time.RFC3339),
		Cores:           runtime.NumCPU(),
		PinnedCPU:       o.CPU,
		Rounds:          o.Rounds,
		DurationSeconds: o.Duration.Seconds(),
		WarmupSeconds:   o.Warmup.Seconds(),
		Images:          o.Images,
		Go:              runtime.Version(),
		PeerPackage:     "passkit-generator",
		Passhub:         side{Name: "passhub"},
		Peer:            side{Name: "passkit-generator"},
		Command:         strings.Join(append([]string{"passhub-bench-pkpass"}, os.Args[1:]...), " "),
	}
	for _, img := range images {
		rep.ImageBytes += len(img)
	}
	if rep.Node, err = output("node", "--version"); err != nil {
		return err
	}
	if rep.PeerVersion, err = packageVersion(peerDir, "passkit-generator"); err != nil {
		return err
	}
	if rep.NodeForge, err = packageVersion(peerDir, "node-forge"); err != nil {
		return err
	}

	// The commands that measure; extra arguments select -once.
	passhubCmd := func(extra ...string) []string {
		args := append(slices.Clone(pin), self, "-worker", "passhub", "-inputs", inputs,
			"-warmup", o.Warmup.String(), "-duration", o.Duration.String())
		return append(args, extra...)
	}
	peerCmd := func(extra ...string) []string {
		args := append(slices.Clone(pin), "node", filepath.Join(peerDir, "peer.mjs"), "--inputs", inputs,
			"--warmup-ms", strconv.FormatInt(o.Warmup.Milliseconds(), 10),
			"--duration-ms", strconv.FormatInt(o.Duration.Milliseconds(), 10))
		return append(args, extra...)
	}

	// One package of each, verified the same way before anything is timed.
	wwdrPEM, err := os.ReadFile(filepath.Join(inputs, dirCerts, fileWWDR))
	if err != nil {
		return err
	}
	for _, s := range []struct {
		side *side
		out  string
		cmd  []string
	}{
		{&rep.Passhub, "passhub.pkpass", passhubCmd("-once", filepath.Join(work, "passhub.pkpass"))},
		{&rep.Peer, "peer.pkpass", peerCmd("--once", filepath.Join(work, "peer.pkpass"), "--serial", benchSerial)},
	} {
		if err := execute(s.cmd); err != nil {
			return fmt.Errorf("making %s's package: %w", s.side.Name, err)
		}
		pkpass, err := os.ReadFile(filepath.Join(work, s.out))
		if err != nil {
			return err
		}
		dir := filepath.Join(work, s.side.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if s.side.Check, err = verifyPackage(pkpass, wwdrPEM, dir); err != nil {
			return fmt.Errorf("%s's package is not a valid signed pass: %w", s.side.Name, err)
		}
	}
	if rep.PassJSONDiffs, err = diffJSON(rep.Passhub.Check.passJSON, rep.Peer.Check.passJSON); err != nil {
		return fmt.Errorf("comparing pass.json: %w", err)
	}

	fmt.Fprintf(stdout, "cores: %d; both sides pinned to CPU %d; %d rounds of %s (after %s warm-up) each; images: %s, %d bytes\n",
		rep.Cores, o.CPU, o.Rounds, o.Duration, o.Warmup, o.Images, rep.ImageBytes)
	for r := 0; r < o.Rounds; r++ {
		// Alternate who goes first so a drift in machine load hits both.
		order := []*side{&rep.Passhub, &rep.Peer}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, s := range order {
			cmd := passhubCmd()
			if s == &rep.Peer {
				cmd = peerCmd()
			}
			res, err := measure(cmd)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, s.Name, err)
			}
			s.Runs = append(s.Runs, res)
			fmt.Fprintf(stdout, "round %d  %-18s %9.1f passes/s  (%d passes in %.2fs, %.2f CPU-s)\n",
				r+1, s.Name, res.Rate, res.Passes, res.Seconds, res.CPUSeconds)
		}
	}
	for _, s := range []*side{&rep.Passhub, &rep.Peer} {
		var rates, perCPU []float64
		for _, r := range s.Runs {
			rates = append(rates, r.Rate)
			perCPU = append(perCPU, float64(r.Passes)/r.CPUSeconds)
		}
		s.PassesPerSecond, s.PassesPerCPUSecond = runstats.Of(rates), runstats.Of(perCPU)
	}
	rep.Ratio = rep.Passhub.PassesPerSecond.Median / rep.Peer.PassesPerSecond.Median
	rep.RatioPerCPU = rep.Passhub.PassesPerCPUSecond.Median / rep.Peer.PassesPerCPUSecond.Median
	var roundRatios []float64
	for i := range rep.Passhub.Runs {
		roundRatios = append(roundRatios, rep.Passhub.Runs[i].Rate/rep.Peer.Runs[i].Rate)
	}
	rep.RoundRatios = runstats.Of(roundRatios)
	printTable(stdout, rep)
	if o.Out != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.Out, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", o.Out)
	}
	return nil
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, ".pkpass render+sign on one core (CPU %d of %d cores), median (min–max) of %d rounds\n", rep.PinnedCPU, rep.Cores, rep.Rounds)
	fmt.Fprintf(w, "%-30s %22s %24s\n", "", "passes/s", "passes per CPU-second")
	for _, s := range []side{rep.Passhub, rep.Peer} {
		name := s.Name
		if s.Name == rep.PeerPackage {
			name += " " + rep.PeerVersion
		}
		fmt.Fprintf(w, "%-30s %22s %24s\n", name, s.PassesPerSecond, s.PassesPerCPUSecond)
	}
	fmt.Fprintf(w, "%-30s %22s %24s\n", "passhub ÷ peer (medians)", fmt.Sprintf("%.1f×", rep.Ratio), fmt.Sprintf("%.1f×", rep.RatioPerCPU))
	fmt.Fprintf(w, "%-30s %22s\n", "passhub ÷ peer, each round", fmt.Sprintf("%.1f× (%.1f–%.1f)", rep.RoundRatios.Median, rep.RoundRatios.Min, rep.RoundRatios.Max))
	fmt.Fprintln(w)
	for _, s := range []side{rep.Passhub, rep.Peer} {
		c := s.Check
		fmt.Fprintf(w, "%s package: %d bytes, zip %s, manifest SHA-1 ok, signature %s / %s, signingTime, certs %q, openssl: %s\n",
			s.Name, c.Bytes, c.Compression, c.DigestAlgorithm, c.SignatureAlg, c.Certificates, c.OpenSSL)
	}
	if len(rep.PassJSONDiffs) == 0 {
		fmt.Fprintln(w, "pass.json: the same keys and values on both sides")
	} else {
		fmt.Fprintf(w, "pass.json differs: %s\n", strings.Join(rep.PassJSONDiffs, "; "))
	}
	fmt.Fprintf(w, "%s, node %s, node-forge %s\n", rep.Go, rep.Node, rep.NodeForge)
}

// installPeer copies the peer's sources to dst and installs its locked
// dependencies there; nothing is installed in the checkout.
func installPeer(src, dst string) error {
	for _, name := range []string{"package.json", "package-lock.json", "peer.mjs"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return fmt.Errorf("reading the peer: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel", "error")
	cmd.Dir = dst
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci for the peer: %v\n%s", err, out)
	}
	return nil
}

func packageVersion(dir, pkg string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", pkg, "package.json"))
	if err != nil {
		return "", fmt.Errorf("reading %s's version: %w", pkg, err)
	}
	var p struct{ Version string }
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("reading %s's version: %w", pkg, err)
	}
	return p.Version, nil
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// execute runs argv; its output is shown on failure.
func execute(argv []string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return nil
}

// measure runs one measuring process and reads its result.
func measure(argv []string) (roundResult, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return roundResult{}, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.Bytes())
	}
	var res workerResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return roundResult{}, fmt.Errorf("reading the result %q: %w", stdout.Bytes(), err)
	}
	if res.Passes == 0 || res.Seconds <= 0 {
		return roundResult{}, fmt.Errorf("no passes measured: %+v", res)
	}
	if res.CPUSeconds <= 0 {
		return roundResult{}, fmt.Errorf("no CPU time reported: %+v", res)
	}
	return roundResult{Passes: res.Passes, Seconds: res.Seconds, CPUSeconds: res.CPUSeconds, Rate: float64(res.Passes) / res.Seconds}, nil
}
