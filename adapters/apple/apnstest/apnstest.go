// Package apnstest is a mock Apple Push Notification service for tests
// and load harnesses: an HTTP/2 TLS server that demands a client
// certificate, checks each request the way APNs checks a Wallet update
// push, answers like APNs, and counts what it saw.
//
// A request passes when it is POST /3/device/<hex token>, its apns-topic
// equals the client certificate's subject UID (and Options.Topic when
// set), its apns-push-type / apns-priority are valid together, and its
// body is a JSON object with no keys (Wallet's "{}"; whitespace allowed).
// Otherwise it gets APNs's status and JSON reason. Tokens can be scripted
// (Respond, RespondTimes) to answer 410 Unregistered, 400 BadDeviceToken,
// 429, 500...
package apnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
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

// APNs reasons the mock answers with.
const (
	ReasonBadDeviceToken         = "BadDeviceToken"
	ReasonBadPath                = "BadPath"
	ReasonBadPriority            = "BadPriority"
	ReasonBadTopic               = "BadTopic"
	ReasonDeviceTokenNotForTopic = "DeviceTokenNotForTopic"
	ReasonInternalServerError    = "InternalServerError"
	ReasonInvalidPushType        = "InvalidPushType"
	ReasonMethodNotAllowed       = "MethodNotAllowed"
	ReasonMissingDeviceToken     = "MissingDeviceToken"
	ReasonMissingTopic           = "MissingTopic"
	ReasonPayloadEmpty           = "PayloadEmpty"
	ReasonServiceUnavailable     = "ServiceUnavailable"
	ReasonTooManyRequests        = "TooManyRequests"
	ReasonTopicDisallowed        = "TopicDisallowed"
	ReasonUnregistered           = "Unregistered"
	ReasonBadCertificate         = "BadCertificate"
	// ReasonBadPayload is the mock's own (APNs has no reason for it): the
	// body is not Wallet's empty JSON object.
	ReasonBadPayload = "BadPayload"
)

var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// Options configure a Server.
type Options struct {
	// ClientCAs verifies client certificates (for Wallet pushes: the WWDR
	// CA that issued the Pass Type ID certificates). Nil still demands a
	// client certificate but accepts any (RequireAnyClientCert).
	ClientCAs *x509.CertPool
	// Topic, when set, is the only apns-topic accepted (else 400
	// BadTopic); unset, any topic matching the certificate's UID is.
	Topic string
	// MaxConcurrentStreams is the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
	// advertised; default 1000, like APNs.
	MaxConcurrentStreams int
	// Latency delays every answer, to look like a remote APNs.
	Latency time.Duration
	// RecordRequests keeps every request (Requests()); off, only counts
	// are kept, so a 100k-push benchmark stays small.
	RecordRequests bool
	// Decide, when set, answers requests that passed the checks and have
	// no script: return 0 for the default 200.
	Decide func(token string) (status int, reason string)
	// ErrorLog receives the server's errors (TLS handshake failures...);
	// default discards them.
	ErrorLog *log.Logger
}

// Request is one request the server received.
type Request struct {
	Token   string
	Topic   string
	Body    []byte
	Header  http.Header
	At      time.Time
	ConnID  int64  // the TLS connection that carried it
	CertUID string // the client certificate's subject UID
	Status  int    // what the mock answered
	Reason  string
}

// Reply is a scripted answer.
type Reply struct {
	Status int
	Reason string
	// Timestamp goes with 410 (default: the time of the request).
	Timestamp time.Time
	// Times answers this many requests, then the token gets 200 again;
	// 0 means always.
	Times int
}

// Server is a mock APNs.
type Server struct {
	// URL is the base URL to give the APNs client (https://127.0.0.1:port).
	URL string

	srv  *httptest.Server
	opts Options

	connSeq    atomic.Int64
	total      atomic.Int64
	handshakes atomic.Int64

	mu      sync.Mutex
	scripts map[string]*Reply
	counts  map[string]int
	conns   map[int64]bool
	reqs    []Request
}

type connKey struct{}

// NewServer starts a server; Close it.
func NewServer(opts Options) (s *Server, err error) {
	if opts.MaxConcurrentStreams <= 0 {
		opts.MaxConcurrentStreams = 1000
	}
	if opts.ErrorLog == nil {
		opts.ErrorLog = log.New(io.Discard, "", 0)
	}
	s = &Server{opts: opts, scripts: map[string]*Reply{}, counts: map[string]int{}, conns: map[int64]bool{}}
	defer func() { // httptest panics when it cannot listen
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("apnstest: starting server: %v", p)
		}
	}()
	hs := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	hs.EnableHTTP2 = true
	hs.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	if opts.ClientCAs != nil {
		hs.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		hs.TLS.ClientCAs = opts.ClientCAs
	}
	hs.TLS.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		s.handshakes.Add(1)
		return nil, nil // the server's config as is
	}
	hs.Config.ErrorLog = opts.ErrorLog
	hs.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: opts.MaxConcurrentStreams}
	hs.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, s.connSeq.Add(1))
	}
	hs.StartTLS()
	s.srv = hs
	s.URL = hs.URL
	return s, nil
}

