package otp

import "github.com/nyaruka/phonenumbers"

// TypeName is the name BLOCKED_NUMBER_TYPES gives libphonenumber's type.
func TypeName(t phonenumbers.PhoneNumberType) NumberType { return numberTypes[t] }

// ParseE164 is ParsePhone's way around phonenumbers.Parse.
var ParseE164 = parseE164

// NumberKind is ParsePhone's region and type of a number, without
// libphonenumber's GetRegionCodeForNumber and GetNumberType.
var NumberKind = numberKind
