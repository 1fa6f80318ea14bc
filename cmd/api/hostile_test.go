package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/otpd/otpd/api"
	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// hostileBody is one input of the hostile corpus: raw bytes and the
// Content-Type they travel with ("" sends no Content-Type at all).
type hostileBody struct {
	label string
	ctype string
	body  []byte
}

func (b hostileBody) String() string {
	return fmt.Sprintf("%s [Content-Type %q] body %s", b.label, b.ctype, preview(b.body))
}

// preview quotes the start of a body, enough to recognise it in a failure.
func preview(b []byte) string {
	const n = 120
	if len(b) <= n {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(string(b[:n])), len(b))
}

// hostileCorpus collects distinct inputs: the same bytes with the same
// Content-Type count once.
type hostileCorpus struct {
	seen map[string]bool
	list []hostileBody
}

func (c *hostileCorpus) add(label, ctype string, body []byte) {
	k := ctype + "\x00" + string(body)
	if c.seen[k] {
		return
	}
	c.seen[k] = true
	c.list = append(c.list, hostileBody{label: label, ctype: ctype, body: body})
}

func (c *hostileCorpus) json(label, body string) { c.add(label, "application/json", []byte(body)) }

func (c *hostileCorpus) form(label, body string) {
	c.add(label, "application/x-www-form-urlencoded", []byte(body))
}

