package otp

import (
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
)

// Tags, MACs and sealed codes at rest must read the same after an upgrade:
// a changed derivation label or construction would make every stored
// verification unverifiable and every id point elsewhere. The vectors were
// computed by the release that first stored them (December 2026); they are
// not computed here, so that a change to the derivation cannot change them
// with it.
func TestCodecHashesAreStable(t *testing.T) {
	c, err := NewCodec([]byte("codec-test-secret-codec-test-secret-0123"), 6, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ e164, tag, mac string }{
		{"+14155552671", "a20ccd5ec7314cfb2422", "d7cc359fb0e90bcf4df3b31a789e13a0"},
		{"+447911123456", "9134b94f5e9fa9ffd075", "3e25d8e3f121d0eb3137c5c4d949f85a"},
	} {
		if got := c.Tag(v.e164); got != v.tag {
			t.Errorf("tag of %s = %s, want %s", v.e164, got, v.tag)
		}
		if got := hex.EncodeToString([]byte(c.MAC(v.tag, "123456"))); got != v.mac {
			t.Errorf("MAC of 123456 for %s = %s, want %s", v.e164, got, v.mac)
		}
	}
	const id, sealed = "VEa20ccd5ec7314cfb24220123456789ab", "27012402593642a310292caecfeecdd62e047ab5f239"
	raw, _ := hex.DecodeString(sealed)
	if code, err := c.Open(id, string(raw)); err != nil || code != "123456" {
		t.Errorf("a code sealed by the first release opens to %q, %v", code, err)
	}
	if got, _ := c.Seal(id, "123456"); hex.EncodeToString([]byte(got)) != sealed {
		t.Errorf("seal = %x, want %s", got, sealed)
	}
}

// The pooled HMACs give the same answers from many goroutines at once.
func TestCodecHashesConcurrently(t *testing.T) {
	c, err := NewCodec([]byte("codec-test-secret-codec-test-secret-0123"), 6, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{}
	for i := range 200 {
		e164 := fmt.Sprintf("+1415555%04d", i)
		tag := c.Tag(e164)
		want[e164] = [2]string{tag, c.MAC(tag, fmt.Sprintf("%06d", i))}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 200 {
				e164 := fmt.Sprintf("+1415555%04d", i)
				tag := c.Tag(e164)
				if tag != want[e164][0] || c.MAC(tag, fmt.Sprintf("%06d", i)) != want[e164][1] {
					t.Errorf("%s hashed differently under concurrency", e164)
				}
			}
		})
	}
	wg.Wait()
}
