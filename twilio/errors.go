package twilio

// transientCodes are Twilio error codes worth retrying even though they come
// with a 4xx status. Every other 4xx is permanent: the same request would be
// refused again, and a retry only costs money or trips Twilio's fraud checks.
var transientCodes = map[int]bool{
	20429: true, // Too Many Requests: account concurrency limit
	14107: true, // Message rate limit exceeded for the sender
	30001: true, // Queue overflow at Twilio
}

// PermanentCodes documents the refusals seen most in OTP traffic; they are
// permanent by the rule above, the table names them for operators.
var PermanentCodes = map[int]string{
	20003: "authentication failed: wrong account SID or auth token",
	20404: "resource not found: wrong account SID or messaging service",
	21211: "invalid To number",
	21408: "permission to send to this region is not enabled (geo permissions)",
	21606: "From number is not SMS-capable or not owned by the account",
	21608: "trial account: To number is not verified",
	21610: "recipient unsubscribed (replied STOP)",
	21612: "To number cannot be reached from this From number or messaging service",
	21614: "To number is not a mobile number",
	21617: "message body too long",
	21705: "messaging service SID is malformed (not MG + 32 hex digits)",
	30007: "message filtered as spam by the carrier",
}