// jstr is s as a JSON string, with <, > and & left as they are.
func jstr(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// rawObj writes a JSON object in the given order from key, raw-value pairs.
func rawObj(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jstr(kv[i]))
		b.WriteByte(':')
		b.WriteString(kv[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// fakeID is well formed and belongs to no verification.
const fakeID = "VE0123456789ab0123456789abcdef0123"

// hostileStrings are injection-shaped strings: Redis protocol and Lua,
// glob patterns and hash tags, SQL, HTML, paths, format verbs, and the
// Unicode that looks like digits or hides itself.
var hostileStrings = []string{
	"\r\nFLUSHALL\r\n", "*1\r\n$8\r\nFLUSHALL\r\n", "FLUSHALL",
	"{tag}", "{", "}", "{}", "}{", "otp:{x}:v:*", "otp:{abcdef012345}:n:+14155552671",
	"*", "?", "[a-z]*", `\`, "|", "a|b|c|d|e|f|g|h|i",
	"' OR 1=1 --", `" OR ""="`, "'; DROP TABLE verifications; --",
	"<script>alert(1)</script>", "javascript:alert(1)",
	"../../etc/passwd", `..\..\windows\win.ini`, "/etc/passwd%00.png",
	"%00", "%2e%2e%2f", "%s%n%x%d%p", "%!(EXTRA)", "${jndi:ldap://x/a}", "{{7*7}}", "$(reboot)", "`id`",
	"redis.call('FLUSHALL')", "]]..redis.call('FLUSHALL')..[[", `"); redis.call('FLUSHALL') --`,
	"\u202e1762555514+\u202c", "+1\u200b415\u200c555\u200d2671", "\ufeff+14155552671", "+1\u00a0415\u00a0555\u00a02671",
	"＋１４１５５５５２６７１", "+١٤١٥٥٥٥٢٦٧١", "+۱۴۱۵۵۵۵۲۶۷۱", "+१४१५५५५२६७१",
	"１２３４５６", "١٢٣٤٥٦", "۱۲۳۴۵۶", "12345６", "123 456", " 123456 ", "123456\u0000", "\u0000123456",
	"+14155552671\u0000", "+14155552671\r\nFLUSHALL", "+14155552671' OR 1=1 --", "+14155552671%00",
	"tel:+14155552671", "+14155552671;ext=1", "+1 (415) 555-2671 x123",
	"+", "+0", "+00000000000000", "0", "-1", "NaN", "null", "true", "undefined",
	"VE{x}", "VE" + strings.Repeat("*", 32), "VE0123456789ab0123456789abcdef012*", "VE0123456789AB0123456789ABCDEF0123",
	"::ffff:203.0.113.7", "fe80::1%eth0", "203.0.113.7%eth0", "203.0.113.7 ", "0x7f.1", "127.1",
	"256.256.256.256", "203.0.113.0/24", "::", "0.0.0.0", "[::1]", "2001:db8::1:80",
	"sms\r\n", "SMS", "voice", "whatsapp", "sms\u0000",
	"\u0000", "\x7f", "\ufffd", "\U0001F600", "e\u0301", "ǅ", "İ",
}

// hostileValues are JSON values of every type but string, and the edge
// numbers: each goes where the API expects a string (or smsCode's number).
var hostileValues = []string{
	`0`, `-0`, `1`, `-1`, `1.5`, `1e3`, `-1e3`, `1e999`, `-1e999`, `1E-999`, `123456.0`, `-123456`,
	`18446744073709551615`, `18446744073709551616`, `9223372036854775808`,
	`true`, `false`, `null`, `[]`, `["x"]`, `[null]`, `[[]]`, `{}`, `{"a":1}`, `{"":""}`, `{"$gt":""}`,
	`""`, `" "`,
}

// fieldContexts puts a field among companions that make the rest of the
// body valid for the route that owns it, so a hostile value reaches past
// the decoder into the service.
var fieldContexts = map[string][][]string{
	"to":          {{}, {"code", `"123456"`}},
	"channel":     {{"to", jstr(phone)}},
	"clientIp":    {{"to", jstr(phone)}, {"to", jstr(phone), "code", `"123456"`}},
	"id":          {{"code", `"123456"`}},
	"code":        {{"to", jstr(phone)}, {"id", jstr(fakeID)}},
	"phoneNumber": {{}, {"smsCode", `"123456"`}},
	"smsCode":     {{"phoneNumber", jstr(phone)}},
}

// buildHostileCorpus generates the corpus: several hundred bodies, each
// thrown at every POST route.
func buildHostileCorpus() []hostileBody {
	c := &hostileCorpus{seen: map[string]bool{}}
	fields := make([]string, 0, len(fieldContexts))
	for f := range fieldContexts {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	inContext := func(label, field, raw string) {
		for _, comp := range fieldContexts[field] {
			c.json(label, rawObj(append(append([]string{}, comp...), field, raw)...))
		}
	}

	// Valid bodies of every route, and each of them cut at every byte.
	bases := []string{
		rawObj("to", jstr(phone), "channel", `"sms"`, "clientIp", `"203.0.113.7"`),
		rawObj("id", jstr(fakeID), "code", `"123456"`, "clientIp", `"2001:db8::1"`),
		rawObj("to", jstr(phoneNational), "code", `"123456"`),
		rawObj("phoneNumber", jstr(phoneNational)),
		rawObj("phoneNumber", jstr(phone), "smsCode", `"123456"`),
		rawObj("phoneNumber", jstr(phone), "smsCode", `123456`),
	}
	for bi, b := range bases {
		c.json(fmt.Sprintf("valid %d", bi), b)
		for i := 0; i < len(b); i++ {
			c.json(fmt.Sprintf("base %d truncated at %d", bi, i), b[:i])
		}
	}

	// Malformed JSON.
	for i, s := range []string{
		`{`, `}`, `[`, `]`, `{{`, `}}`, `{]`, `[}`, `{"to":"x"`, `{"to":"x"}}`, `{"to":["x"}`, `{"to":{"a":1]}`,
		`[[[`, `]]]`, `{"to":"x",}`, `{,}`, `{"to"}`, `{"to":}`, `{:"x"}`, `{"to" "x"}`, `{'to':'x'}`, `{to:"x"}`,
		`{"to":"x" "code":"y"}`, `{"to":"x";"code":"y"}`, `{"to"::"x"}`, `{"to":"x",,"code":"y"}`,
		`{"to":"\x41"}`, `{"to":"\u12"}`, `{"to":"\u12G4"}`, `{"to":"\"}`, `{"to":"\`, `{"to":"\q"}`, `{"to":"\/\b\f\n\r\t"}`,
		`{"to":"\ud800"}`, `{"to":"\udc00"}`, `{"to":"\ud800\ud800"}`, `{"to":"\udbff\udfff"}`, `{"to":"\udc00\ud800"}`,
		`{"code":"\ud800\udc00"}`, `{"smsCode":"\ud800"}`, `{"phoneNumber":"+1415555\ud8002671"}`,
		`{"to":NaN}`, `{"to":Infinity}`, `{"to":-Infinity}`, `{"smsCode":NaN}`, `{"smsCode":Infinity}`,
		`{"smsCode":-0}`, `{"smsCode":0123456}`, `{"smsCode":00}`, `{"smsCode":+1}`, `{"smsCode":.5}`,
		`{"smsCode":0x10}`, `{"smsCode":1_000}`, `{"smsCode":1e}`, `{"smsCode":--1}`, `{"smsCode":1.}`,
		`{"phoneNumber":"` + phone + `","smsCode":0123456}`, `{"phoneNumber":"` + phone + `","smsCode":-0}`,
		`{"phoneNumber":"` + phone + `","smsCode":1e999}`, `{"phoneNumber":"` + phone + `","smsCode":000000}`,
		`{"to":tru}`, `{"to":nul}`, `{"to":True}`, `{"to":undefined}`,
		`null`, `true`, `1`, `"x"`, `[]`, `{}`, `{}{}`, `{} x`, `{} {"to":"x"}`, `{}]`, ` { } `, "\t{}\n",
		`{"to":"x"}/*c*/`, "//c\n{}", `{"to":"x"} // c`, "\xef\xbb\xbf{}", "\xef\xbb\xbf" + `{"to":"` + phone + `"}`,
	} {
		c.json(fmt.Sprintf("malformed %d", i), s)
	}

	// Wrong types and edge numbers in every field, alone and in context.
	for _, f := range fields {
		comp := fieldContexts[f][len(fieldContexts[f])-1]
		for _, v := range hostileValues {
			label := fmt.Sprintf("%s=%s", f, v)
			c.json(label, rawObj(f, v))
			c.json(label, rawObj(append(append([]string{}, comp...), f, v)...))
		}
	}

	// Injection-shaped strings in every field, among the companions that
	// take it furthest into the service.
	// Fields checked against a strict format get a sample: the first
	// wrong byte ends their story.
	strict := map[string]int{"channel": 25, "id": 35, "code": 35, "smsCode": 35}
	for _, f := range fields {
		comp := fieldContexts[f][len(fieldContexts[f])-1]
		strs := hostileStrings
		if n, ok := strict[f]; ok {
			strs = sample(hostileStrings, n)
		}
		for _, s := range strs {
			c.json(fmt.Sprintf("%s=%q", f, s), rawObj(append(append([]string{}, comp...), f, jstr(s))...))
		}
	}
	for _, s := range hostileStrings { // the bodies of start and send-code
		c.json(fmt.Sprintf("to=%q alone", s), rawObj("to", jstr(s)))
		c.json(fmt.Sprintf("phoneNumber=%q alone", s), rawObj("phoneNumber", jstr(s)))
	}
	// The same, unescaped: raw control characters make the JSON invalid.
	for i, s := range sample(hostileStrings, 35) {
		c.json(fmt.Sprintf("raw string %d", i), `{"to":"`+s+`","code":"`+s+`"}`)
	}

	// Very long strings and numbers.
	long := map[string]string{
		"to":          "+1" + strings.Repeat("4", 10000),
		"phoneNumber": "+1" + strings.Repeat("4", 10000),
		"code":        strings.Repeat("1", 10000),
		"smsCode":     strings.Repeat("1", 10000),
		"clientIp":    strings.Repeat("1.", 5000),
		"id":          "VE" + strings.Repeat("a", 10000),
		"channel":     strings.Repeat("s", 10000),
	}
	for _, f := range fields {
		inContext(f+" 10k chars", f, jstr(long[f]))
	}
	inContext("smsCode 10k digits as a number", "smsCode", strings.Repeat("9", 10000))
	inContext("to 3k RTL marks", "to", jstr(strings.Repeat("\u202e", 3000)))
	inContext("code 5k zero-width", "code", jstr(strings.Repeat("\u200b", 5000)))
	c.json("10k key", rawObj(strings.Repeat("k", 10000), `"x"`))
	c.json("5k unknown keys", "{"+strings.Repeat(`"a":1,`, 2000)+`"b":1}`)
	c.json("2k duplicate to", "{"+strings.Repeat(`"to":"x",`, 1500)+`"to":"`+phone+`"}`)

	// Oversized: 16 KiB exactly is the limit.
	start := rawObj("to", jstr(phone))
	c.json("exactly 16 KiB", start+strings.Repeat(" ", maxBody-len(start)))
	c.json("16 KiB + 1", start+strings.Repeat(" ", maxBody-len(start)+1))
	c.json("string just over 16 KiB", rawObj("to", jstr(strings.Repeat("1", maxBody))))
	c.json("1 MiB of spaces", strings.Repeat(" ", 1<<20))
	c.json("1 MiB of [", strings.Repeat("[", 1<<20))
	c.json("1 MiB string", rawObj("to", jstr(strings.Repeat("a", 1<<20))))
	c.form("1 MiB form", "MessageSid="+strings.Repeat("S", 1<<20)+"&MessageStatus=sent")

	// Deep nesting: depth 10k, beyond encoding/json's limit, both over and
	// under the body limit.
	c.json("depth 10k arrays, open", strings.Repeat("[", 10000))
	c.json("depth 10k arrays", strings.Repeat("[", 10000)+strings.Repeat("]", 10000))
	c.json("depth 10k objects", strings.Repeat(`{"a":`, 10000)+"1"+strings.Repeat("}", 10000))
	c.json("to: depth 10001 arrays, open", `{"to":`+strings.Repeat("[", 10001))
	c.json("to: depth 8000 arrays", `{"to":`+strings.Repeat("[", 8000)+strings.Repeat("]", 8000)+`}`)
	c.json("smsCode: depth 8000 arrays", `{"phoneNumber":"`+phone+`","smsCode":`+strings.Repeat("[", 8000)+strings.Repeat("]", 8000)+`}`)
	c.json("smsCode: depth 2500 objects", `{"phoneNumber":"`+phone+`","smsCode":`+strings.Repeat(`{"a":`, 2500)+"1"+strings.Repeat("}", 2500)+`}`)
	c.json("to: depth 2500 objects", `{"to":`+strings.Repeat(`{"a":`, 2500)+"1"+strings.Repeat("}", 2500)+`}`)

	// Duplicate keys, case folding, unknown fields.
	for i, s := range []string{
		`{"to":"` + phone + `","to":"x"}`, `{"to":"x","to":"` + phone + `"}`, `{"to":1,"to":"` + phone + `"}`,
		`{"to":"` + phone + `","to":null}`, `{"TO":"` + phone + `"}`, `{"To":"x","tO":"` + phone + `"}`,
		`{"t\u006f":"` + phone + `"}`, `{"to\u0000":"` + phone + `"}`, `{"to ":"` + phone + `"}`, `{" to":"` + phone + `"}`,
		`{"phonenumber":"` + phone + `","SMSCODE":"123456"}`, `{"phoneNumber":"` + phone + `","smsCode":"123456","smsCode":{"a":1}}`,
		`{"phoneNumber":"` + phone + `","smsCode":{"a":1},"smsCode":"123456"}`,
		`{"id":"` + fakeID + `","id":"*","code":"123456"}`, `{"code":"123456","code":"1"}`,
		`{"clientIp":"203.0.113.7","clientIp":1,"to":"` + phone + `"}`,
		`{"admin":true}`, `{"__proto__":{"admin":true}}`, `{"constructor":{"prototype":{}}}`, `{"":""}`,
		`{"to":"` + phone + `","extra":1}`, `{"to":"` + phone + `","channel":"sms","channel":"voice"}`,
		`{"valid":true,"id":"` + fakeID + `","code":"123456"}`, `{"status":"approved","to":"` + phone + `"}`,
	} {
		c.json(fmt.Sprintf("duplicate/unknown %d", i), s)
	}

	// Invalid UTF-8 and NUL bytes, inside strings and outside.
	for i, s := range []string{
		"{\"to\":\"\xff\"}", "{\"to\":\"+1415555\xc0\xaf2671\"}", "{\"\xff\":1}", "\xff{}", "{}\xff", "{\xff}",
		"{\"to\":\"\xed\xa0\x80\"}", "{\"code\":\"12345\xff\"}", "{\"to\":\"\xc0\x80\"}", "{\"to\":\"\xf4\x90\x80\x80\"}",
		"{\"phoneNumber\":\"" + phone + "\",\"smsCode\":\"\xfe\xff\"}", "{\"id\":\"VE\xff\",\"code\":\"123456\"}",
		"{\"clientIp\":\"203.0.113.\xff\",\"to\":\"" + phone + "\"}", "\xfe\xff\x00{\x00}",
		"{\"to\":\"\x00\"}", "\x00{}", "{}\x00", "{\x00\"to\":\"x\"}", "{\"to\":\"" + phone + "\x00\"}",
		`{"to":"\u0000"}`, `{"to":"` + phone + `\u0000"}`, `{"code":"12345\u0000"}`, `{"id":"` + fakeID + `\u0000","code":"123456"}`,
		`{"phoneNumber":"` + phone + `","smsCode":"12345\u0000"}`, strings.Repeat("\x00", 100),
	} {
		c.json(fmt.Sprintf("utf8/nul %d", i), s)
	}

	// Content-Type variations around bodies that are otherwise valid.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for _, kv := range [][2]string{{"to", phone}, {"phoneNumber", phone}, {"smsCode", "123456"}, {"code", "123456"}} {
		_ = mw.WriteField(kv[0], kv[1])
	}
	_ = mw.Close()
	c.add("multipart form", mw.FormDataContentType(), mp.Bytes())
	c.add("multipart, no boundary", "multipart/form-data", mp.Bytes())
	c.add("multipart body as JSON", "application/json", mp.Bytes())
	urlenc := url.Values{"to": {phone}, "phoneNumber": {phone}, "smsCode": {"123456"}, "code": {"123456"}}.Encode()
	c.form("urlencoded fields", urlenc)
	for _, ct := range []string{
		"", "text/plain", "text/html", "application/xml", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/json; charset=\x00",
		"application/json, text/html", "APPLICATION/JSON", "application/problem+json", "*/*", "\x00",
		"application/json; " + strings.Repeat("a=b; ", 1000),
	} {
		for _, bi := range []int{0, 2, 4} {
			c.add(fmt.Sprintf("valid %d as %q", bi, ct), ct, []byte(bases[bi]))
		}
	}

	// Form bodies, for the webhook above all.
	for i, s := range []string{
		url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "AccountSid": {"AC1"}}.Encode(),
		url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}.Encode(),
		"MessageSid=SM1&MessageSid=SM2&MessageStatus=sent&MessageStatus=failed",
		"MessageStatus=failed&MessageStatus=delivered&ErrorCode=1&ErrorCode=2",
		strings.Repeat("MessageSid=SM1&", 1000) + "MessageStatus=sent",
		strings.Repeat("k", 15000) + "=v",
		"MessageSid=SM1&" + strings.Repeat("k", 15000) + "=" + strings.Repeat("v", 1000),
		"MessageSid=" + strings.Repeat("S", 15000) + "&MessageStatus=sent",
		"MessageSid=SM1&ErrorCode=" + strings.Repeat("9", 15000),
		"%", "%zz", "MessageSid=%", "Message%Sid=x", "%ff=%fe", "a=%00", "%00=%00", "MessageSid=%ff%fe",
		"a=1;b=2", "MessageSid=SM1;MessageStatus=sent", "&&&&", "=", "==", "=x", "x", "&=&", "+=+", "MessageSid",
		"MessageSid=&MessageStatus=", "MessageSid=SM1&MessageStatus=", "MessageStatus=delivered",
		"MessageSid=SM1%7C2%7C3&MessageStatus=sent",
		"MessageSid=SM%0D%0AFLUSHALL%0D%0A&MessageStatus=sent",
		"MessageSid=SM1&MessageStatus=delivered%0D%0A", "MessageSid=SM1&MessageStatus=DELIVERED",
		"MessageSid=SM1&MessageStatus=read", "MessageSid=SM1&MessageStatus=canceled", "MessageSid=SM1&MessageStatus=queued",
		"MessageSid=SM1&MessageStatus=%7Cdelivered%7C", "MessageSid=SM1&MessageStatus=undelivered&ErrorCode=-1",
		"MessageSid=SM1&MessageStatus=failed&ErrorCode=99999999999999999999",
		"MessageSid=SM1&MessageStatus=failed&ErrorCode=-9223372036854775808",
		"MessageSid=SM1&MessageStatus=failed&ErrorCode=9223372036854775807",
		"MessageSid=SM1&MessageStatus=failed&ErrorCode=1e3", "MessageSid=SM1&MessageStatus=failed&ErrorCode=0x10",
		"MessageSid=SM1&MessageStatus=failed&ErrorCode=30003%0D%0A", "MessageSid=SM1&MessageStatus=failed&ErrorCode=%7C",
		"v=VE*&a=1&MessageSid=SM1&MessageStatus=sent", "MessageSid=SM1&MessageStatus=sent&AccountSid=" + url.QueryEscape("{tag}"),
	} {
		c.form(fmt.Sprintf("form %d", i), s)
	}
	c.form("form hostile keys", func() string {
		v := url.Values{}
		for _, s := range hostileStrings {
			v.Set(s, s)
		}
		return v.Encode()
	}())
	for i, s := range hostileStrings {
		c.form(fmt.Sprintf("form MessageSid %d %q", i, s), url.Values{"MessageSid": {s}, "MessageStatus": {"sent"}}.Encode())
	}
	for i, s := range sample(hostileStrings, 25) {
		c.form(fmt.Sprintf("form MessageStatus %d %q", i, s), url.Values{"MessageSid": {"SM1"}, "MessageStatus": {s}}.Encode())
	}
	many := url.Values{}
	for i := 0; i < 1500; i++ {
		many.Set("k"+strconv.Itoa(i), "v")
	}
	c.form("1500 distinct keys", many.Encode())
	return c.list
}

