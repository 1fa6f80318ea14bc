package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/internal/metrics"
)

// requestTimeout bounds every API request, so a stuck dependency turns into
// a 503 rather than a hanging client.
const requestTimeout = 5 * time.Second

// requireAPIKey accepts "Authorization: Bearer <key>" for any configured key,
// and puts the key's tenant in the request's context. Keys are compared as
// SHA-256 digests in constant time, over every key of every tenant, so
// neither a key's content, nor its length, nor its tenant leaks through
// timing.
func requireAPIKey(keys []apiKey) gin.HandlerFunc {
	digests := make([][32]byte, len(keys))
	ids := make([]string, len(keys))
	for i, k := range keys {
		digests[i] = sha256.Sum256([]byte(k.key))
		// Per-key limits key on a digest prefix, never on the key itself.
		ids[i] = hex.EncodeToString(digests[i][:6])
	}
	return func(c *gin.Context) {
		// The scheme name is case-insensitive (RFC 9110 section 11.1).
		scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		match, which := 0, 0
		for i := range digests {
			eq := subtle.ConstantTimeCompare(got[:], digests[i][:])
			match |= eq
			which = subtle.ConstantTimeSelect(eq, i, which)
		}
		if !ok || match != 1 {
			writeProblem(c, problem(http.StatusUnauthorized, "unauthorized", "missing or invalid API key: send Authorization: Bearer <key>"))
			return
		}
		c.Set(apiKeyIDKey, ids[which])
		c.Set(fraudAdminKey, keys[which].fraudAdmin)
		c.Request = c.Request.WithContext(withTenant(c.Request.Context(), keys[which].tenant))
		c.Next()
	}
}

// writeLimiter is the per-API-key limit on the write requests that no send
// limit counts (API_KEY_WRITE_LIMITS; redisstore.Limits). A refusal is an
// *otp.LimitError.
type writeLimiter interface {
	TakeWrite(ctx context.Context, apiKeyID string) error
}

// limitWrites takes one write from the API key's write limit before
// anything else runs (the body is not even read): a refusal is a 429
// rate_limited with limit api_key_writes and Retry-After, written by
// write (the tutorial routes' problems carry message). A nil l limits
// nothing.
func limitWrites(l writeLimiter, write func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if l != nil {
			if err := l.TakeWrite(c.Request.Context(), c.GetString(apiKeyIDKey)); err != nil {
				write(c, err)
				return
			}
		}
		c.Next()
	}
}

func bounded() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), requestTimeout)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// apiKeyIDKey is the gin context key of the authenticated key's id.
const apiKeyIDKey = "otp.api_key_id"

type ctxKey int

const requestIDKey ctxKey = 0

// requestID takes a sane incoming X-Request-ID or makes one: a random
// prefix per process and a counter, unique without a syscall per request
// (an id names a request in the logs; it guards nothing).
func requestID() gin.HandlerFunc {
	var prefix [8]byte
	_, _ = rand.Read(prefix[:])
	var n atomic.Uint64
	return func(c *gin.Context) {
		// The canonical spelling: Header.Get and Set need no rewrite.
		id := ""
		if v := c.Request.Header["X-Request-Id"]; len(v) > 0 {
			id = v[0]
		}
		if !validRequestID(id) {
			var count [4]byte
			binary.BigEndian.PutUint32(count[:], uint32(n.Add(1)))
			var b [24]byte
			hex.Encode(b[:16], prefix[:])
			hex.Encode(b[16:], count[:])
			id = string(b[:])
		}
		c.Writer.Header()["X-Request-Id"] = []string{id}
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey, id))
		c.Next()
	}
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// accessLog writes one line per request. Bodies are never logged: they
// carry codes and phone numbers.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(unmatched)"
		}
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		if !log.Enabled(c.Request.Context(), level) {
			return
		}
		attrs := []any{
			"request_id", c.Request.Context().Value(requestIDKey),
			"method", metrics.Method(c.Request.Method), "route", route,
			"status", c.Writer.Status(), "duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		}
		if len(c.Errors) > 0 {
			attrs = append(attrs, "err", c.Errors.String())
		}
		log.Log(c.Request.Context(), level, "request", attrs...)
	}
}

// knownMethod answers 405 to a method outside RFC 9110's set before any
// other work: no route, key check or body read is worth doing for it.
func knownMethod() gin.HandlerFunc {
	return func(c *gin.Context) {
		if metrics.Method(c.Request.Method) == "OTHER" {
			writeProblem(c, problem(http.StatusMethodNotAllowed, "method_not_allowed", "unknown request method"))
			return
		}
		c.Next()
	}
}

func recoverProblem(log *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, err any) {
		log.ErrorContext(c.Request.Context(), "panic", "panic", err)
		writeProblem(c, problem(http.StatusInternalServerError, "internal", "internal error"))
	})
}
