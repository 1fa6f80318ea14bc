package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// client is one population's connections to the api.
type client struct {
	base string
	http *http.Client
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// answer is what the api answered: its status (0: no answer), and of a
// problem its code, limit and, for fraud_blocked, the block's scope.
type answer struct {
	status      int
	code, limit string
	scope       string
	retryAfter  int // seconds (real)
	body        map[string]any
}

func (c *client) do(method, path string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{code: "transport"}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode}
	_ = json.Unmarshal(raw, &a.body)
	if resp.StatusCode >= 300 {
		a.code, _ = a.body["code"].(string)
		a.limit, _ = a.body["limit"].(string)
		a.retryAfter = num(a.body["retryAfter"])
		if a.code == "fraud_blocked" {
			// cmd/api/problem.go's fraudDetail names a country's block.
			a.scope = "prefix"
			if d, _ := a.body["detail"].(string); strings.Contains(d, "country") {
				a.scope = "country"
			}
		}
	}
	return a
}

// refusal names a refused answer for the tables: the problem code, with
// its limit or scope, or the status class.
func (a answer) refusal() string {
	switch {
	case a.status == 0:
		return "transport"
	case a.status >= 500:
		return "5xx " + a.code
	case a.scope != "":
		return a.code + "/" + a.scope
	case a.limit != "":
		return a.code + "/" + a.limit
	}
	return a.code
}
