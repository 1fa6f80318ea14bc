package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The hot paths through the real router and a real (throw-away) Redis, one
// request at a time: latency and allocations per request, Redis included.
func BenchmarkSendHandler(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := []byte(fmt.Sprintf(`{"to":"+1415%07d"}`, 2000000+i))
		req := httptest.NewRequest("POST", "/v1/verifications", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKeys[0])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

func BenchmarkCheckHandler(b *testing.B) {
	f := newFixture(b)
	v := f.start(b, phone)
	body := []byte(`{"id":"` + v.ID + `","code":"000000"}`)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/verifications/check", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKeys[0])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK && w.Code != http.StatusTooManyRequests {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
