package redistest

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"
)

// StartReplica launches a redis-server that replicates primary, and waits
// until it acknowledges a write (WAIT 1). Start the primary with
// "--repl-diskless-sync-delay", "0", or the first sync waits 5 seconds.
func StartReplica(primary *Server) (*Server, error) {
	host, port, err := net.SplitHostPort(primary.Addr)
	if err != nil {
		return nil, err
	}
	r, err := Start("--replicaof", host, port)
	if err != nil {
		return nil, err
	}
	c := primary.Client()
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx := context.Background()
		c.Set(ctx, "redistest:replica", "1", time.Second)
		if n, err := c.Wait(ctx, 1, 100*time.Millisecond).Result(); err == nil && n == 1 {
			return r, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Close()
	return nil, fmt.Errorf("redistest: the replica of %s did not come online", primary.Addr)
}

// Pause stops the server's process (SIGSTOP): it keeps its connections
// but answers nothing, as a replica that hangs or lags far behind does.
// Resume lets it go on.
func (s *Server) Pause() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }
