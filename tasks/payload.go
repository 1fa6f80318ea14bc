package tasks

import "strings"

// parseDeliveryFast reads a delivery payload in the one form
// NewDeliveryTask writes it (json.Marshal of DeliveryPayload: its fields
// in order, the empty ones left out, no space) without encoding/json's
// reflection; ok is false for anything else, which encoding/json then
// reads. Its strings are taken only when they hold printable ASCII and no
// escape, so that what it reads is exactly what encoding/json would.
func parseDeliveryFast(b []byte) (p DeliveryPayload, ok bool) {
	s := string(b)
	if s, ok = strings.CutPrefix(s, `{"id":"`); !ok {
		return p, false
	}
	if p.ID, s, ok = plainString(s); !ok {
		return p, false
	}
	if s, ok = strings.CutPrefix(s, `,"attempt":`); !ok {
		return p, false
	}
	if p.Attempt, s, ok = smallNumber(s); !ok {
		return p, false
	}
	if rest, found := strings.CutPrefix(s, `,"channel":"`); found {
		if p.Channel, s, ok = plainString(rest); !ok {
			return p, false
		}
	}
	if rest, found := strings.CutPrefix(s, `,"t":"`); found {
		if p.Tenant, s, ok = plainString(rest); !ok {
			return p, false
		}
	}
	return p, s == "}"
}

// plainString reads a JSON string's contents up to its closing quote,
// when they are printable ASCII without an escape.
func plainString(s string) (v, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i], s[i+1:], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", s, false
		}
	}
	return "", s, false
}

// smallNumber reads a positive integer of at most 9 digits without a
// leading zero, as json.Marshal writes an attempt.
func smallNumber(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && i < 10 && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 || i > 9 || s[0] == '0' {
		return 0, s, false
	}
	return n, s[i:], true
}
