package twiliofake

import (
	"encoding/json"
	"math"
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

// The rules below are copied from Twilio's OpenAPI description of
// POST /2010-04-01/Accounts/{AccountSid}/Calls.json (operation CreateCall,
// request schema CreateCallRequest), twilio_api_v2010.json in
// github.com/twilio/twilio-oai at commit d50069b, like those of validate.go.
// Where the file states a limit only in a description, the description is
// quoted next to it.
var (
	byocSIDRe = regexp.MustCompile(`^BY[0-9a-fA-F]{32}$`)
	// SendDigits: "any digit (0-9), 'A', 'B', 'C', 'D', '#', and '*' ...
	// 'w' ... 'W'", "a maximum length of 32 digits".
	sendDigitsRe = regexp.MustCompile(`^[0-9A-D#*wW]{1,32}$`)
	// The "endpoint" format has no pattern in the file; To is "The phone
	// number, SIP address, or client identifier to call".
	sipRe = regexp.MustCompile(`^sip:[^\s@]+@[^\s@]+$`)
)

const (
	clientPrefix  = "client:"
	maxClientName = 256  // error 31105: "should not be longer than 256 characters"
	maxTwimlChars = 4000 // Twiml: "Max 4000 characters"
	// Timeout: "the maximum is `600` seconds"; 21208: "any positive, whole
	// integer".
	minTimeout, maxTimeout = 1, 600
	minTimeLimit           = 1
	maxTimeLimit           = 24 * 60 * 60 // see checkTimeLimit

	httpGet, httpPost = "GET", "POST" // the "http-method" enum
)

// callEvents are the StatusCallbackEvent values (components/schemas/
// call_enum_event), each with the call statuses it reports; "queued" goes
// with initiated, the only event before the call is dialled.
var callEvents = map[string][]string{
	"initiated": {"queued", "initiated"},
	"ringing":   {"ringing"},
	"answered":  {"in-progress"},
	"completed": {"completed", "busy", "failed", "no-answer", "canceled"},
}

// Twilio error codes for the Calls API, from Twilio's error dictionary
// (twilio.com/docs/api/errors/<code>). Where the dictionary has no code of
// its own for a fault, the answer is 21200 "Calls Resource", whose page lists
// the causes: To or From missing; none of url, twiml, applicationSid; "to is
// a phone number while from is not"; a method other than GET or POST; an
// invalid url or callback URL. Those are marked "(unconfirmed)".
const (
	codeCallGeneric       = 21200
	codeCallToRequired    = 21201 // "No 'To' number specified"
	codeBadCallURL        = 21205 // "the URL you specified to handle the call was not a valid URL"
	codeBadSendDigits     = 21206
	codeBadTimeout        = 21208
	codeBadMethod         = 21209 // "you sent a Method parameter that was invalid. ... GET and POST"
	codeCallFromRequired  = 21213 // "'From' phone number is required"
	codeBadApplicationSID = 21218
	codeBadMachineDetect  = 21234 // "Invalid Machine Detection configuration value"
	codeBadCallbackEvent  = 21626 // "One or more of the StatusCallbackEvents provided were invalid."
	// The TwiML codes are the ones Twilio logs when it cannot run a
	// document; the dictionary does not say whether the create call itself
	// refuses a bad Twiml parameter with them or accepts the call and fails
	// it later (unconfirmed). The fake refuses up front, so that a test
	// cannot pass with a document no call would ever say.
	codeTwimlParse    = 12100 // "Document parse failure": unclosed element, root <Response> missing, ...
	codeTwimlRoot     = 12102 // "The root element must be Response"
	codeTwimlTooLarge = 32018 // "Twiml size exceeded maximum allowed value of 4000 characters"
)

// callChecks run in order; the first fault is the answer.
var callChecks = []func(url.Values) *apiError{
	checkCallTo, checkCallFrom, checkInstructions, checkTwiml, checkCallMethods,
	checkCallURLs, checkCallbackEvents, checkTimeout, checkTimeLimit,
	checkMachineDetection, checkSendDigits, checkCallFields,
}

// validateCall returns the error Twilio would answer a Calls create request
// with, or nil when the form satisfies the spec.
func validateCall(f url.Values) *apiError {
	for _, check := range callChecks {
		if e := check(f); e != nil {
			return e
		}
	}
	return nil
}

func checkCallTo(f url.Values) *apiError {
	to := f.Get("To")
	switch {
	case to == "":
		return badRequest(codeCallToRequired, "No 'To' number is specified")
	case !e164Re.MatchString(to) && !validClient(to) && !sipRe.MatchString(to):
		return badRequest(codeInvalidTo, "The 'To' number %s is not a valid phone number.", to)
	}
	return nil
}

// checkCallFrom follows From's description: "The phone number or client
// identifier to use as the caller id ... If the `to` parameter is a phone
// number, `From` must also be a phone number."
func checkCallFrom(f url.Values) *apiError {
	from := f.Get("From")
	switch {
	case from == "":
		return badRequest(codeCallFromRequired, "A 'From' phone number is required.")
	case !e164Re.MatchString(from) && !validClient(from):
		return badRequest(codeInvalidFrom, "The 'From' number %s is not a valid phone number or client identifier.", from) // (unconfirmed for calls)
	case e164Re.MatchString(f.Get("To")) && !e164Re.MatchString(from):
		return badRequest(codeCallGeneric, "If the 'To' parameter is a phone number, 'From' must also be a phone number.") // (unconfirmed)
	}
	return nil
}

// validClient checks a client:name address as error 31105 words it: no
// control, space, delims or unwise characters (RFC 2396), at most 256.
func validClient(v string) bool {
	name, ok := strings.CutPrefix(v, clientPrefix)
	if !ok || name == "" || utf8.RuneCountInString(name) > maxClientName {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r) || strings.ContainsRune(`<>#%"{}|\^[]`+"`", r)
	}) < 0
}

