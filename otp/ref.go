package otp

import (
	"strconv"
	"strings"
)

// AttemptRef names one send attempt of one tenant's verification, for a
// gateway that echoes a reference back in its reports (Telegram's
// payload): "<id>:<attempt>", and ":<tenant>" for a tenant of
// TENANTS_FILE. No secret: a report is trusted for its signature, and the
// reference only says which record it is about.
func AttemptRef(tenant, id string, attempt int) string {
	r := id + ":" + strconv.Itoa(attempt)
	if tenant != "" {
		r += ":" + tenant
	}
	return r
}

// ParseAttemptRef reads an AttemptRef; ok is false for anything else.
func ParseAttemptRef(s string) (tenant, id string, attempt int, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return "", "", 0, false
	}
	id = parts[0]
	attempt, err := strconv.Atoi(parts[1])
	if _, valid := TagOfID(id); !valid || err != nil || attempt < 1 || attempt > 1000 || parts[1] != strconv.Itoa(attempt) {
		return "", "", 0, false
	}
	if len(parts) == 3 {
		if tenant = parts[2]; !ValidTenantName(tenant) {
			return "", "", 0, false
		}
	}
	return tenant, id, attempt, true
}
