// Package redisstore is the Redis adapter of the domain: it implements
// otp.Store (store.go, attempts.go), otp.Limiter (limits.go), otp.Throttle
// (throttle.go), the Idempotency-Key store (idempotency.go) and the index
// of waiting events (events.go). Every Redis key is named in keys.go,
// every hash field, letter code and script outcome in schema.go, and the
// records are read in record.go.
//
// Each operation is one round trip: a Lua script (lua/), or a pipeline. So
// every rule is applied atomically, and each script touches one number's
// keys, in one Redis Cluster slot. Every script is headed by its KEYS, ARGV
// and return values, names its arguments in locals at its top, names the
// schema's fields, letters and outcomes (schema.go's tables, which
// scripts.go compiles into literals) and shares common.lua's helpers.
// Scripts read time from Redis (TIME) unless a test clock is injected with
// WithClock.
package redisstore