// sample is n elements of list, evenly spaced.
func sample(list []string, n int) []string {
	if n >= len(list) {
		return list
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, list[i*len(list)/n])
	}
	return out
}

// serveWatched serves req on h and fails the test, with every goroutine's
// stack, if the handler hangs or a panic escapes the router.
func serveWatched(t testing.TB, h http.Handler, req *http.Request, what string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	type escaped struct {
		v     any
		stack []byte
	}
	done := make(chan *escaped, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- &escaped{v, debug.Stack()}
				return
			}
			done <- nil
		}()
		h.ServeHTTP(w, req)
	}()
	select {
	case e := <-done:
		if e != nil {
			t.Fatalf("%s: panic escaped the router: %v\n%s", what, e.v, e.stack)
		}
	case <-time.After(10 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s: no answer after 10s (hang); goroutines:\n%s", what, buf[:runtime.Stack(buf, true)])
	}
	return w
}

// hostileAnswerError says what is wrong with an answer to a hostile input,
// or "". Every answer is below 500 and has a body (a 204 aside); errors are
// RFC 9457 problems with a code, except the tutorial's mismatch answer on
// /verify-code.
func hostileAnswerError(w *httptest.ResponseRecorder, legacy bool) string {
	body := w.Body.Bytes()
	ct := w.Header().Get("Content-Type")
	switch {
	case w.Code >= 500:
		return fmt.Sprintf("status %d, body %s", w.Code, preview(body))
	case w.Code == http.StatusNoContent:
		if len(body) != 0 {
			return fmt.Sprintf("204 with a body %s", preview(body))
		}
		return ""
	case len(body) == 0:
		return fmt.Sprintf("status %d with no body", w.Code)
	case w.Code < 400:
		if !strings.HasPrefix(ct, "application/json") || !json.Valid(body) {
			return fmt.Sprintf("status %d: Content-Type %q, body %s", w.Code, ct, preview(body))
		}
		return ""
	case legacy && w.Code == http.StatusBadRequest && strings.HasPrefix(ct, "application/json"):
		var m map[string]string
		if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 || m["message"] != mismatch {
			return fmt.Sprintf("400 application/json that is not the mismatch answer: %s", preview(body))
		}
		return ""
	case ct != "application/problem+json":
		return fmt.Sprintf("status %d with Content-Type %q, body %s", w.Code, ct, preview(body))
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Sprintf("status %d: problem is not JSON (%v): %s", w.Code, err, preview(body))
	}
	if p.Code == "" || p.Status != w.Code || p.Type != "urn:otpd:problem:"+p.Code || p.Title == "" {
		return fmt.Sprintf("status %d: malformed problem %s", w.Code, preview(body))
	}
	if legacy && p.Message == "" {
		return fmt.Sprintf("status %d: tutorial route's problem lacks message: %s", w.Code, preview(body))
	}
	return ""
}

