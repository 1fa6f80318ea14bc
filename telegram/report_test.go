package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/telegramfake"
	"github.com/otpd/otpd/telegram"
)

// newTestReceiver serves answer on a loopback port and returns its URL.
func newTestReceiver(t *testing.T, answer func(http.Header, []byte) int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, telegram.MaxReportSize))
		if err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(answer(r.Header, body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const reportBody = `{"request_id":"r1","phone_number":"+14155552671","request_cost":0.01,"is_refunded":false,` +
	`"delivery_status":{"status":"read","updated_at":1700000000},"payload":"VE0123.1"}`

func signed(tok string, ts int64, body string) http.Header {
	s := strconv.FormatInt(ts, 10)
	h := http.Header{}
	h.Set(telegram.HeaderTimestamp, s)
	h.Set(telegram.HeaderSignature, telegramfake.Sign(tok, s, []byte(body)))
	return h
}

func TestVerifyReport(t *testing.T) {
	now := time.Unix(1700000000, 0)
	const skew = 5 * time.Minute
	good := signed(token, now.Unix(), reportBody)
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		token  string // token when empty
		header http.Header
		body   string // reportBody when empty
		want   error  // nil: verified
	}{
		{name: "good", header: good},
		{name: "upper-case hex", header: with(good, telegram.HeaderSignature, strings.ToUpper(good.Get(telegram.HeaderSignature)))},
		{name: "skew's edge, past", header: signed(token, now.Add(-skew).Unix(), reportBody)},
		{name: "skew's edge, future", header: signed(token, now.Add(skew).Unix(), reportBody)},
		{name: "wrong token", token: "12345:other", header: good, want: telegram.ErrBadSignature},
		{name: "signed with another token", header: signed("12345:other", now.Unix(), reportBody), want: telegram.ErrBadSignature},
		{name: "tampered body", header: good, body: strings.Replace(reportBody, "read", "sent", 1), want: telegram.ErrBadSignature},
		{name: "body with a trailing newline", header: good, body: reportBody + "\n", want: telegram.ErrBadSignature},
		{name: "timestamp changed", header: with(good, telegram.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)), want: telegram.ErrBadSignature},
		{name: "stale", header: signed(token, now.Add(-skew-time.Second).Unix(), reportBody), want: telegram.ErrStale},
		{name: "future", header: signed(token, now.Add(skew+time.Second).Unix(), reportBody), want: telegram.ErrStale},
		{name: "replayed a day later", header: signed(token, now.Add(-24*time.Hour).Unix(), reportBody), want: telegram.ErrStale},
		{name: "no timestamp", header: with(good, telegram.HeaderTimestamp, ""), want: telegram.ErrUnsigned},
		{name: "no signature", header: with(good, telegram.HeaderSignature, ""), want: telegram.ErrUnsigned},
		{name: "no headers", header: http.Header{}, want: telegram.ErrUnsigned},
		{name: "signature not hex", header: with(good, telegram.HeaderSignature, "zz"+good.Get(telegram.HeaderSignature)[2:]), want: telegram.ErrBadSignature},
		{name: "signature truncated", header: with(good, telegram.HeaderSignature, good.Get(telegram.HeaderSignature)[:62]), want: telegram.ErrBadSignature},
		{name: "signed timestamp not a number", header: signedTS(token, "+1700000000", reportBody), want: telegram.ErrStale},
		{name: "signed timestamp in milliseconds", header: signedTS(token, "1700000000000", reportBody), want: telegram.ErrStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, body := token, reportBody
			if tc.token != "" {
				tok = tc.token
			}
			if tc.body != "" {
				body = tc.body
			}
			err := telegram.VerifyReport(tok, tc.header, []byte(body), now, skew)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := telegram.VerifyReport("", good, []byte(reportBody), now, skew); err == nil {
		t.Fatal("verified without a token")
	}
	if err := telegram.VerifyReport(token, good, []byte(reportBody), now, 0); err == nil {
		t.Fatal("verified with no skew")
	}
}

func signedTS(tok, ts, body string) http.Header {
	h := http.Header{}
	h.Set(telegram.HeaderTimestamp, ts)
	h.Set(telegram.HeaderSignature, telegramfake.Sign(tok, ts, []byte(body)))
	return h
}

func TestParseReport(t *testing.T) {
	r, err := telegram.ParseReport([]byte(reportBody))
	want := telegram.Report{RequestID: "r1", PhoneNumber: "+14155552671", Status: "read", Payload: "VE0123.1",
		Cost: 0.01, UpdatedAt: time.Unix(1700000000, 0).UTC()}
	if err != nil || r != want {
		t.Fatalf("got %+v, %v; want %+v", r, err, want)
	}
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"minimal", `{"request_id":"r","delivery_status":{"status":"expired"}}`, true},
		{"unknown field", `{"request_id":"r","delivery_status":{"status":"sent","updated_at":1},"verification_status":{"status":"code_valid"}}`, true},
		{"trailing space", reportBody + "\n", true},
		{"no request_id", `{"delivery_status":{"status":"sent"}}`, false},
		{"no delivery_status", `{"request_id":"r"}`, false},
		{"unknown status", `{"request_id":"r","delivery_status":{"status":"failed"}}`, false},
		{"upper-case status", `{"request_id":"r","delivery_status":{"status":"SENT"}}`, false},
		{"fractional updated_at", `{"request_id":"r","delivery_status":{"status":"sent","updated_at":1.5}}`, false},
		{"negative updated_at", `{"request_id":"r","delivery_status":{"status":"sent","updated_at":-1}}`, false},
		{"negative cost", `{"request_id":"r","request_cost":-1,"delivery_status":{"status":"sent"}}`, false},
		{"request_id a number", `{"request_id":1,"delivery_status":{"status":"sent"}}`, false},
		{"two objects", reportBody + reportBody, false},
		{"array", `[` + reportBody + `]`, false},
		{"null", `null`, false},
		{"empty", ``, false},
		{"too big", `{"request_id":"r","delivery_status":{"status":"sent"},"pad":"` + strings.Repeat("x", telegram.MaxReportSize) + `"}`, false},
	} {
		if _, err := telegram.ParseReport([]byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// encode writes r as Telegram would send it.
func encode(t *testing.T, r telegram.Report) []byte {
	var updated int64
	if !r.UpdatedAt.IsZero() {
		updated = r.UpdatedAt.Unix()
	}
	b, err := json.Marshal(map[string]any{"request_id": r.RequestID, "phone_number": r.PhoneNumber,
		"request_cost": r.Cost, "is_refunded": r.IsRefunded, "payload": r.Payload,
		"delivery_status": map[string]any{"status": r.Status, "updated_at": updated}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseReport: whatever is posted to the callback URL parses to a report
// with a request_id and a known status, or to an error, never a panic; and
// a report parsed, written as Telegram would and parsed again, is the same.
func FuzzParseReport(f *testing.F) {
	for _, s := range []string{reportBody, `{"request_id":"r","delivery_status":{"status":"expired"}}`,
		`{"request_id":"r","delivery_status":{"status":"sent","updated_at":99999999999}}`,
		`{"request_id":"\u00e9\ud800","payload":"x","delivery_status":{"status":"revoked","updated_at":0},"is_refunded":true}`,
		`{"request_id":"r","delivery_status":null}`, `{}`, `[]`, `""`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := telegram.ParseReport(b)
		if err != nil {
			return
		}
		if r.RequestID == "" || telegram.MapStatus(r.Status) == "" || r.Cost < 0 {
			t.Fatalf("%q parsed to %+v", b, r)
		}
		enc := encode(t, r)
		if len(enc) > telegram.MaxReportSize {
			// Written again, a report near the limit can outgrow it (an
			// invalid byte comes back as a 3-byte U+FFFD, "<" as \u003c).
			return
		}
		again, err := telegram.ParseReport(enc)
		if err != nil || again != r {
			t.Fatalf("%q: %+v round-tripped to %+v, %v", b, r, again, err)
		}
	})
}

// The fake's report reaches a receiver that verifies and parses it as a
// handler would, with the send's reference back as the payload.
func TestReportFromTheFake(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	got := make(chan telegram.Report, 1)
	rcv := newTestReceiver(t, func(h http.Header, body []byte) int {
		if err := telegram.VerifyReport(token, h, body, time.Now(), time.Minute); err != nil {
			t.Error(err)
			return http.StatusUnauthorized
		}
		r, err := telegram.ParseReport(body)
		if err != nil {
			t.Error(err)
			return http.StatusBadRequest
		}
		got <- r
		return http.StatusOK
	})
	m := msg
	m.StatusCallback, m.Ref = rcv+"/v1/webhooks/telegram", "VE0123.2"
	rc, err := newClient(t, fake, nil).Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if status, err := fake.Report(context.Background(), rc.MessageSID, "delivered"); err != nil || status != http.StatusOK {
		t.Fatalf("report: %d %v", status, err)
	}
	r := <-got
	if r.RequestID != rc.MessageSID || r.Payload != m.Ref || r.Status != "delivered" || r.PhoneNumber != m.To ||
		r.Cost != telegramfake.Cost || r.IsRefunded || time.Since(r.UpdatedAt) > time.Minute {
		t.Fatalf("report %+v", r)
	}
}
