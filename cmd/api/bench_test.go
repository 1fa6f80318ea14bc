package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/otpd/otpd/otp"
)

// The hot paths through the real router and a real (throw-away) Redis, one
// request at a time: latency and allocations per request, Redis included.
func BenchmarkSendHandler(b *testing.B) { benchmarkSends(b, false) }

// benchmarkSends starts a verification for a new number per request, with
// or without an Idempotency-Key.
func benchmarkSends(b *testing.B, withKey bool) *fixture {
	f := benchFixture(b, testPolicy)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := []byte(fmt.Sprintf(`{"to":"+1415%07d"}`, 2000000+i))
		req := httptest.NewRequest("POST", "/v1/verifications", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKeys[0])
		if withKey {
			req.Header.Set("Idempotency-Key", fmt.Sprintf(`"%08d-2a47-4c1b-9d56-0b7f5f3c1a2e"`, i))
		}
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	return f
}

// BenchmarkCheckHandler measures checks that run the whole check script:
// wrong codes on a verification whose attempts never run out (every answer
// 200 valid:false), and right codes, each approving its own verification.
// A refusal (a 429 once attempts run out) would measure a shorter path, so
// any other answer ends the benchmark.
func BenchmarkCheckHandler(b *testing.B) {
	check := func(b *testing.B, f *fixture, body []byte, valid bool) {
		req := httptest.NewRequest("POST", "/v1/verifications/check", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKeys[0])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(fmt.Sprintf(`"valid":%v`, valid))) {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.Run("wrong", func(b *testing.B) {
		p := testPolicy
		p.MaxChecks = math.MaxInt32
		f := benchFixture(b, p)
		v := f.start(b, phone)
		body := []byte(`{"id":"` + v.ID + `","code":"` + wrong(f.liveCode(b, v.ID)) + `"}`)
		b.ReportAllocs()
		for b.Loop() {
			check(b, f, body, false)
		}
	})
	b.Run("right", func(b *testing.B) {
		f := benchFixture(b, testPolicy)
		bodies := make([][]byte, b.N)
		for i := range bodies {
			v := f.start(b, fmt.Sprintf("+1415%07d", 2000000+i))
			bodies[i] = []byte(`{"id":"` + v.ID + `","code":"` + f.liveCode(b, v.ID) + `"}`)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			check(b, f, bodies[i], true)
		}
	})
}

// BenchmarkSendHandlerIdempotent is BenchmarkSendHandler with an
// Idempotency-Key on every request: the difference is the key's claim (one
// round trip before the answer) and keeping the answer (one after it).
// It reports the Redis memory of one kept answer.
func BenchmarkSendHandlerIdempotent(b *testing.B) {
	f := benchmarkSends(b, true)
	b.StopTimer()
	ctx := context.Background()
	if keys := f.RDB.Keys(ctx, "otp:idem:*").Val(); len(keys) > 0 {
		b.ReportMetric(float64(f.RDB.MemoryUsage(ctx, keys[0]).Val()), "redis-B/key")
	}
}

// BenchmarkIdempotentReplay is a retry answered from the kept answer.
func BenchmarkIdempotentReplay(b *testing.B) {
	f := benchFixture(b, testPolicy)
	body := []byte(`{"to":"` + phone + `"}`)
	serveOnce := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/verifications", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKeys[0])
		req.Header.Set("Idempotency-Key", `"replayed"`)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		return w
	}
	if w := serveOnce(); w.Code != http.StatusAccepted {
		b.Fatal(w.Code, w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if w := serveOnce(); w.Code != http.StatusAccepted {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// benchFixture is the fixture whose routes run over the service exactly
// as the api wires it: without the tests' queue that records each job.
func benchFixture(b *testing.B, p otp.Policy) *fixture {
	f := newFixtureWith(b, p, discardLogger())
	f.h = newHandler(f.deps(discardLogger(), f.Parts.Service), nil)
	return f
}
