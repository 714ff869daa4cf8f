// Package googletest is a fake Google Wallet API for tests: an httptest
// server with the OAuth token endpoint of a service account and the
// walletobjects/v1 class and object endpoints (insert, get, patch,
// update, addMessage) of the loyalty, offer, eventTicket, generic and
// giftCard kinds.
//
// The token endpoint takes the JWT bearer grant the way Google does: the
// assertion must be RS256, signed by a trusted service account key (see
// NewServiceAccount), with aud = the token URL, the Wallet scope, and a
// lifetime of at most an hour. API calls need a bearer token it issued.
//
// Resources live in memory as decoded JSON. Inserts check the fields
// Google requires per kind and answer 409 for existing IDs; patches merge
// top-level fields (null clears one); objects need an existing class of
// their kind. addMessage with TEXT_AND_NOTIFY answers Google's 403
// quotaExceeded after Options.NotifyLimit notifications per resource in
// 24 hours. Every request is recorded (Requests, TokenRequests), and
// failures can be scripted (Inject).
package googletest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paths the server answers.
const (
	TokenPath = "/token"
	APIPrefix = "/walletobjects/v1/"
)

// Scope is the OAuth scope the token endpoint demands.
const Scope = "https://www.googleapis.com/auth/wallet_object.issuer"

// GrantType is the JWT bearer grant.
const GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// Kinds the server knows.
var Kinds = []string{"loyalty", "offer", "eventTicket", "generic", "giftCard"}

// Options configure a Server.
type Options struct {
	// NotifyLimit is how many TEXT_AND_NOTIFY messages a resource takes
	// in 24 hours (default 3, Google's limit).
	NotifyLimit int
	// Now is the clock of the notification quota (default time.Now).
	// Token lifetimes use the real clock, as the client signs with it.
	Now func() time.Time
	// TokenTTL is the access token lifetime (default one hour).
	TokenTTL time.Duration
}

// Request is one API request the server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Body is the decoded JSON body (nil when there was none).
	Body    map[string]any
	RawBody []byte
	// Bearer is the access token of the Authorization header.
	Bearer string
	// Status is what the server answered.
	Status int
	At     time.Time
}

// TokenRequest is one token endpoint request.
type TokenRequest struct {
	GrantType string
	Assertion string
	// Header and Claims are the assertion's decoded JOSE header and claims.
	Header map[string]any
	Claims map[string]any
	// SignatureValid says the assertion verified with the key trusted for
	// its iss.
	SignatureValid bool
	Status         int
	// Error is the OAuth error answered ("invalid_grant"...).
	Error string
	// Token is the access token issued.
	Token string
}

// Fault is a scripted failure.
type Fault struct {
	// Method matches the request method; empty matches any.
	Method string
	// Path matches the URL path exactly, or as a prefix when it ends in
	// "*"; empty matches any (TokenPath scripts the token endpoint).
	Path string
	// Status is answered (429, 500, 400...).
	Status int
	// Reason and Message go in Google's error body; defaults by status.
	Reason  string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Times answers this many matching requests, then the fault is gone;
	// 0 means always.
	Times int
}

// Server is a fake Google Wallet API and token endpoint.
type Server struct {
	// URL is the base URL: the client's BaseURL.
	URL string
	// TokenURL is the token endpoint: the service account's token_uri.
	TokenURL string

	srv  *httptest.Server
	opts Options

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey // client email → key
	tokens    map[string]time.Time      // access token → expiry
	tokenSeq  int
	resources map[string]map[string]any // "loyaltyClass/<id>" → resource
	notified  map[string][]time.Time    // resource key → TEXT_AND_NOTIFY times
	faults    []*Fault
	reqs      []Request
	tokenReqs []TokenRequest
}

