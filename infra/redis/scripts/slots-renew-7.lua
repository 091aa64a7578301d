-- slots-renew: the keepalive of a running migration's slots. The migration runs whatever the
-- limits say now, so slots that lapsed meanwhile (its controller was away longer than the TTL) are
-- taken back as they were; only a release ends them for good.
-- KEYS[1] the cluster's slots, KEYS[2] the source's outbound slots, KEYS[3] the destination's
-- inbound slots (zsets: id -> expiry in ms), KEYS[4] the destination's memory promises (zset),
-- KEYS[5] its promised MiB (hash), KEYS[6] the holder record, KEYS[7] the release mark
-- ARGV[1] migration id, ARGV[2] ttl in ms, ARGV[3] vm, ARGV[4] source, ARGV[5] destination,
-- ARGV[6] memory MiB
-- Returns 1 if renewed, 2 if the slots had lapsed and were taken back, 0 if they were released.
if redis.call('EXISTS', KEYS[7]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, ttl = ARGV[1], tonumber(ARGV[2])
local expiry = now + ttl
local had = redis.call('EXISTS', KEYS[6])
for i = 1, 4 do
  redis.call('ZADD', KEYS[i], expiry, id)
  local top = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[i], top[2])
  if i == 4 then redis.call('PEXPIREAT', KEYS[5], top[2]) end
end
redis.call('HSET', KEYS[5], id, ARGV[6])
if had == 0 then
  redis.call('HSET', KEYS[6], 'vm', ARGV[3], 'source', ARGV[4], 'destination', ARGV[5],
    'memoryMiB', ARGV[6], 'acquiredAt', now)
end
redis.call('PEXPIRE', KEYS[6], ttl)
if had == 1 then
  return 1
end
return 2
