-- autokill-drop: the owner lets its lease go now instead of waiting for it to lapse (the migration
-- is rolling back: its incoming guest must die, and the VM may be migrated again at once).
-- KEYS[1] the VM's autokill lease
-- ARGV[1] owner
-- Returns 1 if the lease was this owner's and is gone, 0 if it was absent or another owner's.
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
