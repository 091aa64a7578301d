-- autokill-register: an incoming guest is killed unless its migration keeps this lease alive.
-- KEYS[1] the VM's autokill lease (hash: owner, host; expires)
-- KEYS[2] the VM's claim marker (owner of the last claim, so a retried claim succeeds)
-- ARGV[1] owner (migration id), ARGV[2] host, ARGV[3] ttl in milliseconds
-- Returns 1 if registered or renewed, 0 if another owner's lease exists.
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'host', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
-- A new lease: an earlier claim no longer answers for it.
redis.call('DEL', KEYS[2])
return 1
