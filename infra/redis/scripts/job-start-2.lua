-- job-start: JobStart + SetPhase: a migration job takes a VM on a host, if no job holds it.
-- KEYS[1] the job hash (one per VM per host)
-- KEYS[2] the host's index set of VMs with a job
-- ARGV[1] vm, ARGV[2] host, ARGV[3] job type, ARGV[4] phase, ARGV[5] owner (migration id),
-- ARGV[6] peer host, ARGV[7] now (ISO time)
-- Returns {'ok', fields...} with the new record; {'same', fields...} when this owner already
-- started this job in this phase with this peer (a retried start); {'busy', fields...} with the
-- job in the way.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local job = redis.call('HMGET', KEYS[1], 'owner', 'job', 'phase', 'peer')
  local status = 'busy'
  if job[1] == ARGV[5] and job[2] == ARGV[3] and job[3] == ARGV[4] and job[4] == ARGV[6] then
    status = 'same'
  end
  local record = redis.call('HGETALL', KEYS[1])
  table.insert(record, 1, status)
  return record
end
redis.call('HSET', KEYS[1], 'vm', ARGV[1], 'host', ARGV[2], 'job', ARGV[3], 'phase', ARGV[4],
  'owner', ARGV[5], 'active', '1', 'peer', ARGV[6], 'startedAt', ARGV[7], 'updatedAt', ARGV[7])
redis.call('SADD', KEYS[2], ARGV[1])
local record = redis.call('HGETALL', KEYS[1])
table.insert(record, 1, 'ok')
return record
