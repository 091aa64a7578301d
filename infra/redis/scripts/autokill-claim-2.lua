-- autokill-claim: at Finish the owner takes its guest off autokill, if the lease has not lapsed.
-- KEYS[1] the VM's autokill lease
-- KEYS[2] the VM's claim marker
-- ARGV[1] owner, ARGV[2] how long the marker answers retried claims, in milliseconds
-- Returns 1 if the lease was this owner's and is now gone (or this owner already claimed it: a
-- retried Finish), 0 if it lapsed or is another owner's.
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('GET', KEYS[2]) == ARGV[1] then
  return 1
end
return 0
