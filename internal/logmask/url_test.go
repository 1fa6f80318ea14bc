package logmask

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"redis-sentinel://app:masterpw@h1:26379,h2:26379/0?master=mymaster&sentinel_password=sentpw",
			"redis-sentinel://app:xxxxx@h1:26379,h2:26379/0?master=mymaster&sentinel_password=xxxxx"},
		{"redis-cluster://:masterpw@h1:7000,h2:7001", "redis-cluster://:xxxxx@h1:7000,h2:7001"},
		{"redis://:masterpw@localhost:6379/0", "redis://:xxxxx@localhost:6379/0"},
		{"redis-sentinel://h1:26379/0?master=mymaster", "redis-sentinel://h1:26379/0?master=mymaster"},
		// A receiver's token, in whatever parameter it rides.
		{"https://x.example/hook?token=s3cret", "https://x.example/hook?token=xxxxx"},
		{"https://x.example/hook?a=1&sig=s3cret&a=2", "https://x.example/hook?a=xxxxx&sig=xxxxx&a=xxxxx"},
		{"https://x.example/hook?s3cret", "https://x.example/hook?xxxxx"},
		{"https://x.example/hook?t=s3cret%zz&&u", "https://x.example/hook?t=xxxxx&&xxxxx"},
		{"https://user:s3cret@x.example/hook#s3cret", "https://user:xxxxx@x.example/hook#xxxxx"},
		{"https://x.example/hook", "https://x.example/hook"},
		{"http://127.0.0.1:9000/", "http://127.0.0.1:9000/"},
		{"", ""},
		{"http://x.example/%zz?token=s3cret", "(unparseable)"},
	} {
		if got := URL(tc.raw); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

// net/http's error for a request that found nobody quotes the URL; Error
// masks it and keeps what the error is.
func TestError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = http.Get("http://" + addr + "/hook?token=s3cret")
	if err == nil || !strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("want net/http's error quoting the URL, got %v", err)
	}
	err = Error(err)
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), addr+"/hook?token=xxxxx") {
		t.Fatalf("masked: %v", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("masking lost the cause: %v", err)
	}
	if Error(nil) != nil {
		t.Fatal("Error(nil) is not nil")
	}
	plain := errors.New("no URL here")
	if Error(plain) != plain {
		t.Fatal("an error without a URL changed")
	}
}
