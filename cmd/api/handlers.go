package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
)

func handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }
}

func handleReadyz(svc verifications) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
		defer cancel()
		if err := svc.Ready(ctx); err != nil {
			p := problem(http.StatusServiceUnavailable, "unavailable", "redis is not reachable")
			p.RetryAfter = 1
			writeProblem(c, p)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}

type startRequest struct {
	To       string `json:"to"`
	Channel  string `json:"channel"`
	Locale   string `json:"locale"`
	Brand    string `json:"brand"`
	AppHash  string `json:"appHash"`
	ClientIP string `json:"clientIp"`
	// Workflow is the fallback plan: [{"channel": "sms"}, {"channel": "call"}].
	Workflow []struct {
		Channel string `json:"channel"`
	} `json:"workflow"`
	ChannelTimeout int `json:"channelTimeout"` // seconds
}

// origin is who asks: the API key used and, when the backend passes it, the
// end user's IP.
func origin(c *gin.Context, clientIP string) (otp.Origin, error) {
	o := otp.Origin{APIKeyID: c.GetString(apiKeyIDKey)}
	if clientIP != "" {
		ip, err := otp.NormalizeIP(clientIP)
		if err != nil {
			return o, err
		}
		o.ClientIP = ip
	}
	return o, nil
}

func handleStart(svc verifications) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req startRequest
		if err := decode(c, &req); err != nil {
			writeError(c, err)
			return
		}
		if req.To == "" {
			writeError(c, &otp.InputError{Detail: `field "to" is required`})
			return
		}
		o, err := origin(c, req.ClientIP)
		if err != nil {
			writeError(c, err)
			return
		}
		var workflow []string
		for _, st := range req.Workflow {
			workflow = append(workflow, st.Channel)
		}
		if req.Workflow != nil && len(workflow) == 0 {
			writeError(c, &otp.InputError{Detail: "a workflow has 1 to 4 steps"})
			return
		}
		v, _, err := svc.Start(c.Request.Context(), otp.StartRequest{To: req.To, Channel: req.Channel,
			Locale: req.Locale, Brand: req.Brand, AppHash: req.AppHash, Origin: o,
			Workflow: workflow, ChannelTimeout: time.Duration(req.ChannelTimeout) * time.Second})
		if err != nil {
			writeError(c, err)
			return
		}
		c.Header("Location", "/v1/verifications/"+v.ID)
		c.JSON(http.StatusAccepted, v)
	}
}

type checkRequest struct {
	ID       string `json:"id"`
	To       string `json:"to"`
	Code     string `json:"code"`
	ClientIP string `json:"clientIp"`
}

type checkResponse struct {
	Valid bool `json:"valid"`
	otp.Verification
}

func handleCheck(svc verifications) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req checkRequest
		if err := decode(c, &req); err != nil {
			writeError(c, err)
			return
		}
		o, err := origin(c, req.ClientIP)
		if err != nil {
			writeError(c, err)
			return
		}
		v, valid, err := svc.Check(c.Request.Context(), otp.CheckRequest{ID: req.ID, To: req.To, Code: req.Code, Origin: o})
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, checkResponse{Valid: valid, Verification: v})
	}
}

func handleGet(svc verifications) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, err := svc.Get(c.Request.Context(), c.Param("id"))
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
	}
}

func handleCancel(svc verifications) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, changed, err := svc.Cancel(c.Request.Context(), c.Param("id"))
		if err != nil {
			writeError(c, err)
			return
		}
		if !changed {
			changedNothing(c)
		}
		c.JSON(http.StatusOK, v)
	}
}

// The tutorial's contract: {"phoneNumber"} in, a message out.
// clientIp is optional, as on /v1: without it the per-IP limits cannot
// apply, and these routes must not be the way around them.
type sendCodeRequest struct {
	PhoneNumber string `json:"phoneNumber"`
	ClientIP    string `json:"clientIp"`
}

func handleSendCode(svc verifications) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req sendCodeRequest
		if err := decode(c, &req); err != nil {
			writeLegacyError(c, err)
			return
		}
		if req.PhoneNumber == "" {
			writeLegacyError(c, &otp.InputError{Detail: `field "phoneNumber" is required`})
			return
		}
		o, err := origin(c, req.ClientIP)
		if err != nil {
			writeLegacyError(c, err)
			return
		}
		v, _, err := svc.Start(c.Request.Context(), otp.StartRequest{To: req.PhoneNumber, Origin: o})
		if err != nil {
			writeLegacyError(c, err)
			return
		}
		c.Header("Location", "/v1/verifications/"+v.ID)
		c.JSON(http.StatusAccepted, gin.H{"message": "Verification code sent", "verificationId": v.ID})
	}
}

type verifyCodeRequest struct {
	PhoneNumber string          `json:"phoneNumber"`
	SMSCode     json.RawMessage `json:"smsCode"`
	ClientIP    string          `json:"clientIp"`
}

const mismatch = "The phone number and the SMS code doesn't match."

func handleVerifyCode(svc verifications, codeLength int) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req verifyCodeRequest
		if err := decode(c, &req); err != nil {
			writeLegacyError(c, err)
			return
		}
		code, err := legacyCode(req.SMSCode, codeLength)
		if err == nil && req.PhoneNumber == "" {
			err = &otp.InputError{Detail: `field "phoneNumber" is required`}
		}
		var o otp.Origin
		if err == nil {
			o, err = origin(c, req.ClientIP)
		}
		if err != nil {
			writeLegacyError(c, err)
			return
		}
		_, valid, err := svc.Check(c.Request.Context(), otp.CheckRequest{To: req.PhoneNumber, Code: code, Origin: o})
		var finished *otp.FinishedError
		switch {
		case valid:
			c.JSON(http.StatusOK, gin.H{"message": "This is a valid match!"})
		case err == nil, errors.Is(err, otp.ErrNotFound), errors.As(err, &finished):
			// The tutorial answered every non-match alike.
			c.JSON(http.StatusBadRequest, gin.H{"message": mismatch})
		default:
			writeLegacyError(c, err)
		}
	}
}

// legacyCode accepts the tutorial's smsCode as a JSON string or number; a
// number loses leading zeros, which are put back.
func legacyCode(raw json.RawMessage, length int) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", &otp.InputError{Detail: `field "smsCode" is required`}
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", &otp.InputError{Detail: `field "smsCode" must be a string or a number`}
		}
		return strings.TrimSpace(s), nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return "", &otp.InputError{Detail: `field "smsCode" must be a string or a whole number`}
	}
	s := strconv.FormatUint(n, 10)
	if len(s) < length {
		s = strings.Repeat("0", length-len(s)) + s
	}
	return s, nil
}

// writeLegacyError answers like writeError and adds the tutorial's
// "message" member, which old clients display.
func writeLegacyError(c *gin.Context, err error) {
	p := problemFor(err)
	p.Message = p.Detail
	if p.Status >= 500 {
		c.Error(err)
	}
	writeProblem(c, p)
}
