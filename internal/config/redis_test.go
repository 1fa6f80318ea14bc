package config_test

import (
	"strings"
	"testing"

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
