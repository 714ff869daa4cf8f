package apnstest_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple/apnstest"
	"github.com/passhub/passhub/adapters/apple/testpki"
)

const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// client is a bare HTTP/2 client presenting cert (none when nil).
func client(s *apnstest.Server, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: s.CAPool()}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	p := new(http.Protocols)
	p.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, Protocols: p, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
}

func passCert(p *testpki.PKI) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{p.Cert.Raw}, PrivateKey: p.Key, Leaf: p.Cert}
}

type answer struct {
	status    int
	reason    string
	timestamp int64
	apnsID    string
}

func do(t *testing.T, c *http.Client, method, url string, header map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("answered over %s, want HTTP/2", resp.Proto)
	}
	var b struct {
		Reason    string `json:"reason"`
		Timestamp int64  `json:"timestamp"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatalf("error body %q: %v", raw, err)
		}
	}
	return answer{resp.StatusCode, b.Reason, b.Timestamp, resp.Header.Get("apns-id")}
}

func TestServerChecksRequestsLikeAPNs(t *testing.T) {
	p := testpki.Default()
	s := apnstest.Start(t, apnstest.Options{ClientCAs: p.Pool(), Topic: p.PassTypeID, RecordRequests: true})
	c := client(s, passCert(p))
	wallet := map[string]string{"apns-topic": p.PassTypeID, "apns-push-type": "background", "apns-priority": "5"}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range wallet {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}

	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   string
		status int
		reason string
	}{
		{"Wallet push", "POST", "/3/device/" + token, wallet, "{}", 200, ""},
		{"empty object with whitespace", "POST", "/3/device/" + token, wallet, " {\n} ", 200, ""},
		{"no push type or priority", "POST", "/3/device/" + token, map[string]string{"apns-topic": p.PassTypeID}, "{}", 200, ""},
		{"GET", "GET", "/3/device/" + token, wallet, "", 405, "MethodNotAllowed"},
		{"wrong path", "POST", "/2/device/" + token, wallet, "{}", 404, "BadPath"},
		{"no token", "POST", "/3/device/", wallet, "{}", 400, "MissingDeviceToken"},
		{"token not hex", "POST", "/3/device/xyz", wallet, "{}", 400, "BadDeviceToken"},
		{"no topic", "POST", "/3/device/" + token, with("apns-topic", ""), "{}", 400, "MissingTopic"},
		{"topic is not the certificate's", "POST", "/3/device/" + token, with("apns-topic", "pass.com.example.other"), "{}", 400, "TopicDisallowed"},
		{"unknown push type", "POST", "/3/device/" + token, with("apns-push-type", "voip"), "{}", 400, "InvalidPushType"},
		{"background at priority 10", "POST", "/3/device/" + token, with("apns-priority", "10"), "{}", 400, "BadPriority"},
		{"empty body", "POST", "/3/device/" + token, wallet, "", 400, "PayloadEmpty"},
		{"app payload", "POST", "/3/device/" + token, wallet, `{"aps":{"alert":"hi"}}`, 400, apnstest.ReasonBadPayload},
		{"not JSON", "POST", "/3/device/" + token, wallet, "hello", 400, apnstest.ReasonBadPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, c, tt.method, s.URL+tt.path, tt.header, tt.body)
			if got.status != tt.status || got.reason != tt.reason {
				t.Errorf("got %d %q, want %d %q", got.status, got.reason, tt.status, tt.reason)
			}
			if got.apnsID == "" {
				t.Error("no apns-id")
			}
		})
	}
	reqs := s.Requests()
	if len(reqs) != len(tests) || s.Total() != len(tests) {
		t.Fatalf("recorded %d requests, counted %d, want %d", len(reqs), s.Total(), len(tests))
	}
	if r := reqs[0]; r.Token != token || r.Topic != p.PassTypeID || string(r.Body) != "{}" || r.CertUID != p.PassTypeID || r.Status != 200 || r.Header.Get("apns-push-type") != "background" {
		t.Errorf("first request recorded as %+v", r)
	}
	if s.Connections() != 1 {
		t.Errorf("%d connections, want 1", s.Connections())
	}
}

func TestServerDemandsAPassTypeIDCertificate(t *testing.T) {
	p := testpki.Default()
	s := apnstest.Start(t, apnstest.Options{ClientCAs: p.Pool()})

	foreignKey := testpki.ECKey()
	now := time.Now()
	foreignCA, err := testpki.NewCA("Not Apple", foreignKey, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	leafKey := testpki.ECKey()
	foreign, err := testpki.IssuePassCert(p.PassTypeID, p.TeamID, leafKey.Public(), foreignCA, foreignKey, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for name, cert := range map[string]*tls.Certificate{
		"no certificate":        nil,
		"untrusted certificate": {Certificate: [][]byte{foreign.Raw}, PrivateKey: leafKey},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.URL+"/3/device/"+token, strings.NewReader("{}"))
			req.Header.Set("apns-topic", p.PassTypeID)
			if resp, err := client(s, cert).Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("request went through with status %d", resp.StatusCode)
			}
		})
	}
	if s.Total() != 0 {
		t.Errorf("handler saw %d requests", s.Total())
	}
	if s.Handshakes() < 2 {
		t.Errorf("handshakes = %d, want the refused ones counted", s.Handshakes())
	}
}

func TestServerScriptsAnswersPerToken(t *testing.T) {
	p := testpki.Default()
	var decided atomic.Int32
	s := apnstest.Start(t, apnstest.Options{ClientCAs: p.Pool(), Decide: func(tok string) (int, string) {
		if strings.HasPrefix(tok, "dd") {
			decided.Add(1)
			return 500, "InternalServerError"
		}
		return 0, ""
	}})
	c := client(s, passCert(p))
	h := map[string]string{"apns-topic": p.PassTypeID}
	url := func(tok string) string { return s.URL + "/3/device/" + tok }

	gone := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Script("aa", apnstest.Reply{Status: 410, Reason: "Unregistered", Timestamp: gone})
	if a := do(t, c, "POST", url("aa"), h, "{}"); a.status != 410 || a.reason != "Unregistered" || a.timestamp != gone.UnixMilli() {
		t.Errorf("410: %+v", a)
	}
	s.Respond("bb", 400, "BadDeviceToken")
	for range 2 {
		if a := do(t, c, "POST", url("bb"), h, "{}"); a.status != 400 || a.reason != "BadDeviceToken" {
			t.Errorf("scripted 400: %+v", a)
		}
	}
	s.RespondTimes("cc", 2, 429, "TooManyRequests")
	var got []int
	for range 3 {
		got = append(got, do(t, c, "POST", url("cc"), h, "{}").status)
	}
	if got[0] != 429 || got[1] != 429 || got[2] != 200 {
		t.Errorf("fail twice then succeed: %v", got)
	}
	if a := do(t, c, "POST", url("dd"), h, "{}"); a.status != 500 || decided.Load() != 1 {
		t.Errorf("Decide: %+v (decided %d)", a, decided.Load())
	}
	if s.Count("aa") != 1 || s.Count("bb") != 2 || s.Count("cc") != 3 || s.Tokens() != 4 {
		t.Errorf("counts aa=%d bb=%d cc=%d tokens=%d", s.Count("aa"), s.Count("bb"), s.Count("cc"), s.Tokens())
	}
	if len(s.Requests()) != 0 {
		t.Error("requests recorded with RecordRequests off")
	}
	s.Reset()
	if s.Total() != 0 || s.Count("bb") != 0 {
		t.Error("Reset kept counts")
	}
	if a := do(t, c, "POST", url("bb"), h, "{}"); a.status != 200 {
		t.Errorf("Reset kept the script: %+v", a)
	}
}

func TestCAPEMTrustsTheServer(t *testing.T) {
	s, err := apnstest.NewServer(apnstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("CAPEM is not a PEM certificate")
	}
	host := strings.TrimPrefix(s.URL, "https://")
	host = host[:strings.LastIndexByte(host, ':')]
	if _, err := s.Certificate().Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
		t.Errorf("server certificate does not verify for %s with CAPEM: %v", host, err)
	}
}
