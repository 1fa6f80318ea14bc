package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/idempotency"
	"github.com/otpd/otpd/otp"
)

// serveKey runs one request with an Idempotency-Key (none when key is nil;
// each entry is one header line) and the given API key.
func serveKey(h http.Handler, apiKey, method, path, body string, key ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, k := range key {
		req.Header.Add("Idempotency-Key", k)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func sendAttempts(t *testing.T, f *fixture, id string) int {
	t.Helper()
	w := serve(f.h, http.MethodGet, "/v1/verifications/"+id, nil)
	var v otp.Verification
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", id, w.Code, w.Body)
	}
	return v.SendAttempts
}

// A backend that retries a start after a timeout gets the first answer
// again, status, body and Location, and no second SMS or cooldown 429.
func TestIdempotentStartReplays(t *testing.T) {
	f := newFixture(t)
	body := `{"to":"` + phone + `"}`
	first := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", body, `"k-1"`)
	if first.Code != http.StatusAccepted || first.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %s", first.Code, first.Header(), first.Body)
	}
	for _, key := range []string{`"k-1"`, `k-1`} { // quoted or bare: the same key
		again := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", body, key)
		if again.Code != first.Code || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) ||
			again.Header().Get("Location") != first.Header().Get("Location") ||
			again.Header().Get("Idempotent-Replayed") != "true" ||
			again.Header().Get("Content-Type") != first.Header().Get("Content-Type") {
			t.Fatalf("replay with %s:\n%d %v %s\nwant\n%d %v %s", key, again.Code, again.Header(), again.Body,
				first.Code, first.Header(), first.Body)
		}
	}
	var v otp.Verification
	_ = json.Unmarshal(first.Body.Bytes(), &v)
	if n := sendAttempts(t, f, v.ID); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
	// Without the key, the same request is a resend, refused by the cooldown.
	if w := serve(f.h, http.MethodPost, "/v1/verifications", body); w.Code != http.StatusTooManyRequests {
		t.Fatalf("without a key: %d", w.Code)
	}
}

// The key's answer lives 24 hours, under the key's digest, in one compact
// string per API key.
func TestIdempotencyStorage(t *testing.T) {
	f := newFixture(t)
	w := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", `{"to":"`+phone+`"}`, `"a-key-of-some-length-0123456789"`)
	if w.Code != http.StatusAccepted {
		t.Fatal(w.Code, w.Body)
	}
	keys := f.RDB.Keys(context.Background(), "otp:idem:*").Val()
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	sum := sha256.Sum256([]byte(testKeys[0]))
	if !strings.HasPrefix(keys[0], "otp:idem:{"+hex.EncodeToString(sum[:6])+"}:") || strings.Contains(keys[0], "a-key") {
		t.Fatalf("key %q: not scoped by the API key's id, or holds the client's key", keys[0])
	}
	ttl := f.RDB.PTTL(context.Background(), keys[0]).Val()
	if ttl < 23*time.Hour || ttl > 24*time.Hour {
		t.Fatalf("TTL %v", ttl)
	}
	if typ := f.RDB.Type(context.Background(), keys[0]).Val(); typ != "string" {
		t.Fatalf("type %s", typ)
	}
}

