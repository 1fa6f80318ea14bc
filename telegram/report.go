package telegram

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"
)

// Report is a delivery report Telegram posted to a send's callback URL.
type Report struct {
	RequestID   string // the send's Receipt.MessageSID
	PhoneNumber string
	// Status is Telegram's delivery status: sent, delivered, read, expired
	// or revoked (MapStatus gives the service's).
	Status string
	// Payload is the send's otp.Message.Ref, echoed back.
	Payload    string
	IsRefunded bool    // the fee came back: not delivered within the ttl
	Cost       float64 // request_cost, in credits
	UpdatedAt  time.Time
}

// MaxReportSize bounds a report's body: Telegram's are a few hundred bytes,
// and a receiver reads no more than this before checking the signature.
const MaxReportSize = 16 << 10

// The headers a report is signed with.
const (
	HeaderTimestamp = "X-Request-Timestamp"
	HeaderSignature = "X-Request-Signature"
)

// Why VerifyReport refuses a report.
var (
	ErrUnsigned     = errors.New("telegram: report without " + HeaderTimestamp + " or " + HeaderSignature)
	ErrBadSignature = errors.New("telegram: report signature does not match")
	ErrStale        = errors.New("telegram: report timestamp outside the allowed skew")
)

// VerifyReport checks that body came from Telegram, as the Gateway API page
// says to ("Checking report integrity"): X-Request-Signature must be the hex
// HMAC-SHA-256, keyed by the SHA-256 of token, of X-Request-Timestamp, a line
// feed and the raw body, compared in constant time. The timestamp (Unix
// seconds, when Telegram sent the report) must then be within maxSkew of
// now either way, so that a report captured once cannot be replayed later.
// Read body through MaxReportSize before calling it.
func VerifyReport(token string, header http.Header, body []byte, now time.Time, maxSkew time.Duration) error {
	if token == "" || maxSkew <= 0 {
		return errors.New("telegram: VerifyReport needs the token and a positive skew")
	}
	ts, sig := header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if ts == "" || sig == "" {
		return ErrUnsigned
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: not %d hex-encoded bytes", ErrBadSignature, sha256.Size)
	}
	key := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), got) {
		return ErrBadSignature
	}
	sent, ok := unixSeconds(ts)
	if !ok {
		return fmt.Errorf("%w: timestamp %.24q is not Unix seconds", ErrStale, ts)
	}
	if age := now.Sub(sent); age > maxSkew || age < -maxSkew {
		return fmt.Errorf("%w: sent at %s, %s from now", ErrStale, sent.UTC().Format(time.RFC3339), age.Round(time.Second))
	}
	return nil
}

// unixSeconds reads a timestamp of decimal digits alone (no sign, no
// fraction), short enough not to overflow.
func unixSeconds(ts string) (time.Time, bool) {
	if len(ts) > 18 {
		return time.Time{}, false
	}
	var n int64
	for _, c := range []byte(ts) {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int64(c-'0')
	}
	return time.Unix(n, 0), true
}

// wireReport is a report as Telegram sends it: a RequestStatus.
type wireReport struct {
	RequestID      string  `json:"request_id"`
	PhoneNumber    string  `json:"phone_number"`
	RequestCost    float64 `json:"request_cost"`
	IsRefunded     bool    `json:"is_refunded"`
	Payload        string  `json:"payload"`
	DeliveryStatus *struct {
		Status    string `json:"status"`
		UpdatedAt int64  `json:"updated_at"`
	} `json:"delivery_status"`
}

// ParseReport reads a report's body: one JSON object, at most MaxReportSize
// bytes, with a request_id and a delivery_status whose status Telegram
// documents. Fields it does not know are let through, as Telegram adds
// them (is_refunded came in 2025).
func ParseReport(body []byte) (Report, error) {
	if len(body) > MaxReportSize {
		return Report{}, fmt.Errorf("telegram: report of %d bytes, over %d", len(body), MaxReportSize)
	}
	var w wireReport
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return Report{}, fmt.Errorf("telegram: report: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Report{}, errors.New("telegram: report: data after its JSON object")
	}
	switch {
	case w.RequestID == "":
		return Report{}, errors.New("telegram: report without request_id")
	case !ValidRequestID(w.RequestID):
		return Report{}, errors.New("telegram: report with a malformed request_id")
	case w.DeliveryStatus == nil:
		return Report{}, errors.New("telegram: report without delivery_status")
	case MapStatus(w.DeliveryStatus.Status) == "":
		return Report{}, fmt.Errorf("telegram: report with unknown delivery status %.32q", w.DeliveryStatus.Status)
	case w.DeliveryStatus.UpdatedAt < 0 || w.RequestCost < 0:
		return Report{}, errors.New("telegram: report with a negative updated_at or request_cost")
	}
	r := Report{RequestID: w.RequestID, PhoneNumber: w.PhoneNumber, Status: w.DeliveryStatus.Status,
		Payload: w.Payload, IsRefunded: w.IsRefunded, Cost: w.RequestCost}
	if w.DeliveryStatus.UpdatedAt > 0 {
		r.UpdatedAt = time.Unix(w.DeliveryStatus.UpdatedAt, 0).UTC()
	}
	return r, nil
}

// requestID is what a request_id may look like to be stored and matched:
// Telegram's are short and alphanumeric.
var requestID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidRequestID reports whether s can be a Telegram request_id.
func ValidRequestID(s string) bool { return requestID.MatchString(s) }
