-- job-lockstate: the owner keeps its source memo (whether the guest ran, its disks' lockstate) in
-- its job, from Begin to Confirm, under the hash field named `lockstate` since it held only that.
-- KEYS[1] the job hash
-- ARGV[1] owner, ARGV[2] the memo (opaque JSON), ARGV[3] now (ISO time)
-- Returns {'ok'}; {'not_active'} if there is no job; {'not_owner', fields...} if another owns it.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_active'}
end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  local record = redis.call('HGETALL', KEYS[1])
  table.insert(record, 1, 'not_owner')
  return record
end
redis.call('HSET', KEYS[1], 'lockstate', ARGV[2], 'updatedAt', ARGV[3])
return {'ok'}