// Which answers are kept: a refusal by a limit or an outage is not (a
// retry runs again); an answer about the request itself is.
func TestIdempotencyWhatIsKept(t *testing.T) {
	body := `{"to":"` + phone + `"}`
	t.Run("a 429 is not kept", func(t *testing.T) {
		f := newFixture(t)
		if w := serve(f.h, http.MethodPost, "/v1/verifications", body); w.Code != http.StatusAccepted {
			t.Fatal(w.Code)
		}
		if w := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", body, "k"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("in the cooldown: %d", w.Code)
		}
		f.Clock.Advance(testPolicy.Cooldown)
		w := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", body, "k")
		if w.Code != http.StatusAccepted || w.Header().Get("Idempotent-Replayed") != "" {
			t.Fatalf("after the cooldown: %d %v", w.Code, w.Header())
		}
	})
	t.Run("a 503 is not kept", func(t *testing.T) {
		f := newFixture(t)
		f.Queue.Fail.Store(true)
		if w := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", body, "k"); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("queue down: %d", w.Code)
		}
		f.Queue.Fail.Store(false)
		if w := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", body, "k"); w.Code != http.StatusAccepted {
			t.Fatalf("queue back: %d %s", w.Code, w.Body)
		}
	})
	t.Run("a 400 is not kept", func(t *testing.T) {
		// Refusals change nothing, and some echo their input: storing them
		// for a day would let any caller fill Redis. A retry answers alike.
		f := newFixture(t)
		bad := `{"to":"+1415","` + strings.Repeat("x", 4000) + `":1}`
		first := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", bad, "k")
		again := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", bad, "k")
		if first.Code != http.StatusBadRequest || again.Code != first.Code || again.Body.String() != first.Body.String() ||
			again.Header().Get("Idempotent-Replayed") != "" {
			t.Fatalf("first %d %s, again %d %v %s", first.Code, first.Body, again.Code, again.Header(), again.Body)
		}
		if n := len(f.RDB.Keys(context.Background(), "otp:idem:*").Val()); n != 0 {
			t.Fatalf("%d idempotency keys after a refusal", n)
		}
		if len(first.Body.String()) > 1024 {
			t.Fatalf("a %d-byte problem: the detail echoes the input at length", first.Body.Len())
		}
	})
}

// keptFirst is a ResponseWriter that looks, when the answer starts to go
// out, at what the Idempotency-Key holds.
type keptFirst struct {
	*httptest.ResponseRecorder
	rdb   redis.UniversalClient
	state string // the key's first byte then: 'p' claimed, 'd' done
}

func (w *keptFirst) WriteHeader(code int) {
	if w.state == "" {
		for _, k := range w.rdb.Keys(context.Background(), "otp:idem:*").Val() {
			w.state = w.rdb.Get(context.Background(), k).Val()[:1]
		}
	}
	w.ResponseRecorder.WriteHeader(code)
}

func (w *keptFirst) Write(b []byte) (int, error) {
	if w.state == "" {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseRecorder.Write(b)
}

// The answer is kept before it goes out: a client that got its 202 and
// retries at once finds the answer, never a claim that may still expire.
func TestIdempotencyKeepsBeforeAnswering(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodPost, "/v1/verifications", strings.NewReader(`{"to":"`+phone+`"}`))
	req.Header.Set("Authorization", "Bearer "+testKeys[0])
	req.Header.Set("Idempotency-Key", "k")
	w := &keptFirst{ResponseRecorder: httptest.NewRecorder(), rdb: f.RDB}
	f.h.ServeHTTP(w, req)
	if w.Code != http.StatusAccepted || w.state != "d" {
		t.Fatalf("status %d; the key held %q when the answer went out, want the kept answer (d)", w.Code, w.state)
	}
}

// The same key on another request is refused; another API key's same key
// is another key; a request still running makes the retry wait.
func TestIdempotencyConflicts(t *testing.T) {
	f := newFixture(t)
	start := func(apiKey, to, key string) *httptest.ResponseRecorder {
		return serveKey(f.h, apiKey, http.MethodPost, "/v1/verifications", `{"to":"`+to+`"}`, key)
	}
	first := start(testKeys[0], phone, "k")
	if first.Code != http.StatusAccepted {
		t.Fatal(first.Code, first.Body)
	}
	var v otp.Verification
	_ = json.Unmarshal(first.Body.Bytes(), &v)
	wantProblem(t, start(testKeys[0], otherPhone, "k"), http.StatusUnprocessableEntity, "idempotency_key_reused")
	wantProblem(t, serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications/"+v.ID+"/cancel", "", "k"),
		http.StatusUnprocessableEntity, "idempotency_key_reused")
	if w := start(testKeys[1], otherPhone, "k"); w.Code != http.StatusAccepted || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("another API key's k: %d %v", w.Code, w.Header())
	}

	// A first request still running: claimed, not answered yet.
	sum := sha256.Sum256([]byte(testKeys[0]))
	body := `{"to":"+14155550100"}`
	if _, state, _, err := f.Idempotency.Claim(context.Background(), hex.EncodeToString(sum[:6]), "running",
		idempotency.RequestFingerprint(http.MethodPost, "/v1/verifications", []byte(body))); err != nil || state != idempotency.New {
		t.Fatal(state, err)
	}
	w := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", body, "running")
	wantProblem(t, w, http.StatusConflict, "idempotency_in_progress")
	if w.Header().Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
	}
}