// NewServer starts a server; Close it.
func NewServer(opts Options) (s *Server, err error) {
	if opts.NotifyLimit <= 0 {
		opts.NotifyLimit = 3
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	s = &Server{
		opts:      opts,
		keys:      map[string]*rsa.PublicKey{},
		tokens:    map[string]time.Time{},
		resources: map[string]map[string]any{},
		notified:  map[string][]time.Time{},
	}
	defer func() { // httptest panics when it cannot listen
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("googletest: starting server: %v", p)
		}
	}()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/"
	s.TokenURL = s.srv.URL + TokenPath
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

// Trust makes the token endpoint accept assertions from email signed by
// the key of pub.
func (s *Server) Trust(email string, pub *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[email] = pub
}

// NewServiceAccount generates a service account key for email whose
// token_uri is this server, and trusts it. jsonKey is the key file as the
// Google Cloud console gives it.
func (s *Server) NewServiceAccount(email string) (jsonKey []byte, key *rsa.PrivateKey, err error) {
	jsonKey, key, err = NewServiceAccountKey(email, s.TokenURL)
	if err != nil {
		return nil, nil, err
	}
	s.Trust(email, &key.PublicKey)
	return jsonKey, key, nil
}

// ServiceAccount is NewServiceAccount for tests.
func (s *Server) ServiceAccount(tb testing.TB, email string) (jsonKey []byte, key *rsa.PrivateKey) {
	tb.Helper()
	jsonKey, key, err := s.NewServiceAccount(email)
	if err != nil {
		tb.Fatal(err)
	}
	return jsonKey, key
}

// NewServiceAccountKey generates an RSA 2048 service account JSON key
// (PKCS#8 PEM private key, like Google's) for email with tokenURI.
func NewServiceAccountKey(email, tokenURI string) (jsonKey []byte, key *rsa.PrivateKey, err error) {
	key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	kid := make([]byte, 20)
	_, _ = rand.Read(kid)
	project := "passhub-test"
	jsonKey, err = json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  project,
		"private_key_id":              fmt.Sprintf("%x", kid),
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                email,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return jsonKey, key, nil
}

// Inject adds a scripted failure; faults are tried in order.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Requests is every API request so far (token requests excluded).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// TokenRequests is every token endpoint request so far.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokenReqs)
}

// ResetRequests forgets recorded requests (state and faults stay).
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs, s.tokenReqs = nil, nil
}

// Class is the stored class of kind ("loyalty") with id, as JSON.
func (s *Server) Class(kind, id string) (map[string]any, bool) {
	return s.resource(kind+"Class", id)
}

// Object is the stored object of kind with id, as JSON.
func (s *Server) Object(kind, id string) (map[string]any, bool) {
	return s.resource(kind+"Object", id)
}

func (s *Server) resource(collection, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resources[collection+"/"+id]
	if !ok {
		return nil, false
	}
	return clone(r), true
}

// SetHasUsers sets an object's hasUsers, as a save in Google Wallet does.
func (s *Server) SetHasUsers(kind, id string, has bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resources[kind+"Object/"+id]
	if ok {
		r["hasUsers"] = has
	}
	return ok
}

// ErrorBody is Google's JSON error body.
func ErrorBody(status int, reason, message string) []byte {
	e := map[string]any{
		"code":    status,
		"message": message,
		"errors":  []map[string]string{{"message": message, "domain": "global", "reason": reason}},
	}
	if reason == "quotaExceeded" {
		e["errors"] = []map[string]string{{"message": message, "domain": "walletobjects", "reason": reason}}
	} else if st, ok := grpcStatus[status]; ok {
		e["status"] = st
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return b
}

var grpcStatus = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}

var defaultReasons = map[int][2]string{
	400: {"invalid", "Invalid request."},
	401: {"authError", "Request had invalid authentication credentials."},
	403: {"forbidden", "The caller does not have permission."},
	404: {"notFound", "Not found."},
	429: {"rateLimitExceeded", "Rate Limit Exceeded"},
	500: {"backendError", "Internal error encountered."},
	503: {"backendError", "The service is currently unavailable."},
}

// QuotaMessage is the message of the notification quota error; Google
// words it "Quota exceeded for issuer <issuer> when adding TEXT_AND_NOTIFY
// message to class <id>." (the object form says "object").
func QuotaMessage(issuerID, what, id string) string {
	return fmt.Sprintf("Quota exceeded for issuer %s when adding TEXT_AND_NOTIFY message to %s %s.", issuerID, what, id)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if r.URL.Path == TokenPath {
		s.serveToken(w, r, raw)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), RawBody: raw, At: time.Now()}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		req.Bearer = tok
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		_ = json.Unmarshal(raw, &req.Body)
	}
	status, header, body := s.answer(req)
	req.Status = status
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fault returns the first matching scripted failure, using it up.
func (s *Server) fault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Method != "" && f.Method != method {
			continue
		}
		if p, prefix := strings.CutSuffix(f.Path, "*"); f.Path != "" && (prefix && !strings.HasPrefix(path, p) || !prefix && path != f.Path) {
			continue
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return &out
	}
	return nil
}

func faultReply(f *Fault) (int, http.Header, []byte) {
	reason, msg := f.Reason, f.Message
	if d, ok := defaultReasons[f.Status]; ok {
		if reason == "" {
			reason = d[0]
		}
		if msg == "" {
			msg = d[1]
		}
	}
	h := http.Header{}
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	return f.Status, h, ErrorBody(f.Status, reason, msg)
}

