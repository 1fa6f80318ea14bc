-- view: read a verification by id, without its code.
-- KEYS[1] number hash otp:{tag}
-- ARGV    see the locals below
-- Returns {now, fields}: the script's clock, by which the caller judges
-- expiry, and the view (common.lua; "" if unknown).
local prefix = ARGV[1]          -- key prefix otp:{tag}
local idBase = ARGV[2]          -- "VE" + tag
local rand = ARGV[3]            -- the id's random part
local now = clock(ARGV[4])      -- unix ms; "": Redis TIME
return {now, view(locate(KEYS[1], prefix, idBase, rand))}
