package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// The guard keeps passhub from calling into the network it runs in
// (SSRF): a subscription URL may only reach public unicast addresses. It
// checks twice: when a subscription is saved (the host's DNS answers) and
// on every connection (the address actually dialled), because a name can
// resolve to a public address at the first check and to 127.0.0.1 or the
// cloud metadata service a minute later (DNS rebinding).

// ErrRefusedAddress is an endpoint address the guard does not connect to.
var ErrRefusedAddress = errors.New("refused address")

// Resolver looks up a host's addresses (*net.Resolver does).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard checks endpoint URLs and the addresses delivery connects to.
type Guard struct {
	// AllowPrivate lets endpoints be on loopback, private, link-local,
	// CGNAT and metadata addresses: for local development and tests,
	// never in production. Unspecified, multicast and broadcast addresses
	// stay refused (they are never an endpoint).
	AllowPrivate bool
	// Resolver answers CheckURL's lookups (default net.DefaultResolver).
	Resolver Resolver
}

var _ URLChecker = (*Guard)(nil)

// NewGuard returns a guard; allowPrivate is the development switch.
func NewGuard(allowPrivate bool) *Guard { return &Guard{AllowPrivate: allowPrivate} }

type addrRange struct {
	prefix netip.Prefix
	reason string
	// always: refused even with AllowPrivate.
	always bool
}

// refusedRanges are the addresses no webhook goes to. IPv4-mapped IPv6
// addresses are unmapped before the check; NAT64 and 6to4 addresses are
// checked by the IPv4 address they carry.
var refusedRanges = func() []addrRange {
	r := func(p, reason string, always bool) addrRange {
		return addrRange{netip.MustParsePrefix(p), reason, always}
	}
	return []addrRange{
		r("0.0.0.0/8", "unspecified", true),
		r("::/128", "unspecified", true),
		r("255.255.255.255/32", "broadcast", true),
		r("224.0.0.0/4", "multicast", true),
		r("ff00::/8", "multicast", true),
		r("127.0.0.0/8", "loopback", false),
		r("::1/128", "loopback", false),
		r("169.254.169.254/32", "cloud metadata", false),
		r("fd00:ec2::254/128", "cloud metadata", false),
		r("100.100.100.200/32", "cloud metadata", false),
		r("169.254.0.0/16", "link-local", false),
		r("fe80::/10", "link-local", false),
		r("10.0.0.0/8", "private", false),
		r("172.16.0.0/12", "private", false),
		r("192.168.0.0/16", "private", false),
		r("fc00::/7", "private (unique local)", false),
		r("100.64.0.0/10", "shared (CGNAT)", false),
		r("192.0.0.0/24", "IETF protocol assignments", false),
		r("198.18.0.0/15", "benchmarking", false),
		r("240.0.0.0/4", "reserved", false),
	}
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Refused says why the guard refuses ip ("" when it does not).
func (g *Guard) Refused(ip netip.Addr) string {
	// A zoned address matches no prefix (fe80::1%eth0 would slip by).
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return "invalid"
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			if why := g.Refused(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
				return why + " (via NAT64)"
			}
		case sixToFour.Contains(ip):
			if why := g.Refused(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
				return why + " (via 6to4)"
			}
		}
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(ip) && (r.always || !g.AllowPrivate) {
			return r.reason
		}
	}
	return ""
}

func (g *Guard) check(ip netip.Addr) error {
	if why := g.Refused(ip); why != "" {
		return fmt.Errorf("%w %s: %s", ErrRefusedAddress, ip, why)
	}
	return nil
}

// CheckURL refuses a URL that is not absolute http(s) or whose host is,
// or resolves to, an address the guard refuses (any one of them: the
// dialer may pick any). A host that does not resolve is refused too.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parsing URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("the URL has no host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return g.check(ip)
	}
	res := g.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	ips, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("host %s does not resolve: %w", host, err)
	}
	if len(ips) == 0 {
		return fmt.Errorf("host %s has no address", host)
	}
	for _, ip := range ips {
		if err := g.check(ip); err != nil {
			return fmt.Errorf("host %s: %w", host, err)
		}
	}
	return nil
}

// Control is a net.Dialer Control function: it refuses the connection
// when the address about to be dialled is one the guard refuses. It sees
// the address after resolution, so a DNS answer that changed since
// CheckURL cannot lead delivery into the private network.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dial address %q: %w", ErrRefusedAddress, address, err)
	}
	return g.check(ap.Addr())
}

// Transport returns an HTTP transport for delivery: every connection
// goes through Control, no proxy (a proxy's address would be checked,
// not the endpoint's), HTTP/2 over TLS where the endpoint offers it and
// HTTP/1.1 otherwise, and up to idlePerHost idle connections kept per
// host (set it to the worker concurrency) so a busy endpoint is not
// re-dialled for every message.
func (g *Guard) Transport(idlePerHost int) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.Control}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no total limit: many endpoints, each bounded below
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // the answer is logged as sent, not inflated
	}
}

// Client returns an HTTP client over Transport that does not follow
// redirects: Standard Webhooks counts a 3xx as a failure (the endpoint's
// URL is to be updated), and following one could lead anywhere.
func (g *Guard) Client(idlePerHost int) *http.Client {
	return &http.Client{
		Transport: g.Transport(idlePerHost),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
