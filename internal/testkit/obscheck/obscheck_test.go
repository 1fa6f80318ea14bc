package obscheck

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestSelectors(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (country_code) (rate(otp_sends_total{country_code=~"$country", channel=~"$channel"}[$__rate_interval]))`: "otp_sends_total:channel,country_code",
		`up{job="otpd-api"} == 0 or absent(up{job="otpd-api"})`:                                                          "up:job",
		`histogram_quantile(0.99, sum by (le) (rate(otp_sms_accept_latency_seconds_bucket[5m])))`:                        "otp_sms_accept_latency_seconds_bucket:",
		`a / b > 0.5 * (c offset 1h) and d{x="}{"} > 20`:                                                                 "a: b: c: d:x",
		`sum without (instance) (x_total{l!="v"}) unless on (job) y`:                                                     "x_total:l y:",
		`max by (queue) (asynq_queue_latency_seconds{queue="otp"}) > 1e3`:                                                "asynq_queue_latency_seconds:queue",
	} {
		got := Selectors(expr)
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(got)) {
			parts = append(parts, name+":"+strings.Join(slices.Sorted(maps.Keys(got[name])), ","))
		}
		if strings.Join(parts, " ") != want {
			t.Errorf("%s:\n got %s\nwant %s", expr, strings.Join(parts, " "), want)
		}
	}
}

// The shipped files parse, and name metrics.
func TestShippedFiles(t *testing.T) {
	d, err := Dashboard("../../../deploy/grafana/otpd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Rules("../../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(d) < 20 || len(r) < 8 {
		t.Fatalf("%d dashboard queries, %d rules", len(d), len(r))
	}
	for _, q := range append(d, r...) {
		if len(Selectors(q.Expr)) == 0 {
			t.Errorf("%s: no metric in %q", q.Where, q.Expr)
		}
	}
}
