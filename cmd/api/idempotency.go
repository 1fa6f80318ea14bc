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

	"github.com/otpd/otpd/internal/idempotency"
	"github.com/otpd/otpd/otp"
)

// maxIdempotencyKey bounds a key's length; UUIDs and ULIDs fit many times.
const maxIdempotencyKey = 255

// maxKeptAnswer bounds what one key may keep in Redis; a verification is
// under 2 KiB.
const maxKeptAnswer = 8 << 10

// idempotent honours the Idempotency-Key header (IETF httpapi draft) on the
// route it guards: the first request with a key runs, and its 2xx answer is
// replayed, status and body, to every later request with the same key and
// the same method, path and body, for 24 hours, per API key. While the
// first still runs, another gets 409 idempotency_in_progress; the key with
// another request is 422 idempotency_key_reused. Any other answer is not
// kept: a retry with the key runs again (a refusal sent nothing), and
// neither is a 2xx the handler marked with changedNothing. A new key
// beyond what the API key may keep at once (API_KEY_IDEMPOTENCY_KEYS) is
// refused, 429 rate_limited with limit idempotency_keys, before the
// request runs: running it without keeping its answer would break the
// promise the key asks for.
//
// A retry costs one Redis round trip in all (the claim's script finds the
// kept answer); a first request one before its handler (the claim, which
// counts toward the cap) and one after it (the answer is kept before it
// goes out).
// withBody says the route reads its body, which is then part of what makes
// two requests the same (a cancel ignores its body, and so does its key).
func idempotent(store idempotency.Store, log *slog.Logger, withBody bool) gin.HandlerFunc {
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
		fp := idempotency.RequestFingerprint(c.Request.Method, c.Request.URL.Path, body)
		claim, state, kept, err := store.Claim(c.Request.Context(), c.GetString(apiKeyIDKey), key, fp)
		switch {
		case err != nil:
			writeError(c, err)
		case state == idempotency.InProgress:
			p := problem(http.StatusConflict, "idempotency_in_progress",
				"a request with this Idempotency-Key is still running; retry after a moment")
			p.RetryAfter = 1
			writeProblem(c, p)
		case state == idempotency.Reused:
			writeProblem(c, problem(http.StatusUnprocessableEntity, "idempotency_key_reused",
				"this Idempotency-Key was used with another request (method, path or body); use a new key for a new request"))
		case state == idempotency.Done:
			replay(c, kept)
		default:
			runIdempotent(c, store, claim, log)
		}
	}
}

// unchangedKey marks, in the gin context, a 2xx answer that changed
// nothing: a cancel of a verification canceled before.
const unchangedKey = "otp.idempotency_unchanged"

// changedNothing tells idempotent that the handler's answer changed
// nothing, so its Idempotency-Key keeps nothing. Running such a request
// again answers alike, so a retry loses nothing; and keeping its answer
// for 24 hours would let a client fill Redis with requests that cost it
// nothing (14,000 cancels of one canceled verification, 10 MB).
func changedNothing(c *gin.Context) { c.Set(unchangedKey, true) }

// runIdempotent serves the claimed request. A 2xx answer is kept before it
// goes out, so a retry can never find the key free after the client saw
// it; any other answer (a refusal, an outage), and one that changed
// nothing, is forgotten, so a retry runs again: the request changed
// nothing worth replaying, and refusals that echo their input are never
// stored.
func runIdempotent(c *gin.Context, store idempotency.Store, claim *idempotency.Claim, log *slog.Logger) {
	rec := &answerRecorder{ResponseWriter: c.Writer, status: http.StatusOK}
	c.Writer = rec
	defer func() {
		c.Writer = rec.ResponseWriter
		if rec.wrote || rec.status != http.StatusOK || rec.body.Len() > 0 {
			c.Writer.WriteHeader(rec.status)
			_, _ = c.Writer.Write(rec.body.Bytes())
		}
	}()
	c.Next()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 2*time.Second)
	defer cancel()
	if rec.status < 200 || rec.status > 299 || rec.overflow || c.GetBool(unchangedKey) {
		if err := store.Forget(ctx, claim); err != nil {
			// The claim ends by itself (idempotency.Hold).
			log.ErrorContext(ctx, "forget an Idempotency-Key claim", "err", err)
		}
		return
	}
	a := idempotency.Answer{Status: rec.status, Body: rec.body.Bytes(),
		Problem:  strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json"),
		Location: rec.Header().Get("Location")}
	for try := 0; try < 2; try++ {
		kept, err := store.Keep(ctx, claim, a)
		switch {
		case err == nil && !kept:
			log.WarnContext(ctx, "an Idempotency-Key request outlived its claim; its answer is not kept")
			return
		case err == nil:
			return
		case try == 1:
			// The request's effect stands and its answer goes out; a retry
			// within idempotency.Hold is told to wait, then runs again.
			log.ErrorContext(ctx, "keep the answer of an Idempotency-Key request", "err", err)
		}
	}
}

// replay writes a kept answer, as the first request got it.
func replay(c *gin.Context, a idempotency.Answer) {
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

// answerRecorder holds what a handler writes until its answer is kept.
type answerRecorder struct {
	gin.ResponseWriter
	status   int
	wrote    bool
	body     bytes.Buffer
	overflow bool
}

func (r *answerRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
	}
}

func (r *answerRecorder) WriteHeaderNow() { r.wrote = true }
func (r *answerRecorder) Status() int     { return r.status }
func (r *answerRecorder) Size() int       { return r.body.Len() }
func (r *answerRecorder) Written() bool   { return r.wrote }
func (r *answerRecorder) Flush()          {}

func (r *answerRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	if r.body.Len()+len(b) > maxKeptAnswer {
		r.overflow = true
	}
	return r.body.Write(b)
}

func (r *answerRecorder) WriteString(s string) (int, error) { return r.Write([]byte(s)) }

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
