package twiliofake

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Sign computes X-Twilio-Signature as Twilio documents it: HMAC-SHA1, keyed
// by the auth token, of the full URL followed by every POST parameter's
// name and value sorted by name, base64-encoded.
func Sign(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// StatusCallback posts a signed delivery report for an accepted message to
// the StatusCallback URL it was sent with, as Twilio does.
func (s *Server) StatusCallback(ctx context.Context, msg Request, status string, errorCode int) (int, error) {
	cb := msg.Form.Get("StatusCallback")
	if cb == "" {
		return 0, fmt.Errorf("twiliofake: message %s has no StatusCallback", msg.SID)
	}
	form := url.Values{
		"AccountSid": {msg.AccountSID}, "MessageSid": {msg.SID}, "SmsSid": {msg.SID},
		"MessageStatus": {status}, "SmsStatus": {status}, "To": {msg.Form.Get("To")},
		"From": {msg.Form.Get("From")}, "ApiVersion": {"2010-04-01"},
	}
	if errorCode != 0 {
		form.Set("ErrorCode", strconv.Itoa(errorCode))
	}
	return PostSigned(ctx, s.AuthToken, cb, form)
}

// PostSigned posts form to fullURL with a valid X-Twilio-Signature.
func PostSigned(ctx context.Context, authToken, fullURL string, form url.Values) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fullURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Sign(authToken, fullURL, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
