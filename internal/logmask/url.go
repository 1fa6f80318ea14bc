package logmask

import (
	"errors"
	"net/url"
	"strings"
)

// masked replaces a secret in a URL.
const masked = "xxxxx"

// plainParams are the query parameters known to name no secret, and that
// an operator needs to see: a Redis Sentinel URL's master names a service.
var plainParams = map[string]bool{"master": true}

// URL is raw fit for a log or a stored error: its password, every query
// value and its fragment replaced by "xxxxx". A query is where tokens ride
// (a receiver's ?token=, a signed URL's ?sig=, a Sentinel URL's
// sentinel_password=), and only the URL's owner knows which parameter is a
// secret; the names stay, so that URLs can still be told apart. A
// parameter without "=" may itself be a token: it is masked whole.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	if u.RawQuery != "" || u.ForceQuery {
		c := *u
		c.RawQuery = maskQuery(u.RawQuery)
		u = &c
	}
	if u.Fragment != "" {
		c := *u
		c.Fragment, c.RawFragment = masked, ""
		u = &c
	}
	return u.Redacted()
}

func maskQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		switch {
		case p == "":
		case !ok:
			parts[i] = masked
		case err == nil && plainParams[name]:
		default:
			parts[i] = k + "=" + masked
		}
	}
	return strings.Join(parts, "&")
}

// Error masks, as URL does, the URL that each *url.Error in err's chain
// quotes, and returns err. net/http's errors (a refused connection, a
// timeout) quote the whole request URL, query and all; an asynq handler's
// error is kept as its task's last error, which the dashboard shows. It
// changes err in place: use it on an error just returned, not one shared.
func Error(err error) error {
	for e := err; e != nil; {
		var ue *url.Error
		if !errors.As(e, &ue) {
			break
		}
		ue.URL = URL(ue.URL)
		e = ue.Err
	}
	return err
}
