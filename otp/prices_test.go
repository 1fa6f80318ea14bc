package otp_test

import (
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpd/otpd/otp"
)

// OfNumber finds, from the calling code when it can, the price a parse of
// the number would find: for every region's example numbers, under prices
// with and without regions of shared and unshared calling codes.
func TestPricesOfNumberAgreesWithAParse(t *testing.T) {
	all := []otp.Prices{
		{},
		{Channel: map[string]float64{"sms": 0.0079}},
		{Channel: map[string]float64{"sms": 0.0079}, Region: map[string]map[string]float64{"sms": {"FR": 0.07}}},
		{Channel: map[string]float64{"sms": 0.0079}, Region: map[string]map[string]float64{"sms": {"US": 0.008, "GB": 0.04, "JE": 0.05}}},
		{Region: map[string]map[string]float64{"sms": {"CA": 0.009, "KZ": 0.1}, "call": {"US": 0.02}}},
	}
	n := 0
	for region := range phonenumbers.GetSupportedRegions() {
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE} {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			phone, err := otp.ParsePhone(phonenumbers.Format(ex, phonenumbers.E164), "")
			if err != nil {
				continue
			}
			for _, p := range all {
				for _, ch := range []string{"sms", "call"} {
					want, wantOK := p.Of(ch, phone.Region)
					got, cc, ok := p.OfNumber(ch, phone.E164)
					if ok != wantOK || got != want || (ok && cc != phone.CountryCode) {
						t.Fatalf("%s (%s) on %s under %+v: %v %d %v, a parse says %v %d %v", phone.E164, phone.Region, ch, p, got, cc, ok, want, phone.CountryCode, wantOK)
					}
					n++
				}
			}
		}
	}
	if _, _, ok := (otp.Prices{Channel: map[string]float64{"sms": 1}}).OfNumber("sms", "4155552671"); ok {
		t.Fatal("a number without its calling code has a price")
	}
	t.Logf("%d prices compared", n)
}

// BenchmarkPricesOfNumber is the worker's price lookup after each accepted
// send: by calling code (sms), and with a parse (+1 under a price for US).
func BenchmarkPricesOfNumber(b *testing.B) {
	p := otp.Prices{Channel: map[string]float64{"sms": 0.0079, "call": 0.01}, Region: map[string]map[string]float64{"call": {"US": 0.02}}}
	for _, ch := range []string{"sms", "call"} {
		b.Run(ch, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := p.OfNumber(ch, "+14155552671"); !ok {
					b.Fatal("no price")
				}
			}
		})
	}
}
