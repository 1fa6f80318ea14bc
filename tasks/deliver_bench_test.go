package tasks_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
	"github.com/otpd/otpd/twilio"
)

// BenchmarkDeliverProduction is BenchmarkDeliver as a production worker
// runs it: metrics registered, a JSON log at warn, the global SMS rate
// limit (SMS_RATE_LIMIT) and prices (CHANNEL_PRICES) set. Its allocations
// are the worker's and the in-process fake Twilio's.
func BenchmarkDeliverProduction(b *testing.B) {
	ctx := context.Background()
	p := policy
	p.Prices = otp.Prices{Currency: "USD", Channel: map[string]float64{"sms": 0.0079}}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f := fixtureWith(b, p, twilio.Config{}, app.Options{Metrics: prometheus.NewRegistry(), Log: log, SMSRateLimit: 100000})
	ts := make([]*asynq.Task, b.N)
	for i := range ts {
		v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+1415" + strconv.Itoa(2000000+i)})
		if err != nil {
			b.Fatal(err)
		}
		if ts[i], _, err = tasks.NewDeliveryTask(otp.DeliveryJob{ID: v.ID, Attempt: 1, ValidFor: time.Minute}, "", tasks.QueueName); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, task := range ts {
		if err := f.handler.ProcessTask(ctx, task); err != nil {
			b.Fatal(err)
		}
	}
}
