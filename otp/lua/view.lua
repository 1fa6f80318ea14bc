-- view: read a verification by id, without its code.
-- KEYS[1] number hash otp:{tag}
-- ARGV[1] key prefix otp:{tag}   ARGV[2] id base "VE"+tag
-- ARGV[3] the id's random part   ARGV[4] now (unix ms; "": Redis TIME)
-- Returns {now, fields}: the script's clock, by which the caller judges
-- expiry, and the fields (as HGETALL, see common.lua's view; empty if
-- unknown).
return {clock(ARGV[4]), view(locate(KEYS[1], ARGV[1], ARGV[2], ARGV[3]))}
