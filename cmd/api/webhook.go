package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/twilio"
)

// messageSID is the shape of Twilio's SMS and MMS SIDs; anything else is
// refused before it reaches the stored attempt record.
var messageSID = regexp.MustCompile(`^(SM|MM)[0-9a-f]{32}$`)

// handleTwilioStatus receives Twilio's delivery reports. It has no bearer
// auth: Twilio signs each request with the account's auth token over the
// URL it called, which is PUBLIC_URL + the path and the query the worker
// put in the message's StatusCallback (verification id and attempt).
func handleTwilioStatus(svc *otp.Service, publicURL, authToken string) gin.HandlerFunc {
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
		sid := form.Get("MessageSid")
		if !messageSID.MatchString(sid) {
			// Signed, so from Twilio, but about nothing we sent: accept and
			// ignore, so Twilio does not retry it.
			c.Status(http.StatusNoContent)
			return
		}
		ec, _ := strconv.Atoi(form.Get("ErrorCode"))
		err = svc.DeliveryReport(c.Request.Context(), otp.DeliveryReport{
			ID: q.Get("v"), Attempt: attempt, MessageSID: sid,
			Status: twilio.MapStatus(form.Get("MessageStatus")), ErrorCode: ec,
		})
		if err != nil {
			writeError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}
