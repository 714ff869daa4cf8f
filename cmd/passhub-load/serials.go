package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/passhub/passhub/adapters/apple/testpki"
)

// serialsScenario asks the PassKit web service "which of my passes
// changed since tag" for random devices, the call every push makes a
// device send, against a database seeded with many passes, devices and
// registrations.
//
// Seeding goes straight into PostgreSQL with INSERT … SELECT over
// generate_series, in the shape adapters/postgres writes (apple.go's
// RegisterDevice and touch): device i (ID md5('dev'||i), 32 hex digits
// like a device library ID) holds perDevice consecutive passes, its j-th
// registration stamped with tag j and the device's last_tag the largest.
// Through the API a million registrations would take hours of setup.
type serialsScenario struct {
	passes    int
	perDevice int
	devices   int
	passType  string
	base      string
	setup     map[string]float64
}

func newSerialsScenario(o options) scenario {
	per := max(o.PassesPerDevice, 1)
	return &serialsScenario{
		passes: o.Passes, perDevice: per, devices: (o.Passes + per - 1) / per,
		passType: testpki.PassTypeID, setup: map[string]float64{},
	}
}

func (s *serialsScenario) Figure() string {
	return fmt.Sprintf("Apple updated-serials answers/s (%s passes & registrations, PostgreSQL)", thousands(float64(s.passes)))
}

// reuseHub: one seeded database serves every concurrency measured.
func (s *serialsScenario) reuseHub() bool { return true }

// SetupFacts are the seeding times, for the report.
func (s *serialsScenario) SetupFacts() map[string]float64 { return s.setup }

