package apple

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple/apnstest"
	"github.com/passhub/passhub/adapters/apple/testpki"
	"github.com/passhub/passhub/core"
)

// livePKI is valid around the real clock: the mock verifies the client
// certificate in a real TLS handshake.
func livePKI(t testing.TB) *testpki.PKI {
	t.Helper()
	return testpki.Default()
}

func liveCreds(p *testpki.PKI) *Credentials {
	return &Credentials{PassTypeIdentifier: p.PassTypeID, TeamIdentifier: p.TeamID, Certificate: p.Cert, Key: p.Key, WWDR: p.WWDR}
}

// startAPNs starts a mock APNs that accepts the PKI's Pass Type ID
// certificate and a client pool pointed at it.
func startAPNs(t testing.TB, opts apnstest.Options, cfg APNsConfig) (*apnstest.Server, *APNs) {
	t.Helper()
	p := livePKI(t)
	if opts.ClientCAs == nil {
		opts.ClientCAs = p.Pool()
	}
	if opts.Topic == "" {
		opts.Topic = p.PassTypeID
	}
	srv := apnstest.Start(t, opts)
	cfg.BaseURL, cfg.RootCAs = srv.URL, srv.CAPool()
	a := NewAPNs(cfg)
	t.Cleanup(a.Close)
	return srv, a
}

func tokens(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%060x", prefix, i)
	}
	return out
}

func TestSendPushesEveryTokenOnceOverOneConnection(t *testing.T) {
	srv, a := startAPNs(t, apnstest.Options{RecordRequests: true}, APNsConfig{})
	p := livePKI(t)
	toks := tokens(1000, "abcd")

	start := time.Now()
	results := a.Send(context.Background(), "ws1@1", liveCreds(p), toks)
	elapsed := time.Since(start)
	t.Logf("1000 pushes in %s (%.0f/s), %d connection(s)", elapsed, 1000/elapsed.Seconds(), srv.Connections())

	if len(results) != len(toks) {
		t.Fatalf("%d results for %d tokens", len(results), len(toks))
	}
	for i, r := range results {
		if r.Token != toks[i] {
			t.Fatalf("result %d is for %s, want %s (order lost)", i, r.Token, toks[i])
		}
		if r.Class() != ClassOK || r.Status != 200 || r.Err != nil || r.ApnsID == "" || r.Latency <= 0 {
			t.Fatalf("result %d = %+v, want a 200 with an apns-id and a latency", i, r)
		}
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("pushes used %d TLS connections, want 1", got)
	}
	if srv.Total() != len(toks) || srv.Tokens() != len(toks) {
		t.Errorf("mock saw %d requests for %d tokens, want %d each", srv.Total(), srv.Tokens(), len(toks))
	}
	for _, tok := range toks {
		if n := srv.Count(tok); n != 1 {
			t.Fatalf("token %s pushed %d times", tok, n)
		}
	}
	for _, req := range srv.Requests() {
		switch {
		case req.Topic != p.PassTypeID, req.CertUID != p.PassTypeID:
			t.Fatalf("topic %q / certificate UID %q, want %q", req.Topic, req.CertUID, p.PassTypeID)
		case string(req.Body) != "{}":
			t.Fatalf("body %q, want {}", req.Body)
		case req.Header.Get("apns-push-type") != DefaultPushType || req.Header.Get("apns-priority") != "5":
			t.Fatalf("push type %q priority %q, want background 5", req.Header.Get("apns-push-type"), req.Header.Get("apns-priority"))
		}
	}
}

func TestSendUsesOneConnectionUpToTheServerStreamLimit(t *testing.T) {
	// 300 streams in flight is above the 100 an HTTP/2 client assumes
	// before the server's SETTINGS arrive: the first push goes alone, so
	// the burst still fits the one connection.
	srv, a := startAPNs(t, apnstest.Options{MaxConcurrentStreams: 1000, Latency: time.Millisecond}, APNsConfig{Concurrency: 300})
	for _, r := range a.Send(context.Background(), "ws", liveCreds(livePKI(t)), tokens(3000, "ef")) {
		if r.Class() != ClassOK {
			t.Fatalf("%+v", r)
		}
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("used %d connections, want 1", got)
	}
}