// checkInstructions keeps the file's x-twilio "conditional" group [url,
// twiml, application_sid]: a call needs one of them to know what to say.
func checkInstructions(f url.Values) *apiError {
	u, twiml, app := f.Get("Url"), f.Get("Twiml"), f.Get("ApplicationSid")
	switch {
	case u == "" && twiml == "" && app == "":
		return badRequest(codeCallGeneric, "Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required to create a call.") // (unconfirmed)
	case u != "" && !validURL(u):
		return badRequest(codeBadCallURL, "Url is not a valid URL: %s", u)
	case app != "" && !applicationSIDRe.MatchString(app):
		return badRequest(codeBadApplicationSID, "Invalid ApplicationSid %s", app)
	}
	return nil
}

// validURL is "format: uri" for a URL Twilio fetches: absolute http(s) with
// a host, as 21205's page asks. Loopback passes, as for StatusCallback.
func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsFunc(s, unicode.IsSpace)
}

// checkTwiml checks a Twiml parameter even when Url makes Twilio ignore it
// ("If both twiml and url are provided then twiml parameter will be
// ignored"): a test sending both most likely means the Twiml.
func checkTwiml(f url.Values) *apiError {
	doc := f.Get("Twiml")
	if doc == "" {
		return nil
	}
	if utf8.RuneCountInString(doc) > maxTwimlChars {
		return badRequest(codeTwimlTooLarge, "Twiml size exceeded maximum allowed value of %d characters", maxTwimlChars)
	}
	root, err := twimlRoot(doc)
	switch {
	case err != nil:
		return badRequest(codeTwimlParse, "Document parse failure: %v", err)
	case root != "Response":
		return badRequest(codeTwimlRoot, "The root element must be Response, not %s", root)
	}
	return nil
}

