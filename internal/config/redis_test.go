package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/redisconn"
)

func TestLoadRedisTopologies(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		want    string // cfg.Redis.URL
		wantErr string // names this variable
	}{
		{env: map[string]string{"REDIS_URL": "redis-sentinel://127.0.0.1:26379/0?master=mymaster"},
			want: "redis-sentinel://127.0.0.1:26379/0?master=mymaster"},
		{env: map[string]string{"REDIS_URL": "redis-cluster://127.0.0.1:7000,127.0.0.1:7001"},
			want: "redis-cluster://127.0.0.1:7000,127.0.0.1:7001"},
		{env: map[string]string{"REDIS_CLUSTER_ADDRS": "127.0.0.1:7000, 127.0.0.1:7001,127.0.0.1:7002"},
			want: "redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"},
		{env: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_URL": "redis://:pw@ignored:6379/0"},
			want: "redis-cluster://:pw@10.0.0.1:7000"},
		{env: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_URL": "redis-sentinel://h:26379?master=m"},
			wantErr: "REDIS_CLUSTER_ADDRS"},
		{env: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_URL": "redis://h:6379/2"},
			wantErr: "REDIS_CLUSTER_ADDRS"},
		{env: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:port"}, wantErr: "REDIS_CLUSTER_ADDRS"},
		{env: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000,10.0.0.2"}, wantErr: "host:port"},
		{env: map[string]string{"REDIS_URL": "sentinel://h:26379"}, wantErr: "REDIS_URL"},
	} {
		cfg, err := config.Load(func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err %v, want one naming %s", tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if cfg.Redis.URL != tc.want {
			t.Errorf("%v: RedisURL %q, want %q", tc.env, cfg.Redis.URL, tc.want)
		}
		c, err := redisconn.New(cfg.Redis.URL)
		if err != nil {
			t.Errorf("%v: NewRedis: %v", tc.env, err)
			continue
		}
		c.Close()
	}
}

func TestLoadMinReplicas(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    int
		timeout time.Duration
		wantErr []string // each names a variable the error must mention
	}{
		{name: "off by default", env: map[string]string{}, want: 0, timeout: 500 * time.Millisecond},
		{name: "one replica", env: map[string]string{"REDIS_MIN_REPLICAS": "1"}, want: 1, timeout: 500 * time.Millisecond},
		{name: "with timeout", env: map[string]string{"REDIS_MIN_REPLICAS": "2", "REDIS_MIN_REPLICAS_TIMEOUT": "250ms"}, want: 2, timeout: 250 * time.Millisecond},
		{name: "sentinel", env: map[string]string{"REDIS_URL": "redis-sentinel://h:26379/0?master=m", "REDIS_MIN_REPLICAS": "1"},
			want: 1, timeout: 500 * time.Millisecond},
		{name: "cluster but off", env: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_MIN_REPLICAS": "0"},
			timeout: 500 * time.Millisecond},
		{name: "negative", env: map[string]string{"REDIS_MIN_REPLICAS": "-1"}, wantErr: []string{"REDIS_MIN_REPLICAS"}},
		{name: "not a number", env: map[string]string{"REDIS_MIN_REPLICAS": "one"}, wantErr: []string{"REDIS_MIN_REPLICAS"}},
		{name: "too many", env: map[string]string{"REDIS_MIN_REPLICAS": "17"}, wantErr: []string{"REDIS_MIN_REPLICAS"}},
		{name: "zero timeout", env: map[string]string{"REDIS_MIN_REPLICAS": "1", "REDIS_MIN_REPLICAS_TIMEOUT": "0s"},
			wantErr: []string{"REDIS_MIN_REPLICAS_TIMEOUT"}},
		{name: "negative timeout", env: map[string]string{"REDIS_MIN_REPLICAS": "1", "REDIS_MIN_REPLICAS_TIMEOUT": "-1s"},
			wantErr: []string{"REDIS_MIN_REPLICAS_TIMEOUT"}},
		{name: "timeout over the read timeout", env: map[string]string{"REDIS_MIN_REPLICAS": "1", "REDIS_MIN_REPLICAS_TIMEOUT": "2s"},
			wantErr: []string{"REDIS_MIN_REPLICAS_TIMEOUT"}},
		{name: "timeout not a duration", env: map[string]string{"REDIS_MIN_REPLICAS_TIMEOUT": "500"},
			wantErr: []string{"REDIS_MIN_REPLICAS_TIMEOUT"}},
		{name: "cluster refused", env: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_MIN_REPLICAS": "1"},
			wantErr: []string{"REDIS_MIN_REPLICAS: not supported on a Redis Cluster"}},
		{name: "cluster URL refused", env: map[string]string{"REDIS_URL": "redis-cluster://10.0.0.1:7000", "REDIS_MIN_REPLICAS": "1"},
			wantErr: []string{"REDIS_MIN_REPLICAS: not supported on a Redis Cluster"}},
		// Reported together with the other problems, in one pass.
		{name: "all at once", env: map[string]string{"REDIS_URL": "redis-cluster://10.0.0.1:7000", "REDIS_MIN_REPLICAS": "1",
			"REDIS_MIN_REPLICAS_TIMEOUT": "5s", "QUEUE_SHARDS": "0"},
			wantErr: []string{"REDIS_MIN_REPLICAS:", "REDIS_MIN_REPLICAS_TIMEOUT", "QUEUE_SHARDS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(func(k string) string { return tc.env[k] })
			if len(tc.wantErr) > 0 {
				for _, w := range tc.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("err %v, want one naming %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Redis.MinReplicas != tc.want || cfg.Redis.MinReplicasTimeout != tc.timeout {
				t.Errorf("MinReplicas %d, timeout %s; want %d, %s", cfg.Redis.MinReplicas, cfg.Redis.MinReplicasTimeout, tc.want, tc.timeout)
			}
		})
	}
}
