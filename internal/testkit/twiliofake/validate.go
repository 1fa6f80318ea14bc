package twiliofake

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The patterns, types, enums and limits below are copied from Twilio's
// OpenAPI description of POST /2010-04-01/Accounts/{AccountSid}/Messages.json,
// twilio_api_v2010.json in github.com/twilio/twilio-oai at commit d50069b
// (2026-04-14). They are copied, not read, because the file lives outside
// this repository (../shared) and a user's clone does not have it.
var (
	accountSIDRe          = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	messagingServiceSIDRe = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	contentSIDRe          = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)
	applicationSIDRe      = regexp.MustCompile(`^AP[0-9a-fA-F]{32}$`)
)

const (
	// ValidityPeriod: "Accepted values are integers from 1 to 36000".
	minValidityPeriod, maxValidityPeriod = 1, 36000
	maxBodyChars                         = 1600 // Body: "up to 1,600 characters"
	maxMediaURLs                         = 10   // MediaUrl: "up to ten media_url parameters"
)

// Enum values of components/schemas message_enum_*. ScheduleType is left
// out: it has an error code of its own (see checkSchedule).
var enums = []struct {
	field  string
	values []string
}{
	{"ContentRetention", []string{"retain", "discard"}},
	{"AddressRetention", []string{"retain", "obfuscate"}},
	{"TrafficType", []string{"free"}},
	{"RiskCheck", []string{"enable", "disable"}},
}

// Fields the spec types as boolean, integer or number.
var (
	booleanFields = []string{"ProvideFeedback", "ForceDelivery", "SmartEncoded", "ShortenUrls", "SendAsMms"}
	integerFields = []string{"Attempt"} // ValidityPeriod has its own codes
	numberFields  = []string{"MaxPrice"}
)

