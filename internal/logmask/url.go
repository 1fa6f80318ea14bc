package logmask

import "net/url"

// URL is raw fit for a log: its password, and a sentinel_password
// parameter of a Redis Sentinel URL, replaced by "xxxxx".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	if q := u.Query(); q.Has("sentinel_password") {
		c := *u
		q.Set("sentinel_password", "xxxxx")
		c.RawQuery = q.Encode()
		return c.Redacted()
	}
	return u.Redacted()
}
