package callback

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// TestSigner plays Google in tests: it signs callbacks the way Google does
// and serves the matching root keys document. Use it from any package's
// tests:
//
//	s := callback.NewTestSigner()
//	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
//		w.Write(s.KeysJSON(time.Now().Add(24 * time.Hour)))
//	}))
//	v := callback.NewVerifier(callback.Config{KeysURL: keys.URL})
//	body := s.Sign("3388000000000000001", callback.Message{
//		ClassID: "3388000000000000001.class", ObjectID: "3388000000000000001.obj",
//		EventType: callback.EventSave, Nonce: "n1"})
//
// It is not for production: the keys are generated in memory.
type TestSigner struct {
	Root               *ecdsa.PrivateKey // signs the intermediate key
	Intermediate       *ecdsa.PrivateKey // signs the message
	IntermediateExpiry time.Time         // keyExpiration of the intermediate key
	SenderID           string            // default DefaultSenderID
}

// NewTestSigner returns a signer with fresh P-256 root and intermediate keys,
// an intermediate key valid for 24 hours and DefaultSenderID.
func NewTestSigner() *TestSigner {
	return &TestSigner{
		Root:               newP256(),
		Intermediate:       newP256(),
		IntermediateExpiry: time.Now().Add(24 * time.Hour),
		SenderID:           DefaultSenderID,
	}
}

// KeysJSON returns a keys document, as served by the keys URL, holding the
// signer's root public key with the given expiry.
func (s *TestSigner) KeysJSON(rootExpiry time.Time) []byte {
	return KeysDocument(KeyEntry(&s.Root.PublicKey, ProtocolVersion, rootExpiry))
}

// KeyEntry is one entry of a keys document. A zero expiry leaves
// keyExpiration out.
func KeyEntry(pub *ecdsa.PublicKey, protocolVersion string, expiry time.Time) map[string]string {
	e := map[string]string{"keyValue": spkiB64(pub), "protocolVersion": protocolVersion}
	if !expiry.IsZero() {
		e["keyExpiration"] = strconv.FormatInt(expiry.UnixMilli(), 10)
	}
	return e
}

// KeysDocument returns a keys document holding entries, e.g. two roots
// during a rotation.
func KeysDocument(entries ...map[string]string) []byte {
	b, err := json.Marshal(map[string]any{"keys": entries})
	if err != nil {
		panic(err)
	}
	return b
}

// SignOption changes how TestSigner.Sign builds a callback, to produce
// callbacks that must fail verification.
type SignOption func(*signOptions)

type signOptions struct {
	expAsString      bool
	keyExpAsNumber   bool
	protocolVersion  string
	rawMessage       *string
	tamperMessage    bool
	tamperKey        bool
	extraRootSigners []*ecdsa.PrivateKey
}

// ExpTimeAsString encodes expTimeMillis as a JSON string rather than a
// number (Google has been seen sending both).
func ExpTimeAsString() SignOption { return func(o *signOptions) { o.expAsString = true } }

// KeyExpirationAsNumber encodes the intermediate keyExpiration as a JSON
// number rather than a string.
func KeyExpirationAsNumber() SignOption { return func(o *signOptions) { o.keyExpAsNumber = true } }

// WithProtocolVersion puts v in the envelope's protocolVersion (the
// signatures still use ECv2SigningOnly).
func WithProtocolVersion(v string) SignOption {
	return func(o *signOptions) { o.protocolVersion = v }
}

// RawSignedMessage signs msg verbatim as the signedMessage instead of
// encoding the Message.
func RawSignedMessage(msg string) SignOption {
	return func(o *signOptions) { o.rawMessage = &msg }
}

// TamperSignedMessage changes signedMessage after signing.
func TamperSignedMessage() SignOption { return func(o *signOptions) { o.tamperMessage = true } }

// TamperSignedKey changes the intermediate signedKey after signing.
func TamperSignedKey() SignOption { return func(o *signOptions) { o.tamperKey = true } }

// AlsoSignedBy adds intermediate key signatures by other root keys, placed
// before the signer's own.
func AlsoSignedBy(roots ...*ecdsa.PrivateKey) SignOption {
	return func(o *signOptions) { o.extraRootSigners = append(o.extraRootSigners, roots...) }
}

// Sign returns a callback body for issuerID carrying m, signed like Google
// does. A zero m.ExpTime means one hour from now. The message is signed for
// issuerID whatever m's IDs say, so a mismatch can be tested.
func (s *TestSigner) Sign(issuerID string, m Message, opts ...SignOption) []byte {
	var o signOptions
	for _, opt := range opts {
		opt(&o)
	}
	sender := s.SenderID
	if sender == "" {
		sender = DefaultSenderID
	}

	var keyExp any = strconv.FormatInt(s.IntermediateExpiry.UnixMilli(), 10)
	if o.keyExpAsNumber {
		keyExp = s.IntermediateExpiry.UnixMilli()
	}
	signedKey := mustJSON(map[string]any{
		"keyValue":      spkiB64(&s.Intermediate.PublicKey),
		"keyExpiration": keyExp,
	})
	keySigned := lv(sender, ProtocolVersion, signedKey)
	var keySigs []string
	for _, r := range o.extraRootSigners {
		keySigs = append(keySigs, sign(r, keySigned))
	}
	keySigs = append(keySigs, sign(s.Root, keySigned))

	var signedMessage string
	if o.rawMessage != nil {
		signedMessage = *o.rawMessage
	} else {
		exp := m.ExpTime
		if exp.IsZero() {
			exp = time.Now().Add(time.Hour)
		}
		var expMillis any = exp.UnixMilli()
		if o.expAsString {
			expMillis = strconv.FormatInt(exp.UnixMilli(), 10)
		}
		signedMessage = mustJSON(map[string]any{
			"classId":       m.ClassID,
			"objectId":      m.ObjectID,
			"eventType":     m.EventType,
			"expTimeMillis": expMillis,
			"nonce":         m.Nonce,
		})
	}
	sig := sign(s.Intermediate, lv(sender, issuerID, ProtocolVersion, signedMessage))

	if o.tamperMessage {
		signedMessage += " "
	}
	if o.tamperKey {
		signedKey += " "
	}
	version := ProtocolVersion
	if o.protocolVersion != "" {
		version = o.protocolVersion
	}
	return []byte(mustJSON(map[string]any{
		"protocolVersion": version,
		"signature":       sig,
		"intermediateSigningKey": map[string]any{
			"signedKey":  signedKey,
			"signatures": keySigs,
		},
		"signedMessage": signedMessage,
	}))
}

func newP256() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func spkiB64(pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func sign(k *ecdsa.PrivateKey, signed []byte) string {
	h := sha256.Sum256(signed)
	sig, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
