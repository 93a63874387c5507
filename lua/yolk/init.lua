-- yolk: the helpers application code requires (`local yolk = require('yolk')`):
-- the JSON values of yolk.core, buffers, and waiting.
local core = require('yolk.core')

local M = {
  null = core.null,
  array_mt = core.array_mt,
  object_mt = core.object_mt,
  array = core.array,
  object = core.object,
  buffer = core.buffer,
  is_buffer = core.is_buffer,
  is_object = core.is_object,
  json_encode = core.json_encode,
  json_decode = core.json_decode,
  json_keys = core.json_keys,
}

-- True when t is a JSON array: marked as one, or unmarked with keys exactly 1..n.
function M.is_array(t)
  if type(t) ~= 'table' then return false end
  if core.is_array(t) then return true end
  if core.is_object(t) then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n == 0 then return false end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

-- Waiting helpers live in the scheduler; required lazily to avoid a cycle.
function M.sleep(ms) return require('yolk.scheduler').sleep(ms) end
function M.spawn(fn, ...) return require('yolk.scheduler').spawn(fn, ...) end

M.version = '0.1.0'

return M
