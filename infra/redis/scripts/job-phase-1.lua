-- job-phase: StartPhase / SetPhase: the owner moves its job to a phase the protocol allows.
-- KEYS[1] the job hash
-- ARGV[1] owner, ARGV[2] job type, ARGV[3] phase, ARGV[4] '1' to mark the job active (StartPhase)
-- or '' to leave it (SetPhase), ARGV[5] now (ISO time)
-- ARGV[6..] the phases the job may be in to enter ARGV[3] (ARGV[3] itself among them: a retry)
-- Returns {'ok', fields...} with the updated record; {'not_active'} if there is no job;
-- {'not_owner', fields...}, {'not_active', fields...} (another job type) or {'backwards', fields...}
-- with the record left unchanged.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_active'}
end
local job = redis.call('HMGET', KEYS[1], 'owner', 'job', 'phase')
local status = nil
if job[1] ~= ARGV[1] then
  status = 'not_owner'
elseif job[2] ~= ARGV[2] then
  status = 'not_active'
else
  status = 'backwards'
  for i = 6, #ARGV do
    if job[3] == ARGV[i] then
      status = 'ok'
    end
  end
end
if status == 'ok' then
  redis.call('HSET', KEYS[1], 'phase', ARGV[3], 'updatedAt', ARGV[5])
  if ARGV[4] == '1' then
    redis.call('HSET', KEYS[1], 'active', '1')
  end
end
local record = redis.call('HGETALL', KEYS[1])
table.insert(record, 1, status)
return record
