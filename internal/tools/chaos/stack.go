package main

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/stacktest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

const apiKey = "chaos-key-0123456789abcdef"

// stack is what one fault runs against, fresh for each fault so that the
// counts of one fault are not mixed with another's backlog: a Redis
// (standalone with AOF, or a Sentinel set), the fake Twilio, two api
// replicas and two workers, all on 127.0.0.1.
type stack struct {
	root     string // the Redis directories, removed at the end
	aof      *node
	sentinel *sentinels
	redisURL string
	fake     *twiliofake.Server
	env      map[string]string
	bins     string
	apiAddrs []string
	apis     []*proctest.Proc
	workers  []*proctest.Proc
	killed   map[*proctest.Proc]bool
}

// startStack starts the stack fault f needs: a Sentinel set or a
// standalone Redis (with AOF unless f.noAOF), f.env added to the
// environment.
func startStack(o options, f fault) (st *stack, err error) {
	st = &stack{bins: o.bins}
	defer func() {
		if err != nil {
			st.stop()
		}
	}()
	if st.root, err = os.MkdirTemp("", "otpd-chaos-"); err != nil {
		return st, err
	}
	if f.sentinel {
		if st.sentinel, err = startSentinels(st.root); err != nil {
			return st, err
		}
		st.redisURL = st.sentinel.url()
	} else {
		args := aofArgs
		if f.noAOF {
			args = func(port int, dir string) ([]string, error) {
				return serverArgs(port, dir, "--appendonly", "no"), nil
			}
		}
		if st.aof, err = startNode(st.root, "redis", args); err != nil {
			return st, err
		}
		st.redisURL = "redis://" + st.aof.addr + "/0"
	}
	st.fake = twiliofake.Start(stacktest.AccountSID, stacktest.AuthToken)
	st.fake.SetLatency(o.twilioLatency)
	// A send cut off by a killed worker counts as never sent, the case
	// where the SMS waits for the task's retry (the other, Twilio having
	// it in full, loses nothing).
	st.fake.DropAbandoned(true)
	st.env = stackEnv(o, st.redisURL, st.fake)
	maps.Copy(st.env, f.env)
	for i := 0; i < 2; i++ {
		addr, err := proctest.NewAddr()
		if err != nil {
			return st, err
		}
		st.apiAddrs = append(st.apiAddrs, addr)
		st.apis = append(st.apis, nil)
		if err := st.startAPI(i); err != nil {
			return st, err
		}
		st.workers = append(st.workers, nil)
		if err := st.startWorker(i); err != nil {
			return st, err
		}
	}
	return st, nil
}

// stackEnv is the api's and the worker's environment: production mode,
// limits raised so that they do not throttle the load (they still run).
func stackEnv(o options, redisURL string, fake *twiliofake.Server) map[string]string {
	env := proctest.ProductionEnv(redisURL, "", fake)
	maps.Copy(env, map[string]string{
		"API_KEYS": apiKey, "LOG_LEVEL": "warn", "ALLOWED_COUNTRIES": "US",
		"TWILIO_PHONE_NUMBER": stacktest.From, "OTP_TTL": o.codeLife.String(),
		"OTP_MAX_CHECKS": "100", "FAILED_CHECK_LIMIT": "100/24h", "TO_SEND_LIMIT": "1000/1h",
		"SMS_BUDGET_PER_MINUTE": "10000000", "API_KEY_SEND_LIMITS": "10000000/1s",
		"PREFIX_SEND_LIMITS": "10000000/1m", "API_KEY_WRITE_LIMITS": "10000000/1s",
		"FRAUD_MIN_SENDS": "1000000", "FRAUD_COUNTRY_MIN_SENDS": "1000000000",
	})
	return env
}

func (st *stack) base(i int) string { return "http://" + st.apiAddrs[i] }

// startAPI starts api replica i (again) and waits until it is ready.
func (st *stack) startAPI(i int) error {
	env := maps.Clone(st.env)
	env["HTTP_ADDR"] = st.apiAddrs[i]
	p, err := st.launch("api-"+strconv.Itoa(i), "api", env)
	if err != nil {
		return err
	}
	st.apis[i] = p
	return proctest.WaitHTTP(st.base(i)+"/readyz", 30*time.Second, proctest.Gone(p))
}

// startWorker starts worker i (again); a worker has no readiness route
// here, so a moment after it runs it is taken as up.
func (st *stack) startWorker(i int) error {
	p, err := st.launch("worker-"+strconv.Itoa(i), "worker", st.env)
	if err != nil {
		return err
	}
	st.workers[i] = p
	time.Sleep(200 * time.Millisecond)
	return proctest.Gone(p)()
}

// launch runs a binary in the Redis root (so no stray .env is read).
func (st *stack) launch(name, bin string, env map[string]string) (*proctest.Proc, error) {
	bins, err := filepath.Abs(st.bins)
	if err != nil {
		return nil, err
	}
	return proctest.Launch(name, filepath.Join(bins, bin), st.root, proctest.Environ(env), nil)
}

// crashed names a process of the stack that exited without being killed
// by the run, with its output's tail.
func (st *stack) crashed() error {
	var errs []error
	for _, p := range append(append([]*proctest.Proc{}, st.apis...), st.workers...) {
		if p != nil && p.Exited() && !st.killed[p] {
			errs = append(errs, errors.New(p.Name+" exited:\n"+proctest.Tail(p.Output(), 2048)))
		}
	}
	return errors.Join(errs...)
}

// kill SIGKILLs p and remembers it was on purpose.
func (st *stack) kill(p *proctest.Proc) {
	if st.killed == nil {
		st.killed = map[*proctest.Proc]bool{}
	}
	st.killed[p] = true
	p.Kill()
}

// logs is the tail of every process's output, for a failed fault.
func (st *stack) logs() string {
	var s string
	for _, p := range append(append([]*proctest.Proc{}, st.apis...), st.workers...) {
		if p != nil {
			s += "--- " + p.Name + "\n" + proctest.Tail(p.Output(), 1500) + "\n"
		}
	}
	return s
}

func (st *stack) stop() {
	for _, p := range append(append([]*proctest.Proc{}, st.apis...), st.workers...) {
		if p != nil {
			p.Interrupt(10 * time.Second)
		}
	}
	if st.fake != nil {
		st.fake.Close()
	}
	if st.aof != nil && st.aof.proc != nil {
		st.aof.kill()
	}
	if st.sentinel != nil {
		st.sentinel.stop()
	}
	if st.root != "" {
		os.RemoveAll(st.root)
	}
}
