package otp

import "regexp"

// DefaultTenant is the name of the tenant built from the environment
// (API_KEYS, OTP_BRAND, WEBHOOK_URL …): every deployment has it, and its
// verifications keep the keys they had before TENANTS_FILE existed. Its
// Policy.Tenant is "".
const DefaultTenant = "default"

// tenantName is what a tenant of TENANTS_FILE may be called: short, so it
// fits in Redis keys, task payloads and metric labels; lower case, so two
// names never differ by case alone.
var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ValidTenantName reports whether s can name a tenant of TENANTS_FILE
// (DefaultTenant is taken by the environment's).
func ValidTenantName(s string) bool { return tenantName.MatchString(s) && s != DefaultTenant }
