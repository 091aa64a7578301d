-- keyring-add: adds a key to one keyring (a hash: field = key id, value = {"key","createdAt"}), as
-- its newest, so the current one. Key ids are random (drawn by the caller), never counted: a ring
-- re-made after Redis lost its data must not give an old id to new key material.
-- KEYS[1] the keyring (ferry:{keyring}:cluster or ferry:{keyring}:codec)
-- ARGV[1] the new key's id (8 hex), ARGV[2] its material (base64), ARGV[3] 'rotate' or 'init'
-- Returns {'added', id, createdAt}; {'exists'} for 'init' on a ring that has keys (nothing
-- written); {'taken'} if the id is already in the ring (the caller draws another).
-- createdAt is Redis's clock in ms, made later than every key's in the ring, so the newest key is
-- the one with the greatest createdAt whichever process's clock is wrong.
if ARGV[3] == 'init' and redis.call('HLEN', KEYS[1]) > 0 then
  return {'exists'}
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return {'taken'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local entries = redis.call('HVALS', KEYS[1])
for _, raw in ipairs(entries) do
  local ok, entry = pcall(cjson.decode, raw)
  if ok and type(entry) == 'table' and type(entry.createdAt) == 'number' and entry.createdAt >= now then
    now = entry.createdAt + 1
  end
end
local created = string.format('%d', now)
redis.call('HSET', KEYS[1], ARGV[1], '{"key":"' .. ARGV[2] .. '","createdAt":' .. created .. '}')
return {'added', ARGV[1], created}
