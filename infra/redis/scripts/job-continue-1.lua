-- job-continue: Continue: the owner's phase is done; the job stays, no longer active.
-- KEYS[1] the job hash
-- ARGV[1] owner, ARGV[2] now (ISO time)
-- Returns {'ok'}; {'not_active'} if there is no job; {'not_owner', fields...} if another owns it.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_active'}
end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  local record = redis.call('HGETALL', KEYS[1])
  table.insert(record, 1, 'not_owner')
  return record
end
redis.call('HSET', KEYS[1], 'active', '0', 'updatedAt', ARGV[2])
return {'ok'}
