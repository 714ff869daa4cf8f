package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The machine is shared, so a run records where the CPU went: passhub,
// this load generator, PostgreSQL, Redis and everything else. Linux only
// (/proc); elsewhere the shares stay empty.

// clockTick is USER_HZ, 100 on every Linux this runs on.
const clockTick = 100

// cpuSnapshot is the CPU time (ticks) every process had used, and the
// machine's busy and total ticks, at one moment.
type cpuSnapshot struct {
	at          time.Time
	procs       map[int]procTime
	busy, total uint64
}

type procTime struct {
	comm  string
	ticks uint64
}

// cpuShares is the CPU a run used, in cores (1.0 = one core busy for the
// whole run), by who used it.
type cpuShares struct {
	Passhub  float64 `json:"passhub"`
	Loadgen  float64 `json:"loadgen"`
	Postgres float64 `json:"postgres"`
	Redis    float64 `json:"redis"`
	Other    float64 `json:"other"`
	Machine  float64 `json:"machineBusy"` // all cores, from /proc/stat
}

func takeCPU() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), procs: map[int]procTime{}}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i < len(f) && i <= 8; i++ {
			v, _ := strconv.ParseUint(f[i], 10, 64)
			s.total += v
			if i != 4 && i != 5 { // idle, iowait
				s.busy += v
			}
		}
	}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		if t, ok := parseProcStat(string(b)); ok {
			s.procs[pid] = t
		}
	}
	return s
}

// parseProcStat reads comm and utime+stime from a /proc/PID/stat line.
// comm is in parentheses and may hold spaces, so fields count from the
// last ')'.
func parseProcStat(line string) (procTime, bool) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procTime{}, false
	}
	f := strings.Fields(line[end+1:]) // state ppid ... utime is field 14 of the line, 12th here
	if len(f) < 13 {
		return procTime{}, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procTime{}, false
	}
	return procTime{comm: line[open+1 : end], ticks: u + st}, true
}

// sharesBetween attributes the CPU used from a to b. A process that
// started in between counts whole; one that ended in between is lost to
// "other" only through the machine total.
func sharesBetween(a, b cpuSnapshot, passhubPid, selfPid int) cpuShares {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return cpuShares{}
	}
	var sh cpuShares
	var known float64
	for pid, t := range b.procs {
		d := t.ticks
		if old, ok := a.procs[pid]; ok && old.comm == t.comm && old.ticks <= t.ticks {
			d -= old.ticks
		}
		cores := float64(d) / clockTick / secs
		switch {
		case pid == passhubPid:
			sh.Passhub += cores
		case pid == selfPid:
			sh.Loadgen += cores
		case t.comm == "postgres":
			sh.Postgres += cores
		case strings.HasPrefix(t.comm, "redis-server"):
			sh.Redis += cores
		default:
			continue
		}
		known += cores
	}
	if b.total > a.total {
		frac := float64(b.busy-a.busy) / float64(b.total-a.total)
		sh.Machine = frac * float64(numCores())
		sh.Other = max(0, sh.Machine-known)
	}
	return sh
}