func (s *serialsScenario) Setup(ctx context.Context, h *hub) error {
	s.base = h.Base
	pki, err := testpki.New(testpki.Options{})
	if err != nil {
		return fmt.Errorf("making the test PKI: %w", err)
	}
	s.passType = pki.PassTypeID
	if _, err := h.api(ctx, http.MethodPut, "/v1/credentials/apple", map[string]any{
		"passTypeIdentifier": pki.PassTypeID, "teamIdentifier": pki.TeamID,
		"certificate": string(pki.CertPEM), "privateKey": string(pki.KeyPEM), "wwdrCertificate": string(pki.WWDRPEM),
	}, http.StatusOK); err != nil {
		return fmt.Errorf("uploading Apple credentials: %w", err)
	}
	tpl, err := h.api(ctx, http.MethodPost, "/v1/templates", map[string]any{
		"name": "loyalty", "style": "storeCard", "organizationName": "Acme", "description": "Acme loyalty card",
		"fields": map[string]any{"primary": []any{map[string]any{"key": "points", "label": "Points"}}},
	}, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("creating the template: %w", err)
	}
	tplID, _ := tpl["id"].(string)
	var ws string
	if err := h.DB.QueryRow(ctx, `SELECT workspace_id FROM templates WHERE id = $1`, tplID).Scan(&ws); err != nil {
		return fmt.Errorf("finding the workspace: %w", err)
	}

	conn, err := h.DB.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	defer conn.Release()
	// One session, no waiting for the WAL flush per statement (there are
	// three), more memory for the index builds: the seeding's own
	// settings, gone with the session.
	for _, set := range []string{`SET synchronous_commit = off`, `SET maintenance_work_mem = '256MB'`, `SET work_mem = '64MB'`} {
		if _, err := conn.Exec(ctx, set); err != nil {
			return fmt.Errorf("seeding: %s: %w", set, err)
		}
	}
	steps := []struct {
		name, sql string
		args      []any
	}{
		// Pass IDs are pass_ and 26 digits (Crockford base32 like
		// core.NewID's, in creation order); each pass is installed on
		// Apple Wallet, as a registration leaves it.
		{"passes", `INSERT INTO passes (id, workspace_id, template_id, external_id, data, lifecycle, version, auth_token,
				wallet_status, apple_installed_at, wallet_last_changed_at, wallet_last_event, created_at, updated_at)
			SELECT 'pass_' || lpad(i::text, 26, '0'), $1, $2, 'cust-' || i,
				jsonb_build_object('points', i % 500, 'name', 'Member ' || i), 'active', 1, md5('auth' || i),
				'apple', now(), now(), 'pass.installed', now(), now()
			FROM generate_series(1, $3::int) AS i`, []any{ws, tplID, s.passes}},
		{"devices", `INSERT INTO apple_devices (device_library_id, push_token, last_tag, updated_at)
			SELECT md5('dev' || d), md5('tok' || d) || md5('tok2' || d), least($2::int, $1::int - (d - 1) * $2::int), now()
			FROM generate_series(1, ($1::int + $2::int - 1) / $2::int) AS d ORDER BY 1`, []any{s.passes, s.perDevice}},
		{"registrations", `INSERT INTO apple_registrations (device_library_id, pass_type_identifier, pass_id, workspace_id, tag, created_at, updated_at)
			SELECT md5('dev' || ((i - 1) / $3::int + 1)), $4, 'pass_' || lpad(i::text, 26, '0'), $1, (i - 1) % $3::int + 1, now(), now()
			FROM generate_series(1, $2::int) AS i ORDER BY 1, 3`, []any{ws, s.passes, s.perDevice, s.passType}},
	}
	t0 := time.Now()
	for _, st := range steps {
		t := time.Now()
		if _, err := conn.Exec(ctx, st.sql, st.args...); err != nil {
			return fmt.Errorf("seeding %s: %w", st.name, err)
		}
		s.setup[st.name] = time.Since(t).Seconds()
		fmt.Fprintf(os.Stderr, "passhub-load: serials: seeded %s in %.1fs\n", st.name, s.setup[st.name])
	}
	t := time.Now()
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) passes, apple_devices, apple_registrations`); err != nil {
		return fmt.Errorf("vacuuming the seeded tables: %w", err)
	}
	s.setup["vacuumAnalyze"] = time.Since(t).Seconds()
	s.setup["total"] = time.Since(t0).Seconds()
	fmt.Fprintf(os.Stderr, "passhub-load: serials: %d passes, %d devices, %d registrations seeded in %.1fs (vacuum and analyze %.1fs)\n",
		s.passes, s.devices, s.passes, s.setup["total"], s.setup["vacuumAnalyze"])
	return s.verify(ctx)
}

// verify asks passhub about the first and the last device, with both
// kinds of tag, so a seed the store reads differently fails here rather
// than measuring 404s or empty answers.
func (s *serialsScenario) verify(ctx context.Context) error {
	for _, dev := range []int{1, s.devices} {
		last := s.lastTag(dev)
		for _, c := range []struct {
			since  int
			status int
		}{{last - 1, http.StatusOK}, {last, http.StatusNoContent}} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url(dev, c.since), nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("checking the seed: %w", err)
			}
			_ = res.Body.Close()
			if res.StatusCode != c.status {
				return fmt.Errorf("checking the seed: device %d since %d: status %d, want %d", dev, c.since, res.StatusCode, c.status)
			}
		}
	}
	return nil
}

// lastTag is the seeded last_tag of device d (1-based): its pass count.
func (s *serialsScenario) lastTag(d int) int {
	return min(s.perDevice, s.passes-(d-1)*s.perDevice)
}

// deviceID is device d's library ID, as the seed made it.
func deviceID(d int) string {
	sum := md5.Sum([]byte("dev" + strconv.Itoa(d)))
	return hex.EncodeToString(sum[:])
}

func (s *serialsScenario) url(d, since int) string {
	return s.base + "/apple/v1/devices/" + deviceID(d) + "/registrations/" + s.passType + "?passesUpdatedSince=" + strconv.Itoa(since)
}

// Request asks for a random device's passes: odd seq with the tag before
// its last change (one serial comes back, as after a push), even seq
// with its current tag (204, nothing changed).
func (s *serialsScenario) Request(seq int64) (*http.Request, error) {
	d := 1 + rand.IntN(s.devices)
	since := s.lastTag(d)
	if seq%2 == 1 {
		since--
	}
	return http.NewRequest(http.MethodGet, s.url(d, since), nil)
}

// Check counts the seeded rows: reads change nothing.
func (s *serialsScenario) Check(ctx context.Context, h *hub, _ int64) (map[string]int64, error) {
	var regs, devs int64
	if err := h.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM apple_registrations), (SELECT count(*) FROM apple_devices)`).Scan(&regs, &devs); err != nil {
		return nil, fmt.Errorf("counting registrations: %w", err)
	}
	if regs != int64(s.passes) || devs != int64(s.devices) {
		return nil, fmt.Errorf("%d registrations and %d devices, want %d and %d", regs, devs, s.passes, s.devices)
	}
	return map[string]int64{"registrations": regs, "devices": devs}, nil
}