func TestSendPastTheServerStreamLimitDoesNotStall(t *testing.T) {
	// The server allows 20 streams, Send wants 100: pushes spill onto a
	// few more connections rather than wait forever (golang/go#70809).
	srv, a := startAPNs(t, apnstest.Options{MaxConcurrentStreams: 20, Latency: time.Millisecond}, APNsConfig{Concurrency: 100, Timeout: 10 * time.Second})
	for _, r := range a.Send(context.Background(), "ws", liveCreds(livePKI(t)), tokens(500, "ef")) {
		if r.Class() != ClassOK {
			t.Fatalf("%+v", r)
		}
	}
	if got := srv.Connections(); got > 5 {
		t.Errorf("used %d connections, want at most 100/20", got)
	}
}

// peakInFlight is an APNs mock decision that accepts each push after
// 2 ms, and the most pushes it has held at once.
func peakInFlight() (decide func(string) (int, string), peak *atomic.Int64) {
	var inFlight atomic.Int64
	peak = new(atomic.Int64)
	return func(string) (int, string) {
		n := inFlight.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		inFlight.Add(-1)
		return 0, ""
	}, peak
}

func TestSendBoundsConcurrency(t *testing.T) {
	decide, peak := peakInFlight()
	_, a := startAPNs(t, apnstest.Options{Decide: decide}, APNsConfig{Concurrency: 8})
	a.Send(context.Background(), "ws", liveCreds(livePKI(t)), tokens(200, "01"))
	if got := peak.Load(); got > 8 || got < 2 {
		t.Errorf("peak in-flight pushes = %d, want 2..8", got)
	}
}

func TestConcurrentSendsShareTheClientStreamBound(t *testing.T) {
	tests := []struct {
		name      string
		streams   int
		wantConns int
	}{
		// Four Sends of 50 streams each: 200 in flight would pass the
		// server's 100 and spill onto more connections.
		{"bounded under the server limit: one connection", 90, 1},
		{"bound above the server limit: pushes spill over", 1000, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decide, peak := peakInFlight()
			srv, a := startAPNs(t, apnstest.Options{MaxConcurrentStreams: 100, Decide: decide},
				APNsConfig{Concurrency: 50, Streams: tt.streams, Timeout: 10 * time.Second})
			creds := liveCreds(livePKI(t))
			// Warm the client: its first push goes alone and learns the
			// server's limit.
			a.Send(context.Background(), "ws", creds, tokens(1, "aa"))
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					for _, r := range a.Send(context.Background(), "ws", creds, tokens(300, fmt.Sprintf("b%d", i))) {
						if r.Class() != ClassOK {
							t.Errorf("%+v", r)
							return
						}
					}
				})
			}
			wg.Wait()
			if got := peak.Load(); got > int64(tt.streams) {
				t.Errorf("peak in-flight pushes = %d, want at most %d", got, tt.streams)
			}
			if got := srv.Connections(); tt.wantConns == 1 && got != 1 || tt.wantConns > 1 && got < tt.wantConns {
				t.Errorf("used %d connections, want %d", got, tt.wantConns)
			}
		})
	}
}

