-- lease-take: take a lease if nobody holds it, with a fencing token that only grows.
-- KEYS[1] the lease key
-- KEYS[2] the lease's fencing counter (never expires, never decreases)
-- ARGV[1] owner id
-- ARGV[2] ttl in milliseconds
-- Returns the new fencing token, or false if someone else holds the lease.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
