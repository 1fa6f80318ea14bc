package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/otpd/otpd/internal/testkit/obscheck"
	"github.com/otpd/otpd/internal/testkit/proctest"
)

const (
	dashboardFile = "grafana/otpd-dashboard.json"
	alertsFile    = "prometheus/alerts.yaml"
)

// promtool is Debian's (package prometheus; .ci/run installs it).
func promtool(t *testing.T) string {
	t.Helper()
	return proctest.Need(t, "promtool", "apt-get install prometheus")
}

// Every rule parses and is well formed, and the alerts fire, and stay
// quiet, on the series of alerts_test.yaml.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", "prometheus/alerts_test.yaml"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	qs, err := obscheck.Rules(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(alertsFile)
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert       string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Labels["severity"] != "page" && r.Labels["severity"] != "warn" {
				t.Errorf("%s: severity %q, want page or warn", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: a summary and a description tell the one paged what to do", r.Alert)
			}
		}
	}
	if len(qs) < 8 {
		t.Fatalf("%d rules", len(qs))
	}
}

// The dashboard is one Grafana can import: unique panel ids, every panel on
// the datasource variable, no overlapping panels, and every query valid
// PromQL (promtool checks them as recording rules, Grafana's variables
// replaced by values they take).
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string
		Templating struct{ List []struct{ Name, Type string } }
		Panels     []struct {
			ID         int
			Type       string
			Title      string
			Datasource struct{ UID string }
			GridPos    struct{ H, W, X, Y int }
			Targets    []struct {
				Expr       string
				Datasource struct{ UID string }
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" {
		t.Error("no uid: every import would make a new dashboard")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("templating %v: want a datasource variable, so any Prometheus can be picked", vars)
	}
	ids := map[int]bool{}
	cells := map[[2]int]string{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q is wider than the grid", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
	}

	bin := promtool(t)
	qs, err := obscheck.Dashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$country", ".*", "$channel", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range qs {
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %q\n", i, grafana.Replace(q.Expr))
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query is not valid PromQL: %v\n%s", err, out)
	}
}
