package main

import (
	"cmp"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/twilio"
)

// messageSID and callSID are the shapes of Twilio's message (SMS, MMS,
// WhatsApp) and call SIDs; anything else is refused before it reaches the
// stored attempt record.
var (
	messageSID = regexp.MustCompile(`^(SM|MM)[0-9a-f]{32}$`)
	callSID    = regexp.MustCompile(`^CA[0-9a-f]{32}$`)
	statusWord = regexp.MustCompile(`^[a-z][a-z_-]{0,31}$`)
)

// handleTwilioStatus receives Twilio's delivery reports of messages and
// the progress events of calls. It has no bearer auth: Twilio signs each
// request with the account's auth token over the URL it called, which is
// PUBLIC_URL + the path and the query the worker put in the message's or
// call's StatusCallback (verification id and attempt).
func handleTwilioStatus(svc verifications, publicURL, authToken string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if publicURL == "" || authToken == "" {
			writeProblem(c, problem(http.StatusForbidden, "forbidden", "status callbacks need PUBLIC_URL and TWILIO_AUTH_TOKEN"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
		if err != nil {
			writeError(c, err)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeError(c, &otp.InputError{Detail: "body must be application/x-www-form-urlencoded"})
			return
		}
		full := publicURL + c.Request.URL.RequestURI()
		if !twilio.ValidSignature(authToken, full, form, c.GetHeader("X-Twilio-Signature")) {
			writeProblem(c, problem(http.StatusForbidden, "invalid_signature", "X-Twilio-Signature is missing or does not match"))
			return
		}
		q := c.Request.URL.Query()
		attempt, err := strconv.Atoi(q.Get("a"))
		if err != nil || attempt < 1 || q.Get("v") == "" {
			writeError(c, &otp.InputError{Detail: "callback URL lacks the verification (v) and attempt (a)"})
			return
		}
		// The tenant is in the URL Twilio signed: no one else can name it.
		ctx := withTenant(c.Request.Context(), cmp.Or(q.Get("t"), otp.DefaultTenant))
		r := otp.DeliveryReport{ID: q.Get("v"), Attempt: attempt}
		r.ErrorCode, _ = strconv.Atoi(form.Get("ErrorCode"))
		switch sid := form.Get("CallSid"); {
		case form.Get("MessageSid") == "" && callSID.MatchString(sid):
			r.Channel, r.MessageSID, r.RawStatus = otp.ChannelCall, sid, form.Get("CallStatus")
			r.Status = twilio.MapCallStatus(r.RawStatus)
		case messageSID.MatchString(form.Get("MessageSid")):
			r.MessageSID, r.RawStatus = form.Get("MessageSid"), form.Get("MessageStatus")
			r.Channel, r.Status = otp.ChannelSMS, twilio.MapStatus(r.RawStatus)
			if strings.HasPrefix(form.Get("To"), "whatsapp:") {
				r.Channel = otp.ChannelWhatsApp
			}
		default:
			// Signed, so from Twilio, but about nothing we sent: accept and
			// ignore, so Twilio does not retry it.
			c.Status(http.StatusNoContent)
			return
		}
		if !statusWord.MatchString(r.RawStatus) {
			r.RawStatus = "" // kept in a '|'-separated record: only a plain word
		}
		err = svc.DeliveryReport(ctx, r)
		if err != nil {
			writeError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}
