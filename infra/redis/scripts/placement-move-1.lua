-- placement-move: a migration's Finish moves the VM's placement from its source to its destination.
-- KEYS[1] the VM's placement key
-- ARGV[1] source host (the record must name it, or already name the destination: a retry)
-- ARGV[2] destination host
-- Returns 1 if the placement names the destination now, 0 if it named a third host (left as is).
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or current == ARGV[2] or current == false then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
