package config

import (
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpd/otpd/otp"
)

// currency is an ISO 4217 code, or any short upper-case unit an operator
// counts in.
var currency = regexp.MustCompile(`^[A-Z]{3,5}$`)

// prices reads CHANNEL_PRICES ("sms=0.0079,telegram=0.01,sms:GB=0.04")
// and CHANNEL_PRICE_CURRENCY: what one send costs, per channel and
// optionally per channel and country, for the spend metrics.
func (e *env) prices() otp.Prices {
	p := otp.Prices{Currency: e.str("CHANNEL_PRICE_CURRENCY", "USD"), Channel: map[string]float64{},
		Region: map[string]map[string]float64{}}
	if !currency.MatchString(p.Currency) {
		e.bad("CHANNEL_PRICE_CURRENCY", "%q is not a currency code such as USD or EUR", p.Currency)
	}
	for _, item := range strings.Split(e.raw("CHANNEL_PRICES"), ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		price, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !ok || err != nil || price < 0 || price > 1000 || math.IsNaN(price) {
			e.bad("CHANNEL_PRICES", "%q is not channel=price or channel:COUNTRY=price with a price from 0 to 1000", item)
			continue
		}
		channel, region, perRegion := strings.Cut(strings.TrimSpace(key), ":")
		channel, region = strings.ToLower(channel), strings.ToUpper(region)
		switch {
		case !otp.KnownChannel(channel):
			e.bad("CHANNEL_PRICES", "%q: %q is not sms, whatsapp, call or telegram", item, channel)
		case perRegion && phonenumbers.GetCountryCodeForRegion(region) == 0:
			e.bad("CHANNEL_PRICES", "%q: %q is not an ISO country code libphonenumber knows", item, region)
		case perRegion:
			if p.Region[channel] == nil {
				p.Region[channel] = map[string]float64{}
			}
			p.Region[channel][region] = price
		default:
			p.Channel[channel] = price
		}
	}
	return p
}

func pricesAttrs(p otp.Prices) []slog.Attr {
	n := len(p.Channel)
	for _, r := range p.Region {
		n += len(r)
	}
	return []slog.Attr{slog.Int("channel_prices", n), slog.String("channel_price_currency", p.Currency)}
}
