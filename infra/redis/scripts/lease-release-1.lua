-- lease-release: release a lease, only for the holder of its token.
-- KEYS[1] the lease key
-- ARGV[1] owner id
-- ARGV[2] fencing token the owner got from lease-take
-- Returns 1 if released, 0 if the lease is not (or no longer) this owner's.
local owner = redis.call('HGET', KEYS[1], 'owner')
local token = redis.call('HGET', KEYS[1], 'token')
if owner == ARGV[1] and token == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
