package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// A number range is what the guard judges: an E.164 number less its last
// prefixDigits digits. Every range the simulation uses is valid, as are
// all the numbers it hands out in it: libphonenumber must take them for
// mobile numbers of the range's country, as the api does.
const prefixDigits = 3

// numberRange hands out fresh numbers of one range, never one twice until
// all 1,000 were used.
type numberRange struct {
	Region string
	Prefix string // "+447700900"

	mu   sync.Mutex
	next int // how many handed out
	step int // a stride coprime with 1000, so numbers do not run in order
	base int
}

// Next is a number of the range not handed out before (after 1,000 it
// starts over: the caller's problem). Invalid numbers of the range are
// skipped.
func (r *numberRange) Next() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for tries := 0; tries < 1000; tries++ {
		i := (r.base + r.next*r.step) % 1000
		r.next++
		n := fmt.Sprintf("%s%03d", r.Prefix, i)
		if validMobile(n, r.Region) {
			return n
		}
	}
	return fmt.Sprintf("%s%03d", r.Prefix, r.next%1000)
}

// Used is how many numbers were handed out.
func (r *numberRange) Used() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// validMobile reports whether e164 is a valid number of region that may
// be a mobile one (what BLOCKED_NUMBER_TYPES' default lets through).
func validMobile(e164, region string) bool {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil || phonenumbers.GetRegionCodeForNumber(num) != region || !phonenumbers.IsValidNumber(num) {
		return false
	}
	t := phonenumbers.GetNumberType(num)
	return t == phonenumbers.MOBILE || t == phonenumbers.FIXED_LINE_OR_MOBILE
}

// ranges draws distinct valid mobile ranges of countries: libphonenumber's
// example mobile number with the digits after its first one drawn at
// random, kept when numbers across the range are valid mobile numbers.
type ranges struct {
	rng  *rand.Rand
	used map[string]bool // every range handed out, any country
}

func newRanges(seed uint64) *ranges {
	return &ranges{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), used: map[string]bool{}}
}

// Draw returns n new ranges of region, none handed out before.
func (g *ranges) Draw(region string, n int) ([]*numberRange, error) {
	ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
	if ex == nil {
		return nil, fmt.Errorf("libphonenumber has no example mobile number for %s", region)
	}
	cc := strconv.Itoa(int(ex.GetCountryCode()))
	nsn := phonenumbers.GetNationalSignificantNumber(ex)
	stemLen := len(nsn) - prefixDigits
	out := make([]*numberRange, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 200*n+100_000 {
			return nil, fmt.Errorf("%s: found only %d of %d valid mobile ranges", region, len(out), n)
		}
		stem := []byte(nsn[:stemLen])
		for i := 1; i < len(stem); i++ {
			stem[i] = byte('0' + g.rng.IntN(10))
		}
		prefix := "+" + cc + string(stem)
		if g.used[prefix] || !g.validRange(prefix, region) {
			continue
		}
		g.used[prefix] = true
		out = append(out, &numberRange{Region: region, Prefix: prefix,
			step: []int{7, 13, 37, 101, 317, 463}[g.rng.IntN(6)], base: g.rng.IntN(1000)})
	}
	return out, nil
}

// validRange samples the range: its first and last numbers and a few
// between must be valid mobile numbers of region.
func (g *ranges) validRange(prefix, region string) bool {
	for _, s := range []int{0, 999, 500, g.rng.IntN(1000), g.rng.IntN(1000)} {
		if !validMobile(fmt.Sprintf("%s%03d", prefix, s), region) {
			return false
		}
	}
	return true
}
