-- placement-release: forget where a VM runs, only if the record still names this host.
-- KEYS[1] the VM's placement key
-- ARGV[1] host name
-- Returns 1 if the placement was removed, 0 if it names another host or none.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
