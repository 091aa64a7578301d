-- slots-acquire: a migration takes its three slots (cluster, outbound on its source, inbound on its
-- destination) all or nothing, and promises its memory to that destination, on the first candidate
-- destination that has both a free inbound slot and the memory. Expired entries (a holder that
-- stopped renewing) are dropped first, so a dead controller never keeps a slot past its TTL.
-- KEYS[1] the cluster's slots (zset: migration id -> expiry in ms)
-- KEYS[2] the source's outbound slots (zset)
-- KEYS[3] the migration's holder record (hash: vm, source, destination, memoryMiB, acquiredAt)
-- KEYS[4] the migration's release mark (set once its slots were released)
-- KEYS[5 + 3(i-1) .. 7 + 3(i-1)] candidate i's inbound slots (zset), memory promises (zset: id ->
--   expiry) and promised MiB (hash: id -> MiB)
-- ARGV[1] migration id, ARGV[2] ttl in ms, ARGV[3] cluster limit, ARGV[4] per-source limit,
-- ARGV[5] per-destination limit, ARGV[6] the guest's memory in MiB, ARGV[7] vm, ARGV[8] source
-- ARGV[9 + 2(i-1)] candidate i's name, ARGV[10 + 2(i-1)] its free MiB as its registration says
-- Returns {'acquired', destination} (the same answer again for a retry by the same id);
-- {'released'} if this id's slots were already released (it must not take them again);
-- {'wait', what} when a slot or memory may free up: 'cluster', 'source', 'destination' or 'memory'
-- (memory promised to migrations still in flight); {'no-room'} when no candidate can take it now.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, ttl = ARGV[1], tonumber(ARGV[2])
local clusterLimit, sourceLimit, destinationLimit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local mib = tonumber(ARGV[6])

if redis.call('EXISTS', KEYS[4]) == 1 then
  return {'released'}
end
local held = redis.call('HGET', KEYS[3], 'destination')
if held then
  return {'acquired', held}
end

-- A key lives as long as its latest entry, so the slots of a vanished cluster leave nothing behind.
local function settle(zset, hash)
  local top = redis.call('ZRANGE', zset, -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('PEXPIREAT', zset, top[2])
    if hash then redis.call('PEXPIREAT', hash, top[2]) end
  end
end
local function purge(zset, hash)
  local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', now)
  if #gone > 0 then
    redis.call('ZREM', zset, unpack(gone))
    if hash then redis.call('HDEL', hash, unpack(gone)) end
  end
end

purge(KEYS[1])
purge(KEYS[2])
if redis.call('ZCARD', KEYS[1]) >= clusterLimit then
  return {'wait', 'cluster'}
end
if redis.call('ZCARD', KEYS[2]) >= sourceLimit then
  return {'wait', 'source'}
end

local waiting = false
local candidates = (#KEYS - 4) / 3
for i = 1, candidates do
  local inbound, promises, promisedMib = KEYS[5 + 3 * (i - 1)], KEYS[6 + 3 * (i - 1)], KEYS[7 + 3 * (i - 1)]
  local name, free = ARGV[9 + 2 * (i - 1)], tonumber(ARGV[10 + 2 * (i - 1)])
  purge(inbound)
  purge(promises, promisedMib)
  local promised = 0
  for _, v in ipairs(redis.call('HVALS', promisedMib)) do
    promised = promised + tonumber(v)
  end
  if free - promised < mib then
    -- Promised memory comes back (or shows in the registration) once those migrations end.
    if promised > 0 and not waiting then waiting = 'memory' end
  elseif redis.call('ZCARD', inbound) >= destinationLimit then
    waiting = 'destination'
  else
    local expiry = now + ttl
    for _, zset in ipairs({KEYS[1], KEYS[2], inbound, promises}) do
      redis.call('ZADD', zset, expiry, id)
    end
    redis.call('HSET', promisedMib, id, mib)
    for _, zset in ipairs({KEYS[1], KEYS[2], inbound}) do
      settle(zset)
    end
    settle(promises, promisedMib)
    redis.call('HSET', KEYS[3], 'vm', ARGV[7], 'source', ARGV[8], 'destination', name,
      'memoryMiB', mib, 'acquiredAt', now)
    redis.call('PEXPIRE', KEYS[3], ttl)
    return {'acquired', name}
  end
end
if waiting then
  return {'wait', waiting}
end
return {'no-room'}
