package webhooks_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/passhub/passhub/adapters/webhooks"
)

func TestGuardRefusesNonPublicAddresses(t *testing.T) {
	cases := []struct {
		ip string
		// refused without / with AllowPrivate
		refused, refusedAllowing bool
	}{
		{"93.184.216.34", false, false},
		{"2606:2800:220:1:248:1893:25c8:1946", false, false},
		{"127.0.0.1", true, false},
		{"127.1.2.3", true, false},
		{"::1", true, false},
		{"::ffff:127.0.0.1", true, false},
		{"10.1.2.3", true, false},
		{"172.16.0.1", true, false},
		{"172.31.255.254", true, false},
		{"172.32.0.1", false, false},
		{"192.168.1.1", true, false},
		{"fd12:3456::1", true, false},
		{"169.254.169.254", true, false},
		{"fd00:ec2::254", true, false},
		{"169.254.10.10", true, false},
		{"fe80::1", true, false},
		{"fe80::1%eth0", true, false},
		{"100.64.0.1", true, false},
		{"100.100.100.200", true, false},
		{"64:ff9b::a9fe:a9fe", true, false}, // NAT64 of 169.254.169.254
		{"2002:7f00:1::", true, false},      // 6to4 of 127.0.0.1
		{"0.0.0.0", true, true},
		{"::", true, true},
		{"224.0.0.1", true, true},
		{"ff02::1", true, true},
		{"255.255.255.255", true, true},
	}
	strict, loose := webhooks.NewGuard(false), webhooks.NewGuard(true)
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		if got := strict.Refused(ip) != ""; got != c.refused {
			t.Errorf("%s: refused = %v (%q), want %v", c.ip, got, strict.Refused(ip), c.refused)
		}
		if got := loose.Refused(ip) != ""; got != c.refusedAllowing {
			t.Errorf("%s with AllowPrivate: refused = %v, want %v", c.ip, got, c.refusedAllowing)
		}
	}
}

// fakeDNS answers lookups from a table.
type fakeDNS map[string][]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(ips))
	for i, s := range ips {
		out[i] = netip.MustParseAddr(s)
	}
	return out, nil
}

func TestGuardCheckURL(t *testing.T) {
	dns := fakeDNS{
		"hooks.example.com":        {"93.184.216.34"},
		"metadata.google.internal": {"169.254.169.254"},
		"split.example.com":        {"93.184.216.34", "10.0.0.7"},
	}
	cases := []struct {
		url, refusal string // "" = accepted
	}{
		{"https://hooks.example.com/in", ""},
		{"http://hooks.example.com:8080/in", ""},
		{"https://93.184.216.34/in", ""},
		{"ftp://hooks.example.com/in", "scheme"},
		{"https://metadata.google.internal/computeMetadata/v1/", "cloud metadata"},
		{"https://split.example.com/in", "private"},
		{"https://nowhere.example.com/in", "does not resolve"},
		{"http://127.0.0.1:8080/", "loopback"},
		{"http://[::1]/", "loopback"},
		{"http://[::ffff:169.254.169.254]/", "cloud metadata"},
		{"http://[fd00:ec2::254]/", "cloud metadata"},
		{"http://[fe80::1%25eth0]:8080/", "link-local"},
	}
	g := &webhooks.Guard{Resolver: dns}
	for _, c := range cases {
		err := g.CheckURL(t.Context(), c.url)
		switch {
		case c.refusal == "" && err != nil:
			t.Errorf("%s refused: %v", c.url, err)
		case c.refusal != "" && (err == nil || !strings.Contains(err.Error(), c.refusal)):
			t.Errorf("%s: error %v, want a refusal naming %q", c.url, err, c.refusal)
		}
	}
	dev := &webhooks.Guard{AllowPrivate: true, Resolver: dns}
	for _, u := range []string{"http://127.0.0.1:8080/", "https://metadata.google.internal/", "http://[::1]/"} {
		if err := dev.CheckURL(t.Context(), u); err != nil {
			t.Errorf("with AllowPrivate, %s refused: %v", u, err)
		}
	}
}

// The name resolved to a public address when the subscription was
// checked and to loopback when delivery connects: the connection is
// refused before a byte is sent.
func TestGuardRefusesAtConnectTimeAfterDNSRebinding(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	url := "http://localhost:" + port + "/in"

	g := &webhooks.Guard{Resolver: fakeDNS{"localhost": {"93.184.216.34"}}} // the first answer
	if err := g.CheckURL(t.Context(), url); err != nil {
		t.Fatalf("CheckURL with a public answer: %v", err)
	}
	// Connecting resolves again (the system resolver: loopback).
	for _, u := range []string{url, srv.URL} {
		resp, err := g.Client(2).Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("POST %s went through (status %d)", u, resp.StatusCode)
		}
		if !errors.Is(err, webhooks.ErrRefusedAddress) {
			t.Fatalf("POST %s: %v, want ErrRefusedAddress", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback server got %d requests", n)
	}
	// The development switch lets the same request through.
	resp, err := webhooks.NewGuard(true).Client(2).Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	resp.Body.Close()
}

func TestGuardClientDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/in", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed.Store(true) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := webhooks.NewGuard(true).Client(2).Post(srv.URL+"/in", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || followed.Load() {
		t.Fatalf("status %d, followed %v; want the 302 itself", resp.StatusCode, followed.Load())
	}
}
