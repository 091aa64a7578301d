-- host-claim: an agent claims its host name; refused while another live agent holds it.
-- KEYS[1] the name's claim (a string with a TTL: it lapses when its agent stops beating)
-- ARGV[1] the claiming agent's host UUID (minted once in its own state dir)
-- ARGV[2] how long the claim lives without a renewal, in milliseconds
-- Returns 'ok' when the name was free or already this host's (the claim renewed), else the UUID
-- of the live agent that holds it.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return holder
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'ok'
