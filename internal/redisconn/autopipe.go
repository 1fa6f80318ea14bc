package redisconn

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Why: go-redis writes and reads each command on its own, one system call
// each way a command, and those calls are most of what a request costs the
// api, the worker and Redis itself (a round trip of an empty script costs
// Redis ~7 µs, the script's own work under 1 µs). Scripts that concurrent
// requests run at the same moment are sent together instead, as one
// pipeline on one connection: one write and one read for all of them, on
// both sides. go-redis has no automatic pipelining, so this hook adds it.
//
// Only scripts are batched: they are the hot path (ours and asynq's), and
// none blocks, so one slow command cannot hold others back behind it the
// way a blocking pop would. A command alone, with no other in flight, goes
// at once: batching never waits to fill a batch, so it adds no latency at
// low load. Each command keeps its own result and error; a connection
// error fails the batch's commands, each sent once (no retries, as New
// promises).

const (
	// maxLanes is how many batches may be in flight at once: each lane is
	// one pipeline on one pooled connection.
	maxLanes = 8
	// maxBatch bounds a batch, so one write stays a modest size.
	maxBatch = 64
)

// batchable names the commands that may share a pipeline.
var batchable = map[string]bool{"evalsha": true, "eval": true, "evalsha_ro": true, "eval_ro": true}

// autoPipe is a go-redis hook that sends concurrent scripts as pipelines.
type autoPipe struct {
	pipeline func() redis.Pipeliner
	mu       sync.Mutex
	pending  []*call
	lanes    int
}

type call struct {
	ctx  context.Context
	cmd  redis.Cmder
	done chan struct{}
}

func (*autoPipe) DialHook(next redis.DialHook) redis.DialHook { return next }

func (*autoPipe) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (a *autoPipe) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !batchable[cmd.Name()] {
			return next(ctx, cmd)
		}
		c := &call{ctx: ctx, cmd: cmd, done: make(chan struct{})}
		a.mu.Lock()
		a.pending = append(a.pending, c)
		if a.lanes < maxLanes {
			a.lanes++
			go a.lane()
		}
		a.mu.Unlock()
		// Not on ctx: the command is in a batch already, and its answer
		// comes within the client's timeouts.
		<-c.done
		return cmd.Err()
	}
}

// lane sends batches while commands wait, then ends: no goroutine lives
// longer than the work.
func (a *autoPipe) lane() {
	for {
		a.mu.Lock()
		if len(a.pending) == 0 {
			a.lanes--
			a.mu.Unlock()
			return
		}
		n := min(len(a.pending), maxBatch)
		batch := make([]*call, n)
		copy(batch, a.pending)
		a.pending = a.pending[n:]
		if len(a.pending) == 0 {
			a.pending = nil // let the array go
		}
		a.mu.Unlock()
		a.send(batch)
	}
}

// send runs a batch as one pipeline; each command gets its own answer.
func (a *autoPipe) send(batch []*call) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
	p := a.pipeline()
	for _, c := range batch {
		_ = p.Process(c.ctx, c.cmd)
	}
	// One caller's cancellation must not fail the others' commands.
	_, _ = p.Exec(context.WithoutCancel(batch[0].ctx))
}
