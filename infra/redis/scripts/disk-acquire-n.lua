-- disk-acquire: a holder (host + VM) takes the leases on all its disks, or on none.
-- KEYS[1..n] the disks' lease hashes (state, host, vm, generation)
-- KEYS[n+1] the holder host's index set of the disks it holds
-- KEYS[n+2] the generation floor, set once Redis lost its data (absent before any loss)
-- ARGV[1] host, ARGV[2] vm, ARGV[3] '1' if a lockstate is given, else ''
-- ARGV[4..n+3] the disks' names (members of the index set)
-- ARGV[n+4..2n+3] with a lockstate, the generation each disk must still be at
-- Returns {'ok', token...} (one fencing token per disk, in order); or, with nothing changed,
-- {'held', i, host, vm} when disk i is held by another holder, {'stale', i, generation} when
-- disk i is not at the lockstate's generation (someone acquired it since).
-- A disk with no generation starts above the floor, so tokens handed out after a loss of Redis's
-- data are above every token handed out before it.
local n = #KEYS - 2
local floor = tonumber(redis.call('GET', KEYS[n + 2]) or '0')
local lockstate = ARGV[3] == '1'
local mine = {}
for i = 1, n do
  local lease = redis.call('HMGET', KEYS[i], 'state', 'host', 'vm', 'generation')
  local generation = tonumber(lease[4] or '0')
  if lease[1] == 'held' then
    if lease[2] == ARGV[1] and lease[3] == ARGV[2] then
      -- A retried acquire: the holder keeps its token.
      mine[i] = generation
    else
      return {'held', i, lease[2], lease[3]}
    end
  elseif lockstate and generation ~= tonumber(ARGV[n + 3 + i]) then
    return {'stale', i, generation}
  end
end
local tokens = {'ok'}
for i = 1, n do
  if mine[i] then
    tokens[i + 1] = mine[i]
  else
    if floor > 0 and tonumber(redis.call('HGET', KEYS[i], 'generation') or '0') < floor then
      redis.call('HSET', KEYS[i], 'generation', floor)
    end
    tokens[i + 1] = redis.call('HINCRBY', KEYS[i], 'generation', 1)
    redis.call('HSET', KEYS[i], 'state', 'held', 'host', ARGV[1], 'vm', ARGV[2])
    redis.call('SADD', KEYS[n + 1], ARGV[3 + i])
  end
end
return tokens