// hostileFixture is the fixture with the production guard in front of the
// service, so that clientIp and the API key reach the limiter's Redis keys
// too. The limits are far above what the corpus spends.
func hostileFixture(t testing.TB) *fixture {
	t.Helper()
	lots := []redisstore.Rate{{Count: 1_000_000, Period: time.Hour}}
	return fixtureOf(t, app.Options{Policy: testPolicy, Log: testLogger(t), Limits: redisstore.LimitConfig{
		ClientIPSends: lots, ClientIPChecks: lots, APIKeySends: lots, APIKeyWrites: lots, PrefixSends: lots,
		BudgetPerMinute: 1_000_000, CountryBudgets: map[string]int{"*": 1_000_000},
	}}, nil)
}

// numberSource hands out valid US mobile-plan numbers nobody has used yet.
type numberSource struct{ next int }

func (s *numberSource) number(t testing.TB) string {
	t.Helper()
	for ; s.next < 10000; s.next++ {
		n := fmt.Sprintf("+1650253%04d", s.next)
		if _, err := otp.ParsePhone(n, "US"); err == nil {
			s.next++
			return n
		}
	}
	t.Fatal("no valid numbers left")
	return ""
}

func callbackTarget(id, attempt string) string {
	return api.StatusCallbackPath + "?" + url.Values{"v": {id}, "a": {attempt}}.Encode()
}