func TestSendClassifiesAPNsAnswers(t *testing.T) {
	srv, a := startAPNs(t, apnstest.Options{}, APNsConfig{})
	unregisteredAt := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		script apnstest.Reply
		status int
		reason string
		class  PushClass
	}{
		{"accepted", apnstest.Reply{}, 200, "", ClassOK},
		{"410 Unregistered drops the registration", apnstest.Reply{Status: 410, Reason: "Unregistered", Timestamp: unregisteredAt}, 410, "Unregistered", ClassDropped},
		{"410 ExpiredToken drops the registration", apnstest.Reply{Status: 410, Reason: "ExpiredToken"}, 410, "ExpiredToken", ClassDropped},
		{"400 BadDeviceToken is permanent, not a drop", apnstest.Reply{Status: 400, Reason: "BadDeviceToken"}, 400, "BadDeviceToken", ClassPermanent},
		{"400 DeviceTokenNotForTopic is permanent", apnstest.Reply{Status: 400, Reason: "DeviceTokenNotForTopic"}, 400, "DeviceTokenNotForTopic", ClassPermanent},
		{"403 BadCertificate is permanent", apnstest.Reply{Status: 403, Reason: "BadCertificate"}, 403, "BadCertificate", ClassPermanent},
		{"413 PayloadTooLarge is permanent", apnstest.Reply{Status: 413, Reason: "PayloadTooLarge"}, 413, "PayloadTooLarge", ClassPermanent},
		{"429 TooManyRequests is retried", apnstest.Reply{Status: 429, Reason: "TooManyRequests"}, 429, "TooManyRequests", ClassRetry},
		{"500 InternalServerError is retried", apnstest.Reply{Status: 500, Reason: "InternalServerError"}, 500, "InternalServerError", ClassRetry},
		{"503 ServiceUnavailable is retried", apnstest.Reply{Status: 503, Reason: "ServiceUnavailable"}, 503, "ServiceUnavailable", ClassRetry},
	}
	toks := tokens(len(tests), "c1a5")
	for i, tt := range tests {
		srv.Script(toks[i], tt.script)
	}
	results := a.Send(context.Background(), "ws", liveCreds(livePKI(t)), toks)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := results[i]
			if r.Err != nil || r.Status != tt.status || r.Reason != tt.reason || r.Class() != tt.class {
				t.Errorf("got status %d %q err %v class %s, want %d %q %s", r.Status, r.Reason, r.Err, r.Class(), tt.status, tt.reason, tt.class)
			}
		})
	}
	if got := results[1].Timestamp; !got.Equal(unregisteredAt) {
		t.Errorf("410 timestamp = %s, want %s", got, unregisteredAt)
	}
}

func TestSendRetriesSucceedAfterScriptedFailures(t *testing.T) {
	srv, a := startAPNs(t, apnstest.Options{}, APNsConfig{})
	tok := tokens(1, "fa11")[0]
	srv.RespondTimes(tok, 2, http.StatusServiceUnavailable, apnstest.ReasonServiceUnavailable)
	var classes []PushClass
	for range 3 {
		classes = append(classes, a.Send(context.Background(), "ws", liveCreds(livePKI(t)), []string{tok})[0].Class())
	}
	if want := []PushClass{ClassRetry, ClassRetry, ClassOK}; fmt.Sprint(classes) != fmt.Sprint(want) {
		t.Errorf("classes = %v, want %v", classes, want)
	}
	if srv.Count(tok) != 3 {
		t.Errorf("count = %d, want 3", srv.Count(tok))
	}
}

