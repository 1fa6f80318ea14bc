// Package obscheck reads the PromQL of deploy/grafana/otpd-dashboard.json and
// deploy/prometheus/alerts.yaml, so tests can hold them to what the binaries
// export: deploy's tests check the expressions parse (promtool), internal/suites/e2e
// that every metric and label they name exists in a real scrape.
package obscheck

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
)

// Query is one PromQL expression and where it comes from.
type Query struct {
	Where string // "dashboard: <panel title>" or "alerts: <alert>"
	Expr  string
}

// Dashboard returns the expressions of a Grafana dashboard's panels.
func Dashboard(path string) ([]Query, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Query
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{Where: "dashboard: " + p.Title, Expr: t.Expr})
		}
	}
	return out, nil
}

// Rules returns the expressions of a Prometheus rules file.
func Rules(path string) ([]Query, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Query
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, Query{Where: "alerts: " + r.Alert + r.Record, Expr: r.Expr})
		}
	}
	return out, nil
}

var (
	quoted   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	ranges   = regexp.MustCompile(`\[[^\]]*\]`)
	grouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	matcher  = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)`)
	keywords = map[string]bool{"and": true, "or": true, "unless": true, "offset": true, "bool": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true}
)

// Selectors lists the metrics an expression reads, each with the label
// names its matchers use. Grafana's $variables and [$__rate_interval] are
// allowed.
func Selectors(expr string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	// Label matchers first, while the quotes still delimit their values.
	s := quoted.ReplaceAllString(expr, `""`)
	s = ranges.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	for i := 0; i < len(s); {
		loc := ident.FindStringIndex(s[i:])
		if loc == nil {
			break
		}
		start, end := i+loc[0], i+loc[1]
		name := s[start:end]
		i = end
		if start > 0 && (s[start-1] == '$' || isDigit(s[start-1])) {
			continue // a Grafana variable, or the unit of a number (5m, 1e3)
		}
		rest := strings.TrimLeft(s[end:], " \t\n")
		if strings.HasPrefix(rest, "(") || keywords[name] {
			continue // a function or aggregation, or a keyword
		}
		labels := out[name]
		if labels == nil {
			labels = map[string]bool{}
			out[name] = labels
		}
		if strings.HasPrefix(rest, "{") {
			close := strings.IndexByte(rest, '}')
			if close < 0 {
				break
			}
			for _, m := range matcher.FindAllStringSubmatch(rest[1:close], -1) {
				labels[m[1]] = true
			}
			i = len(s) - len(rest) + close + 1
		}
	}
	return out
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
