package tasks_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/twilio"
)

// BenchmarkDeliverProduction is BenchmarkDeliver as a production worker
// runs it: metrics registered, a JSON log at warn, the global SMS rate
// limit (SMS_RATE_LIMIT) and prices (CHANNEL_PRICES) set. Its allocations
// are the worker's and the in-process fake Twilio's.
func BenchmarkDeliverProduction(b *testing.B) {
	p := policy
	p.Prices = otp.Prices{Currency: "USD", Channel: map[string]float64{"sms": 0.0079}}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	benchDeliver(b, fixtureWith(b, p, twilio.Config{}, app.Options{Metrics: prometheus.NewRegistry(), Log: log, SMSRateLimit: 100000}))
}
