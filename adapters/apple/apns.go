package apple

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sideshow/apns2"

	"github.com/passhub/passhub/core"
)

// The Wallet update push: the payload is the empty JSON dictionary, the
// topic is the pass type identifier, the TLS client certificate is the
// Pass Type ID certificate, and it goes to production APNs. The device
// then asks the web service what changed; any message it shows comes from
// the pass's changeMessage, never from the push. Apple's Wallet
// documentation says nothing about apns-push-type or apns-priority.
//
// apns-push-type: Apple's "Sending notification requests to APNs" calls
// the header required on watchOS 6 and later and recommended on iOS, and
// defines "background" as the type for notifications that deliver content
// in the background without user interaction -- what a Wallet push is.
// "alert" would misdescribe an empty payload. Leaving the header out, as
// many older Wallet servers do, is not possible through apns2 (it sends
// "alert" for a notification without a type). So: background.
//
// apns-priority: the same page says a background push must use priority 5
// ("Using priority 10 is an error"), so: 5. APNs may group priority-5
// pushes to one device and deliver them in bursts, which costs little
// here: one wake-up fetches every changed pass.
//
// Both are APNsConfig fields, so an operator can change them without a
// release should Wallet deliveries ever call for it.
const (
	DefaultPushType = "background"
	DefaultPriority = apns2.PriorityLow
)

// walletPayload is the Wallet update push's body: the empty dictionary.
var walletPayload = []byte("{}")

// PushClass is what to do about one push's outcome.
type PushClass int

const (
	// ClassOK: APNs accepted the push (200).
	ClassOK PushClass = iota
	// ClassDropped: the token is no longer active for the topic (410,
	// Unregistered or ExpiredToken); delete the registrations of devices
	// not refreshed since the result's Timestamp.
	ClassDropped
	// ClassPermanent: APNs refused this push for a reason a retry will not
	// change (BadDeviceToken, DeviceTokenNotForTopic, BadCertificate,
	// TopicDisallowed, PayloadTooLarge, any other 4xx), or the token or
	// credentials could not be used at all. Keep the registration: only
	// 410 means the device is gone.
	ClassPermanent
	// ClassRetry: try again later (429 TooManyRequests, 5xx, transport
	// errors, timeouts, cancellation).
	ClassRetry
)

func (c PushClass) String() string {
	switch c {
	case ClassOK:
		return "ok"
	case ClassDropped:
		return "dropped"
	case ClassPermanent:
		return "permanent"
	case ClassRetry:
		return "retry"
	}
	return fmt.Sprintf("PushClass(%d)", int(c))
}

// PushResult is the outcome of one push.
type PushResult struct {
	Token string
	// Status is APNs's HTTP status; 0 when no answer came (see Err).
	Status int
	// Reason is APNs's error reason ("Unregistered", "BadDeviceToken"...).
	Reason string
	// Latency is the time from sending the request to reading the answer.
	Latency time.Duration
	// Err is a failure to get an answer at all: transport, timeout,
	// cancellation, or credentials/token unusable (core.ErrPermanent).
	Err error
	// ApnsID is the apns-id APNs gave the notification.
	ApnsID string
	// Timestamp is, for 410, when APNs last confirmed the token was no
	// longer valid for the topic. A registration newer than this (the
	// device re-registered since) is still good. APNs sends milliseconds
	// since the epoch; apns2 keeps whole seconds (it truncates), so a
	// registration in that same second counts as newer and is kept.
	Timestamp time.Time
}

// Class classifies the result: see PushClass.
func (r PushResult) Class() PushClass {
	if r.Err != nil {
		if errors.Is(r.Err, core.ErrPermanent) {
			return ClassPermanent
		}
		return ClassRetry
	}
	switch {
	case r.Status == http.StatusOK:
		return ClassOK
	case r.Status == http.StatusGone:
		return ClassDropped
	case r.Status == http.StatusTooManyRequests, r.Status >= 500, r.Status == 0:
		return ClassRetry
	default:
		return ClassPermanent
	}
}

// APNsConfig configures the APNs client pool. Zero values take defaults.
type APNsConfig struct {
	// BaseURL is APNs's origin; default apns2.HostProduction (Wallet
	// pushes always go to production). Tests point it at apnstest.
	BaseURL string
	// RootCAs verifies APNs's server certificate; nil means the system
	// pool.
	RootCAs *x509.CertPool
	// Concurrency is the most pushes one Send has in flight, as streams
	// of one HTTP/2 connection; default 100. Above the server's
	// SETTINGS_MAX_CONCURRENT_STREAMS (about 1000 at APNs) the transport
	// opens another connection rather than queue.
	Concurrency int
	// Streams is the most pushes one client (one credential's
	// connection) has in flight across all its concurrent Sends;
	// default 900. A push-all runs a job per worker, each Sending with
	// the same credential: without a bound shared by their Sends, their
	// streams would pass what APNs allows a connection (about 1000) and
	// the transport would open more connections. 900 leaves room for
	// streams still closing.
	Streams int
	// Timeout bounds one push request; default 30s.
	Timeout time.Duration
	// PushType is the apns-push-type header; default DefaultPushType.
	PushType string
	// Priority is the apns-priority header; default DefaultPriority.
	Priority int
	// IdleTimeout closes a pooled client (and its connection) unused for
	// this long; default 15m.
	IdleTimeout time.Duration
}

