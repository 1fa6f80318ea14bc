package main

import (
	"cmp"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/telegram"
)

// telegramReportSkew is how far a report's X-Request-Timestamp may be from
// this host's clock: enough for Telegram's retries to be fresh when they
// arrive, short enough that a captured report cannot be replayed for long.
const telegramReportSkew = 5 * time.Minute

// handleTelegramStatus receives the Telegram Gateway's delivery reports. It
// has no bearer key: Telegram signs each report with a key derived from
// our token. Telegram retries anything but a 200, so a report about nothing
// we know is answered 200 and ignored; only a bad signature (403), an
// unreadable body and a store that failed are refused.
func handleTelegramStatus(svc verifications, token string, now func() time.Time) gin.HandlerFunc {
	return func(c *gin.Context) {
		if token == "" {
			writeProblem(c, problem(http.StatusForbidden, "forbidden", "Telegram reports need TELEGRAM_GATEWAY_TOKEN"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, telegram.MaxReportSize))
		if err != nil {
			writeError(c, err)
			return
		}
		if err := telegram.VerifyReport(token, c.Request.Header, body, now(), telegramReportSkew); err != nil {
			writeProblem(c, problem(http.StatusForbidden, "invalid_signature",
				"X-Request-Signature is missing or does not match, or X-Request-Timestamp is stale"))
			return
		}
		rep, err := telegram.ParseReport(body)
		if err != nil {
			writeError(c, &otp.InputError{Detail: "not a Telegram Gateway report"})
			return
		}
		tenant, id, attempt, ok := otp.ParseAttemptRef(rep.Payload)
		status := telegram.MapStatus(rep.Status)
		if !ok || status == "" {
			c.JSON(http.StatusOK, gin.H{}) // signed, so Telegram's, but about nothing we sent
			return
		}
		ctx := withTenant(c.Request.Context(), cmp.Or(tenant, otp.DefaultTenant))
		err = svc.DeliveryReport(ctx, otp.DeliveryReport{ID: id, Attempt: attempt, MessageSID: rep.RequestID,
			Status: status, Channel: otp.ChannelTelegram, RawStatus: rep.Status, Refunded: rep.IsRefunded})
		var ie *otp.InputError
		if err != nil && !errors.As(err, &ie) && !errors.Is(err, otp.ErrNotFound) {
			writeError(c, err) // Telegram retries: the store failed, not the report
			return
		}
		c.JSON(http.StatusOK, gin.H{})
	}
}
