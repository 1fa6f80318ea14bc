package twilio

import (
	"net/url"

	twclient "github.com/twilio/twilio-go/client"
)

// ValidSignature checks an X-Twilio-Signature against the auth token, the
// full URL Twilio called (scheme, host, path and query) and the POST form.
// twilio-go's validator compares in constant time and tries the URL with
// and without an explicit port, as Twilio may sign either.
func ValidSignature(authToken, fullURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	params := make(map[string]string, len(form))
	for k, v := range form {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	v := twclient.NewRequestValidator(authToken)
	return v.Validate(fullURL, params, signature)
}