// A cancel retried gets its first answer; its body is no part of it.
func TestIdempotentCancel(t *testing.T) {
	f := newFixture(t)
	w := serve(f.h, http.MethodPost, "/v1/verifications", map[string]string{"to": phone})
	var v otp.Verification
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	path := "/v1/verifications/" + v.ID + "/cancel"
	first := serveKey(f.h, testKeys[0], http.MethodPost, path, "", "c")
	again := serveKey(f.h, testKeys[0], http.MethodPost, path, `{"ignored":true}`, "c")
	if first.Code != http.StatusOK || again.Code != http.StatusOK || again.Body.String() != first.Body.String() ||
		again.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("first %d %s, again %d %v %s", first.Code, first.Body, again.Code, again.Header(), again.Body)
	}
}

// A cancel of a canceled verification changes nothing: with a fresh key
// each time, it keeps no answer (14,000 of them kept 10 MB for a day),
// while the cancel that did end the verification is still replayed.
func TestIdempotencyKeepsNoUnchangedCancel(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	path := "/v1/verifications/" + v.ID + "/cancel"
	first := serveKey(f.h, testKeys[0], http.MethodPost, path, "", "c-0")
	if first.Code != http.StatusOK {
		t.Fatal(first.Code, first.Body)
	}
	for i := 1; i <= 50; i++ {
		w := serveKey(f.h, testKeys[0], http.MethodPost, path, "", fmt.Sprintf("c-%d", i))
		if w.Code != http.StatusOK || w.Header().Get("Idempotent-Replayed") != "" || w.Body.String() != first.Body.String() {
			t.Fatalf("cancel %d: %d %v %s", i, w.Code, w.Header(), w.Body)
		}
	}
	if n := len(f.RDB.Keys(context.Background(), "otp:idem:*").Val()); n != 1 {
		t.Fatalf("%d idempotency keys after 50 cancels that changed nothing, want the first cancel's alone", n)
	}
	// A retry of a cancel that changed nothing runs again, and answers alike.
	if w := serveKey(f.h, testKeys[0], http.MethodPost, path, "", "c-1"); w.Code != http.StatusOK ||
		w.Header().Get("Idempotent-Replayed") != "" || w.Body.String() != first.Body.String() {
		t.Fatalf("retry of c-1: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := serveKey(f.h, testKeys[0], http.MethodPost, path, "", "c-0"); w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the cancel that changed something is not replayed: %d %v", w.Code, w.Header())
	}
}

