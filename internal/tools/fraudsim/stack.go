package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "fraudsimtoken0123456789"
)

// stack is what the simulation runs against: a throw-away Redis, the fake
// Twilio, the api and the worker, all on 127.0.0.1.
type stack struct {
	redis       *redistest.Server
	fake        *twiliofake.Server
	api, worker *proctest.Proc
	base        string // the api's URL
	built       string // a directory of binaries built for this run, removed at the end
}

// quiet drops go-redis's log: redistest's readiness probe logs every
// refused dial while the server starts.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func startStack(ctx context.Context, o options, settings map[string]string) (st *stack, err error) {
	redis.SetLogger(quiet{})
	st = &stack{}
	defer func() {
		if err != nil {
			st.stop()
		}
	}()
	if st.redis, err = redistest.Start(); err != nil {
		return st, err
	}
	st.fake = twiliofake.Start(twilioSID, twilioToken)
	st.fake.SetLatency(o.twilioLatency)
	bins := o.bins
	if bins == "" {
		if st.built, err = proctest.Build(false, "api", "worker"); err != nil {
			return st, err
		}
		bins = st.built
	}
	if bins, err = filepath.Abs(bins); err != nil { // the binaries run in another directory
		return st, err
	}
	addr, err := proctest.NewAddr()
	if err != nil {
		return st, err
	}
	vars := proctest.ProductionEnv(st.redis.URL(), addr, st.fake)
	for k, v := range settings {
		vars[k] = v
	}
	env := proctest.Environ(vars)
	// os.TempDir: no stray .env is read.
	if st.api, err = proctest.Launch("api", filepath.Join(bins, "api"), os.TempDir(), env, nil); err != nil {
		return st, err
	}
	if st.worker, err = proctest.Launch("worker", filepath.Join(bins, "worker"), os.TempDir(), env, nil); err != nil {
		return st, err
	}
	st.base = "http://" + addr
	return st, proctest.WaitHTTP(st.base+"/healthz", 20*time.Second, st.exited)
}

func (st *stack) exited() error {
	var procs []*proctest.Proc
	for _, p := range []*proctest.Proc{st.api, st.worker} {
		if p != nil {
			procs = append(procs, p)
		}
	}
	return proctest.Gone(procs...)()
}

func (st *stack) stop() {
	for _, p := range []*proctest.Proc{st.api, st.worker} {
		if p != nil {
			p.Interrupt(30 * time.Second)
		}
	}
	if st.fake != nil {
		st.fake.Close()
	}
	if st.redis != nil {
		st.redis.Close()
	}
	if st.built != "" {
		os.RemoveAll(st.built)
	}
}