func TestMockRefusesTheWrongCertificate(t *testing.T) {
	p := livePKI(t)
	now := time.Now()

	// Same UID, but issued by a CA the server does not trust.
	foreignKey := testpki.ECKey()
	foreignCA, err := testpki.NewCA("Not Apple", foreignKey, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	leafKey := testpki.ECKey()
	foreign, err := testpki.IssuePassCert(p.PassTypeID, p.TeamID, leafKey.Public(), foreignCA, foreignKey, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	// Trusted CA, but the certificate of another pass type.
	other := p.MustIssue("pass.com.example.other", p.Key.Public(), now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))

	tests := []struct {
		name   string
		creds  *Credentials
		class  PushClass
		status int
		reason string
		served bool
	}{
		{"certificate from an untrusted CA: handshake refused", &Credentials{PassTypeIdentifier: p.PassTypeID, Certificate: foreign, Key: leafKey}, ClassRetry, 0, "", false},
		{"certificate of another pass type: topic refused", &Credentials{PassTypeIdentifier: "pass.com.example.other", Certificate: other, Key: p.Key}, ClassPermanent, 400, apnstest.ReasonBadTopic, true},
		{"topic differs from the certificate UID", &Credentials{PassTypeIdentifier: "pass.com.example.mine", Certificate: p.Cert, Key: p.Key}, ClassPermanent, 400, apnstest.ReasonTopicDisallowed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, a := startAPNs(t, apnstest.Options{}, APNsConfig{})
			r := a.Send(context.Background(), "ws", tt.creds, tokens(1, "bad0"))[0]
			if r.Class() != tt.class || r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("got class %s status %d %q err %v, want %s %d %q", r.Class(), r.Status, r.Reason, r.Err, tt.class, tt.status, tt.reason)
			}
			if served := srv.Total() > 0; served != tt.served {
				t.Errorf("request reached the handler: %v, want %v", served, tt.served)
			}
			if !tt.served && r.Err == nil {
				t.Error("a refused handshake must surface as Err")
			}
		})
	}
	t.Run("a refused handshake is not repeated for every token", func(t *testing.T) {
		srv, a := startAPNs(t, apnstest.Options{}, APNsConfig{})
		results := a.Send(context.Background(), "ws", tests[0].creds, tokens(50, "bad0"))
		for _, r := range results {
			if r.Class() != ClassRetry || r.Err == nil {
				t.Fatalf("%+v: want a retry with the handshake error", r)
			}
		}
		if got := srv.Handshakes(); got > 2 {
			t.Errorf("%d handshakes for one Send, want 1 (or a single transport retry)", got)
		}
	})
}

