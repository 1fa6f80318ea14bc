package twiliofake

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
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

// CallStatusCallback sends a signed call progress event for an accepted
// call to its StatusCallback URL, as Twilio does, and returns the HTTP
// status the receiver answered. status is a CallStatus: queued, initiated,
// ringing, in-progress, completed, busy, failed, no-answer or canceled.
//
// Like Twilio, it only sends what the call subscribed to: the event the
// status belongs to (in-progress is "answered", busy, failed, no-answer and
// canceled are "completed") must be among its StatusCallbackEvent values,
// or, when it gave none, be "completed" ("If no status_callback_event is
// specified, we will send the completed status"). It refuses a call without
// a StatusCallback, or with an ApplicationSid, whose own callback Twilio
// uses instead ("If an application_sid parameter is present, this parameter
// is ignored").
func (s *Server) CallStatusCallback(ctx context.Context, call Request, status string) (int, error) {
	cb, err := callCallback(call, status)
	if err != nil {
		return 0, err
	}
	form := url.Values{
		"AccountSid": {call.AccountSID}, "CallSid": {call.SID}, "CallStatus": {status},
		"To": {call.Form.Get("To")}, "From": {call.Form.Get("From")},
		"Direction": {"outbound-api"}, "ApiVersion": {"2010-04-01"},
		"CallbackSource": {"call-progress-events"},
		"SequenceNumber": {strconv.Itoa(s.nextSequence(call.SID))},
		"Timestamp":      {time.Now().UTC().Format(time.RFC1123Z)},
	}
	if status == "completed" {
		form.Set("CallDuration", strconv.Itoa(int(time.Since(call.At).Seconds())))
	}
	if call.Form.Get("StatusCallbackMethod") == httpGet {
		return getSigned(ctx, s.AuthToken, cb, form)
	}
	return PostSigned(ctx, s.AuthToken, cb, form)
}

// callCallback returns where Twilio would report status for call, or why it
// would not.
func callCallback(call Request, status string) (string, error) {
	event := callEventOf(status)
	cb := call.Form.Get("StatusCallback")
	subscribed := call.Form["StatusCallbackEvent"]
	if len(subscribed) == 0 {
		subscribed = []string{"completed"}
	}
	switch {
	case call.Kind != KindCall || call.Status != http.StatusCreated:
		return "", fmt.Errorf("twiliofake: %s %s is not an accepted call", call.Kind, call.SID)
	case event == "":
		return "", fmt.Errorf("twiliofake: %q is not a call status", status)
	case cb == "":
		return "", fmt.Errorf("twiliofake: call %s has no StatusCallback", call.SID)
	case call.Form.Get("ApplicationSid") != "":
		return "", fmt.Errorf("twiliofake: call %s has an ApplicationSid, whose StatusCallback Twilio uses instead", call.SID)
	case !slices.Contains(subscribed, event):
		return "", fmt.Errorf("twiliofake: call %s did not subscribe to %q (%s); Twilio would not report %s", call.SID, event, strings.Join(subscribed, ","), status)
	}
	return cb, nil
}

// callEventOf is the StatusCallbackEvent that reports status, "" for none.
func callEventOf(status string) string {
	for event, statuses := range callEvents {
		if slices.Contains(statuses, status) {
			return event
		}
	}
	return ""
}

// nextSequence numbers a call's callbacks from 0, as Twilio's
// SequenceNumber does, so that a receiver can order them.
func (s *Server) nextSequence(callSID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sequence == nil {
		s.sequence = map[string]int{}
	}
	n := s.sequence[callSID]
	s.sequence[callSID] = n + 1
	return n
}

// getSigned sends form as Twilio does for a GET callback: appended to the
// URL's query, which the signature then covers, with no body.
func getSigned(ctx context.Context, authToken, callbackURL string, form url.Values) (int, error) {
	u, err := url.Parse(callbackURL)
	if err != nil {
		return 0, err
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += form.Encode()
	fullURL := u.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fullURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Twilio-Signature", Sign(authToken, fullURL, nil))
	return do(req)
}

// PostSigned posts form to fullURL with a valid X-Twilio-Signature.
func PostSigned(ctx context.Context, authToken, fullURL string, form url.Values) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fullURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Sign(authToken, fullURL, form))
	return do(req)
}

func do(req *http.Request) (int, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
