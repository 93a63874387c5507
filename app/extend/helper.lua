-- Helpers for controllers and middleware, reached as ctx.helper.<name>(...).

-- Wall-clock milliseconds: browsers turn meta.timestamp into a Date, so this must be
-- the Unix epoch (os.time() only has seconds; LuaJIT's ffi gives us gettimeofday).
local epoch_ms
do
  local ok, ffi = pcall(require, 'ffi')
  if ok then
    -- pcall: another module may already have declared these; then we reuse them.
    pcall(ffi.cdef, [[
      typedef struct yolk_demo_timeval { long tv_sec; long tv_usec; } yolk_demo_timeval;
      int gettimeofday(struct yolk_demo_timeval *tv, void *tz);
    ]])
    local tv_ok, tv = pcall(ffi.new, 'yolk_demo_timeval')
    if tv_ok and pcall(ffi.C.gettimeofday, tv, nil) then
      epoch_ms = function()
        ffi.C.gettimeofday(tv, nil)
        return tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000)
      end
    end
  end
  epoch_ms = epoch_ms or function() return os.time() * 1000 end
end

local helper = {}

helper.now = epoch_ms

-- The tutorial's message envelope: { meta = { timestamp, ...metadata }, data = { action, payload } }.
function helper.parseMsg(action, payload, metadata)
  local meta = { timestamp = epoch_ms() }
  for k, v in pairs(metadata or {}) do meta[k] = v end
  return {
    meta = meta,
    data = { action = action, payload = payload or {} },
  }
end

return helper
