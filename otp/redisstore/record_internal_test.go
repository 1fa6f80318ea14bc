package redisstore

import (
	"maps"
	"strings"
	"testing"
)

// asMap is a view as a map (a later field of one name wins, as HGETALL's
// pairs would in a map).
func asMap(v view) map[string]string {
	m := map[string]string{}
	for _, f := range v {
		m[f.name] = f.value
	}
	return m
}

func TestUnpackView(t *testing.T) {
	v, err := unpackView("to:12:+14155552671st:1:pi1:3:a:bn:0:")
	m := asMap(v)
	if err != nil || len(m) != 4 || m["to"] != "+14155552671" || m["st"] != "p" || m["i1"] != "a:b" || m["n"] != "" {
		t.Fatalf("%q %v", m, err)
	}
	if m, err := unpackView(""); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
	for _, bad := range []string{"to", "to:", "to:x:", "to:-1:", "to:5:abc", "to:1:ab"} {
		if _, err := unpackView(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzUnpackView: any reply is a map or an error, never a panic, and a
// packed map reads back.
func FuzzUnpackView(f *testing.F) {
	for _, s := range []string{"", "a:1:b", "a:0:", "x:3:a:bq:1:z", "a:99:b", "a:-1:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := unpackView(s)
		if err != nil {
			return
		}
		m := asMap(v)
		for k, v := range m {
			if len(k) > len(s) || len(v) > len(s) {
				t.Fatalf("%q: %q=%q longer than the input", s, k, v)
			}
		}
		// What reads back packs again to the same fields: a name may not
		// hold ':' (the scripts' field names do not), a value any byte.
		for k := range m {
			if strings.Contains(k, ":") {
				return
			}
		}
		again, err := unpackView(packView(m))
		if err != nil || !maps.Equal(asMap(again), m) {
			t.Fatalf("%q: %q packs and reads back as %q, %v", s, m, again, err)
		}
	})
}
