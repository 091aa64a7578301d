-- disk-release: a holder (host + VM) lets go of its disks' leases and learns their lockstate.
-- KEYS[1..n] the disks' lease hashes (state, host, vm, generation)
-- KEYS[n+1] the holder host's index set of the disks it holds
-- ARGV[1] host, ARGV[2] vm
-- ARGV[3..n+2] the disks' names (members of the index set)
-- Returns {'ok', generation...}: per disk, the generation at which this holder released it (now or
-- in an earlier, retried call), or 0 when this holder was not the last to hold it. Or, with nothing
-- changed, {'not_holder', i, host, vm} when disk i is held by another holder.
local n = #KEYS - 1
local leases = {}
for i = 1, n do
  leases[i] = redis.call('HMGET', KEYS[i], 'state', 'host', 'vm', 'generation')
  local lease = leases[i]
  if lease[1] == 'held' and (lease[2] ~= ARGV[1] or lease[3] ~= ARGV[2]) then
    return {'not_holder', i, lease[2], lease[3]}
  end
end
local generations = {'ok'}
for i = 1, n do
  local lease = leases[i]
  generations[i + 1] = 0
  if lease[2] == ARGV[1] and lease[3] == ARGV[2] then
    -- Held or already released by this holder: the host and vm fields name the last holder.
    generations[i + 1] = tonumber(lease[4])
    if lease[1] == 'held' then
      redis.call('HSET', KEYS[i], 'state', 'free')
      redis.call('SREM', KEYS[n + 1], ARGV[2 + i])
    end
  end
end
return generations
