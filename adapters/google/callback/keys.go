package callback

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxKeysBody bounds the keys document read from the keys URL.
const maxKeysBody = 1 << 20

// fetchTimeout bounds one fetch even when the HTTP client has no timeout.
const fetchTimeout = 30 * time.Second

// keyStore caches Google's root signing keys. One fetch runs at a time;
// concurrent callers wait for it.
type keyStore struct {
	url        string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration

	mu        sync.Mutex
	set       *keySet    // last successfully fetched keys; nil before the first
	lastFetch time.Time  // start of the last fetch attempt
	lastErr   error      // error of the last fetch attempt, nil if it succeeded
	inflight  *fetchCall // the running fetch, if any
}

// keySet is one fetched keys document. Replaced, never mutated.
type keySet struct {
	keys    []rootKey
	expires time.Time // end of its HTTP cache lifetime
}

type rootKey struct {
	pub     *ecdsa.PublicKey
	expires time.Time // keyExpiration
}

type fetchCall struct {
	done chan struct{}
	set  *keySet
	err  error
}

// current returns the keys to verify with, fetching them when none are
// cached or their cache lifetime is over. When that fetch fails but older
// keys exist, it returns the older keys together with the fetch error: they
// may still verify (their own keyExpiration is checked on use), and if they
// don't, the error explains why the callback could not be judged. While
// older keys exist, a failed fetch is not retried before minRefresh.
func (s *keyStore) current(ctx context.Context) (*keySet, error) {
	s.mu.Lock()
	now := s.now()
	if s.set != nil && now.Before(s.set.expires) {
		set := s.set
		s.mu.Unlock()
		return set, nil
	}
	if s.set != nil && s.inflight == nil && s.lastErr != nil && now.Sub(s.lastFetch) < s.minRefresh {
		set, err := s.set, s.lastErr
		s.mu.Unlock()
		return set, err
	}
	call := s.startLocked()
	s.mu.Unlock()

	set, err := s.wait(ctx, call)
	if err == nil {
		return set, nil
	}
	s.mu.Lock()
	stale := s.set
	s.mu.Unlock()
	return stale, err
}

// refreshAfterMiss fetches the keys again because none of seen verified a
// signature: Google may have rotated them. If the keys were replaced since
// seen was read, it returns the new ones without fetching. If the last fetch
// started less than minRefresh ago, it returns nil: the cached keys are
// recent, and a forged callback must not make every request fetch.
func (s *keyStore) refreshAfterMiss(ctx context.Context, seen *keySet) (*keySet, error) {
	s.mu.Lock()
	if s.set != nil && s.set != seen {
		set := s.set
		s.mu.Unlock()
		return set, nil
	}
	call := s.inflight
	if call == nil {
		if s.now().Sub(s.lastFetch) < s.minRefresh {
			s.mu.Unlock()
			return nil, nil
		}
		call = s.startLocked()
	}
	s.mu.Unlock()
	return s.wait(ctx, call)
}

// startLocked joins the running fetch or starts one. The fetch runs
// detached from any caller's context so that one caller giving up does not
// fail the others.
func (s *keyStore) startLocked() *fetchCall {
	if s.inflight != nil {
		return s.inflight
	}
	call := &fetchCall{done: make(chan struct{})}
	s.inflight = call
	s.lastFetch = s.now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		set, err := s.fetch(ctx)
		s.mu.Lock()
		if err == nil {
			s.set = set
		}
		s.lastErr = err
		call.set, call.err = set, err
		s.inflight = nil
		s.mu.Unlock()
		close(call.done)
	}()
	return call
}

func (s *keyStore) wait(ctx context.Context, call *fetchCall) (*keySet, error) {
	select {
	case <-call.done:
		return call.set, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for %s: %w", ErrKeysUnavailable, s.url, ctx.Err())
	}
}

// fetch downloads and parses the keys document.
func (s *keyStore) fetch(ctx context.Context) (*keySet, error) {
	fail := func(err error) (*keySet, error) {
		return nil, fmt.Errorf("%w: fetching %s: %w", ErrKeysUnavailable, s.url, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxKeysBody))
		return fail(fmt.Errorf("status %s", resp.Status))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysBody+1))
	if err != nil {
		return fail(err)
	}
	if len(body) > maxKeysBody {
		return fail(fmt.Errorf("response larger than %d bytes", maxKeysBody))
	}
	now := s.now()
	keys, err := parseRootKeys(body, now)
	if err != nil {
		return fail(err)
	}
	ttl := cacheTTL(resp.Header, now)
	if ttl < s.minRefresh {
		ttl = s.minRefresh
	}
	return &keySet{keys: keys, expires: now.Add(ttl)}, nil
}

// parseRootKeys parses a keys document
//
//	{"keys":[{"keyValue":"<b64 SPKI>","protocolVersion":"ECv2SigningOnly","keyExpiration":"<ms>"}]}
//
// and keeps the unexpired ECv2SigningOnly P-256 keys. As in Tink, a key
// without keyExpiration is skipped (only ECv1 keys may omit it), and so is
// a key that does not parse. No usable key at all is an error.
func parseRootKeys(body []byte, now time.Time) ([]rootKey, error) {
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("keys document: %v", err)
	}
	var keys []rootKey
	skipped := 0
	for _, f := range doc.Keys {
		var version, value string
		var exp millis
		if stringField(f, "protocolVersion", &version) != nil || version != ProtocolVersion {
			continue
		}
		if millisField(f, "keyExpiration", &exp) != nil || !exp.time().After(now) {
			skipped++
			continue
		}
		if stringField(f, "keyValue", &value) != nil {
			skipped++
			continue
		}
		pub, err := parseSPKI(value)
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, rootKey{pub: pub, expires: exp.time()})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable %s key among %d keys (%d expired, undated or malformed)", ProtocolVersion, len(doc.Keys), skipped)
	}
	return keys, nil
}

// cacheTTL is how long a response may be cached: Cache-Control max-age
// less Age, else Expires less Date (or now), else DefaultKeysTTL.
// no-store and no-cache mean 0.
func cacheTTL(h http.Header, now time.Time) time.Duration {
	if cc := h.Get("Cache-Control"); cc != "" {
		for _, d := range strings.Split(cc, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				secs, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
				if err != nil || secs < 0 {
					return 0
				}
				if age, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && age > 0 {
					secs -= age
				}
				return max(time.Duration(secs)*time.Second, 0)
			}
		}
	}
	if e := h.Get("Expires"); e != "" {
		exp, err := http.ParseTime(e)
		if err != nil {
			return 0 // RFC 9111: an invalid Expires means already expired
		}
		base := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			base = d
		}
		return max(exp.Sub(base), 0)
	}
	return DefaultKeysTTL
}
