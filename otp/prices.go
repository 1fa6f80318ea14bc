package otp

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

// spent counts a send the gateway accepted at its price, when it has one.
func (s *Service) spent(channel, to string) {
	if len(s.policy.Prices.Channel) == 0 && len(s.policy.Prices.Region) == 0 {
		return
	}
	phone, err := ParsePhone(to, "")
	if err != nil {
		return
	}
	if price, ok := s.policy.Prices.Of(channel, phone.Region); ok {
		s.d.Delivered.Spent(channel, phone.CountryCode, s.policy.Prices.Currency, price)
	}
}

// refunded counts back the price of a send its gateway refunded.
func (s *Service) refunded(v Verification, channel string) {
	phone, err := ParsePhone(v.To, "")
	if err != nil {
		return
	}
	if price, ok := s.policy.Prices.Of(channel, phone.Region); ok {
		s.d.Observer.Refunded(channel, phone.CountryCode, s.policy.Prices.Currency, price)
	}
}