// An API key at its cap of kept answers (API_KEY_IDEMPOTENCY_KEYS) keeps
// no more: a new keyed request is refused before it runs, with the wait;
// the kept answers are still replayed, and requests without a key, or
// another API key's, still run.
func TestIdempotencyCapKeepsNoMore(t *testing.T) {
	f := fixtureOf(t, app.Options{Policy: testPolicy, Log: testLogger(t), IdempotencyKeys: 2}, nil)
	start := func(apiKey, to, key string) *httptest.ResponseRecorder {
		return serveKey(f.h, apiKey, http.MethodPost, "/v1/verifications", `{"to":"`+to+`"}`, key)
	}
	answers := func() int {
		n := 0
		for _, k := range f.RDB.Keys(context.Background(), "otp:idem:*").Val() {
			if !strings.HasSuffix(k, ":kept") {
				n++
			}
		}
		return n
	}
	first := start(testKeys[0], "+14155550101", "k1")
	if first.Code != http.StatusAccepted || start(testKeys[0], "+14155550102", "k2").Code != http.StatusAccepted {
		t.Fatal("the first two keyed starts")
	}
	w := start(testKeys[0], "+14155550103", "k3")
	if p := wantProblem(t, w, http.StatusTooManyRequests, "rate_limited"); p.Limit != "idempotency_keys" || p.RetryAfter < 1 ||
		w.Header().Get("Retry-After") == "" {
		t.Fatalf("a third: %s", w.Body)
	}
	if n := answers(); n != 2 {
		t.Fatalf("%d answers kept, want the cap's 2", n)
	}
	if w := start(testKeys[0], "+14155550101", "k1"); w.Header().Get("Idempotent-Replayed") != "true" || w.Body.String() != first.Body.String() {
		t.Fatalf("a replay at the cap: %d %v", w.Code, w.Header())
	}
	// The refused request did not run: its number has no verification.
	wantProblem(t, f.do("POST", "/v1/verifications/check", obj{"to": "+14155550103", "code": "123456"}), http.StatusNotFound, "not_found")
	if w := serve(f.h, http.MethodPost, "/v1/verifications", obj{"to": "+14155550103"}); w.Code != http.StatusAccepted {
		t.Fatalf("without a key: %d %s", w.Code, w.Body)
	}
	if w := start(testKeys[1], "+14155550104", "k3"); w.Code != http.StatusAccepted {
		t.Fatalf("another API key: %d %s", w.Code, w.Body)
	}
}

func TestIdempotencyKeyHeader(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		key  []string
	}{
		{"empty", []string{""}},
		{"empty string", []string{`""`}},
		{"twice", []string{"a", "b"}},
		{"unclosed", []string{`"abc`}},
		{"after the quote", []string{`"abc"d`}},
		{"bad escape", []string{`"a\nb"`}},
		{"space in a bare key", []string{"a b"}},
		{"comma", []string{"a,b"}},
		{"not ASCII", []string{"clé"}},
		{"control", []string{"\"a\x01\""}},
		{"too long", []string{strings.Repeat("k", 256)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serveKey(f.h, testKeys[0], http.MethodPost, "/v1/verifications", `{"to":"`+phone+`"}`, tc.key...)
			wantProblem(t, w, http.StatusBadRequest, "invalid_idempotency_key")
		})
	}
	if n := len(f.RDB.Keys(context.Background(), "*").Val()); n != 0 {
		t.Fatalf("a refused key left %d keys", n)
	}
}

func TestParseIdempotencyKey(t *testing.T) {
	for in, want := range map[string]string{
		`"abc"`:                   "abc",
		`abc`:                     "abc",
		` "a b" `:                 "a b",
		`"a\"b\\c"`:               `a"b\c`,
		`550e8400-e29b-41d4-a716`: "550e8400-e29b-41d4-a716",
		strings.Repeat("k", 255):  strings.Repeat("k", 255),
	} {
		if got, err := parseIdempotencyKey([]string{in}); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzParseIdempotencyKey: any header value is a key of 1 to 255 printable
// ASCII characters, or an error; never a panic. A quoted key reads back.
func FuzzParseIdempotencyKey(f *testing.F) {
	for _, s := range []string{`"abc"`, "abc", `"a\"b"`, `""`, `"`, `\`, "a b", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, err := parseIdempotencyKey([]string{v})
		if err != nil {
			return
		}
		if len(key) < 1 || len(key) > maxIdempotencyKey {
			t.Fatalf("%q: key of %d bytes", v, len(key))
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("%q: byte %#x in the key", v, key[i])
			}
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
		if back, err := parseIdempotencyKey([]string{quoted}); err != nil || back != key {
			t.Fatalf("%q quoted as %q reads %q, %v", key, quoted, back, err)
		}
	})
}
