-- Socket.IO events of the runaway fixture. Each takes an ack.
local core = require('yolk.core')

local C = {}

local function ack(ctx, v) if ctx.ack then ctx.ack(v) end end

function C.ping(ctx) ack(ctx, { ok = true, pong = ctx.args[1] }) end

function C.whoami(ctx) ack(ctx, { ok = true, pid = tonumber(io.open('/proc/self/stat'):read('*l'):match('^(%d+)')) }) end

-- allocates until the Lua heap's cap stops it: a table of tables, in a loop
-- LuaJIT compiles
function C.hog(ctx)
  local t = {}
  for i = 1, 1e12 do t[i] = { i, tostring(i) } end
  ack(ctx, { ok = true })
end

-- keeps what it allocates (a leak across packets): 1 MB per packet, until
-- 'free' lets go of it
local kept = {}
function C.leak(ctx)
  kept[#kept + 1] = string.rep('x', 1024 * 1024 - 64) .. #kept
  ack(ctx, { ok = true, kept = #kept })
end
function C.free(ctx)
  local n = #kept
  kept = {}
  ack(ctx, { ok = true, freed = n })
end

-- keeps the loop busy for ms milliseconds (default 1500) in pure Lua
function C.spin(ctx)
  local ms = tonumber(ctx.args[1]) or 1500
  local t0 = core.hrtime()
  local n = 0
  while core.hrtime() - t0 < ms * 1e6 do n = n + 1 end
  ack(ctx, { ok = true, n = n })
end

-- never returns: a loop LuaJIT compiles, with no call out
function C.forever(ctx)
  local x = 0
  while true do x = (x + 1) % 1000 end
end

local function down(n) return 1 + down(n + 1) end
function C.recurse(ctx) ack(ctx, { ok = true, n = down(1) }) end

-- recursion through a C function (string.gsub calling back): the C stack
local function cdown(s) return (s:gsub('.', cdown)) end
function C.recurseC(ctx) ack(ctx, { ok = true, s = cdown('xy') }) end

function C.throwTable() error({ code = 42 }) end
function C.throwNumber() error(42) end
function C.throwNil() error(nil) end
function C.throwUserdata() error(newproxy(true)) end
-- an error whose __tostring raises: describing it fails
function C.throwBadToString()
  error(setmetatable({}, { __tostring = function() error('__tostring raised') end }))
end
-- an error whose message is a table whose __tostring raises
function C.throwBadMessage()
  error({ message = setmetatable({}, { __tostring = function() error('message __tostring raised') end }) })
end

-- coroutine.yield called by the handler itself (not through yolk.sleep...)
function C.yield(ctx)
  coroutine.yield('anything')
  ack(ctx, { ok = true, resumed = true })
end
function C.yieldInPcall(ctx)
  local ok, err = pcall(coroutine.yield, 'anything')
  ack(ctx, { ok = true, caught = not ok, err = tostring(err) })
end

-- a refusal that the 'error' route, hearing of it, fails on
function C.throwToErrorRoute() error('the error route raises on this') end

C.errors = {}
function C.onError(ctx)
  local m = tostring(ctx.args[1])
  if m == 'the error route raises on this' then error(setmetatable({}, { __tostring = function() error('again') end })) end
  C.errors[#C.errors + 1] = m
end

return C