func errReply(status int, reason, msg string) (int, http.Header, []byte) {
	return status, nil, ErrorBody(status, reason, msg)
}

func okReply(v any) (int, http.Header, []byte) {
	b, _ := json.Marshal(v)
	return http.StatusOK, nil, b
}

func (s *Server) answer(req Request) (int, http.Header, []byte) {
	if f := s.fault(req.Method, req.Path); f != nil {
		return faultReply(f)
	}
	if !s.validToken(req.Bearer) {
		return errReply(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	}
	rest, ok := strings.CutPrefix(req.Path, APIPrefix)
	if !ok {
		return errReply(404, "notFound", "Not found: "+req.Path)
	}
	parts := strings.Split(rest, "/")
	collection := parts[0]
	kind, isClass := strings.CutSuffix(collection, "Class")
	if !isClass {
		var isObject bool
		if kind, isObject = strings.CutSuffix(collection, "Object"); !isObject {
			return errReply(404, "notFound", "Not found: "+req.Path)
		}
	}
	if !slices.Contains(Kinds, kind) {
		return errReply(404, "notFound", "Not found: "+req.Path)
	}
	var id string
	if len(parts) > 1 {
		var err error
		if id, err = url.PathUnescape(parts[1]); err != nil || id == "" {
			return errReply(400, "invalid", "Invalid resource ID.")
		}
	}
	switch {
	case len(parts) == 1 && req.Method == http.MethodPost:
		return s.insert(collection, kind, isClass, req.Body)
	case len(parts) == 2 && req.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		r, ok := s.resources[collection+"/"+id]
		if !ok {
			return errReply(404, "resourceNotFound", fmt.Sprintf("Resource not found: %s", id))
		}
		return okReply(r)
	case len(parts) == 2 && (req.Method == http.MethodPatch || req.Method == http.MethodPut):
		return s.update(collection, kind, isClass, id, req.Body, req.Method == http.MethodPatch)
	case len(parts) == 3 && parts[2] == "addMessage" && req.Method == http.MethodPost:
		return s.addMessage(collection, isClass, id, req.Body)
	}
	return errReply(404, "notFound", "Not found: "+req.Method+" "+req.Path)
}

var suffixRE = regexp.MustCompile(`^[0-9]+\.[A-Za-z0-9._-]+$`)

func (s *Server) insert(collection, kind string, isClass bool, body map[string]any) (int, http.Header, []byte) {
	if body == nil {
		return errReply(400, "invalid", "Request body must be a JSON object.")
	}
	id, _ := body["id"].(string)
	if id == "" {
		return errReply(400, "invalid", "id is required")
	}
	if !suffixRE.MatchString(id) {
		return errReply(400, "invalid", fmt.Sprintf("Invalid resource ID %q: must be issuerId.identifier with identifier of [A-Za-z0-9._-]", id))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := collection + "/" + id
	if _, exists := s.resources[key]; exists {
		return errReply(409, "duplicate", fmt.Sprintf("Resource already exists: %s", id))
	}
	r := clone(body)
	if code, reason, msg := s.check(kind, isClass, r); code != 0 {
		return errReply(code, reason, msg)
	}
	s.approve(r, isClass)
	s.resources[key] = r
	return okReply(r)
}

func (s *Server) update(collection, kind string, isClass bool, id string, body map[string]any, patch bool) (int, http.Header, []byte) {
	if body == nil {
		return errReply(400, "invalid", "Request body must be a JSON object.")
	}
	if bid, ok := body["id"].(string); ok && bid != id {
		return errReply(400, "invalid", fmt.Sprintf("Body id %q does not match resource ID %q", bid, id))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := collection + "/" + id
	old, ok := s.resources[key]
	if !ok {
		return errReply(404, "resourceNotFound", fmt.Sprintf("Resource not found: %s", id))
	}
	var r map[string]any
	if patch {
		r = clone(old)
		for k, v := range body {
			if v == nil {
				delete(r, k)
			} else {
				r[k] = clone1(v)
			}
		}
	} else {
		r = clone(body)
		for _, k := range []string{"hasUsers", "messages"} { // platform-kept
			if v, ok := old[k]; ok {
				if _, sent := r[k]; !sent {
					r[k] = v
				}
			}
		}
	}
	r["id"] = id
	if code, reason, msg := s.check(kind, isClass, r); code != 0 {
		return errReply(code, reason, msg)
	}
	s.approve(r, isClass)
	s.resources[key] = r
	return okReply(r)
}

// approve plays Google's review: UNDER_REVIEW classes become APPROVED.
func (s *Server) approve(r map[string]any, isClass bool) {
	if !isClass {
		return
	}
	if st, _ := r["reviewStatus"].(string); st == "UNDER_REVIEW" || st == "underReview" {
		r["reviewStatus"] = "APPROVED"
	}
}

func (s *Server) addMessage(collection string, isClass bool, id string, body map[string]any) (int, http.Header, []byte) {
	msg, _ := body["message"].(map[string]any)
	if msg == nil {
		return errReply(400, "invalid", "message is required")
	}
	typ, _ := msg["messageType"].(string)
	switch typ {
	case "", "TEXT", "TEXT_AND_NOTIFY", "text":
	default:
		return errReply(400, "invalid", fmt.Sprintf("Invalid value for messageType: %q", typ))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := collection + "/" + id
	r, ok := s.resources[key]
	if !ok {
		return errReply(404, "resourceNotFound", fmt.Sprintf("Resource not found: %s", id))
	}
	if typ == "TEXT_AND_NOTIFY" {
		now := s.opts.Now()
		recent := s.notified[key][:0:0]
		for _, at := range s.notified[key] {
			if now.Sub(at) < 24*time.Hour {
				recent = append(recent, at)
			}
		}
		s.notified[key] = recent
		if len(recent) >= s.opts.NotifyLimit {
			issuer, _, _ := strings.Cut(id, ".")
			what := "object"
			if isClass {
				what = "class"
			}
			return 403, nil, ErrorBody(403, "quotaExceeded", QuotaMessage(issuer, what, id))
		}
		s.notified[key] = append(s.notified[key], now)
	}
	msgs, _ := r["messages"].([]any)
	r["messages"] = append(msgs, clone1(msg))
	return okReply(map[string]any{"resource": r})
}

var (
	states = map[string]bool{
		"ACTIVE": true, "COMPLETED": true, "EXPIRED": true, "INACTIVE": true,
		"active": true, "completed": true, "expired": true, "inactive": true,
	}
	reviewStatuses = map[string]bool{"DRAFT": true, "UNDER_REVIEW": true, "draft": true, "underReview": true, "APPROVED": true}
	barcodeTypes   = map[string]bool{
		"AZTEC": true, "CODE_39": true, "CODE_128": true, "CODABAR": true, "DATA_MATRIX": true, "EAN_8": true,
		"EAN_13": true, "ITF_14": true, "PDF_417": true, "QR_CODE": true, "UPC_A": true, "TEXT_ONLY": true,
	}
	moduleIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
	hexRE      = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// check validates a resource the way Google's required-field checks do;
// it returns a zero code when the resource is fine. Called with s.mu held.
func (s *Server) check(kind string, isClass bool, r map[string]any) (int, string, string) {
	bad := func(format string, args ...any) (int, string, string) {
		return 400, "invalid", fmt.Sprintf(format, args...)
	}
	if c, ok := r["hexBackgroundColor"]; ok && !hexRE.MatchString(fmt.Sprint(c)) {
		return bad("hexBackgroundColor must be #rrggbb, got %v", c)
	}
	if isClass {
		var required []string
		switch kind {
		case "loyalty":
			required = []string{"issuerName", "programName", "programLogo.sourceUri.uri", "reviewStatus"}
		case "offer":
			required = []string{"issuerName", "title", "provider", "redemptionChannel", "reviewStatus"}
		case "eventTicket":
			required = []string{"issuerName", "eventName.defaultValue.value", "reviewStatus"}
		case "giftCard":
			required = []string{"issuerName", "reviewStatus"}
		}
		for _, p := range required {
			if str(r, p) == "" {
				return bad("%s is required for %s classes", p, kind)
			}
		}
		if st := str(r, "reviewStatus"); st != "" && !reviewStatuses[st] {
			return bad("Invalid reviewStatus %q", st)
		}
		return 0, "", ""
	}
	classID := str(r, "classId")
	if classID == "" {
		return bad("classId is required")
	}
	class, ok := s.resources[kind+"Class/"+classID]
	if !ok {
		return 404, "classNotFound", fmt.Sprintf("Class %s not found", classID)
	}
	if st := str(class, "reviewStatus"); st == "DRAFT" || st == "draft" {
		return bad("Class %s is in draft and cannot have objects", classID)
	}
	state := str(r, "state")
	if state == "" && kind != "generic" {
		return bad("state is required")
	}
	if state != "" && !states[state] {
		return bad("Invalid state %q", state)
	}
	switch kind {
	case "generic":
		for _, p := range []string{"cardTitle.defaultValue.value", "header.defaultValue.value"} {
			if str(r, p) == "" {
				return bad("%s is required for generic objects", p)
			}
		}
	case "giftCard":
		if str(r, "cardNumber") == "" {
			return bad("cardNumber is required for gift card objects")
		}
	}
	if b, ok := r["barcode"].(map[string]any); ok {
		if t, _ := b["type"].(string); !barcodeTypes[t] {
			return bad("Invalid barcode type %q", t)
		}
	}
	if mods, ok := r["textModulesData"].([]any); ok {
		for i, m := range mods {
			mm, _ := m.(map[string]any)
			if id, _ := mm["id"].(string); !moduleIDRE.MatchString(id) {
				return bad("textModulesData[%d].id %q may hold only [A-Za-z0-9_-]", i, id)
			}
		}
	}
	if locs, ok := r["merchantLocations"].([]any); ok && len(locs) > 10 {
		return bad("merchantLocations has more than 10 entries")
	}
	return 0, "", ""
}

// str reads a dotted path of string-valued JSON.
func str(r map[string]any, path string) string {
	var cur any = r
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

func (s *Server) validToken(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, raw []byte) {
	tr := TokenRequest{}
	status, body := s.token(r, raw, &tr)
	tr.Status = status
	s.mu.Lock()
	s.tokenReqs = append(s.tokenReqs, tr)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func oauthError(tr *TokenRequest, status int, code, desc string) (int, []byte) {
	tr.Error = code
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	return status, b
}

func (s *Server) token(r *http.Request, raw []byte, tr *TokenRequest) (int, []byte) {
	if f := s.fault(r.Method, TokenPath); f != nil {
		reason := f.Reason
		if reason == "" {
			reason = "internal_failure"
			if f.Status < 500 {
				reason = "invalid_request"
			}
		}
		return oauthError(tr, f.Status, reason, f.Message)
	}
	if r.Method != http.MethodPost {
		return oauthError(tr, 405, "invalid_request", "POST required")
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return oauthError(tr, 400, "invalid_request", "Malformed form body")
	}
	tr.GrantType, tr.Assertion = form.Get("grant_type"), form.Get("assertion")
	if tr.GrantType != GrantType {
		return oauthError(tr, 400, "unsupported_grant_type", "Invalid grant_type: "+tr.GrantType)
	}
	parts := strings.Split(tr.Assertion, ".")
	if len(parts) != 3 {
		return oauthError(tr, 400, "invalid_grant", "Invalid JWT: malformed")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil ||
		json.Unmarshal(hb, &tr.Header) != nil || json.Unmarshal(cb, &tr.Claims) != nil {
		return oauthError(tr, 400, "invalid_grant", "Invalid JWT: malformed")
	}
	if tr.Header["alg"] != "RS256" {
		return oauthError(tr, 400, "invalid_grant", "Invalid JWT: alg must be RS256")
	}
	iss, _ := tr.Claims["iss"].(string)
	s.mu.Lock()
	pub := s.keys[iss]
	s.mu.Unlock()
	if pub == nil {
		return oauthError(tr, 400, "invalid_grant", "Invalid email or User ID")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return oauthError(tr, 400, "invalid_grant", "Invalid JWT Signature.")
	}
	tr.SignatureValid = true
	if aud, _ := tr.Claims["aud"].(string); aud != s.TokenURL {
		return oauthError(tr, 400, "invalid_grant", "Invalid JWT: aud must be the token URL")
	}
	scope, _ := tr.Claims["scope"].(string)
	if !slices.Contains(strings.Fields(scope), Scope) {
		return oauthError(tr, 400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
	}
	iat, _ := tr.Claims["iat"].(float64)
	exp, _ := tr.Claims["exp"].(float64)
	now := float64(time.Now().Unix())
	if exp <= now || iat > now+60 || exp-iat > 3600 {
		return oauthError(tr, 400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	s.mu.Lock()
	s.tokenSeq++
	rnd := make([]byte, 12)
	_, _ = rand.Read(rnd)
	tok := fmt.Sprintf("ya29.fake-%d-%x", s.tokenSeq, rnd)
	s.tokens[tok] = time.Now().Add(s.opts.TokenTTL)
	s.mu.Unlock()
	tr.Token = tok
	b, _ := json.Marshal(map[string]any{
		"access_token": tok,
		"expires_in":   int(s.opts.TokenTTL / time.Second),
		"token_type":   "Bearer",
	})
	return http.StatusOK, b
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = clone1(v)
	}
	return out
}

func clone1(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return clone(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = clone1(e)
		}
		return out
	}
	return v
}
