-- yolk: the helpers application code requires (`local yolk = require('yolk')`).
-- Values come from the C module yolk.core; when it is absent (plain `luajit`
-- running the unit tests) stand-ins with the same behaviour are used so the
-- pure modules stay testable.
local has_core, core = pcall(require, 'yolk.core')

local M = {}

if has_core then
  M.null = core.null
  M.array_mt = core.array_mt
  M.object_mt = core.object_mt
  M.array = core.array
  M.object = core.object
  M.buffer = core.buffer
  M.is_buffer = core.is_buffer
  M.json_encode = core.json_encode
  M.json_decode = core.json_decode
else
  M.null = setmetatable({}, { __tostring = function() return 'null' end })
  M.array_mt = { __name = 'yolk.array' }
  M.object_mt = { __name = 'yolk.object' }
  function M.array(t) return setmetatable(t or {}, M.array_mt) end
  function M.object(t) return setmetatable(t or {}, M.object_mt) end
  local buffer_mt = {}
  buffer_mt.__index = { tostring = function(b) return b.data end }
  buffer_mt.__len = function(b) return #b.data end
  buffer_mt.__tostring = function(b) return b.data end
  function M.buffer(s) return setmetatable({ data = s }, buffer_mt) end
  function M.is_buffer(v) return getmetatable(v) == buffer_mt end
end
M.has_core = has_core

-- True when t is a JSON array: marked as one, or unmarked with keys exactly 1..n.
function M.is_array(t)
  if type(t) ~= 'table' then return false end
  local mt = getmetatable(t)
  if mt == M.array_mt then return true end
  if mt == M.object_mt then return false end
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
