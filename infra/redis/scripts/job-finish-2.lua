-- job-finish: Finish: the owner's job ends and the VM is free on this host.
-- KEYS[1] the job hash
-- KEYS[2] the host's index set of VMs with a job
-- ARGV[1] owner, ARGV[2] vm
-- Returns {'ok'} if the job was deleted; {'none'} if there was none (a retried finish);
-- {'not_owner', fields...} if another owns it (left in place).
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
  return {'none'}
end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  local record = redis.call('HGETALL', KEYS[1])
  table.insert(record, 1, 'not_owner')
  return record
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return {'ok'}