// signCallback signs a form the way Twilio does and ValidSignature checks:
// over the first value of each key.
func signCallback(target string, form url.Values) string {
	first := url.Values{}
	for k, vs := range form {
		if len(vs) > 0 {
			first.Set(k, vs[0])
		}
	}
	return twiliofake.Sign(testHooks.AuthToken, testHooks.PublicURL+target, first)
}

// hostileFailures collects a route's failures and reports the first few.
type hostileFailures struct {
	n     int
	first []string
	codes map[int]int
}

func (h *hostileFailures) note(w *httptest.ResponseRecorder, what, problem string) {
	h.codes[w.Code]++
	if problem == "" {
		return
	}
	h.n++
	if len(h.first) < 15 {
		h.first = append(h.first, what+": "+problem)
	}
}

func (h *hostileFailures) report(t *testing.T, total int) {
	t.Helper()
	t.Logf("%d requests, statuses %v", total, h.codes)
	if h.n > 0 {
		t.Errorf("%d of %d answers are wrong; the first:\n%s", h.n, total, strings.Join(h.first, "\n"))
	}
}

// TestHostileBodies throws the hostile corpus at every POST route: each
// answer is a well-formed 4xx (or a success), never a 5xx, a panic or a
// hang, and afterwards the service works and Redis holds no key built
// from injected text.
func TestHostileBodies(t *testing.T) {
	corpus := buildHostileCorpus()
	if len(corpus) < 300 {
		t.Fatalf("corpus has %d bodies, want 300+", len(corpus))
	}
	t.Logf("corpus: %d distinct bodies", len(corpus))

	f := hostileFixture(t)
	ctx := context.Background()
	nums := &numberSource{}
	// A verification made before the corpus must still be there after it:
	// nothing flushed or deleted the database.
	sentinel := f.start(t, nums.number(t))
	toCancel := f.start(t, nums.number(t))
	bearer := "Bearer " + testKeys[0]

	post := func(t *testing.T, target string, b hostileBody, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", target, bytes.NewReader(b.body))
		if b.ctype != "" {
			req.Header.Set("Content-Type", b.ctype)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return serveWatched(t, f.h, req, "POST "+target+" "+b.String())
	}

	jsonRoutes := []struct {
		name, path string
		legacy     bool
	}{
		{"start", "/v1/verifications", false},
		{"check", "/v1/verifications/check", false},
		{"cancel", "/v1/verifications/" + toCancel.ID + "/cancel", false},
		{"send-code", "/send-code", true},
		{"verify-code", "/verify-code", true},
	}
	for _, r := range jsonRoutes {
		t.Run(r.name, func(t *testing.T) {
			fails := &hostileFailures{codes: map[int]int{}}
			for _, b := range corpus {
				w := post(t, r.path, b, map[string]string{"Authorization": bearer})
				fails.note(w, b.String(), hostileAnswerError(w, r.legacy))
			}
			fails.report(t, len(corpus))
		})
	}

	t.Run("webhook_unsigned", func(t *testing.T) {
		fails := &hostileFailures{codes: map[int]int{}}
		target := callbackTarget(sentinel.ID, "1")
		for i, b := range corpus {
			hdr := map[string]string{}
			if i%2 == 1 {
				hdr["X-Twilio-Signature"] = "bm90IGEgc2lnbmF0dXJl"
			}
			w := post(t, target, b, hdr)
			problem := hostileAnswerError(w, false)
			if problem == "" && w.Code < 400 {
				problem = fmt.Sprintf("unsigned callback accepted with %d", w.Code)
			}
			fails.note(w, b.String(), problem)
		}
		fails.report(t, len(corpus))
	})

	t.Run("webhook_signed", func(t *testing.T) {
		fails := &hostileFailures{codes: map[int]int{}}
		shared := f.start(t, nums.number(t))
		total := 0
		for _, b := range corpus {
			// A body that may set the attempt's MessageSid gets a fresh
			// verification, so that no earlier body's sid shadows it.
			v := shared
			form, perr := url.ParseQuery(string(b.body))
			if perr == nil && form.Get("MessageSid") != "" && len(b.body) <= maxBody {
				v = f.start(t, nums.number(t))
			}
			target := callbackTarget(v.ID, "1")
			sig := "bm90IGEgc2lnbmF0dXJl"
			if perr == nil {
				sig = signCallback(target, form)
			}
			w := post(t, target, b, map[string]string{"X-Twilio-Signature": sig})
			problem := hostileAnswerError(w, false)
			if problem == "" && perr == nil && len(b.body) <= maxBody && w.Code != http.StatusNoContent {
				problem = fmt.Sprintf("a correctly signed callback got %d: %s", w.Code, preview(w.Body.Bytes()))
			}
			fails.note(w, b.String(), problem)
			total++
			// The verification the callback was about still reads.
			if v.ID != shared.ID {
				g := f.getHostile(t, v.ID)
				if p := hostileAnswerError(g, false); p != "" || g.Code != http.StatusOK {
					fails.note(g, "GET /v1/verifications/{id} after the signed callback "+b.String(),
						fmt.Sprintf("status %d, body %s", g.Code, preview(g.Body.Bytes())))
				}
				total++
			}
		}
		// Hostile callback URLs, correctly signed over a real form.
		form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}
		for _, q := range []string{
			"v=" + shared.ID + "&a=0", "v=" + shared.ID + "&a=-1", "v=" + shared.ID + "&a=1e3",
			"v=" + shared.ID + "&a=99999999999999999999", "v=" + shared.ID + "&a=9223372036854775807",
			"v=" + shared.ID + "&a=%20", "v=" + shared.ID + "&a=" + url.QueryEscape("١"),
			"v=" + shared.ID + "&a=1&a=2", "v=" + shared.ID + "&v=" + fakeID + "&a=1", "v=" + shared.ID + ";a=1",
			"v=&a=1", "v=" + url.QueryEscape("*") + "&a=1", "v=" + url.QueryEscape("{x}") + "&a=1",
			"v=" + fakeID + "&a=1", "v=" + url.QueryEscape("otp:{x}:v:*") + "&a=1",
			"v=" + strings.Repeat("a", 10000) + "&a=1", "v=" + url.QueryEscape("\r\nFLUSHALL\r\n") + "&a=1",
			"a=1", "", "%zz", "v=" + shared.ID + "&a=1&" + strings.Repeat("x=1&", 1000),
		} {
			target := api.StatusCallbackPath + "?" + q
			b := hostileBody{label: "query " + preview([]byte(q)), ctype: "application/x-www-form-urlencoded", body: []byte(form.Encode())}
			w := post(t, target, b, map[string]string{"X-Twilio-Signature": signCallback(target, form)})
			fails.note(w, b.String(), hostileAnswerError(w, false))
			total++
		}
		g := f.getHostile(t, shared.ID)
		if p := hostileAnswerError(g, false); p != "" || g.Code != http.StatusOK {
			fails.note(g, "GET the shared verification after the signed callbacks", fmt.Sprintf("status %d, body %s", g.Code, preview(g.Body.Bytes())))
		}
		fails.report(t, total+1)
	})

	// Afterwards: alive, nothing flushed, a normal flow works.
	if w := f.do("GET", "/healthz", nil); w.Code != http.StatusOK {
		t.Fatalf("healthz after the corpus: %d %s", w.Code, w.Body)
	}
	if w := f.getHostile(t, sentinel.ID); w.Code != http.StatusOK {
		t.Fatalf("the verification made before the corpus is gone: %d %s", w.Code, w.Body)
	}
	v := f.start(t, nums.number(t))
	a := wantCheck(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": f.liveCode(t, v.ID)}))
	if !a.Valid || a.Status != otp.StatusApproved {
		t.Fatalf("normal flow after the corpus: %+v", a)
	}

	// No Redis key was built from injected text.
	keys, err := f.RDB.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("Redis is empty after the corpus")
	}
	banned := []string{"FLUSHALL", "<script>", "..", "%00", " ", "*", "'", "passwd", "%s", "\x00", "\r", "\n", "|"}
	for _, k := range keys {
		bad := !utf8.ValidString(k)
		for _, r := range k {
			if r < 0x21 || r > 0x7e {
				bad = true
			}
		}
		for _, b := range banned {
			if strings.Contains(k, b) {
				bad = true
			}
		}
		if bad {
			t.Errorf("Redis key built from hostile input: %q", k)
		}
	}
	t.Logf("%d Redis keys after the corpus, all clean", len(keys))
}

