package otp_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/otpd/otpd/otp"
)

var testSecret = []byte("test-secret-test-secret-test-secret-0123")

func newCodec(t testing.TB, length int) *otp.Codec {
	t.Helper()
	c, err := otp.NewCodec(testSecret, length, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewCodecRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret []byte
		length int
	}{
		{"short secret", []byte("short"), 6},
		{"length 3", testSecret, 3},
		{"length 11", testSecret, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := otp.NewCodec(tc.secret, tc.length, nil); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestCodeFormat(t *testing.T) {
	for _, n := range []int{4, 6, 8, 10} {
		c := newCodec(t, n)
		for i := 0; i < 200; i++ {
			code, err := c.NewCode()
			if err != nil {
				t.Fatal(err)
			}
			if !c.ValidCodeFormat(code) {
				t.Fatalf("length %d: bad code %q", n, code)
			}
		}
	}
}

// Each digit position must be close to uniform: a modulo-biased generator
// over-represents low digits in the leading position. 60,000 draws give
// each digit ~6,000 hits; a chi-square above 40 (9 degrees of freedom) has a
// probability under 1e-5 for a fair generator.
func TestCodeDistribution(t *testing.T) {
	c := newCodec(t, 6)
	const draws = 60000
	var counts [6][10]int
	for i := 0; i < draws; i++ {
		code, _ := c.NewCode()
		for p := 0; p < 6; p++ {
			counts[p][code[p]-'0']++
		}
	}
	for p := 0; p < 6; p++ {
		chi := 0.0
		for d := 0; d < 10; d++ {
			diff := float64(counts[p][d]) - draws/10.0
			chi += diff * diff / (draws / 10.0)
		}
		if chi > 40 || math.IsNaN(chi) {
			t.Errorf("position %d: chi-square %.1f, counts %v", p, chi, counts[p])
		}
	}
}

func TestMACIsKeyedAndBound(t *testing.T) {
	a := newCodec(t, 6)
	other, _ := otp.NewCodec(bytes.Repeat([]byte("x"), 32), 6, nil)
	tag := a.Tag("+14155552671")
	if first, again := a.MAC(tag, "123456"), a.MAC(tag, "123456"); first != again {
		t.Fatal("MAC not deterministic")
	}
	for name, mac := range map[string]string{
		"other code":   a.MAC(tag, "123457"),
		"other number": a.MAC(a.Tag("+14155552672"), "123456"),
		"other secret": other.MAC(tag, "123456"),
	} {
		if mac == a.MAC(tag, "123456") {
			t.Errorf("%s: same MAC", name)
		}
	}
	if strings.Contains(a.MAC(tag, "123456"), "123456") {
		t.Fatal("MAC contains the code")
	}
}

func TestSealOpen(t *testing.T) {
	c := newCodec(t, 6)
	id, _ := c.NewID(c.Tag("+14155552671"))
	sealed, err := c.Seal(id, "042042")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "042042") {
		t.Fatal("ciphertext contains the code")
	}
	got, err := c.Open(id, sealed)
	if err != nil || got != "042042" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := c.NewID(c.Tag("+14155552671"))
	if _, err := c.Open(other, sealed); err == nil {
		t.Fatal("ciphertext opened under another verification id")
	}
	wrongKey, _ := otp.NewCodec(bytes.Repeat([]byte("y"), 32), 6, nil)
	if _, err := wrongKey.Open(id, sealed); err == nil {
		t.Fatal("ciphertext opened under another secret")
	}
	if _, err := c.Open(id, "garbage that is longer than a tag"); err == nil {
		t.Fatal("garbage opened")
	}
	// The id is the nonce: one code under two ids gives two ciphertexts.
	if again, _ := c.Seal(other, "042042"); again == sealed {
		t.Fatal("same ciphertext under two ids")
	}
	for _, bad := range []string{"", "VE123", "XX" + id[2:], id[:len(id)-1] + "g"} {
		if _, err := c.Seal(bad, "042042"); err == nil {
			t.Errorf("sealed under malformed id %q", bad)
		}
		if _, err := c.Open(bad, sealed); err == nil {
			t.Errorf("opened under malformed id %q", bad)
		}
	}
}

func TestIDs(t *testing.T) {
	c := newCodec(t, 6)
	tag := c.Tag("+14155552671")
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id, _ := c.NewID(tag)
		if seen[id] {
			t.Fatal("duplicate id")
		}
		seen[id] = true
		got, ok := otp.TagOfID(id)
		if !ok || got != tag || len(id) != otp.IDLen {
			t.Fatalf("TagOfID(%q) = %q, %v", id, got, ok)
		}
	}
	for _, bad := range []string{"", "VE", "XX" + strings.Repeat("a", 32), "VE" + strings.Repeat("A", 32),
		"VE" + strings.Repeat("a", 31), "VE" + strings.Repeat("a", 31) + "}", "VE{" + strings.Repeat("a", 31)} {
		if _, ok := otp.TagOfID(bad); ok {
			t.Errorf("TagOfID(%q) accepted", bad)
		}
	}
}

func TestValidCodeFormat(t *testing.T) {
	c := newCodec(t, 6)
	for in, want := range map[string]bool{
		"123456": true, "000000": true, "12345": false, "1234567": false,
		"12345a": false, " 12345": false, "１２３４５６": false, "": false,
	} {
		if got := c.ValidCodeFormat(in); got != want {
			t.Errorf("ValidCodeFormat(%q) = %v", in, got)
		}
	}
}

func BenchmarkNewCodeAndMAC(b *testing.B) {
	c := newCodec(b, 6)
	tag := c.Tag("+14155552671")
	b.ReportAllocs()
	for b.Loop() {
		code, _ := c.NewCode()
		_ = c.MAC(tag, code)
	}
}
