package otp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"strconv"
	"sync"
)

// MinSecretLen is the shortest OTP_SECRET accepted: 32 bytes gives the HMAC
// its full 256-bit strength.
const MinSecretLen = 32

// Codec generates codes and turns them into the only forms that are allowed
// at rest: a keyed MAC (for checking) and an AEAD ciphertext (so that a resend
// can deliver the same code). Every key is derived from OTP_SECRET with a
// distinct label, so no key is ever used for two purposes.
type Codec struct {
	length int
	encKey cipher.AEAD
	rand   io.Reader
	// Keyed HMACs, reused: hmac.Reset restores the keyed state without
	// hashing the key again, and a send or check computes one or two.
	macs, tags sync.Pool // of *keyedHash
}

type keyedHash struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func hmacPool(key []byte) func() any {
	return func() any { return &keyedHash{h: hmac.New(sha256.New, key)} }
}

// keyed hashes parts (joined by a zero byte) with the pool's key.
func keyed(pool *sync.Pool, out []byte, parts ...string) []byte {
	k := pool.Get().(*keyedHash)
	k.h.Reset()
	k.buf = k.buf[:0]
	for i, p := range parts {
		if i > 0 {
			k.buf = append(k.buf, 0)
		}
		k.buf = append(k.buf, p...)
	}
	k.h.Write(k.buf)
	out = append(out, k.h.Sum(k.sum[:0])...)
	pool.Put(k)
	return out
}

