package otp

import "github.com/nyaruka/phonenumbers"

// TypeName is the name BLOCKED_NUMBER_TYPES gives libphonenumber's type.
func TypeName(t phonenumbers.PhoneNumberType) NumberType { return numberTypes[t] }
