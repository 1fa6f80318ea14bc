package logmask

import (
	"strings"
	"testing"
)

func TestRedactURLHidesSentinelPasswords(t *testing.T) {
	for _, raw := range []string{
		"redis-sentinel://app:masterpw@h1:26379,h2:26379/0?master=mymaster&sentinel_password=sentpw",
		"redis-cluster://:masterpw@h1:7000,h2:7001",
		"redis://:masterpw@localhost:6379/0",
	} {
		got := URL(raw)
		if strings.Contains(got, "masterpw") || strings.Contains(got, "sentpw") {
			t.Errorf("%s redacted to %s", raw, got)
		}
		if !strings.Contains(got, "h1") && !strings.Contains(got, "localhost") {
			t.Errorf("%s redacted to %s: lost the hosts", raw, got)
		}
	}
	if got := URL("redis-sentinel://h1:26379/0?master=mymaster"); got != "redis-sentinel://h1:26379/0?master=mymaster" {
		t.Errorf("changed a URL without secrets: %s", got)
	}
}