// checkCallMethods checks the "http-method" enums [GET, POST].
func checkCallMethods(f url.Values) *apiError {
	if v := f.Get("Method"); v != "" && !validMethod(v) {
		return badRequest(codeBadMethod, "Method must be either GET or POST, not %s", v)
	}
	for _, k := range []string{"FallbackMethod", "StatusCallbackMethod", "RecordingStatusCallbackMethod", "AsyncAmdStatusCallbackMethod"} {
		if v := f.Get(k); v != "" && !validMethod(v) {
			return badRequest(codeCallGeneric, "%s must be either GET or POST, not %s", k, v) // (unconfirmed)
		}
	}
	return nil
}

func validMethod(v string) bool { return v == httpGet || v == httpPost }

// checkCallURLs checks the "format: uri" fields other than Url.
// StatusCallback follows the Messages rule (validCallbackURL): the file's
// description is the same, "URLs must contain a valid hostname (underscores
// are not permitted)".
func checkCallURLs(f url.Values) *apiError {
	if v := f.Get("StatusCallback"); v != "" && !validCallbackURL(v) {
		return badRequest(codeBadCallback, "The StatusCallback URL %s is not a valid URL.", v) // (unconfirmed for calls)
	}
	for _, k := range []string{"FallbackUrl", "AsyncAmdStatusCallback", "ClientNotificationUrl"} {
		if v := f.Get(k); v != "" && !validURL(v) {
			return badRequest(codeCallGeneric, "%s is not a valid URL: %s", k, v) // (unconfirmed)
		}
	}
	return nil
}

// checkCallbackEvents takes StatusCallbackEvent as the file defines it: an
// array, one event per form value ("specify each one in a separate
// status_callback_event parameter").
func checkCallbackEvents(f url.Values) *apiError {
	for _, v := range f["StatusCallbackEvent"] {
		if _, ok := callEvents[v]; !ok {
			return badRequest(codeBadCallbackEvent, "Invalid StatusCallbackEvent %q: must be one of initiated, ringing, answered, completed", v)
		}
	}
	return nil
}

func checkTimeout(f url.Values) *apiError {
	if !intInRange(f.Get("Timeout"), minTimeout, maxTimeout) {
		return badRequest(codeBadTimeout, "Timeout must be an integer from %d to %d", minTimeout, maxTimeout)
	}
	return nil
}

// checkTimeLimit bounds TimeLimit ("Constraints depend on account and
// configuration") by the most any account may set: Twilio's "Introducing
// Configurable Call Limits" (2021) raised the old fixed four hours (14400 s,
// now only the default) to a per-account maximum of 24 hours.
func checkTimeLimit(f url.Values) *apiError {
	if !intInRange(f.Get("TimeLimit"), minTimeLimit, maxTimeLimit) {
		return badRequest(codeCallGeneric, "TimeLimit must be an integer from %d to %d", minTimeLimit, maxTimeLimit) // (unconfirmed)
	}
	return nil
}

