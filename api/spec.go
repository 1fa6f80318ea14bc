// Package api holds the OpenAPI 3.1 description of the otpd HTTP API.
//
// openapi.yaml describes every route of cmd/api: request bodies, responses,
// headers and the stable problem codes. cmd/api serves it at
// GET /openapi.yaml, and cmd/api's tests drive the real router and validate
// each request and response against it, so the document and the code cannot
// drift apart unnoticed.
package api

import _ "embed"

// Spec is the bytes of openapi.yaml, embedded at build time. Callers must
// not modify it.
//
//go:embed openapi.yaml
var Spec []byte

// StatusCallbackPath is the route that receives Twilio's delivery
// reports; the worker asks Twilio to report to PUBLIC_URL + this path.
const StatusCallbackPath = "/v1/webhooks/twilio/status"

// TelegramCallbackPath is the route that receives the Telegram Gateway's
// delivery reports, signed with the token.
const TelegramCallbackPath = "/v1/webhooks/telegram/status"
