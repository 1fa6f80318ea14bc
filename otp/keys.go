package otp

// Every key of one number carries the number's hash tag, so all of a
// verification's state lives in one Redis Cluster slot and each Lua script
// touches a single slot.

func keyPrefix(tag string) string { return "otp:{" + tag + "}:" }

// numberKey points at the number's latest verification id.
func numberKey(tag, e164 string) string { return keyPrefix(tag) + "n:" + e164 }

// verificationKey is the hash with a verification's public state.
func verificationKey(tag, id string) string { return keyPrefix(tag) + "v:" + id }

// sendsKey logs the number's send times for the rolling cap.
func sendsKey(tag, e164 string) string { return keyPrefix(tag) + "s:" + e164 }

// failuresKey counts the number's wrong codes across verifications.
func failuresKey(tag, e164 string) string { return keyPrefix(tag) + "f:" + e164 }

// codeKey holds the code's MAC and ciphertext; it expires with the code, so
// code material never outlives OTP_TTL even if nobody touches it again.
func codeKey(tag, id string) string { return keyPrefix(tag) + "c:" + id }
