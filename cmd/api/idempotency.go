package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
)

// maxIdempotencyKey bounds a key's length; UUIDs and ULIDs fit many times.
const maxIdempotencyKey = 255

// maxKeptAnswer bounds what one key may keep in Redis; answers are far
// smaller (a verification is under 2 KiB).
const maxKeptAnswer = 32 << 10

// idempotent honours the Idempotency-Key header (IETF httpapi draft) on the
// route it guards: the first request with a key runs, and its answer is
// replayed, status and body, to every later request with the same key and
// the same method, path and body, for 24 hours, per API key. While the
// first still runs, another gets 409 idempotency_in_progress; the key with
// another request is 422 idempotency_key_reused. A 429 or 5xx is not kept:
// a retry with the key runs again.
//
// It costs one Redis round trip before the handler (SET NX GET claims the
// key or reads what holds it); the answer is kept after it has gone out.
// withBody says the route reads its body, which is then part of what makes
// two requests the same (a cancel ignores its body, and so does its key).
func idempotent(svc *otp.Service, log *slog.Logger, withBody bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		values := c.Request.Header.Values("Idempotency-Key")
		if len(values) == 0 {
			c.Next()
			return
		}
		key, err := parseIdempotencyKey(values)
		if err != nil {
			writeProblem(c, problem(http.StatusBadRequest, "invalid_idempotency_key", err.Error()))
			return
		}
		var body []byte
		if withBody {
			if body, err = io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)); err != nil {
				var tooBig *http.MaxBytesError
				if !errors.As(err, &tooBig) {
					err = &otp.InputError{Detail: "could not read request body"}
				}
				writeError(c, err)
				return
			}
			c.Request.Body = io.NopCloser(bytes.NewReader(body))
		}
		fp := otp.RequestFingerprint(c.Request.Method, c.Request.URL.Path, body)
		id, state, kept, err := svc.ClaimIdempotency(c.Request.Context(), c.GetString(apiKeyIDKey), key, fp)
		switch {
		case err != nil:
			writeError(c, err)
		case state == otp.IdempotencyInProgress:
			p := problem(http.StatusConflict, "idempotency_in_progress",
				"a request with this Idempotency-Key is still running; retry after a moment")
			p.RetryAfter = 1
			writeProblem(c, p)
		case state == otp.IdempotencyReused:
			writeProblem(c, problem(http.StatusUnprocessableEntity, "idempotency_key_reused",
				"this Idempotency-Key was used with another request (method, path or body); use a new key for a new request"))
		case state == otp.IdempotencyDone:
			replay(c, kept)
		default:
			runIdempotent(c, svc, id, log)
		}
	}
}

// runIdempotent serves the claimed request, then keeps its answer, or forgets the
// claim when the answer is one a retry should not get again.
func runIdempotent(c *gin.Context, svc *otp.Service, id *otp.Idempotency, log *slog.Logger) {
	rec := &answerRecorder{ResponseWriter: c.Writer}
	c.Writer = rec
	c.Next()
	c.Writer = rec.ResponseWriter
	// The answer goes out first; a retry that comes before it is kept
	// gets 409, as while the request ran.
	c.Writer.Flush()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 2*time.Second)
	defer cancel()
	status := rec.Status()
	var err error
	if status >= 500 || status == http.StatusTooManyRequests || rec.overflow {
		err = svc.ForgetIdempotency(ctx, id)
	} else {
		err = svc.KeepAnswer(ctx, id, otp.Answer{Status: status, Body: rec.body.Bytes(),
			Problem:  strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json"),
			Location: rec.Header().Get("Location")})
	}
	if err != nil {
		// The claim ends by itself (otp.IdempotencyHold); until then a
		// retry is told to wait, then runs again.
		log.ErrorContext(ctx, "keep the answer of an Idempotency-Key request", "err", err)
	}
}

// replay writes a kept answer, as the first request got it.
func replay(c *gin.Context, a otp.Answer) {
	if a.Location != "" {
		c.Header("Location", a.Location)
	}
	c.Header("Idempotent-Replayed", "true")
	ctype := "application/json; charset=utf-8"
	if a.Problem {
		ctype = "application/problem+json"
	}
	c.Data(a.Status, ctype, a.Body)
	c.Abort()
}

// answerRecorder copies the body a handler writes.
type answerRecorder struct {
	gin.ResponseWriter
	body     bytes.Buffer
	overflow bool
}

func (r *answerRecorder) Write(b []byte) (int, error) {
	r.keep(b)
	return r.ResponseWriter.Write(b)
}

func (r *answerRecorder) WriteString(s string) (int, error) {
	r.keep([]byte(s))
	return r.ResponseWriter.WriteString(s)
}

func (r *answerRecorder) keep(b []byte) {
	if r.body.Len()+len(b) > maxKeptAnswer {
		r.overflow = true
		return
	}
	r.body.Write(b)
}

// parseIdempotencyKey reads the header's one value: a Structured Field
// String as the draft says ("…", with \" and \\ escapes), or, as many
// clients send it, the bare key. Either way 1 to 255 printable ASCII
// characters.
func parseIdempotencyKey(values []string) (string, error) {
	if len(values) != 1 {
		return "", errors.New("send one Idempotency-Key header")
	}
	v := strings.Trim(values[0], " \t")
	var key string
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		closed := false
		for i := 1; i < len(v); i++ {
			ch := v[i]
			switch {
			case ch == '\\':
				if i+1 >= len(v) || (v[i+1] != '"' && v[i+1] != '\\') {
					return "", errors.New(`Idempotency-Key: a \ escapes only " or \`)
				}
				i++
				b.WriteByte(v[i])
			case ch == '"':
				if i != len(v)-1 {
					return "", errors.New("Idempotency-Key: nothing may follow the closing quote")
				}
				closed = true
			case ch < 0x20 || ch > 0x7e:
				return "", errors.New("Idempotency-Key: printable ASCII characters only")
			default:
				b.WriteByte(ch)
			}
		}
		if !closed {
			return "", errors.New("Idempotency-Key: the quoted string is not closed")
		}
		key = b.String()
	} else {
		for i := 0; i < len(v); i++ {
			if ch := v[i]; ch <= 0x20 || ch > 0x7e || ch == '"' || ch == '\\' || ch == ',' {
				return "", errors.New(`Idempotency-Key: a bare key is printable ASCII without spaces, quotes, \ or commas; quote it ("…") otherwise`)
			}
		}
		key = v
	}
	if key == "" || len(key) > maxIdempotencyKey {
		return "", errors.New("Idempotency-Key: 1 to 255 characters")
	}
	return key, nil
}
