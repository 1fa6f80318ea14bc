// Package redisconn builds the one Redis client a process shares between
// the store and asynq, from REDIS_URL, with timeouts short enough that an
// outage is a prompt 503, a guarantee that no command is sent twice, and
// (off a cluster) concurrent scripts sharing round trips (autopipe.go).
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/logmask"
)

// The timeouts every client gets, whatever the topology: short, so a Redis
// outage turns into a prompt 503 instead of a request that hangs.
const (
	redisDialTimeout  = 2 * time.Second
	redisReadTimeout  = time.Second
	redisWriteTimeout = time.Second
	redisPoolTimeout  = 2 * time.Second
)

// New builds a client from REDIS_URL:
//
//	redis://[user:password@]host:port/db     one server (also rediss://, unix://)
//	redis-sentinel://[user:password@]host1:26379,host2:26379/db?master=mymaster[&sentinel_password=…][&sentinel_username=…]
//	                                        master found through Sentinel (failover client)
//	redis-cluster://[user:password@]host1:7000,host2:7001
//	                                        Redis Cluster (seed nodes; the rest is discovered)
//
// REDIS_CLUSTER_ADDRS is turned into a redis-cluster:// URL by ClusterURL.
//
// Timeouts are short and a command is never sent twice: go-redis retries a
// command after a read timeout or a dropped connection, and a Lua script
// that already ran (counting an attempt, creating a verification) must not
// run twice. A failure is a 503 and the client's retry is the retry.
//
// Concurrent scripts share round trips (autopipe.go), except on a cluster.
func New(rawURL string) (redis.UniversalClient, error) {
	c, err := NewUnbatched(rawURL)
	if err != nil {
		return nil, err
	}
	if _, cluster := c.(*redis.ClusterClient); !cluster {
		// Not on a cluster: go-redis retries a cluster pipeline below the
		// hooks, which would break the promise that a script runs once.
		c.AddHook(&autoPipe{pipeline: c.Pipeline})
	}
	return c, nil
}

// NewUnbatched is New without the batching of concurrent scripts: each
// command its own round trip, as go-redis sends them (the load test's
// ceiling server, the floor of a plain go-redis service).
func NewUnbatched(rawURL string) (redis.UniversalClient, error) {
	switch scheme(rawURL) {
	case "redis-sentinel":
		opt, err := failoverOptions(rawURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return redis.NewFailoverClient(opt), nil
	case "redis-cluster":
		opt, err := clusterOptions(rawURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return newClusterClient(opt), nil
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis returns url.Parse's error, which quotes the password.
		return nil, fmt.Errorf("REDIS_URL: %w", logmask.Error(err))
	}
	opt.DialTimeout = redisDialTimeout
	opt.ReadTimeout = redisReadTimeout
	opt.WriteTimeout = redisWriteTimeout
	opt.PoolTimeout = redisPoolTimeout
	// No retries (see above).
	opt.MaxRetries = -1
	return redis.NewClient(opt), nil
}

func scheme(rawURL string) string {
	s, _, _ := strings.Cut(rawURL, "://")
	return strings.ToLower(s)
}

// failoverOptions parses a redis-sentinel:// URL. The userinfo is the
// master's (and replicas') credentials; the sentinels' own are query
// parameters, as Sentinel is often protected by a different password.
func failoverOptions(rawURL string) (*redis.FailoverOptions, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	addrs, err := hostList(u.Host)
	if err != nil {
		return nil, err
	}
	db, err := dbNumber(u.Path)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	master := q.Get("master")
	if master == "" {
		return nil, errors.New("redis-sentinel:// needs ?master=<name of the monitored master>")
	}
	if err := onlyParams(q, "master", "sentinel_password", "sentinel_username"); err != nil {
		return nil, err
	}
	opt := &redis.FailoverOptions{
		MasterName:       master,
		SentinelAddrs:    addrs,
		SentinelUsername: q.Get("sentinel_username"),
		SentinelPassword: q.Get("sentinel_password"),
		DB:               db,
		DialTimeout:      redisDialTimeout,
		ReadTimeout:      redisReadTimeout,
		WriteTimeout:     redisWriteTimeout,
		PoolTimeout:      redisPoolTimeout,
		// The failover client is a *redis.Client underneath: -1 means each
		// command is sent at most once, as for a single server. During a
		// failover commands fail (503) until Sentinel has promoted a replica;
		// every new connection asks the sentinels where the master is.
		MaxRetries: -1,
	}
	opt.Username, opt.Password = credentials(u)
	return opt, nil
}

// clusterOptions parses a redis-cluster:// URL: seed nodes, credentials,
// no database (a cluster only has db 0) and no parameters.
func clusterOptions(rawURL string) (*redis.ClusterOptions, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	addrs, err := hostList(u.Host)
	if err != nil {
		return nil, err
	}
	if db, err := dbNumber(u.Path); err != nil || db != 0 {
		return nil, errors.New("redis-cluster:// takes no database: Redis Cluster only has db 0")
	}
	if err := onlyParams(u.Query()); err != nil {
		return nil, err
	}
	opt := &redis.ClusterOptions{
		Addrs:        addrs,
		DialTimeout:  redisDialTimeout,
		ReadTimeout:  redisReadTimeout,
		WriteTimeout: redisWriteTimeout,
		PoolTimeout:  redisPoolTimeout,
		MaxRetries:   -1,
		// MaxRedirects stays at go-redis's default (3): following MOVED and
		// ASK is not running a command twice, the node that answers MOVED
		// refused it. But go-redis counts network errors against the same
		// budget and re-sends the command after a read timeout or a dropped
		// connection; newClusterClient stops exactly that.
	}
	opt.Username, opt.Password = credentials(u)
	return opt, nil
}

// newClusterClient is redis.NewClusterClient with the guarantee that a
// command which may have reached a server is not sent again.
func newClusterClient(opt *redis.ClusterOptions) *redis.ClusterClient {
	c := redis.NewClusterClient(opt)
	h := sentOnce{reload: func() { c.ReloadState(context.Background()) }}
	c.OnNewNode(func(node *redis.Client) { node.AddHook(h) })
	return c
}

// sentOnce is a hook on every node client of a cluster client. The cluster
// client's loop retries a command whose error looks transient (EOF, a
// timeout, a reset connection), with MaxRetries -1 or not; such an error
// after the command was written means the server may have run it. sentOnce
// hands the loop those errors as an opaque *SentError, which it does not
// retry. Errors that prove the command did not run are left alone, so they
// are still retried or redirected: replies of the server (MOVED, ASK,
// TRYAGAIN, CLUSTERDOWN, LOADING, READONLY), a failed dial, an exhausted
// or closed pool. It also asks for a reload of the slot map, so that after
// a cluster failover the client finds the promoted replica as soon as the
// cluster knows it rather than at the next periodic reload.
type sentOnce struct{ reload func() }

func (sentOnce) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h sentOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.final(next(ctx, cmd))
	}
}