// "phone-number" format. The spec names the shapes in prose (E.164,
// channel address, alphanumeric sender ID, short code); these regexps are
// that prose made checkable, not patterns from the file.
var (
	e164Re = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	// Channel addresses as Twilio's Messaging docs spell them.
	toChannelRe   = regexp.MustCompile(`^(whatsapp|rcs):\+[1-9][0-9]{1,14}$|^messenger:[0-9]+$`)
	fromChannelRe = regexp.MustCompile(`^whatsapp:\+[1-9][0-9]{1,14}$|^messenger:[0-9]+$|^rcs:[A-Za-z0-9_.-]+$`)
	// Alphanumeric sender ID: up to 11 letters, digits and spaces, not all
	// digits (Twilio error 21709's page).
	alphaSenderRe = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	// Short code lengths vary by country; 3 to 8 digits covers them.
	shortCodeRe = regexp.MustCompile(`^[0-9]{3,8}$`)
	hostLabelRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// maxCallbackURL comes from Twilio error 21609's page, not the OpenAPI file.
const maxCallbackURL = 4000

// Twilio error codes the checks answer with. Each is the code Twilio's error
// dictionary (twilio.com/docs/api/errors/<code>) gives for that fault. The
// dictionary does not say which code the Messages create call itself returns
// where several fit; those choices are marked "unconfirmed".
const (
	codeBadRequest        = 400   // generic "Bad Request": a parameter failed validation; for faults with no specific code (unconfirmed)
	codeNotFound          = 20404 // unroutable URL; real answers quoted in twilio-ruby#113, demisto/content#28986
	codeAuthenticate      = 20003
	codeInvalidTo         = 21211
	codeInvalidFrom       = 21212 // message wording from a real answer quoted in twilio-node#270
	codeBodyRequired      = 21602 // "The Body OR MediaURL parameter is required"
	codeSenderRequired    = 21603 // "A 'From' or 'MessagingServiceSid' parameter is required"
	codeToRequired        = 21604
	codeBadCallback       = 21609 // "Invalid 'StatusCallback'": not a URL, no host, underscores in the host
	codeBodyTooLong       = 21617
	codeTooManyMedia      = 21623
	codeContentSIDNeeded  = 21654 // ContentVariables without ContentSid
	codeBadContentSID     = 21655 // "does not match the required ^HX[0-9a-fA-F]{32}$ format"
	codeBadContentVars    = 21656 // "The ContentVariables Parameter is not a JSON String"
	codeBadServiceSID     = 21705 // "The MessagingServiceSid ... does not match a valid Sid pattern (MGxxx)"
	codeBadSendAt         = 35114 // "Scheduling does not support this timestamp"; 35115 reads the same (unconfirmed which)
	codeBadScheduleType   = 35126 // "You provided a value other than 'fixed' in the ScheduleType parameter"
	codeValidityRange     = 90007 // "Invalid validity period value": above 36000 (unconfirmed for the Messages call)
	codeValidityNotPosInt = 90014 // "Validity Period should be positive integer": 0, negative, non-integer (unconfirmed likewise)
	codeChannelMismatch   = 21910 // "Invalid 'From' and 'To' pair. 'From' and 'To' should be of the same channel" (twilio.com/docs/api/errors/21910)
)

// apiError is a refusal as Twilio words it.
type apiError struct {
	status, code int
	msg          string
}

func badRequest(code int, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// checks run in order; the first fault is the answer, as Twilio reports
// one error per request.
var checks = []func(url.Values) *apiError{
	checkTo, checkSender, checkChannelPair, checkContent, checkStatusCallback, checkValidityPeriod,
	checkApplicationSID, checkSchedule, checkTypedFields, checkMedia,
}

// validate returns the error Twilio would answer a Messages create request
// with, or nil when the form satisfies the spec.
func validate(f url.Values) *apiError {
	for _, check := range checks {
		if e := check(f); e != nil {
			return e
		}
	}
	return nil
}

func checkTo(f url.Values) *apiError {
	to := f.Get("To")
	switch {
	case to == "":
		return badRequest(codeToRequired, "A 'To' phone number is required.")
	case !e164Re.MatchString(to) && !toChannelRe.MatchString(to):
		return badRequest(codeInvalidTo, "The 'To' number %s is not a valid phone number.", to)
	}
	return nil
}

// checkSender keeps Twilio's rule that a From or a MessagingServiceSid is
// needed, and checks each one given.
func checkSender(f url.Values) *apiError {
	from, ms := f.Get("From"), f.Get("MessagingServiceSid")
	if from == "" && ms == "" {
		return badRequest(codeSenderRequired, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
	}
	if ms != "" && !messagingServiceSIDRe.MatchString(ms) {
		return badRequest(codeBadServiceSID, "The Messaging Service Sid %s is invalid.", ms)
	}
	if from != "" && !validSender(from) {
		return badRequest(codeInvalidFrom, "The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", from)
	}
	if fb := f.Get("FallbackFrom"); fb != "" && !validSender(fb) {
		return badRequest(codeBadRequest, "The 'FallbackFrom' %s is not a valid phone number, shortcode, or alphanumeric sender ID.", fb)
	}
	return nil
}

// validSender accepts what the spec's From description lists, plus a
// Messaging Service SID, which Twilio also takes in From (error 21603's page).
func validSender(v string) bool {
	return e164Re.MatchString(v) || fromChannelRe.MatchString(v) || shortCodeRe.MatchString(v) ||
		messagingServiceSIDRe.MatchString(v) ||
		(alphaSenderRe.MatchString(v) && strings.IndexFunc(v, unicode.IsLetter) >= 0)
}

// checkChannelPair keeps 21910's rule: a WhatsApp number cannot be reached
// from an SMS sender nor the reverse. A Messaging Service picks a sender of
// the right channel from its pool, so with one there is nothing to check.
func checkChannelPair(f url.Values) *apiError {
	from := f.Get("From")
	if from == "" || f.Get("MessagingServiceSid") != "" || messagingServiceSIDRe.MatchString(from) {
		return nil
	}
	if channel(from) != channel(f.Get("To")) {
		return badRequest(codeChannelMismatch, "Invalid 'From' and 'To' pair. 'From' and 'To' should be of the same channel")
	}
	return nil
}

// channel is the prefix of a channel address ("whatsapp" for
// "whatsapp:+14155552671"), "" for a phone number, short code or sender ID.
func channel(addr string) string {
	if i := strings.IndexByte(addr, ':'); i > 0 {
		return addr[:i]
	}
	return ""
}

func checkContent(f url.Values) *apiError {
	body, cs, vars := f.Get("Body"), f.Get("ContentSid"), f.Get("ContentVariables")
	switch {
	case cs != "" && !contentSIDRe.MatchString(cs):
		return badRequest(codeBadContentSID, "The ContentSid %s is invalid.", cs)
	case vars != "" && cs == "":
		return badRequest(codeContentSIDNeeded, "A ContentSid must be specified if ContentVariables are provided in the request.")
	case vars != "" && !jsonStringMap(vars):
		return badRequest(codeBadContentVars, "The ContentVariables Parameter is invalid.")
	case body == "" && cs == "" && len(f["MediaUrl"]) == 0:
		return badRequest(codeBodyRequired, "Message body is required.")
	case utf8.RuneCountInString(body) > maxBodyChars:
		return badRequest(codeBodyTooLong, "The concatenated message body exceeds the %d character limit.", maxBodyChars)
	}
	return nil
}

// jsonStringMap accepts what ContentVariables is, "key-value pairs of
// Template variables and their substitution values": a JSON object whose
// values are strings ({"1":"123456"}), as Twilio's Content API examples
// write them.
func jsonStringMap(s string) bool {
	var m map[string]string
	return json.Unmarshal([]byte(s), &m) == nil && m != nil
}

func checkStatusCallback(f url.Values) *apiError {
	cb := f.Get("StatusCallback")
	if cb != "" && !validCallbackURL(cb) {
		return badRequest(codeBadCallback, "The StatusCallback URL %s is not a valid URL.", cb)
	}
	return nil
}

// validCallbackURL is the spec's "format: uri" with its description ("URL
// must contain a valid hostname and underscores are not allowed") and
// 21609's page (http or https, at most 4000 characters, encoded). Loopback
// hosts pass: tests have Twilio call back into themselves.
func validCallbackURL(s string) bool {
	if len(s) > maxCallbackURL || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if _, err := url.QueryUnescape(u.RawQuery); err != nil { // url.Parse leaves the query unchecked
		return false
	}
	return validHostname(u.Hostname())
}

func validHostname(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if !hostLabelRe.MatchString(label) { // rejects underscores among the rest
			return false
		}
	}
	return true
}

func checkValidityPeriod(f url.Values) *apiError {
	v := f.Get("ValidityPeriod")
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < minValidityPeriod:
		return badRequest(codeValidityNotPosInt, "Validity Period should be positive integer")
	case n > maxValidityPeriod:
		return badRequest(codeValidityRange, "Invalid validity period value: must be between %d and %d", minValidityPeriod, maxValidityPeriod)
	}
	return nil
}

func checkApplicationSID(f url.Values) *apiError {
	if v := f.Get("ApplicationSid"); v != "" && !applicationSIDRe.MatchString(v) {
		return badRequest(codeBadRequest, "Invalid ApplicationSid %s", v)
	}
	return nil
}

func checkSchedule(f url.Values) *apiError {
	if v := f.Get("ScheduleType"); v != "" && v != "fixed" {
		return badRequest(codeBadScheduleType, "The ScheduleType value provided is not supported for this channel")
	}
	if v := f.Get("SendAt"); v != "" {
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return badRequest(codeBadSendAt, "Scheduling does not support this timestamp")
		}
	}
	return nil
}

func checkTypedFields(f url.Values) *apiError {
	for _, k := range booleanFields {
		if v := f.Get(k); v != "" && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return invalidParam(k, v)
		}
	}
	for _, k := range integerFields {
		if v := f.Get(k); v != "" {
			if _, err := strconv.Atoi(v); err != nil {
				return invalidParam(k, v)
			}
		}
	}
	for _, k := range numberFields {
		if v := f.Get(k); v != "" {
			if x, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return invalidParam(k, v)
			}
		}
	}
	for _, e := range enums {
		if v := f.Get(e.field); v != "" && !slices.Contains(e.values, v) {
			return invalidParam(e.field, v)
		}
	}
	return nil
}

func invalidParam(name, v string) *apiError {
	return badRequest(codeBadRequest, "Invalid value %q for parameter %s", v, name)
}

// checkMedia counts MediaUrl only: the spec marks its uri format
// "ignoreFormat", so Twilio fetches whatever is given.
func checkMedia(f url.Values) *apiError {
	if n := len(f["MediaUrl"]); n > maxMediaURLs {
		return badRequest(codeTooManyMedia, "Number of media files exceeds allowed limit (%d > %d)", n, maxMediaURLs)
	}
	return nil
}
