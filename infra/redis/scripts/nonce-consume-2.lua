-- nonce-consume: spends a cookie's nonce for one scope, if the cookie is of Redis's present epoch.
-- KEYS[1] the nonce's key
-- KEYS[2] the epoch key (set by the agents; absent or another value once Redis lost its data)
-- ARGV[1] scope, ARGV[2] ttl in milliseconds, ARGV[3] the epoch the cookie was issued in
-- Returns {'stale', epoch or ''} when the epochs differ (nothing recorded: the nonces of before
-- the loss are gone, so such a cookie cannot be told from a replay); else {'fresh'},
-- {'same-scope'} or {'replayed'} as SET NX GET decides (a retry keeps the first TTL).
local epoch = redis.call('GET', KEYS[2])
if epoch ~= ARGV[3] then
  return {'stale', epoch or ''}
end
local previous = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2], 'GET')
if not previous then
  return {'fresh'}
end
if previous == ARGV[1] then
  return {'same-scope'}
end
return {'replayed'}