func (h sentOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	// Covers the ASKING+command pipeline of an ASK redirect. (Pipelines the
	// application sends through a cluster client are retried by go-redis
	// below the hooks; the only one this service sends is read-only.)
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return h.final(next(ctx, cmds))
	}
}

func (h sentOnce) final(err error) error {
	if !maybeSent(err) {
		return err
	}
	if h.reload != nil {
		h.reload()
	}
	return &SentError{msg: err.Error()}
}

// SentError is a transport failure after a command may have been sent to a
// cluster node. It deliberately wraps nothing, so that go-redis's retry
// logic (which looks for io.EOF, net.Error and timeouts in the chain) does
// not re-send the command.
type SentError struct{ msg string }

func (e *SentError) Error() string {
	return "redis: " + e.msg + " (not retried: the command may have run)"
}

// maybeSent reports whether err is a transport failure that may have
// happened after the command reached the server.
func maybeSent(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) { // a reply: the server decided
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // never retried by go-redis anyway
	}
	if errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return false // no connection, nothing written
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	var se *SentError
	return !errors.As(err, &se)
}

func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a valid URL: %v", err)
	}
	return u, nil
}

// hostList splits "h1:p1,h2:p2" into addresses. Every host needs its port
// (url.Parse only accepts a list whose last element has one, so defaults
// would work in some positions and not others); IPv6 literals are not
// supported in a list: use host names.
func hostList(hosts string) ([]string, error) {
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%q is not host:port", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: bad port", h)
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	if len(addrs) == 0 {
		return nil, errors.New("no host:port given")
	}
	return addrs, nil
}

func dbNumber(path string) (int, error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("database %q is not a number", p)
	}
	return n, nil
}

func onlyParams(q url.Values, allowed ...string) error {
	for k := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fmt.Errorf("unknown parameter %q (none are accepted)", k)
			}
			return fmt.Errorf("unknown parameter %q (accepted: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func credentials(u *url.URL) (user, password string) {
	if u.User == nil {
		return "", ""
	}
	password, _ = u.User.Password()
	return u.User.Username(), password
}

// ClusterURL builds the redis-cluster:// URL that REDIS_CLUSTER_ADDRS
// stands for. The credentials, if any, come from REDIS_URL (redisURL, ""
// when unset), whose host is then ignored.
func ClusterURL(addrs, redisURL string) (string, error) {
	list, err := hostList(addrs)
	if err != nil {
		return "", err
	}
	u := &url.URL{Scheme: "redis-cluster", Host: strings.Join(list, ",")}
	if redisURL != "" {
		base, err := parseURL(redisURL)
		if err != nil {
			return "", err
		}
		if base.Scheme != "redis" && base.Scheme != "redis-cluster" {
			return "", fmt.Errorf("REDIS_URL must be unset or a redis:// URL (for its password) when REDIS_CLUSTER_ADDRS is set, not %s://", base.Scheme)
		}
		if db, err := dbNumber(base.Path); err != nil || db != 0 {
			return "", errors.New("REDIS_URL selects a database other than 0, which Redis Cluster does not have")
		}
		u.User = base.User
	}
	return u.String(), nil
}