// APNs sends Wallet update pushes. It keeps one apns2 client per
// credential, each with one long-lived HTTP/2 connection carrying many
// concurrent streams, as Apple asks ("keep your connections with APNs
// open across multiple notifications").
type APNs struct {
	cfg APNsConfig

	mu        sync.Mutex
	slots     map[string]*apnsClient // by slot, see Send
	lastSweep time.Time
	closed    bool
}

type apnsClient struct {
	// warm is set once a push on this client got an answer: its
	// connection is up and the server's settings are known.
	warm    atomic.Bool
	key     string
	certSum [32]byte
	client  *apns2.Client
	// streams holds a slot per push in flight (at most Streams).
	streams  chan struct{}
	refs     int
	lastUsed time.Time
	retired  bool
}

// NewAPNs returns a client pool.
func NewAPNs(cfg APNsConfig) *APNs {
	if cfg.BaseURL == "" {
		cfg.BaseURL = apns2.HostProduction
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 100
	}
	if cfg.Streams <= 0 {
		cfg.Streams = 900
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.PushType == "" {
		cfg.PushType = DefaultPushType
	}
	if cfg.Priority == 0 {
		cfg.Priority = DefaultPriority
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	return &APNs{cfg: cfg, slots: map[string]*apnsClient{}}
}

// Send pushes the Wallet update notification ({} on topic
// creds.PassTypeIdentifier, with creds' certificate as TLS client
// certificate) to every token, at most Concurrency at a time (and at most
// Streams at a time with those of other Sends on the client), and returns
// one result per token in token order. It never fails as a whole: a
// problem common to all tokens (unusable credentials) is every result's
// Err.
//
// key names the credential's client: the same key reuses the client and
// its connection. A key "slot@version" (e.g. workspace@updatedAt) replaces
// the client of an earlier key with the same slot; the old client's
// connection closes once its in-flight pushes finish. A key without "@"
// is its own slot. A changed certificate under the same key also gets a
// new client. Clients unused for IdleTimeout are closed.
func (a *APNs) Send(ctx context.Context, key string, creds *Credentials, tokens []string) []PushResult {
	results := make([]PushResult, len(tokens))
	for i, t := range tokens {
		results[i].Token = t
	}
	if len(tokens) == 0 {
		return results
	}
	c, err := a.acquire(key, creds)
	if err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	defer a.release(c)

	push := func(i int) {
		select {
		case c.streams <- struct{}{}:
		case <-ctx.Done():
			results[i].Err = ctx.Err()
			return
		}
		results[i] = a.push(ctx, c, creds.PassTypeIdentifier, tokens[i])
		<-c.streams
	}
	var next atomic.Int64
	if !c.warm.Load() {
		// The first push goes alone: it dials the connection and learns
		// the server's stream limit before the burst.
		push(0)
		next.Store(1)
		if err := results[0].Err; err != nil && !errors.Is(err, core.ErrPermanent) {
			// No connection (refused handshake, unreachable APNs): do not
			// hammer APNs with one doomed handshake per token.
			for i := 1; i < len(results); i++ {
				results[i].Err = fmt.Errorf("not attempted: %w", err)
			}
			return results
		}
	}
	var wg sync.WaitGroup
	for range min(a.cfg.Concurrency, len(tokens)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) {
					return
				}
				push(i)
			}
		})
	}
	wg.Wait()
	return results
}

func (a *APNs) push(ctx context.Context, c *apnsClient, topic, token string) PushResult {
	r := PushResult{Token: token}
	if !validToken(token) {
		r.Err = core.Permanent(fmt.Errorf("push token %q is not a hex APNs device token", token))
		return r
	}
	if err := ctx.Err(); err != nil {
		r.Err = err
		return r
	}
	n := &apns2.Notification{
		DeviceToken: token,
		Topic:       topic,
		Payload:     walletPayload,
		PushType:    apns2.EPushType(a.cfg.PushType),
		Priority:    a.cfg.Priority,
	}
	start := time.Now()
	resp, err := c.client.PushWithContext(ctx, n)
	r.Latency = time.Since(start)
	if err != nil {
		r.Err = err
		return r
	}
	r.Status, r.Reason, r.ApnsID = resp.StatusCode, resp.Reason, resp.ApnsID
	r.Timestamp = resp.Timestamp.Time
	c.warm.Store(true)
	if r.Status == 0 { // apns2 hides an unreadable error body behind an empty Response
		r.Err = errors.New("apns: unreadable response")
	}
	return r
}

