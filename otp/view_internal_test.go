package otp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestUnpackView(t *testing.T) {
	m, err := unpackView("to:12:+14155552671st:1:pi1:3:a:bn:0:")
	if err != nil || len(m) != 4 || m["to"] != "+14155552671" || m["st"] != "p" || m["i1"] != "a:b" || m["n"] != "" {
		t.Fatalf("%q %v", m, err)
	}
	if m, err := unpackView(""); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
	for _, bad := range []string{"to", "to:", "to:x:", "to:-1:", "to:5:abc", "to:1:ab"} {
		if _, err := unpackView(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzUnpackView: any reply is a map or an error, never a panic, and a
// packed map reads back.
func FuzzUnpackView(f *testing.F) {
	for _, s := range []string{"", "a:1:b", "a:0:", "x:3:a:bq:1:z", "a:99:b", "a:-1:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := unpackView(s)
		if err != nil {
			return
		}
		for k, v := range m {
			if len(k) > len(s) || len(v) > len(s) {
				t.Fatalf("%q: %q=%q longer than the input", s, k, v)
			}
		}
	})
}

// The pooled HMACs compute what a fresh hmac.New does (stored MACs and
// tags must not change), concurrently too; codes are n digits, uniform.
func TestCodecHashesAreStable(t *testing.T) {
	secret := []byte("codec-test-secret-codec-test-secret-0123")
	c, err := NewCodec(secret, 6, nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(label string, parts ...string) []byte {
		m := hmac.New(sha256.New, derive(secret, label))
		m.Write([]byte(strings.Join(parts, "\x00")))
		return m.Sum(nil)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				e164 := fmt.Sprintf("+1415555%04d", g*1000+i)
				tag := c.Tag(e164)
				if tag != hex.EncodeToString(fresh("otp/number-tag/v1", e164)[:tagBytes]) {
					t.Errorf("tag of %s changed", e164)
				}
				code := fmt.Sprintf("%06d", i)
				if c.MAC(tag, code) != string(fresh("otp/code-mac/v1", tag, code)[:macBytes]) {
					t.Errorf("MAC of %s changed", code)
				}
			}
		}()
	}
	wg.Wait()
	counts := map[byte]int{}
	for range 5000 {
		code, err := c.NewCode()
		if err != nil || len(code) != 6 {
			t.Fatalf("%q %v", code, err)
		}
		for i := range code {
			if code[i] < '0' || code[i] > '9' {
				t.Fatalf("code %q", code)
			}
			counts[code[i]]++
		}
	}
	for d, n := range counts {
		if n < 2600 || n > 3400 { // 3000 expected per digit
			t.Errorf("digit %c appears %d times in 30,000", d, n)
		}
	}
}
