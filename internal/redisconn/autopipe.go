package redisconn

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/stack"
)

// Why: go-redis writes and reads each command on its own, one system call
// each way a command, and those calls are most of what a request costs the
// api, the worker and Redis itself (a round trip of an empty script costs
// Redis ~7 µs, the script's own work under 1 µs). Scripts that concurrent
// requests run at the same moment are sent together instead, as one
// pipeline on one connection: one write and one read for all of them, on
// both sides. go-redis has no automatic pipelining, so this hook adds it.
//
// Only scripts are batched, alone or as a pipeline of scripts only (the
// send's limits, guard and start): they are the hot path (ours and
// asynq's), and none blocks, so one slow command cannot hold others back
// behind it the way a blocking pop would. A caller's pipeline stays in one
// piece and in order inside a batch. A transaction never qualifies: go-redis
// hands it over wrapped in MULTI and EXEC, which are not scripts. A command alone, with no other in flight, goes
// at once: batching never waits to fill a batch, so it adds no latency at
// low load. Each command keeps its own result and error; a connection
// error fails the batch's commands, each sent once (no retries, as New
// promises).

const (
	// maxLanes is how many batches may be in flight at once: each lane is
	// one pipeline on one pooled connection.
	maxLanes = 8
	// maxBatch bounds a batch's commands, so one write stays a modest size
	// (a longer pipeline goes on its own).
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

// call is one caller's command, or its pipeline's commands.
type call struct {
	ctx  context.Context
	cmds []redis.Cmder
	done chan struct{}
}

// ownBatch marks the context of a batch's own pipeline, which the hook
// lets through: it is what the batching sends.
type ownBatch struct{}

func (*autoPipe) DialHook(next redis.DialHook) redis.DialHook { return next }

func (a *autoPipe) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(ownBatch{}) != nil || len(cmds) == 0 || len(cmds) > maxBatch {
			return next(ctx, cmds)
		}
		for _, cmd := range cmds {
			if !batchable[cmd.Name()] {
				return next(ctx, cmds)
			}
		}
		a.wait(ctx, cmds)
		for _, cmd := range cmds {
			if err := cmd.Err(); err != nil {
				return err // as go-redis's Exec: the first command's error
			}
		}
		return nil
	}
}

func (a *autoPipe) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !batchable[cmd.Name()] {
			return next(ctx, cmd)
		}
		a.wait(ctx, []redis.Cmder{cmd})
		return cmd.Err()
	}
}

// wait queues cmds for the next batch and returns once they are answered.
func (a *autoPipe) wait(ctx context.Context, cmds []redis.Cmder) {
	// A request that is gone already sends nothing, as go-redis would not.
	if err := ctx.Err(); err != nil {
		for _, cmd := range cmds {
			cmd.SetErr(err)
		}
		return
	}
	c := &call{ctx: ctx, cmds: cmds, done: make(chan struct{})}
	a.mu.Lock()
	a.pending = append(a.pending, c)
	if a.lanes < maxLanes {
		a.lanes++
		go a.lane()
	}
	a.mu.Unlock()
	// Not on ctx: the commands are in a batch already, and their answers
	// come within the client's timeouts.
	<-c.done
}

// lane sends batches while commands wait, then ends: no goroutine lives
// longer than the work.
func (a *autoPipe) lane() {
	// A lane goes deep into go-redis at once, on a new goroutine: in the
	// worker, whose average goroutine is small, growing its stack on the
	// way was 13% of the CPU (make bench's send profile).
	stack.Grow(maxLanes)
	for {
		a.mu.Lock()
		if len(a.pending) == 0 {
			a.lanes--
			a.mu.Unlock()
			return
		}
		n, cmds := 1, len(a.pending[0].cmds)
		for n < len(a.pending) && cmds+len(a.pending[n].cmds) <= maxBatch {
			cmds += len(a.pending[n].cmds)
			n++
		}
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
		for _, cmd := range c.cmds {
			_ = p.Process(c.ctx, cmd)
		}
	}
	// One caller's cancellation must not fail the others' commands.
	_, _ = p.Exec(context.WithValue(context.WithoutCancel(batch[0].ctx), ownBatch{}, true))
}
