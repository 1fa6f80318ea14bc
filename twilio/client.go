package twilio

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
)

// conn is what a Sender builds once for all its requests: twilio-go's
// client builds them anew for each (its credentials checked by regular
// expression, the URL parsed three times, basic auth encoded twice),
// and takes no context.
type conn struct {
	sid    string
	prefix string // the API URL, without its trailing /
	http   *http.Client
	// The headers every request carries; net/http only reads them.
	auth, agent []string
	// credErr is twilio-go's refusal of credentials it would not send.
	credErr error
	// edge and region are twilio-go's (TWILIO_EDGE, TWILIO_REGION), read
	// once; the API URL's host replaces the host they make.
	edge, region string
}

const formContentType = "application/x-www-form-urlencoded"

var alphanumeric = regexp.MustCompile(`^[a-zA-Z0-9]*$`)

func newConn(cfg Config, base *url.URL, rt http.RoundTripper) *conn {
	c := &conn{
		sid:    cfg.AccountSID,
		prefix: base.Scheme + "://" + base.Host + strings.TrimRight(base.Path, "/"),
		http: &http.Client{Transport: rt, Timeout: cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		auth:   []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.AccountSID+":"+cfg.AuthToken))},
		agent:  []string{fmt.Sprintf("twilio-go/%s (%s %s) go/%s", twclient.LibraryVersion, runtime.GOOS, runtime.GOARCH, runtime.Version())},
		edge:   os.Getenv("TWILIO_EDGE"),
		region: os.Getenv("TWILIO_REGION"),
	}
	// As twilio-go refuses them, with the same errors: never sent.
	switch {
	case !alphanumeric.MatchString(cfg.AccountSID):
		c.credErr = &twclient.TwilioRestError{Status: 400, Code: 21222, Message: "Invalid Username. Illegal chars",
			MoreInfo: "https://www.twilio.com/docs/errors/21222"}
	case !alphanumeric.MatchString(cfg.AuthToken):
		c.credErr = &twclient.TwilioRestError{Status: 400, Code: 21224, Message: "Invalid Password. Illegal chars",
			MoreInfo: "https://www.twilio.com/docs/errors/21224"}
	}
	return c
}

// sendClient is twilio-go's client for one send: it binds the request to ctx
// and remembers a Retry-After from the answer. It implements
// twclient.BaseClient.
type sendClient struct {
	*conn
	ctx   context.Context
	after time.Duration
}

func (c *sendClient) AccountSid() string       { return c.sid }
func (c *sendClient) SetTimeout(time.Duration) {}
func (c *sendClient) SetOauth(twclient.OAuth)  {}
func (c *sendClient) OAuth() twclient.OAuth    { return nil }
func (c *conn) handler(cl *sendClient) *twclient.RequestHandler {
	return &twclient.RequestHandler{Client: cl, Edge: c.edge, Region: c.region}
}

// SendRequest implements twclient.BaseClient as twilio-go's client does
// for the form posts the Messages and Calls APIs make, at the API URL:
// an error status is a *twclient.TwilioRestError, or an error when its
// body is not one.
func (c *sendClient) SendRequest(method, rawURL string, data url.Values, headers map[string]any, body ...byte) (*http.Response, error) {
	if c.credErr != nil {
		return nil, c.credErr
	}
	if ct, _ := headers["Content-Type"].(string); method != http.MethodPost || ct != formContentType || len(body) > 0 {
		return nil, fmt.Errorf("twilio: %s %q as %q is not supported", method, ct, rawURL)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.prefix+pathOf(rawURL), strings.NewReader(data.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header["Authorization"], req.Header["User-Agent"] = c.auth, c.agent
	for k, v := range headers {
		req.Header.Set(k, fmt.Sprint(v))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	c.after = parseRetryAfter(resp.Header.Get("Retry-After"))
	// The connection goes back to the pool only once its answer is read to
	// the end and closed, and twilio-go neither drains nor closes an answer
	// it cannot decode (a proxy's HTML 502): read it all here.
	b, err := readAnswer(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		rest := &twclient.TwilioRestError{}
		if err := json.Unmarshal(b, rest); err != nil {
			return nil, fmt.Errorf("twilio: error decoding the response for an HTTP error code: %d: %w", resp.StatusCode, err)
		}
		if rest.Status == 0 {
			// A JSON error without Twilio's fields (a proxy's, or null)
			// is judged by its HTTP status, not taken for a permanent one.
			rest.Status = resp.StatusCode
		}
		return nil, rest
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// pathOf is a URL's path and query: twilio-go's URL names Twilio's host,
// which the API URL replaces.
func pathOf(rawURL string) string {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// maxAnswer bounds what is read of one answer of Twilio's (a few KB).
const maxAnswer = 1 << 20

// readAnswer reads and closes an answer's body, at most maxAnswer bytes,
// in one buffer when its length is known.
func readAnswer(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	r := io.LimitReader(resp.Body, maxAnswer)
	if n := resp.ContentLength; n >= 0 && n < maxAnswer {
		var buf bytes.Buffer
		buf.Grow(int(n) + bytes.MinRead)
		_, err := buf.ReadFrom(r)
		return buf.Bytes(), err
	}
	return io.ReadAll(r)
}