// getHostile reads a verification with the API key, watched for hangs.
func (f *fixture) getHostile(t testing.TB, id string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", "/v1/verifications/"+url.PathEscape(id), nil)
	req.Header.Set("Authorization", "Bearer "+testKeys[0])
	return serveWatched(t, f.h, req, "GET /v1/verifications/"+id)
}

// TestHostileIDs: a hostile id in the path is a 404 problem on the read
// and cancel routes, never a 5xx, and reaches no Redis key.
func TestHostileIDs(t *testing.T) {
	f := hostileFixture(t)
	real := f.start(t, phone)
	ids := []string{
		"{tag}", "{", "}", "{}", "*", "?", "[a-z]", "otp:{x}:v:*", "VE*", "VE" + strings.Repeat("*", 32),
		"VE{0123456789a}0123456789abcdef01", "VE0123456789ab0123456789abcdef012*", "VE0123456789AB0123456789ABCDEF0123",
		"VE0123456789ab0123456789abcdef012g", "VE0123456789ab0123456789abcdef01234", "VE0123456789ab0123456789abcdef012",
		fakeID, strings.ToUpper(real.ID), real.ID + "x", real.ID[:len(real.ID)-1], real.ID + "\x00", real.ID + " ",
		" " + real.ID, real.ID + "\u200b", "\u202e" + real.ID, real.ID + "%00", real.ID + "/..",
		strings.Repeat("a", 10000), "VE" + strings.Repeat("0", 10000), strings.Repeat("{", 5000),
		"VE٠١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠١", "ＶＥ0123456789ab0123456789abcdef0123", "VE0123456789ab0123456789abcdef012３",
		"\U0001F600", "\xff", "\xff\xfe", "..", "...", "../..", "%00", "%2e%2e", "\x00", "\r\nFLUSHALL\r\n", " ", "\t",
		"' OR 1=1 --", "<script>alert(1)</script>", "%s%n", "check", "cancel", "a/b", "/", "?v=1", "#frag", ";", "%", "",
	}
	total := 0
	var failures []string
	for _, id := range ids {
		for _, route := range []struct{ method, path string }{
			{"GET", "/v1/verifications/" + url.PathEscape(id)},
			{"POST", "/v1/verifications/" + url.PathEscape(id) + "/cancel"},
		} {
			req := httptest.NewRequest(route.method, route.path, nil)
			req.Header.Set("Authorization", "Bearer "+testKeys[0])
			what := fmt.Sprintf("%s %s (id %s)", route.method, preview([]byte(route.path)), preview([]byte(id)))
			w := serveWatched(t, f.h, req, what)
			total++
			problem := hostileAnswerError(w, false)
			if problem == "" && w.Code != http.StatusNotFound {
				problem = fmt.Sprintf("status %d, want 404: %s", w.Code, preview(w.Body.Bytes()))
			}
			if problem == "" {
				var p Problem
				_ = json.Unmarshal(w.Body.Bytes(), &p)
				if p.Code != "not_found" {
					problem = fmt.Sprintf("404 with code %q, want not_found", p.Code)
				}
			}
			if problem != "" && len(failures) < 20 {
				failures = append(failures, what+": "+problem)
			}
		}
	}
	if len(failures) > 0 {
		t.Errorf("hostile ids (%d requests):\n%s", total, strings.Join(failures, "\n"))
	}
	// The real verification was not touched by its mangled ids.
	if v := wantVerification(t, f.getHostile(t, real.ID), http.StatusOK); v.Status != otp.StatusPending {
		t.Fatalf("real verification is %s after the hostile ids", v.Status)
	}
}

