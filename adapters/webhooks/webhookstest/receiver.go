// Package webhookstest is a webhook endpoint for tests and benchmarks:
// an HTTP server on loopback that checks every message the way the
// Standard Webhooks specification tells a receiver to (its own code,
// written from the specification, not passhub's signer), answers as the
// test scripts it, and keeps what it received.
package webhookstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DefaultTolerance is the timestamp tolerance the specification suggests.
const DefaultTolerance = 5 * time.Minute

// Verify checks a message as a Standard Webhooks receiver does: the
// webhook-id, webhook-timestamp and webhook-signature headers are
// present; the timestamp is within tolerance of now (either way); and
// some "v1,<base64>" entry of the space-separated signature list equals
// HMAC-SHA256(key, id + "." + timestamp + "." + body) for some secret,
// where key is the base64 decoding of the secret after "whsec_"
// (compared in constant time). Entries of other versions are skipped.
func Verify(secrets []string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := header.Get("webhook-id"), header.Get("webhook-timestamp"), header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q is not an integer", ts)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook-timestamp %s is %s away from now", ts, d)
	}
	signed := []byte(id + "." + ts + "." + string(body))
	for _, secret := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return fmt.Errorf("secret is not whsec_ and base64: %w", err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(signed)
		want := mac.Sum(nil)
		for _, entry := range strings.Split(sigs, " ") {
			version, sig, ok := strings.Cut(entry, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return errors.New("no signature matches")
}

// Message is one request the receiver got.
type Message struct {
	ID        string // webhook-id
	Timestamp string // webhook-timestamp
	Signature string // webhook-signature
	Header    http.Header
	Body      []byte
	Proto     string // "HTTP/1.1", "HTTP/2.0"
	// Seen counts the messages with this ID so far, this one included.
	Seen int
	// Err is why verification failed (nil: verified, or no secrets set).
	Err error
}

// Answer is how the receiver responds to a message.
type Answer struct {
	Status int // default 204
	Header map[string]string
	Body   string
	// Hang holds the request until the client gives up (a timeout).
	Hang bool
	// Drop closes the connection without an answer (an endpoint that
	// is down).
	Drop bool
}

// Options configure a Receiver.
type Options struct {
	// Secrets verify every message (Verify); a message that fails gets
	// 401. None: nothing is verified.
	Secrets []string
	// Now is the receiver's clock for the timestamp check (default
	// time.Now).
	Now func() time.Time
	// Tolerance defaults to DefaultTolerance.
	Tolerance time.Duration
	// Answer decides the response to a verified message (default 204).
	Answer func(Message) Answer
	// TLS serves HTTPS with HTTP/2 (and HTTP/1.1) on a test certificate
	// for 127.0.0.1; the client must trust Certificate.
	TLS bool
	// CountOnly keeps no messages, only counts (benchmarks).
	CountOnly bool
}

// Receiver is a running endpoint.
type Receiver struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	opts     Options
	messages []Message
	seen     map[string]int
	count    atomic.Int64
	bad      atomic.Int64
	conns    atomic.Int64
}

// Start starts a receiver on loopback, closed when t ends.
func Start(t testing.TB, o Options) *Receiver {
	t.Helper()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	r := &Receiver{opts: o, seen: map[string]int{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.conns.Add(1)
		}
	}
	if o.TLS {
		r.srv.EnableHTTP2 = true
		r.srv.StartTLS()
	} else {
		r.srv.Start()
	}
	r.URL = r.srv.URL
	t.Cleanup(r.srv.Close)
	return r
}

// Server is the underlying test server (its Certificate, Client).
func (r *Receiver) Server() *httptest.Server { return r.srv }

// SetSecrets replaces the secrets messages are verified with.
func (r *Receiver) SetSecrets(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.Secrets = secrets
}

// SetAnswer replaces how the receiver answers.
func (r *Receiver) SetAnswer(f func(Message) Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.Answer = f
}

// Messages returns what was received, in arrival order.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.messages...)
}

// Count is how many requests arrived.
func (r *Receiver) Count() int64 { return r.count.Load() }

// Connections is how many connections clients opened (keep-alive reuse
// keeps it low).
func (r *Receiver) Connections() int64 { return r.conns.Load() }

// Unverified is how many requests failed verification.
func (r *Receiver) Unverified() int64 { return r.bad.Load() }

// Reset forgets the messages received so far.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages, r.seen = nil, map[string]int{}
	r.count.Store(0)
	r.bad.Store(0)
	r.conns.Store(0)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	r.count.Add(1)
	m := Message{
		ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"),
		Signature: req.Header.Get("webhook-signature"), Header: req.Header.Clone(), Body: body, Proto: req.Proto,
	}
	r.mu.Lock()
	o := r.opts
	if !o.CountOnly {
		r.seen[m.ID]++
		m.Seen = r.seen[m.ID]
	}
	r.mu.Unlock()
	if req.Method != http.MethodPost {
		m.Err = fmt.Errorf("method %s, want POST", req.Method)
	} else if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		m.Err = fmt.Errorf("content-type %q, want application/json", ct)
	} else if len(o.Secrets) > 0 {
		m.Err = Verify(o.Secrets, req.Header, body, o.Now(), o.Tolerance)
	}
	if !o.CountOnly {
		r.mu.Lock()
		r.messages = append(r.messages, m)
		r.mu.Unlock()
	}
	if m.Err != nil {
		r.bad.Add(1)
		http.Error(w, m.Err.Error(), http.StatusUnauthorized)
		return
	}
	a := Answer{Status: http.StatusNoContent}
	if o.Answer != nil {
		a = o.Answer(m)
	}
	if a.Hang {
		<-req.Context().Done()
		return
	}
	if a.Drop {
		panic(http.ErrAbortHandler) // the server closes the connection, logging nothing
	}
	for k, v := range a.Header {
		w.Header().Set(k, v)
	}
	if a.Status == 0 {
		a.Status = http.StatusNoContent
	}
	w.WriteHeader(a.Status)
	_, _ = io.WriteString(w, a.Body)
}
