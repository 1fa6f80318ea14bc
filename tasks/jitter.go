package tasks

import "math/rand/v2"

// jitter returns a uniform duration in [0, n); math/rand is fine here, the
// value only spreads retries.
func jitter(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}
