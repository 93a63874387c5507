-- HTTP routes of the runaway fixture.
local core = require('yolk.core')
local H = {}

function H.ready(ctx) ctx.body = 'ready' end

function H.memory(ctx)
  collectgarbage()
  local m = core.memory()
  local rss, hwm = 0, 0
  local f = io.open('/proc/self/status')
  if f then
    local s = f:read('*a')
    f:close()
    rss = (tonumber(s:match('VmRSS:%s*(%d+)')) or 0) * 1024
    hwm = (tonumber(s:match('VmHWM:%s*(%d+)')) or 0) * 1024
  end
  ctx.body = { used = m.used, limit = m.limit, refused = m.refused, rss = rss, hwm = hwm }
end

function H.hog(ctx)
  local t = {}
  for i = 1, 1e12 do t[i] = { i, tostring(i) } end
  ctx.body = 'unreachable'
end

function H.spin(ctx)
  local ms = tonumber(ctx.query.ms) or 1500
  local t0 = core.hrtime()
  while core.hrtime() - t0 < ms * 1e6 do end
  ctx.body = 'spun'
end

local function down(n) return 1 + down(n + 1) end
function H.recurse(ctx) ctx.body = { n = down(1) } end

local THROW = {
  table = function() error({ code = 42 }) end,
  number = function() error(42) end,
  ['nil'] = function() error(nil) end,
  userdata = function() error(newproxy(true)) end,
  tostring = function() error(setmetatable({}, { __tostring = function() error('__tostring raised') end })) end,
}
function H.throw(ctx) THROW[ctx.params.kind]() end

function H.yield(ctx)
  coroutine.yield()
  ctx.body = 'resumed'
end

return H
