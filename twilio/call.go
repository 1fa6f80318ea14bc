package twilio

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	twapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/otpd/otpd/otp"
)

const (
	// ringFor is how long a call rings before Twilio gives up (no-answer):
	// long enough to reach a phone in a pocket, short of voicemail in most
	// networks, and never longer than the code lives.
	ringFor = 30 * time.Second
	// callTimeLimit ends a call after a minute: reading a code twice takes
	// about 20 seconds, and every second of a call to a premium range is
	// what toll fraud earns.
	callTimeLimit = 60
)

// call places one call that reads the code.
func (s *Sender) call(api *twapi.ApiService, m otp.Message) (otp.Receipt, error) {
	if s.cfg.VoiceFrom == "" {
		return otp.Receipt{}, &otp.SendError{Permanent: true, Err: fmt.Errorf("twilio: no caller id (TWILIO_VOICE_FROM) for calls")}
	}
	p := &twapi.CreateCallParams{}
	p.SetTo(m.To)
	p.SetFrom(s.cfg.VoiceFrom)
	p.SetTwiml(Twiml(m))
	p.SetTimeout(int(min(ringFor, m.ValidFor) / time.Second))
	p.SetTimeLimit(callTimeLimit)
	if m.StatusCallback != "" {
		p.SetStatusCallback(m.StatusCallback)
		p.SetStatusCallbackMethod("POST")
		// Every progress event, so that a busy, unanswered or failed call
		// is known at once.
		p.SetStatusCallbackEvent([]string{"initiated", "ringing", "answered", "completed"})
	}
	call, err := api.CreateCall(p)
	if err != nil {
		return otp.Receipt{}, err
	}
	r := otp.Receipt{Status: otp.DeliverySending}
	if call.Sid != nil {
		r.MessageSID = *call.Sid
	}
	if call.Status != nil {
		r.Status = MapCallStatus(*call.Status)
	}
	return r, nil
}

// Twiml is what a call says: the text (its code already written digit by
// digit), a pause, and the text again, in the message's language and voice.
// Polly and Google voices take SSML, so they read it slowly; the basic
// voices (man, woman, alice) would choke on it.
func Twiml(m otp.Message) string {
	var b strings.Builder
	slow := strings.HasPrefix(m.Voice, "Google.") || strings.HasPrefix(m.Voice, "Polly.")
	say := func() {
		b.WriteString(`<Say language="`)
		xml.EscapeText(&b, []byte(m.Language))
		b.WriteString(`" voice="`)
		xml.EscapeText(&b, []byte(m.Voice))
		b.WriteString(`">`)
		if slow {
			b.WriteString(`<prosody rate="slow">`)
		}
		xml.EscapeText(&b, []byte(m.Body))
		if slow {
			b.WriteString(`</prosody>`)
		}
		b.WriteString(`</Say>`)
	}
	b.WriteString(`<Response>`)
	say()
	b.WriteString(`<Pause length="1"/>`)
	say()
	b.WriteString(`</Response>`)
	return b.String()
}

// MapCallStatus maps a Twilio call status onto the delivery statuses: an
// answered call has delivered its code; busy and no-answer did not reach
// the user; failed and canceled are failures.
func MapCallStatus(s string) otp.DeliveryStatus {
	switch s {
	case "ringing":
		return otp.DeliverySent
	case "in-progress", "answered", "completed":
		return otp.DeliveryDelivered
	case "busy", "no-answer":
		return otp.DeliveryUndelivered
	case "failed", "canceled":
		return otp.DeliveryFailed
	default: // queued, initiated
		return otp.DeliverySending
	}
}
