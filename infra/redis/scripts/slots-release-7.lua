-- slots-release: a migration ended; its slots free at once. Its memory promise lingers a moment,
-- until the destination's registration counts the guest it received (the agent's next heartbeat).
-- KEYS[1] the cluster's slots, KEYS[2] the source's outbound slots, KEYS[3] the destination's
-- inbound slots (zsets: id -> expiry in ms), KEYS[4] the destination's memory promises (zset),
-- KEYS[5] its promised MiB (hash), KEYS[6] the holder record, KEYS[7] the release mark
-- ARGV[1] migration id, ARGV[2] how long the promise lingers, in ms, ARGV[3] how long the release
-- mark is kept, in ms (a late renew or acquire of this id is refused meanwhile)
-- Returns 1 if the slots were held, 0 if not (released already, or lapsed).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = ARGV[1]
local had = redis.call('EXISTS', KEYS[6])
for i = 1, 3 do
  redis.call('ZREM', KEYS[i], id)
end
if redis.call('ZSCORE', KEYS[4], id) then
  local until_ = now + tonumber(ARGV[2])
  redis.call('ZADD', KEYS[4], until_, id)
  local top = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[4], top[2])
  redis.call('PEXPIREAT', KEYS[5], top[2])
end
redis.call('DEL', KEYS[6])
redis.call('SET', KEYS[7], '1', 'PX', ARGV[3])
return had
