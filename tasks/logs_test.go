package tasks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/devsms"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
	"github.com/otpd/otpd/twilio"
)

// logBuffer is a worker's log, kept as JSON lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

// line is the first line whose message is msg (nil when none is).
func (b *logBuffer) line(t *testing.T, msg string) map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The worker's lines about a send say what was sent (an SMS, a WhatsApp
// message, a call), in the locale the API shows, and who took or refused it.
func TestDeliveryLogsNameTheChannel(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ channel, noun string }{
		{otp.ChannelSMS, "SMS"}, {otp.ChannelWhatsApp, "WhatsApp message"}, {otp.ChannelCall, "call"},
	} {
		t.Run(tc.channel, func(t *testing.T) {
			var log logBuffer
			p := policy
			p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelWhatsApp: true, otp.ChannelCall: true}
			p.Cooldown = 0
			f := fixtureWith(t, p, twilio.Config{WhatsAppFrom: "+14155238886"}, app.Options{Log: log.logger()})
			refused, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Channel: tc.channel})
			if err != nil {
				t.Fatal(err)
			}
			f.fake.Script(twiliofake.Response{Status: 400, Code: 21211})
			_ = f.handler.ProcessTask(ctx, f.tasks(t)[0])
			l := log.line(t, "Twilio refused the "+tc.noun)
			if l == nil || l["verification"] != refused.ID || !strings.HasPrefix(l["err"].(string), tc.channel+": permanent error (http 400, code 21211)") {
				t.Fatalf("no refusal naming the %s:\n%s", tc.noun, log.String())
			}

			accepted, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+14155552672", Channel: tc.channel})
			if err != nil {
				t.Fatal(err)
			}
			ts := f.tasks(t)
			if err := f.handler.ProcessTask(ctx, ts[len(ts)-1]); err != nil {
				t.Fatal(err)
			}
			l = log.line(t, tc.noun+" accepted by Twilio")
			if l == nil || l["verification"] != accepted.ID || l["channel"] != tc.channel || l["locale"] != accepted.Locale || accepted.Locale != "en" {
				t.Fatalf("no acceptance of the %s in locale %q:\n%s", tc.noun, accepted.Locale, log.String())
			}
			if tc.channel != otp.ChannelSMS && strings.Contains(log.String(), `"sms: `) {
				t.Fatalf("a %s logged as an SMS:\n%s", tc.noun, log.String())
			}
		})
	}
}

// The development console sender says what it did: printed, not sent, and
// nothing about Twilio; its line names the locale as the API shows it, and a
// call's the language and voice it would be spoken in.
func TestConsoleSenderSaysItPrinted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		channel, noun string
		locale        string
		voice         string // a call's language
	}{
		{otp.ChannelSMS, "SMS", "", ""},
		{otp.ChannelWhatsApp, "WhatsApp message", "fr", ""},
		{otp.ChannelCall, "call", "", "en-US"},
	} {
		t.Run(tc.channel, func(t *testing.T) {
			var log logBuffer
			p := otptest.Policy
			p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelWhatsApp: true, otp.ChannelCall: true}
			f := otptest.New(t, redisServer, app.Options{Policy: p, Sender: devsms.New(log.logger()), Log: log.logger()})
			v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Channel: tc.channel, Locale: tc.locale})
			if err != nil {
				t.Fatal(err)
			}
			infos, err := asynq.NewInspectorFromRedisClient(f.RDB).ListPendingTasks(tasks.QueueName)
			if err != nil || len(infos) != 1 {
				t.Fatalf("queued %v %v", infos, err)
			}
			if err := tasks.NewMux(f.Svc).ProcessTask(ctx, asynq.NewTask(infos[0].Type, infos[0].Payload)); err != nil {
				t.Fatal(err)
			}
			printed := log.line(t, "DEVELOPMENT ONLY: "+tc.noun+" not sent, printed instead")
			if printed == nil || printed["locale"] != v.Locale || printed["voice_language"] != nilIfEmpty(tc.voice) {
				t.Fatalf("no console line in locale %q:\n%s", v.Locale, log.String())
			}
			done := log.line(t, tc.noun+" printed to the console, not sent")
			if done == nil || done["locale"] != v.Locale || done["sid"] != printed["message_sid"] {
				t.Fatalf("no line saying the %s was printed:\n%s", tc.noun, log.String())
			}
			if strings.Contains(log.String(), "Twilio") {
				t.Fatalf("the console sender's log speaks of Twilio:\n%s", log.String())
			}
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
