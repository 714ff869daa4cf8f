package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/apple/testpki"
)

// workerResult is what one measuring process reports on stdout (the peer
// script prints the same shape).
type workerResult struct {
	Passes  int     `json:"passes"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the process's user+system time over the timed part.
	CPUSeconds float64 `json:"cpuSeconds"`
}

// passhubWorker loads the inputs like the peer does (PEM files, images),
// then renders and signs passes exactly as BenchmarkRenderAndSign does
// (Render, then Package) on one P, each pass with its own serial number.
// With once set it writes one package for benchSerial there instead.
func passhubWorker(inputs string, warmup, d time.Duration, once string, stdout io.Writer) error {
	runtime.GOMAXPROCS(1) // what `go test -cpu 1` sets
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(inputs, dirCerts, name)) }
	certPEM, err := read(fileCert)
	if err != nil {
		return err
	}
	keyPEM, err := read(fileKey)
	if err != nil {
		return err
	}
	wwdrPEM, err := read(fileWWDR)
	if err != nil {
		return err
	}
	creds, err := apple.ParsePEM(certPEM, keyPEM, wwdrPEM, testpki.PassTypeID, testpki.TeamID, time.Now())
	if err != nil {
		return fmt.Errorf("loading the certificates: %w", err)
	}
	images, err := readImages(filepath.Join(inputs, dirModel))
	if err != nil {
		return err
	}
	tpl, p, opts := benchTemplate(), benchPass(), benchOptions(creds)
	now := time.Now()
	one := func(serial string) ([]byte, error) {
		p.ID = serial
		passJSON, err := apple.Render(tpl, p, opts)
		if err != nil {
			return nil, err
		}
		return apple.Package(passJSON, images, creds, now)
	}
	if once != "" {
		pkpass, err := one(benchSerial)
		if err != nil {
			return err
		}
		return os.WriteFile(once, pkpass, 0o600)
	}
	var res workerResult
	res.Passes, res.Seconds, res.CPUSeconds, err = timedLoop(warmup, d, func(i int) error {
		_, err := one(serialPrefix + strconv.Itoa(i))
		return err
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// timedLoop runs f for warmup (not counted), then for at least d, and
// returns how many calls the timed part made, how long it took and the
// CPU time the process used meanwhile.
func timedLoop(warmup, d time.Duration, f func(i int) error) (n int, secs, cpuSecs float64, err error) {
	i := 0
	for end := time.Now().Add(warmup); time.Now().Before(end); i++ {
		if err := f(i); err != nil {
			return 0, 0, 0, err
		}
	}
	cpu0, err := processCPU()
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	for time.Since(start) < d {
		if err := f(i); err != nil {
			return 0, 0, 0, err
		}
		i++
		n++
	}
	secs = time.Since(start).Seconds()
	cpu1, err := processCPU()
	if err != nil {
		return 0, 0, 0, err
	}
	return n, secs, (cpu1 - cpu0).Seconds(), nil
}

// processCPU is the user+system time of the whole process (every thread).
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

func readImages(dir string) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil {
		return nil, err
	}
	images := map[string][]byte{}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		images[strings.TrimSuffix(filepath.Base(path), ".png")] = b
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("no images in %s", dir)
	}
	return images, nil
}
