-- Small helpers shared by the Socket.IO classes (lua/yolk/io/).
local M = {}

M.unpack = unpack or table.unpack
function M.pack(...) return { n = select('#', ...), ... } end

-- A room argument (one room or an array of rooms) as a list. nil or a table
-- that is not an array is refused: read as "no rooms" it would widen
-- to(room) / disconnectSockets() to every socket of the namespace.
function M.list_of(v, level)
  if type(v) == 'table' then
    local out = {}
    for i, x in ipairs(v) do out[i] = x end
    if #out == 0 and next(v) ~= nil then
      error('rooms must be a string or an array of strings, not an object', (level or 2) + 1)
    end
    return out
  end
  if v == nil then error('room must be a string or an array of strings, not nil', (level or 2) + 1) end
  return { v }
end

function M.append(dst, src)
  for _, x in ipairs(src) do dst[#dst + 1] = x end
  return dst
end

-- (ev, a, b, fn) -> the trailing callback fn (or nil), and the packed
-- arguments without it ({ ev, a, b, n = 3 }).
function M.split_callback(...)
  local n = select('#', ...)
  local last = n > 0 and select(n, ...) or nil
  if n > 1 and type(last) == 'function' then
    local args = M.pack(...)
    args[n] = nil
    args.n = n - 1
    return last, args
  end
  return nil, nil
end

function M.err_string(err)
  if type(err) == 'table' then return tostring(err.message or err) end
  return tostring(err)
end

return M