func TestSendRejectsUnusableInputWithoutCallingAPNs(t *testing.T) {
	srv, a := startAPNs(t, apnstest.Options{}, APNsConfig{})
	creds := liveCreds(livePKI(t))

	r := a.Send(context.Background(), "ws", creds, []string{"not-hex/../x", ""})
	for _, res := range r {
		if res.Class() != ClassPermanent || !errors.Is(res.Err, core.ErrPermanent) {
			t.Errorf("token %q: class %s err %v, want permanent", res.Token, res.Class(), res.Err)
		}
	}
	for name, c := range map[string]*Credentials{"nil": nil, "no key": {PassTypeIdentifier: "x", Certificate: creds.Certificate}, "no topic": {Certificate: creds.Certificate, Key: creds.Key}} {
		if res := a.Send(context.Background(), "ws2", c, []string{"ab"}); res[0].Class() != ClassPermanent {
			t.Errorf("%s credentials: class %s (%v), want permanent", name, res[0].Class(), res[0].Err)
		}
	}
	if got := a.Send(context.Background(), "ws", creds, nil); len(got) != 0 {
		t.Errorf("no tokens: %d results", len(got))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, res := range a.Send(ctx, "ws", creds, tokens(3, "cc")) {
		if res.Class() != ClassRetry || !errors.Is(res.Err, context.Canceled) {
			t.Errorf("cancelled: class %s err %v, want retry/canceled", res.Class(), res.Err)
		}
	}
	if srv.Total() != 0 {
		t.Errorf("mock saw %d requests, want none", srv.Total())
	}
}

func TestClientPoolReusesPerKeyAndReplacesPerVersion(t *testing.T) {
	srv, a := startAPNs(t, apnstest.Options{}, APNsConfig{})
	p := livePKI(t)
	creds := liveCreds(p)
	send := func(key string, c *Credentials) {
		t.Helper()
		for _, r := range a.Send(context.Background(), key, c, tokens(5, "9001")) {
			if r.Class() != ClassOK {
				t.Fatalf("%s: %+v", key, r)
			}
		}
	}
	client := func(slot string) *apnsClient {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.slots[slot]
	}

	send("ws1@1", creds)
	first := client("ws1")
	send("ws1@1", creds)
	if client("ws1") != first || srv.Connections() != 1 {
		t.Fatalf("same key: client replaced or new connection (%d connections)", srv.Connections())
	}

	send("ws1@2", creds) // the workspace uploaded new credentials
	second := client("ws1")
	if second == first || !first.retired {
		t.Fatal("new version of the key kept the old client")
	}
	if srv.Connections() != 2 {
		t.Errorf("connections = %d, want a second one for the new client", srv.Connections())
	}

	send("ws2@1", creds) // another workspace: its own client
	if client("ws2") == nil || client("ws1") != second {
		t.Fatal("another slot disturbed ws1's client")
	}
	a.mu.Lock()
	n := len(a.slots)
	a.mu.Unlock()
	if n != 2 {
		t.Errorf("pool holds %d clients, want 2", n)
	}

	// A different certificate under the same key (a key that was reused)
	// still gets its own TLS identity.
	otherKey := p.Key
	renewed := p.MustIssue(p.PassTypeID, otherKey.Public(), time.Now().AddDate(0, 0, -1), time.Now().AddDate(1, 0, 0))
	send("ws2@1", &Credentials{PassTypeIdentifier: p.PassTypeID, Certificate: renewed, Key: otherKey})
	if client("ws2") == nil || client("ws2").certSum == client("ws1").certSum {
		t.Error("changed certificate under the same key reused the old client")
	}

	a.Forget("ws2@1")
	if client("ws2") != nil {
		t.Error("Forget kept the client")
	}
	a.Close()
	if r := a.Send(context.Background(), "ws1@2", creds, []string{"ab"}); r[0].Err == nil {
		t.Error("Send after Close succeeded")
	}
}

func TestPushResultClass(t *testing.T) {
	tests := []struct {
		r    PushResult
		want PushClass
	}{
		{PushResult{Status: 200}, ClassOK},
		{PushResult{Status: 410, Reason: "Unregistered"}, ClassDropped},
		{PushResult{Status: 400, Reason: "BadDeviceToken"}, ClassPermanent},
		{PushResult{Status: 400, Reason: "DeviceTokenNotForTopic"}, ClassPermanent},
		{PushResult{Status: 403, Reason: "ExpiredProviderToken"}, ClassPermanent},
		{PushResult{Status: 404, Reason: "BadPath"}, ClassPermanent},
		{PushResult{Status: 429, Reason: "TooManyRequests"}, ClassRetry},
		{PushResult{Status: 500}, ClassRetry},
		{PushResult{Status: 503, Reason: "Shutdown"}, ClassRetry},
		{PushResult{Err: errors.New("connection reset")}, ClassRetry},
		{PushResult{Err: context.DeadlineExceeded}, ClassRetry},
		{PushResult{Err: core.Permanent(errors.New("bad token"))}, ClassPermanent},
		{PushResult{}, ClassRetry},
	}
	for _, tt := range tests {
		if got := tt.r.Class(); got != tt.want {
			t.Errorf("%+v: class %s, want %s", tt.r, got, tt.want)
		}
	}
}

func BenchmarkSend(b *testing.B) {
	srv, a := startAPNs(b, apnstest.Options{}, APNsConfig{})
	creds := liveCreds(livePKI(b))
	toks := tokens(1000, "be")
	b.ResetTimer()
	for b.Loop() {
		for _, r := range a.Send(context.Background(), "bench", creds, toks) {
			if r.Class() != ClassOK {
				b.Fatal(r)
			}
		}
	}
	b.ReportMetric(float64(srv.Total())/b.Elapsed().Seconds(), "pushes/s")
	b.ReportMetric(float64(srv.Connections()), "conns")
}