// NewCodec derives the keys from secret. rnd is the randomness source; nil
// means crypto/rand (tests may pass a deterministic reader).
func NewCodec(secret []byte, length int, rnd io.Reader) (*Codec, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("otp: secret must be at least %d bytes", MinSecretLen)
	}
	if length < 4 || length > 10 {
		return nil, fmt.Errorf("otp: code length %d outside 4..10", length)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	block, err := aes.NewCipher(derive(secret, "otp/code-encryption/v1"))
	if err != nil {
		return nil, err
	}
	// The nonce is the verification id (see Seal), all 16 bytes of it.
	aead, err := cipher.NewGCMWithNonceSize(block, idBytes)
	if err != nil {
		return nil, err
	}
	return &Codec{
		length: length,
		encKey: aead,
		rand:   rnd,
		macs:   sync.Pool{New: hmacPool(derive(secret, "otp/code-mac/v1"))},
		tags:   sync.Pool{New: hmacPool(derive(secret, "otp/number-tag/v1"))},
	}, nil
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Length is the number of digits in a code.
func (c *Codec) Length() int { return c.length }

// NewCode returns a code of Length digits drawn uniformly from [0, 10^n):
// rand.Int rejects out-of-range samples, so there is no modulo bias.
//
// The draw is a 64-bit sample taken again while it falls in the short last
// stretch [limit, 2^64) that is not a whole number of 10^n: the rest maps
// onto [0, 10^n) evenly, so there is no modulo bias.
func (c *Codec) NewCode() (string, error) {
	space := uint64(1)
	for range c.length {
		space *= 10
	}
	limit := math.MaxUint64 - math.MaxUint64%space
	var b [8]byte
	for {
		if _, err := io.ReadFull(c.rand, b[:]); err != nil {
			return "", fmt.Errorf("otp: generate code: %w", err)
		}
		if v := binary.BigEndian.Uint64(b[:]); v < limit {
			var out [20]byte
			digits := strconv.AppendUint(out[:0], v%space, 10)
			code := out[20-c.length : 20]
			for i := range code[:c.length-len(digits)] {
				code[i] = '0'
			}
			copy(code[c.length-len(digits):], digits)
			return string(code), nil
		}
	}
}

// Tag is the Redis Cluster hash tag of a phone number: every key of one
// number shares it, and verification ids embed it so a lookup by id lands in
// the same slot. It is keyed so that an id does not reveal its number to
// whoever can enumerate the (small) space of phone numbers.
func (c *Codec) Tag(e164 string) string {
	var sum [sha256.Size]byte
	var out [2 * tagBytes]byte
	hex.Encode(out[:], keyed(&c.tags, sum[:0], e164)[:tagBytes])
	return string(out[:])
}

// IsTagOf reports, in constant time, whether tag is e164's. The worker asks
// before it sends: a number written into Redis by someone else does not
// carry the tag of the id it was written under, so a code cannot be
// redirected by whoever can write to Redis but does not hold OTP_SECRET.
func (c *Codec) IsTagOf(tag, e164 string) bool {
	return subtle.ConstantTimeCompare([]byte(tag), []byte(c.Tag(e164))) == 1
}

// MAC is the keyed hash of a code stored in Redis, as raw bytes: HMAC-SHA256
// truncated to 128 bits, which leaves a guesser no better odds than the code
// space itself while halving what each pending verification keeps in
// memory. It is bound to the number's tag so equal codes for different
// numbers hash differently.
func (c *Codec) MAC(tag, code string) string {
	var sum [sha256.Size]byte
	return string(keyed(&c.macs, sum[:0], tag, code)[:macBytes])
}

const macBytes = 16

// Seal encrypts code for storage, as raw bytes (ciphertext and tag). The
// nonce is the verification id: ids are unique (the number's tag plus 48
// random bits, and a start never stores a second code under an id), each id
// is sealed once (a resend reuses the stored ciphertext), and so no nonce
// repeats under the key, without spending 12 bytes per verification on a
// stored one. The id is authenticated too, so a ciphertext copied to
// another verification does not open.
func (c *Codec) Seal(id, code string) (string, error) {
	nonce, ok := idNonce(id)
	if !ok {
		return "", fmt.Errorf("otp: seal: malformed id")
	}
	return string(c.encKey.Seal(nil, nonce, []byte(code), []byte(id))), nil
}

// ErrCorruptCode means the stored ciphertext did not authenticate: wrong
// OTP_SECRET between api and worker, or tampered data.
var ErrCorruptCode = errors.New("otp: stored code does not decrypt (OTP_SECRET mismatch?)")

// Open reverses Seal.
func (c *Codec) Open(id, sealed string) (string, error) {
	nonce, ok := idNonce(id)
	if !ok {
		return "", ErrCorruptCode
	}
	pt, err := c.encKey.Open(nil, nonce, []byte(sealed), []byte(id))
	if err != nil {
		return "", ErrCorruptCode
	}
	return string(pt), nil
}

// idNonce is the id's 16 bytes after "VE".
func idNonce(id string) ([]byte, bool) {
	if _, ok := TagOfID(id); !ok {
		return nil, false
	}
	b, err := hex.DecodeString(id[2:])
	return b, err == nil
}

const (
	// A number's keys are found by its tag alone, so tags must not collide:
	// 80 bits keep that out of reach for billions of numbers (the scripts
	// still refuse a collision rather than mix two numbers' state).
	tagBytes = 10
	// The random part tells one number's verifications apart; with the tag,
	// which only the secret's holder can compute, an id has 128 unguessable bits.
	idRand  = 6
	idBytes = tagBytes + idRand
	// IDLen is the length of a verification id: "VE" + tag + random, the
	// same shape (VE + 32 hex) as a Twilio Verify SID.
	IDLen = 2 + 2*tagBytes + 2*idRand
)

// NewID returns a fresh verification id for a number with the given tag.
func (c *Codec) NewID(tag string) (string, error) {
	b := make([]byte, idRand)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", fmt.Errorf("otp: id: %w", err)
	}
	return "VE" + tag + hex.EncodeToString(b), nil
}

// TagOfID extracts the hash tag from a well-formed id.
func TagOfID(id string) (string, bool) {
	if len(id) != IDLen || id[:2] != "VE" {
		return "", false
	}
	for i := 2; i < len(id); i++ {
		ch := id[i]
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f') {
			return "", false
		}
	}
	return id[2 : 2+2*tagBytes], true
}

// ValidCodeFormat reports whether s could be a code of this codec: exactly
// Length ASCII digits. Anything else is rejected before touching Redis.
func (c *Codec) ValidCodeFormat(s string) bool {
	if len(s) != c.length {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
