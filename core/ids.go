package core

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// IDs are a short type prefix and a ULID-like body: 48 bits of milliseconds
// then 80 random bits, Crockford base32, so they sort by creation time,
// are safe in URLs, Apple serial numbers and Google object IDs
// ([A-Za-z0-9._-]), and reveal nothing guessable.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var idEncoding = base32.NewEncoding(crockford).WithPadding(base32.NoPadding)

// ID prefixes, one per kind of object.
const (
	PrefixWorkspace = "ws"
	PrefixAPIKey    = "key"
	PrefixTemplate  = "tpl"
	PrefixPass      = "pass"
	PrefixEvent     = "evt"
	PrefixShareLink = "shl"
	PrefixConnector = "con"
	PrefixTrigger   = "trg"
	PrefixWebhook   = "whk"
	// PrefixWebhookMessage starts webhook-id values (WebhookDeliveryID).
	PrefixWebhookMessage = "msg"
)

var idMu sync.Mutex
var lastMS uint64
var lastRand [10]byte

// NewID returns prefix_<26 chars>. Within one millisecond in one process
// the random part is incremented, so IDs from one process stay ordered.
func NewID(prefix string) string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	idMu.Lock()
	if ms <= lastMS {
		ms = lastMS
		for i := len(lastRand) - 1; i >= 0; i-- {
			lastRand[i]++
			if lastRand[i] != 0 {
				break
			}
		}
	} else {
		lastMS = ms
		// crypto/rand.Read never fails since Go 1.24 (it aborts the process).
		_, _ = rand.Read(lastRand[:])
	}
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], ms)
	copy(b[:6], t[2:])
	copy(b[6:], lastRand[:])
	idMu.Unlock()
	// 128 bits encode to 26 base32 characters (the last one carries 3 bits).
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// RandomToken returns n random bytes as unpadded base32 text, for secrets
// such as API keys and Apple authentication tokens.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(idEncoding.EncodeToString(b))
}
