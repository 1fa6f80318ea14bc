package otp

import "github.com/nyaruka/phonenumbers"

// Prices are what one send costs on each channel, in Currency, as the
// operator's contract says (CHANNEL_PRICES): a price per channel, and
// optionally per channel and country. They are estimates for metrics;
// nothing is billed by them. A Telegram message that Telegram refunds (not
// delivered in its ttl) costs nothing: its refund is counted back.
type Prices struct {
	Currency string
	// Channel is the price of a send by channel; Region, by channel and
	// then ISO region, overrides it.
	Channel map[string]float64
	Region  map[string]map[string]float64
}

// Of is the price of one send on channel to a number of region; ok is
// false when no price is set for it.
func (p Prices) Of(channel, region string) (price float64, ok bool) {
	if r, found := p.Region[channel][region]; found {
		return r, true
	}
	price, ok = p.Channel[channel]
	return price, ok
}

// OfNumber is the price of one send on channel to the E.164 number to, and
// its calling code. The region is found from the calling code alone when
// that settles the price: no region of the number's calling code has a
// price of its own on channel, or the calling code has one region only.
// Only a calling code shared by several regions, one of them priced (+1
// with sms:US, +44 with sms:GB), costs a parse of the number. ok is false
// when no price is set, or the number has no calling code or does not
// parse.
func (p Prices) OfNumber(channel, to string) (price float64, cc int, ok bool) {
	if cc = CallingCode(to); cc == 0 {
		return 0, 0, false
	}
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	priced := p.Region[channel]
	switch {
	case len(regions) == 1:
		price, ok = p.Of(channel, regions[0])
		return price, cc, ok
	case !anyIn(regions, priced):
		price, ok = p.Channel[channel]
		return price, cc, ok
	}
	phone, err := ParsePhone(to, "")
	if err != nil {
		return 0, 0, false
	}
	price, ok = p.Of(channel, phone.Region)
	return price, phone.CountryCode, ok
}

// anyIn says whether one of regions has a price in priced.
func anyIn(regions []string, priced map[string]float64) bool {
	for _, r := range regions {
		if _, ok := priced[r]; ok {
			return true
		}
	}
	return false
}

// spent counts a send the gateway accepted at its price, when it has one.
// The number was validated when the verification started, and the worker
// checked its keyed tag before sending: it is not parsed again unless its
// region alone decides the price.
func (s *Service) spent(channel, to string) {
	if len(s.policy.Prices.Channel) == 0 && len(s.policy.Prices.Region) == 0 {
		return
	}
	if price, cc, ok := s.policy.Prices.OfNumber(channel, to); ok {
		s.d.Delivered.Spent(channel, cc, s.policy.Prices.Currency, price)
	}
}

// refunded counts back the price of a send its gateway refunded.
func (s *Service) refunded(v Verification, channel string) {
	if price, cc, ok := s.policy.Prices.OfNumber(channel, v.To); ok {
		s.d.Observer.Refunded(channel, cc, s.policy.Prices.Currency, price)
	}
}