// TestHostileWebhookSidWithPipe: a correctly signed status callback whose
// MessageSid holds "|" arrives before the worker has recorded a sid. The
// attempt script stores the sid unescaped inside the "|"-separated attempt
// field, which then has more than 8 parts: parseAttempt calls it corrupt,
// and every route that reads the verification answers 500 until it is
// gone. Twilio's real SIDs never hold "|", so only a holder of the auth
// token can do this; the service should still refuse such a sid (or store
// it safely) rather than brick the number's verification.
func TestHostileWebhookSidWithPipe(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)
	form := url.Values{"MessageSid": {"SM1|x"}, "MessageStatus": {"sent"}}
	target := callbackTarget(v.ID, "1")
	req := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", signCallback(target, form))
	w := serveWatched(t, f.h, req, "signed callback")
	if w.Code >= 500 {
		t.Fatalf("callback: %d %s", w.Code, w.Body)
	}
	f.Clock.Advance(testPolicy.Cooldown)
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/verifications/" + v.ID, nil},
		// The resend's script runs (attempt 2 is written) before the
		// reply fails to parse, so nothing is enqueued.
		{"POST", "/v1/verifications", obj{"to": phone}},
		{"POST", "/send-code", obj{"phoneNumber": phone}},
		// The check's script approves the right code before the reply
		// fails to parse: the code is spent and the client sees a 500.
		{"POST", "/v1/verifications/check", obj{"id": v.ID, "code": code}},
		{"POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": code}},
		{"POST", "/v1/verifications/" + v.ID + "/cancel", nil},
	} {
		if w := f.do(r.method, r.path, r.body); w.Code >= 500 {
			t.Errorf("%s %s after a signed callback with MessageSid %q: %d %s", r.method, r.path, "SM1|x", w.Code, w.Body)
		}
	}
}
