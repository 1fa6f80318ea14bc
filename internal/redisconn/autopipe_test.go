package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testkit/redistest"
)

// echo answers its argument, and fails when asked to, so each caller can
// see its own answer and its own error.
var echo = redis.NewScript(`
if ARGV[1] == 'fail' then return redis.error_reply('asked to fail') end
redis.call('INCR', KEYS[1])
return ARGV[1]`)

// batched is New's client of a throw-away server, closed with the test.
func batched(t *testing.T) redis.UniversalClient {
	t.Helper()
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	c, err := New(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Scripts run at once by many callers share round trips, and each caller
// still gets its own answer or error; nothing runs twice or goes missing.
func TestConcurrentScriptsShareRoundTrips(t *testing.T) {
	c := batched(t)
	ctx := context.Background()
	// The first run finds no cached script (NOSCRIPT) and loads it.
	if got, err := echo.Run(ctx, c, []string{"n"}, "warm").Text(); err != nil || got != "warm" {
		t.Fatalf("first run: %q %v", got, err)
	}
	const callers, each = 50, 100
	reads0 := redistest.Stat(t, c, "total_reads_processed")
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				arg := fmt.Sprintf("%d-%d", g, i)
				if i%10 == 0 {
					arg = "fail"
				}
				got, err := echo.Run(ctx, c, []string{"n"}, arg).Text()
				switch {
				case arg == "fail" && (err == nil || !strings.Contains(err.Error(), "asked to fail")):
					errs <- fmt.Errorf("caller %d: want its own error, got %q %v", g, got, err)
					return
				case arg != "fail" && (err != nil || got != arg):
					errs <- fmt.Errorf("caller %d: want %q, got %q %v", g, arg, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := c.Get(ctx, "n").Int(); n != 1+callers*each*9/10 {
		t.Fatalf("the scripts ran %d times, want %d", n-1, callers*each*9/10)
	}
	// Redis read far fewer times than it ran commands: they came batched.
	if reads := redistest.Stat(t, c, "total_reads_processed") - reads0; reads > callers*each*3/4 {
		t.Fatalf("%d reads for %d scripts: not batched", reads, callers*each)
	}
}

// One caller's canceled context fails neither the batch nor the others.
func TestCanceledCallerLeavesTheBatchAlone(t *testing.T) {
	c := batched(t)
	if err := echo.Load(context.Background(), c).Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			ctx := context.Background()
			if g%2 == 0 {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				ctx = cctx
			}
			for i := range 50 {
				arg := strconv.Itoa(g*1000 + i)
				if got, err := echo.EvalSha(ctx, c, []string{"n"}, arg).Text(); g%2 == 1 && (err != nil || got != arg) {
					t.Errorf("caller %d: %q %v", g, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// Pipelines of scripts join the batches too, each kept whole and in order
// with its own answers and errors; a transaction is left to go-redis.
func TestConcurrentScriptPipelinesShareRoundTrips(t *testing.T) {
	c := batched(t)
	ctx := context.Background()
	if err := echo.Load(ctx, c).Err(); err != nil {
		t.Fatal(err)
	}
	const callers, each = 40, 50
	reads0 := redistest.Stat(t, c, "total_reads_processed")
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				args := []string{fmt.Sprintf("%d-%d-a", g, i), "fail", fmt.Sprintf("%d-%d-c", g, i)}
				p := c.Pipeline()
				cmds := make([]*redis.Cmd, len(args))
				for j, a := range args {
					cmds[j] = echo.EvalSha(ctx, p, []string{"p"}, a)
				}
				_, err := p.Exec(ctx)
				if err == nil || !strings.Contains(err.Error(), "asked to fail") {
					t.Errorf("caller %d: Exec wants the first error, got %v", g, err)
					return
				}
				for j, a := range args {
					got, err := cmds[j].Text()
					if (a == "fail") != (err != nil) || (a != "fail" && got != a) {
						t.Errorf("caller %d: command %d wants %q, got %q %v", g, j, a, got, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if n, _ := c.Get(ctx, "p").Int(); n != callers*each*2 {
		t.Fatalf("the scripts ran %d times, want %d", n, callers*each*2)
	}
	if reads := redistest.Stat(t, c, "total_reads_processed") - reads0; reads > callers*each*3/4 {
		t.Fatalf("%d reads for %d pipelines: not batched", reads, callers*each)
	}
	// A transaction's MULTI/EXEC reach go-redis as they came.
	var get *redis.StringCmd
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "p")
		get = p.Get(ctx, "p")
		return nil
	}); err != nil || get.Val() != strconv.Itoa(callers*each*2+1) {
		t.Fatalf("transaction: %q %v", get.Val(), err)
	}
}

// A pipeline longer than a batch goes on its own, whole; one whose
// caller is gone already sends nothing.
func TestLongAndCanceledPipelines(t *testing.T) {
	c := batched(t)
	ctx := context.Background()
	if err := echo.Load(ctx, c).Err(); err != nil {
		t.Fatal(err)
	}
	p := c.Pipeline()
	cmds := make([]*redis.Cmd, 3*maxBatch)
	for i := range cmds {
		cmds[i] = echo.EvalSha(ctx, p, []string{"long"}, strconv.Itoa(i))
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if got, err := cmd.Text(); err != nil || got != strconv.Itoa(i) {
			t.Fatalf("command %d: %q %v", i, got, err)
		}
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	p = c.Pipeline()
	echo.EvalSha(gone, p, []string{"gone"}, "a")
	echo.EvalSha(gone, p, []string{"gone"}, "b")
	if _, err := p.Exec(gone); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled pipeline: %v", err)
	}
	if err := echo.EvalSha(gone, c, []string{"gone"}, "c").Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled script: %v", err)
	}
	if n := c.Exists(ctx, "gone").Val(); n != 0 {
		t.Fatal("a canceled caller's scripts ran")
	}
}
