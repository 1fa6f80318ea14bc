package tasks

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/otpd/otpd/otp"
)

// What NewDeliveryTask writes, the fast path reads.
func TestDeliveryFastPathReadsWhatIsWritten(t *testing.T) {
	for _, tc := range []struct {
		job    otp.DeliveryJob
		tenant string
	}{
		{otp.DeliveryJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 1}, ""},
		{otp.DeliveryJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 12, Channel: otp.ChannelCall}, "acme"},
		{otp.DeliveryJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 3}, "acme"},
	} {
		tc.job.ValidFor = time.Minute
		task, _, err := NewDeliveryTask(tc.job, tc.tenant, QueueName)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := parseDeliveryFast(task.Payload())
		want := DeliveryPayload{ID: tc.job.ID, Attempt: tc.job.Attempt, Channel: tc.job.Channel, Tenant: tc.tenant}
		if !ok || p != want {
			t.Fatalf("%s: fast path read %+v %v, want %+v", task.Payload(), p, ok, want)
		}
	}
}

// FuzzDeliveryFastPath: whatever the fast path reads, encoding/json reads
// alike, without an error.
func FuzzDeliveryFastPath(f *testing.F) {
	for _, s := range []string{`{"id":"VE0123456789abcdef0123456789abcdef","attempt":1}`,
		`{"id":"VE0123456789abcdef0123456789abcdef","attempt":1,"channel":"call","t":"acme"}`,
		`{"id":"VE0123456789abcdef0123456789abcdef","attempt":1,"t":"acme"}`, `{"id":"a\"b","attempt":01}`,
		`{"id":"é","attempt":1}`, `{"id":"x","attempt":1.0}`, `{}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parseDeliveryFast(b)
		if !ok {
			return
		}
		var want DeliveryPayload
		if err := json.Unmarshal(b, &want); err != nil || p != want {
			t.Fatalf("%q: fast path read %+v, encoding/json %+v (%v)", b, p, want, err)
		}
	})
}

// BenchmarkParseDeliveryPayload is the worker's read of each delivery's
// payload.
func BenchmarkParseDeliveryPayload(b *testing.B) {
	task, _, err := NewDeliveryTask(otp.DeliveryJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 1, Channel: otp.ChannelSMS, ValidFor: time.Minute}, "", QueueName)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDeliveryPayload(task.Payload()); err != nil {
			b.Fatal(err)
		}
	}
}
