-- view: read a verification by id, without its code.
-- KEYS[1] number hash otp:{tag}
-- ARGV[1] key prefix otp:{tag}   ARGV[2] id base "VE"+tag
-- ARGV[3] the id's random part
-- Returns its fields (as HGETALL, see common.lua's view); empty if unknown.
return view(locate(KEYS[1], ARGV[1], ARGV[2], ARGV[3]))