// validToken accepts what APNs device tokens are: hex digits (64 today,
// possibly longer); anything else would also be unsafe in the URL path.
func validToken(t string) bool {
	if t == "" || len(t) > 512 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func slotOf(key string) string {
	if i := strings.LastIndexByte(key, '@'); i >= 0 {
		return key[:i]
	}
	return key
}

// acquire returns the slot's client for key, creating or replacing it.
func (a *APNs) acquire(key string, creds *Credentials) (*apnsClient, error) {
	if creds == nil || creds.Certificate == nil || creds.Key == nil {
		return nil, core.Permanent(errors.New("apns: no certificate and key to connect with"))
	}
	if creds.PassTypeIdentifier == "" {
		return nil, core.Permanent(errors.New("apns: no pass type identifier (the push topic)"))
	}
	sum := sha256.Sum256(creds.Certificate.Raw)
	now := time.Now()
	slot := slotOf(key)

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, errors.New("apns: client pool closed")
	}
	a.sweepLocked(now)
	c := a.slots[slot]
	if c != nil && (c.key != key || c.certSum != sum) {
		a.retireLocked(c)
		c = nil
	}
	if c == nil {
		c = &apnsClient{key: key, certSum: sum, client: a.newClient(creds), streams: make(chan struct{}, a.cfg.Streams)}
		a.slots[slot] = c
	}
	c.refs++
	c.lastUsed = now
	return c, nil
}

func (a *APNs) release(c *apnsClient) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c.refs--
	c.lastUsed = time.Now()
	if c.retired && c.refs == 0 {
		c.client.CloseIdleConnections()
	}
}

// retireLocked forgets c; its connection closes now if idle, else when
// its last Send releases it.
func (a *APNs) retireLocked(c *apnsClient) {
	if c.retired {
		return
	}
	c.retired = true
	if a.slots[slotOf(c.key)] == c {
		delete(a.slots, slotOf(c.key))
	}
	if c.refs == 0 {
		c.client.CloseIdleConnections()
	}
}

func (a *APNs) sweepLocked(now time.Time) {
	if now.Sub(a.lastSweep) < a.cfg.IdleTimeout/4 {
		return
	}
	a.lastSweep = now
	for _, c := range a.slots {
		if c.refs == 0 && now.Sub(c.lastUsed) > a.cfg.IdleTimeout {
			a.retireLocked(c)
		}
	}
}

// Forget closes the client of key's slot (after its in-flight pushes),
// e.g. when a workspace deletes its credentials.
func (a *APNs) Forget(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.slots[slotOf(key)]; c != nil {
		a.retireLocked(c)
	}
}

// Close closes every client; Send fails afterwards.
func (a *APNs) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for _, c := range a.slots {
		a.retireLocked(c)
	}
}

// newClient builds an apns2 client whose transport speaks only HTTP/2 and
// multiplexes pushes as streams of one connection. MaxConnsPerHost 1 stops
// a burst from dialing many connections at once; Send's first push on a
// new client goes alone so the server's SETTINGS (its stream limit) are
// known before the burst. The transport is not "strict" about the
// server's SETTINGS_MAX_CONCURRENT_STREAMS: strict mode stalls for good
// when more requests wait than the limit (golang/go#70809), so a
// Concurrency above the server's limit (APNs advertises about 1000)
// opens extra connections instead of waiting.
func (a *APNs) newClient(creds *Credentials) *apns2.Client {
	cert := tls.Certificate{
		Certificate: [][]byte{creds.Certificate.Raw},
		PrivateKey:  creds.Key,
		Leaf:        creds.Certificate,
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	dialer := &net.Dialer{Timeout: 20 * time.Second, KeepAlive: 15 * time.Second}
	transport := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      a.cfg.RootCAs,
			MinVersion:   tls.VersionTLS12,
		},
		TLSHandshakeTimeout: 20 * time.Second,
		ForceAttemptHTTP2:   true,
		Protocols:           protocols,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     a.cfg.IdleTimeout,
		HTTP2: &http.HTTP2Config{
			// Ping an idle connection, as apns2 does, so a dead one is
			// noticed before the next burst.
			SendPingTimeout: 15 * time.Second,
			PingTimeout:     15 * time.Second,
		},
	}
	client := apns2.NewClient(cert)
	client.Host = a.cfg.BaseURL
	client.HTTPClient = &http.Client{Transport: transport, Timeout: a.cfg.Timeout}
	return client
}
