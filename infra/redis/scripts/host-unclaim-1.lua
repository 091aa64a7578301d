-- host-unclaim: an agent that stops gives its host name back, if the claim is still its own.
-- KEYS[1] the name's claim
-- ARGV[1] the stopping agent's host UUID
-- Returns 1 if the claim was this host's and is gone, 0 if it was another's or had lapsed.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
