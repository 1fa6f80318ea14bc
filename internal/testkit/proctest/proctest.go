// Package proctest builds the project's commands and runs them, and other
// programs such as redis-server, as processes of a test: output captured,
// killed by PID when the test ends, their output shown when it failed. The
// end-to-end and Redis topology tests share it.
package proctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the named commands (cmd/<name>) into a new temporary
// directory and returns it; the caller removes it.
func Build(race bool, names ...string) (dir string, err error) {
	dir, err = os.MkdirTemp("", "otpd-bin-")
	if err != nil {
		return "", err
	}
	for _, name := range names {
		args := []string{"build", "-o", filepath.Join(dir, name)}
		if race {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "github.com/otpd/otpd/cmd/"+name)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("build %s: %w", name, err)
		}
	}
	return dir, nil
}

// Proc is a process a test started.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	echo io.Writer // also gets the output, when not nil
	done chan struct{}
	err  error // the exit error, once done is closed
	kill sync.Once
}

// Start runs bin with args in a fresh working directory (so no stray .env
// is read). env nil means the test's own environment. The process is
// killed when the test ends, unless it ended before.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Proc {
	t.Helper()
	p, err := Launch(name, bin, t.TempDir(), env, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- %s (pid %d) output, last 8 KB:\n%s", name, p.cmd.Process.Pid, Tail(p.Output(), 8192))
		}
	})
	return p
}

// Launch runs bin with args in dir, outside a test (the load test and the
// fraud simulation run the binaries too). Its output is kept, and also
// copied to echo when echo is not nil. The caller stops it.
func Launch(name, bin, dir string, env []string, echo io.Writer, args ...string) (*Proc, error) {
	if filepath.Base(bin) != bin { // a path, relative to here, not to dir
		abs, err := filepath.Abs(bin)
		if err != nil {
			return nil, err
		}
		bin = abs
	}
	p := &Proc{Name: name, cmd: exec.Command(bin, args...), done: make(chan struct{}), echo: echo}
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	// A child it left behind may hold the output open: do not wait for it.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Interrupt sends SIGINT, as a user's Ctrl-C, and kills the process if it
// has not ended after d.
func (p *Proc) Interrupt(d time.Duration) {
	p.Signal(os.Interrupt)
	if _, exited := p.Wait(d); !exited {
		p.Kill()
	}
}

func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.echo != nil {
		_, _ = p.echo.Write(b)
	}
	return p.out.Write(b)
}

// Output is everything the process wrote so far, stdout and stderr.
func (p *Proc) Output() string { p.mu.Lock(); defer p.mu.Unlock(); return p.out.String() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Wait waits up to d for the process to exit and gives its exit error
// (nil for status 0); exited is false when it still runs.
func (p *Proc) Wait(d time.Duration) (err error, exited bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		// Both may be ready (d = 0): the process's end wins.
		select {
		case <-p.done:
		default:
			return nil, false
		}
	}
	return p.err, true
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	_, exited := p.Wait(0)
	return exited
}

// Kill sends SIGKILL, once, and waits for the process to end.
func (p *Proc) Kill() {
	p.kill.Do(func() { _ = p.cmd.Process.Kill() })
	<-p.done
}

// Stop sends SIGTERM and gives the exit error; the test fails if the
// process is still running 30s later.
func (p *Proc) Stop(t testing.TB) error {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	err, exited := p.Wait(30 * time.Second)
	if !exited {
		t.Fatalf("%s did not stop within 30s of SIGTERM", p.Name)
	}
	return err
}

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// FreeAddr is a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := NewAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// NewAddr is FreeAddr outside a test.
func NewAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreePort is FreeAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(FreeAddr(t))
	var n int
	fmt.Sscan(port, &n)
	return n
}

// WaitFor polls cond every 50 ms until it holds; the test fails once d has
// passed without it.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitHTTP waits up to d for GET url to answer 200. It gives up early with
// gone's error once gone (if not nil) returns one: the server's process
// ended, say.
func WaitHTTP(url string, d time.Duration, gone func() error) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(d)
	var last error
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %d", url, resp.StatusCode)
		}
		last = err
		if gone != nil {
			if err := gone(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", url, d, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Gone is a WaitHTTP gone func: an error once any of procs has exited.
func Gone(procs ...*Proc) func() error {
	return func() error {
		for _, p := range procs {
			if p.Exited() {
				return fmt.Errorf("%s exited:\n%s", p.Name, Tail(p.Output(), 4096))
			}
		}
		return nil
	}
}

// Buffer is a bytes.Buffer safe for a process (or a goroutine) to write
// while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Need is the path of a program the test needs. Without it the test skips
// on a developer's machine, but fails under CI (CI set): .ci/run installs
// every program a test needs, and a skip there would pass what never ran.
// install says how to get it.
func Need(t testing.TB, program, install string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		Lack(t, fmt.Sprintf("%s is not installed (%s)", program, install))
	}
	return p
}

// Lack ends a test that cannot run here, for why: a skip on a developer's
// machine, a failure under CI.
func Lack(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; under CI every test must run", why)
	}
	t.Skip(why)
}

// Returned is a WaitHTTP gone func for a server run in-process: an error
// once its run function has returned, on errc, before it served.
func Returned(errc <-chan error) func() error {
	return func() error {
		select {
		case err := <-errc:
			return fmt.Errorf("run returned before serving: %v", err)
		default:
			return nil
		}
	}
}

// RunFunc is a command's run, as its main calls it.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// RunInProcess runs a command's run in a goroutine, with env as its whole
// environment, in a fresh working directory (run reads ./.env when there
// is one: a developer's must not change the test); the channel gets run's
// result.
func RunInProcess(t *testing.T, ctx context.Context, run RunFunc, env map[string]string, stdout io.Writer) <-chan error {
	t.Helper()
	t.Chdir(t.TempDir())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, nil, func(k string) string { return env[k] }, stdout) }()
	return errc
}
