package otp

import (
	"regexp"
	"slices"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// numberKind is libphonenumber's region and type of a number, given its
// calling code and national significant number: what
// GetRegionCodeForNumber and GetNumberType answer, in one pass. Those two
// find the region of a code that several share (+1, +7, +44 …) by trying
// each region's types, and GetNumberType finds it again before trying them
// once more; every try builds its pattern's text and looks it up in a
// locked cache, and matches it twice. Here each plan's patterns are
// compiled once, when first needed, and each is matched once. ok is false
// when the metadata could not be read: ask libphonenumber then.
// TestNumberKindAgreesWithLibphonenumber and FuzzNumberKind hold it to the
// library, whose metadata it reads.
func numberKind(cc int, nsn string) (region string, kind phonenumbers.PhoneNumberType, ok bool) {
	all, ok := numberPlans()
	if !ok {
		return "", phonenumbers.UNKNOWN, false
	}
	plans := all[cc]
	if len(plans) == 1 {
		return plans[0].region, plans[0].compiled().kind(nsn), true
	}
	for _, p := range plans {
		if p.leading != nil {
			if p.leading.MatchString(nsn) {
				return p.region, p.compiled().kind(nsn), true
			}
		} else if k := p.compiled().kind(nsn); k != phonenumbers.UNKNOWN {
			return p.region, k, true
		}
	}
	return "", phonenumbers.UNKNOWN, true
}

// numberPlan is one region's numbering plan (or a non-geographical calling
// code's, region "001").
type numberPlan struct {
	region string
	// leading, when the plan has leading digits, tells its numbers from
	// those of the other regions that share its code. Compiled with the
	// table, as it is small: trying a region must not compile its plan.
	leading *regexp.Regexp
	// nationalPrefix is the national prefix Parse may strip from a number
	// written after its calling code ("+44 0…"), anchored; nil for a plan
	// with none. Only a code's main region's (its first plan) is set: Parse
	// strips by that region's rules alone.
	nationalPrefix *regexp.Regexp
	compiled       func() *compiledPlan
}

// strippable says whether Parse could strip a national prefix from nsn.
func (p numberPlan) strippable(nsn string) bool {
	return p.nationalPrefix != nil && p.nationalPrefix.MatchString(nsn)
}

type compiledPlan struct {
	general numberDesc
	// types are tried in libphonenumber's order, before fixed and mobile.
	types           []typedDesc
	fixed, mobile   numberDesc
	sameMobileFixed bool
}

type typedDesc struct {
	kind phonenumbers.PhoneNumberType
	desc numberDesc
}

// numberDesc is a type's pattern and possible lengths (none: any).
type numberDesc struct {
	re      *regexp.Regexp
	lengths []int32
}

func newDesc(d *phonenumbers.PhoneNumberDesc) numberDesc {
	return numberDesc{re: regexp.MustCompile(`^(?:` + d.GetNationalNumberPattern() + `)$`), lengths: d.PossibleLength}
}

func (d numberDesc) match(nsn string) bool {
	if len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(nsn))) {
		return false
	}
	return d.re.MatchString(nsn)
}

// kind is libphonenumber's getNumberTypeHelper.
func (c *compiledPlan) kind(nsn string) phonenumbers.PhoneNumberType {
	if !c.general.match(nsn) {
		return phonenumbers.UNKNOWN
	}
	for _, t := range c.types {
		if t.desc.match(nsn) {
			return t.kind
		}
	}
	if c.fixed.match(nsn) {
		if c.sameMobileFixed || c.mobile.match(nsn) {
			return phonenumbers.FIXED_LINE_OR_MOBILE
		}
		return phonenumbers.FIXED_LINE
	}
	if !c.sameMobileFixed && c.mobile.match(nsn) {
		return phonenumbers.MOBILE
	}
	return phonenumbers.UNKNOWN
}

func compilePlan(md *phonenumbers.PhoneMetadata) *compiledPlan {
	return &compiledPlan{
		general: newDesc(md.GetGeneralDesc()),
		types: []typedDesc{
			{phonenumbers.PREMIUM_RATE, newDesc(md.GetPremiumRate())},
			{phonenumbers.TOLL_FREE, newDesc(md.GetTollFree())},
			{phonenumbers.SHARED_COST, newDesc(md.GetSharedCost())},
			{phonenumbers.VOIP, newDesc(md.GetVoip())},
			{phonenumbers.PERSONAL_NUMBER, newDesc(md.GetPersonalNumber())},
			{phonenumbers.PAGER, newDesc(md.GetPager())},
			{phonenumbers.UAN, newDesc(md.GetUan())},
			{phonenumbers.VOICEMAIL, newDesc(md.GetVoicemail())},
		},
		fixed:           newDesc(md.GetFixedLine()),
		mobile:          newDesc(md.GetMobile()),
		sameMobileFixed: md.GetSameMobileAndFixedLinePattern(),
	}
}

// numberPlans are the plans of each calling code, in the order
// libphonenumber tries its regions (GetRegionCodesForCountryCode). A
// plan's patterns compile on its first number: few deployments see most
// of the world's plans.
var numberPlans = sync.OnceValues(func() (map[int][]numberPlan, bool) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, false
	}
	byRegion := map[string]*phonenumbers.PhoneMetadata{}
	nonGeo := map[int]*phonenumbers.PhoneMetadata{}
	for _, md := range coll.GetMetadata() {
		if md.GetId() == "001" {
			nonGeo[int(md.GetCountryCode())] = md
		} else {
			byRegion[md.GetId()] = md
		}
	}
	out := map[int][]numberPlan{}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for i, region := range phonenumbers.GetRegionCodesForCountryCode(cc) {
			md := byRegion[region]
			if region == "001" {
				md = nonGeo[cc]
			}
			if md == nil {
				return nil, false
			}
			p := numberPlan{region: region, compiled: sync.OnceValue(func() *compiledPlan { return compilePlan(md) })}
			if ld := md.GetLeadingDigits(); ld != "" {
				p.leading = regexp.MustCompile(`^(?:` + ld + `)`)
			}
			if np := md.GetNationalPrefixForParsing(); i == 0 && np != "" {
				p.nationalPrefix = regexp.MustCompile(`^(?:` + np + `)`)
			}
			out[cc] = append(out[cc], p)
		}
	}
	return out, true
})