// Start is NewServer for tests: it fails tb on error and closes the
// server when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Certificate is the server's (self-signed) TLS certificate.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// CAPool is a pool trusting the server: the client's RootCAs.
func (s *Server) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.srv.Certificate())
	return pool
}

// CAPEM is the server certificate in PEM, for a CA file setting such as
// PASSHUB_APNS_CA_FILE.
func (s *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Respond makes token always get status and reason.
func (s *Server) Respond(token string, status int, reason string) {
	s.Script(token, Reply{Status: status, Reason: reason})
}

// RespondTimes makes token's next n requests get status and reason, and
// the ones after 200: "fail n times, then succeed".
func (s *Server) RespondTimes(token string, n int, status int, reason string) {
	s.Script(token, Reply{Status: status, Reason: reason, Times: n})
}

// Script sets token's reply; a zero Status clears it.
func (s *Server) Script(token string, r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Status == 0 {
		delete(s.scripts, token)
		return
	}
	s.scripts[token] = &r
}

// Count is how many requests reached the handler for token (any answer).
func (s *Server) Count(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[token]
}

// Total is how many requests reached the handler.
func (s *Server) Total() int { return int(s.total.Load()) }

// Tokens is how many distinct tokens were requested.
func (s *Server) Tokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}

// Connections is how many distinct TLS connections carried requests.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Handshakes is how many TLS handshakes clients started, refused ones
// included.
func (s *Server) Handshakes() int { return int(s.handshakes.Load()) }

// Requests is every request so far, when Options.RecordRequests is on.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Reset forgets counts, recorded requests and scripts.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.Store(0)
	s.handshakes.Store(0)
	s.scripts = map[string]*Reply{}
	s.counts = map[string]int{}
	s.conns = map[int64]bool{}
	s.reqs = nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<10))
	connID, _ := r.Context().Value(connKey{}).(int64)
	token, status, reason := s.check(r, body)
	uid := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		uid = certUID(r.TLS.PeerCertificates[0])
	}

	var ts time.Time
	s.total.Add(1)
	s.mu.Lock()
	s.counts[token]++
	s.conns[connID] = true
	if status == 0 {
		if sc := s.scripts[token]; sc != nil {
			status, reason, ts = sc.Status, sc.Reason, sc.Timestamp
			if sc.Times > 0 {
				if sc.Times--; sc.Times == 0 {
					delete(s.scripts, token)
				}
			}
		}
	}
	s.mu.Unlock()
	if status == 0 && s.opts.Decide != nil {
		status, reason = s.opts.Decide(token)
	}
	if status == 0 {
		status = http.StatusOK
	}
	if s.opts.RecordRequests {
		rec := Request{
			Token: token, Topic: r.Header.Get("apns-topic"), Body: body, Header: r.Header.Clone(),
			At: now, ConnID: connID, CertUID: uid, Status: status, Reason: reason,
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
	}
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}

	id := r.Header.Get("apns-id")
	if id == "" {
		id = newUUID()
	}
	w.Header().Set("apns-id", id)
	if status == http.StatusOK {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	answer := map[string]any{"reason": reason}
	if status == http.StatusGone {
		if ts.IsZero() {
			ts = now
		}
		answer["timestamp"] = ts.UnixMilli()
	}
	_ = json.NewEncoder(w).Encode(answer)
}

// check applies APNs's request checks; status 0 means the request is fine.
func (s *Server) check(r *http.Request, body []byte) (token string, status int, reason string) {
	token, hasPrefix := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !hasPrefix {
		return r.URL.Path, http.StatusNotFound, ReasonBadPath
	}
	if r.Method != http.MethodPost {
		return token, http.StatusMethodNotAllowed, ReasonMethodNotAllowed
	}
	if token == "" {
		return token, http.StatusBadRequest, ReasonMissingDeviceToken
	}
	if _, err := hex.DecodeString(token); err != nil || strings.Contains(token, "/") {
		return token, http.StatusBadRequest, ReasonBadDeviceToken
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return token, http.StatusForbidden, ReasonBadCertificate
	}
	topic := r.Header.Get("apns-topic")
	if topic == "" {
		return token, http.StatusBadRequest, ReasonMissingTopic
	}
	if uid := certUID(r.TLS.PeerCertificates[0]); uid != topic {
		return token, http.StatusBadRequest, ReasonTopicDisallowed
	}
	if s.opts.Topic != "" && topic != s.opts.Topic {
		return token, http.StatusBadRequest, ReasonBadTopic
	}
	pushType := r.Header.Get("apns-push-type")
	switch pushType {
	case "", "alert", "background":
	default:
		// Wallet topics are not for VoIP, complications, Live Activities...
		return token, http.StatusBadRequest, ReasonInvalidPushType
	}
	if p := r.Header.Get("apns-priority"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || (n != 1 && n != 5 && n != 10) || (pushType == "background" && n == 10) {
			return token, http.StatusBadRequest, ReasonBadPriority
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return token, http.StatusBadRequest, ReasonPayloadEmpty
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil || len(obj) != 0 {
		return token, http.StatusBadRequest, ReasonBadPayload
	}
	return token, 0, ""
}

func certUID(c *x509.Certificate) string {
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidUID) {
			if v, ok := n.Value.(string); ok {
				return v
			}
		}
	}
	return ""
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
