package proctest

import (
	"strings"
	"testing"
	"time"
)

func TestProcLifecycle(t *testing.T) {
	p := Start(t, "echo", "/bin/sh", nil, "-c", "echo hello; exit 3")
	err, exited := p.Wait(10 * time.Second)
	if !exited || err == nil || !strings.Contains(p.Output(), "hello") {
		t.Fatalf("exit %v (exited %v), output %q", err, exited, p.Output())
	}

	s := Start(t, "sleeper", "/bin/sh", nil, "-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.Output(), "ready"); {
		if s.Exited() || time.Now().After(deadline) {
			t.Fatalf("sleeper not ready: %q", s.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	k := Start(t, "killed", "/bin/sh", nil, "-c", "exec sleep 30")
	k.Kill()
	if err, exited := k.Wait(0); !exited || err == nil {
		t.Fatalf("after Kill: %v %v", err, exited)
	}
	k.Kill() // twice is fine
}

func TestFreePort(t *testing.T) {
	if p := FreePort(t); p <= 0 || p > 65535 {
		t.Fatalf("port %d", p)
	}
	if a := FreeAddr(t); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("addr %s", a)
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{{"abc", 5, "abc"}, {"abcdef", 3, "…def"}, {"", 1, ""}} {
		if got := Tail(tc.in, tc.n); got != tc.want {
			t.Errorf("Tail(%q, %d) = %q", tc.in, tc.n, got)
		}
	}
}
