package otp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// BLOCKED_NUMBER_TYPES refuses a number of a listed type on every
// channel, before any limit is spent, unless the safe list names it.
func TestBlockedNumberTypes(t *testing.T) {
	const premium, tollFree, mobileGB = "+19002345678", "+18002345678", "+447400123456"
	blocked := map[otp.NumberType]bool{"premium_rate": true, "toll_free": true}
	for _, tc := range []struct {
		name    string
		to      string
		channel string
		safe    otp.SafeList
		apiSafe string
		want    otp.NumberType // "": admitted
	}{
		{"premium rate", premium, otp.ChannelSMS, nil, "", "premium_rate"},
		{"premium rate, by call", premium, otp.ChannelCall, nil, "", "premium_rate"},
		{"toll free", tollFree, otp.ChannelSMS, nil, "", "toll_free"},
		{"mobile", mobileGB, otp.ChannelSMS, nil, "", ""},
		{"premium rate in FRAUD_SAFE_LIST", premium, otp.ChannelSMS, otp.SafeList{"+1900"}, "", ""},
		{"premium rate on the API's safe list", premium, otp.ChannelSMS, nil, premium, ""},
		{"another number on the safe list", premium, otp.ChannelSMS, otp.SafeList{"+1800"}, "+19002345679", "premium_rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := testPolicy
			p.BlockedNumberTypes, p.SafeList, p.Fraud = blocked, tc.safe, otp.FraudOn
			p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelCall: true}
			f := &fixture{otptest.New(t, redisServer, app.Options{Policy: p, Guard: &redisstore.GuardConfig{}}, otptest.RecordOnly)}
			if tc.apiSafe != "" {
				if _, err := f.Svc.AddSafe(ctx, tc.apiSafe); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := f.Svc.Start(ctx, otp.StartRequest{To: tc.to, Channel: tc.channel})
			var nt *otp.NumberTypeError
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &nt) || nt.Type != tc.want || !errors.Is(err, otp.ErrNumberTypeBlocked)):
				t.Fatalf("err %v, want the %s refusal", err, tc.want)
			case tc.want != "" && len(f.Queue.Jobs()) != 0:
				t.Fatal("a refused number got a job")
			}
		})
	}
}

func TestParseNumberTypes(t *testing.T) {
	got, err := otp.ParseNumberTypes(" Premium_Rate , voip")
	if err != nil || len(got) != 2 || !got["premium_rate"] || !got["voip"] {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := otp.ParseNumberTypes("none"); err != nil || len(got) != 0 {
		t.Fatalf("none: %v %v", got, err)
	}
	if _, err := otp.ParseNumberTypes("premium_rate,landline"); err == nil || !strings.Contains(err.Error(), "landline") {
		t.Fatalf("unknown type: %v", err)
	}
}

func TestSafeListHas(t *testing.T) {
	l := otp.SafeList{"+4420", "+14155550100"}
	for n, want := range map[string]bool{"+442079460958": true, "+14155550100": true, "+14155550101": false, "+4421": false} {
		if l.Has(n) != want {
			t.Errorf("%s: %v", n, !want)
		}
	}
}

// FuzzParseBlockName: a name from a URL is a prefix or a country, in the
// one form the store keys it by, or an error; never a panic.
func FuzzParseBlockName(f *testing.F) {
	for _, s := range []string{"+14155552", "%2B1", "us", "USA", "+", "+0", " +44 ", "+1234567890123456", "ü", "001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := otp.ParseBlockName(s)
		if err != nil {
			return
		}
		again, err := otp.ParseBlockName(name)
		if err != nil || again != name {
			t.Fatalf("%q → %q → %q, %v", s, name, again, err)
		}
		if entry, err := otp.ParseSafeEntry(name); err == nil && entry != name {
			t.Fatalf("%q: entry %q", name, entry)
		}
		if !(len(name) == 2 && name == strings.ToUpper(name)) && !strings.HasPrefix(name, "+") && name != otp.NonGeographicRegion {
			t.Fatalf("%q parsed to %q", s, name)
		}
	})
}
