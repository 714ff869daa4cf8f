package google

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/passhub/passhub/core"
)

// SaveURLPrefix starts every "Add to Google Wallet" link.
const SaveURLPrefix = "https://pay.google.com/gp/v/save/"

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ"`
}

// saveClaims is the save JWT body; struct order fixes key order.
type saveClaims struct {
	Iss     string                       `json:"iss"`
	Aud     string                       `json:"aud"`
	Typ     string                       `json:"typ"`
	Iat     int64                        `json:"iat"`
	Origins []string                     `json:"origins"`
	Payload map[string][]objectReference `json:"payload"`
}

type objectReference struct {
	ID string `json:"id"`
}

// SaveURL is the "Add to Google Wallet" link for an object that already
// exists (UpsertObject first): an RS256 JWT signed with the service
// account key, with iss (the client email), aud "google", typ
// "savetowallet", iat, origins (the web origins allowed to show a save
// button; may be empty for a plain link) and payload
// {"<kind>Objects": [{"id": objectID}]}. Referencing the object by ID
// keeps the link short.
func SaveURL(sa *ServiceAccount, kind ClassKind, objectID string, origins []string, now time.Time) (string, error) {
	if sa == nil || sa.PrivateKey == nil || sa.ClientEmail == "" {
		return "", core.Invalid("serviceAccount", "is required")
	}
	if !kind.Valid() {
		return "", core.Invalid("kind", "%q is not a Google class kind", kind)
	}
	if objectID == "" || Sanitize(objectID) != objectID {
		return "", core.Invalid("objectId", "must be issuerId.suffix with [A-Za-z0-9._-] only")
	}
	if origins == nil {
		origins = []string{}
	}
	claims := saveClaims{
		Iss:     sa.ClientEmail,
		Aud:     "google",
		Typ:     "savetowallet",
		Iat:     now.Unix(),
		Origins: origins,
		Payload: map[string][]objectReference{string(kind) + "Objects": {{ID: objectID}}},
	}
	token, err := signRS256(sa, claims)
	if err != nil {
		return "", fmt.Errorf("signing save JWT: %w", err)
	}
	return SaveURLPrefix + token, nil
}

func signRS256(sa *ServiceAccount, claims any) (string, error) {
	h, err := json.Marshal(jwtHeader{Alg: "RS256", Kid: sa.PrivateKeyID, Typ: "JWT"})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, sa.PrivateKey, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signingInput + "." + enc.EncodeToString(sig), nil
}