// intInRange accepts an absent value or an integer in [lo, hi].
func intInRange(v string, lo, hi int) bool {
	if v == "" {
		return true
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= lo && n <= hi
}

// Answering machine detection, from the descriptions: MachineDetection "Can
// be: `Enable` or `DetectMessageEnd`" (case-insensitive, since the file's own
// example sends "enable"), and the "Possible Values" of the thresholds.
var machineDetectionRanges = []struct {
	field  string
	lo, hi int
}{
	{"MachineDetectionTimeout", 1, math.MaxInt32}, // only typed integer
	{"MachineDetectionSpeechThreshold", 1000, 6000},
	{"MachineDetectionSpeechEndThreshold", 500, 5000},
	{"MachineDetectionSilenceTimeout", 2000, 10000},
}

func checkMachineDetection(f url.Values) *apiError {
	if v := f.Get("MachineDetection"); v != "" && !strings.EqualFold(v, "Enable") && !strings.EqualFold(v, "DetectMessageEnd") {
		return badRequest(codeBadMachineDetect, "MachineDetection must be Enable or DetectMessageEnd, not %s", v)
	}
	for _, r := range machineDetectionRanges {
		if !intInRange(f.Get(r.field), r.lo, r.hi) {
			return badRequest(codeBadMachineDetect, "%s must be an integer from %d to %d", r.field, r.lo, r.hi)
		}
	}
	return nil
}

func checkSendDigits(f url.Values) *apiError {
	if v := f.Get("SendDigits"); v != "" && !sendDigitsRe.MatchString(v) {
		return badRequest(codeBadSendDigits, "SendDigits may only contain 0123456789ABCD*#wW, at most 32: %s", v)
	}
	return nil
}

// callEnums are the remaining closed sets, from the descriptions ("Can be:
// ..."); RecordingStatusCallbackEvent's values are separated by spaces.
// Record is typed boolean and AsyncAmd says "Can be: `true` or `false`".
var callEnums = []struct {
	field  string
	values []string
}{
	{"RecordingChannels", []string{"mono", "dual"}},
	{"RecordingTrack", []string{"inbound", "outbound", "both"}},
	{"Trim", []string{"trim-silence", "do-not-trim"}},
}

func checkCallFields(f url.Values) *apiError {
	for _, k := range []string{"Record", "AsyncAmd"} {
		if v := f.Get(k); v != "" && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return badRequest(codeCallGeneric, "Invalid value %q for parameter %s", v, k) // (unconfirmed)
		}
	}
	for _, e := range callEnums {
		if v := f.Get(e.field); v != "" && !slices.Contains(e.values, v) {
			return badRequest(codeCallGeneric, "Invalid value %q for parameter %s", v, e.field) // (unconfirmed)
		}
	}
	for _, v := range f["RecordingStatusCallbackEvent"] {
		for _, ev := range strings.Fields(v) {
			if !slices.Contains([]string{"in-progress", "completed", "absent"}, ev) {
				return badRequest(codeCallGeneric, "Invalid value %q for parameter RecordingStatusCallbackEvent", ev) // (unconfirmed)
			}
		}
	}
	if v := f.Get("Byoc"); v != "" && !byocSIDRe.MatchString(v) {
		return badRequest(codeCallGeneric, "Invalid Byoc %s", v) // (unconfirmed)
	}
	return nil
}

// writeCall answers 201 with the call resource (components/schemas/
// api.v2010.account.call) of a call just queued: no times, price or
// duration yet. A scripted Code is ignored, the resource having no error
// fields; MessageStatus replaces "queued".
func writeCall(w http.ResponseWriter, rec Request, resp Response) {
	now := time.Now().UTC().Format(time.RFC1123Z)
	f := rec.Form
	base := "/2010-04-01/Accounts/" + rec.AccountSID + "/Calls/" + rec.SID
	status := "queued"
	if resp.MessageStatus != "" {
		status = resp.MessageStatus
	}
	body := map[string]any{
		"sid": rec.SID, "account_sid": rec.AccountSID, "api_version": "2010-04-01",
		"date_created": now, "date_updated": now, "start_time": nil, "end_time": nil,
		"parent_call_sid": nil, "phone_number_sid": nil, "group_sid": nil, "trunk_sid": nil,
		// Twilio formats national numbers here; the fake echoes them.
		"to": f.Get("To"), "to_formatted": f.Get("To"), "from": f.Get("From"), "from_formatted": f.Get("From"),
		"status": status, "direction": "outbound-api", "duration": nil, "price": nil, "price_unit": "USD",
		"answered_by": nil, "forwarded_from": nil, "caller_name": nil, "queue_time": "0",
		"uri": base + ".json", "subresource_uris": callSubresources(base),
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(body)
}

func callSubresources(base string) map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{
		"notifications": "Notifications", "recordings": "Recordings", "payments": "Payments",
		"events": "Events", "siprec": "Siprec", "streams": "Streams", "transcriptions": "Transcriptions",
		"user_defined_message_subscriptions": "UserDefinedMessageSubscriptions",
		"user_defined_messages":              "UserDefinedMessages",
	} {
		m[k] = base + "/" + v + ".json"
	}
	return m
}
