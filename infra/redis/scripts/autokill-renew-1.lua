-- autokill-renew: the keepalive; only the owner extends its lease, and a lapsed lease stays gone.
-- KEYS[1] the VM's autokill lease
-- ARGV[1] owner, ARGV[2] ttl in milliseconds
-- Returns 1 if extended, 0 if the lease is gone or another owner's.
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
