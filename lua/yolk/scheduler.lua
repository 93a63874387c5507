-- Coroutines for connections, packets and requests.
--
-- Every piece of user code runs in its own coroutine started by spawn(). A
-- coroutine that must wait (a timer, an ack, a cluster reply) registers a
-- wake-up function and yields; the callback from the loop resumes it. Nothing
-- here ever blocks the loop. Waits are cancellable: whoever owns the resource
-- (a socket that closes) wakes its waiters with an error instead of leaving
-- them hanging.
local S = {}

local unpack = unpack or table.unpack
local pack = function(...) return { n = select('#', ...), ... } end
-- The real yield: S.wait's. Application code gets the checked one below.
local raw_yield = coroutine.yield

-- An error captured with the traceback of the place it was raised. The
-- original value is kept (a table error { message, data } must survive).
local Traced = {}
Traced.__index = Traced
Traced.__tostring = function(t) return t.traceback end
S.Traced = Traced

function S.is_traced(e) return getmetatable(e) == Traced end

-- tostring() that does not raise: an error object's __tostring may (or
-- return something that is not a string), and describing an error must not
-- become another one.
function S.tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == 'string' then return s end
  if ok then return ('(a %s whose __tostring returned a %s)'):format(type(v), type(s)) end
  return ('(a %s whose __tostring failed: %s)'):format(type(v), type(s) == 'string' and s or ('a ' .. type(s)))
end

-- The field k of a table, nil if its __index raises.
local function field(t, k)
  local ok, v = pcall(function() return t[k] end)
  if ok then return v end
  return nil
end
S.field = field

-- How an error value reads: a string as it is, a number as a string, a table
-- by its message (or its own __tostring), anything else (nil, a boolean, a
-- userdata, a function) by its type: as Lua's own message handler says it.
function S.describe(e)
  local t = type(e)
  if t == 'string' then return e end
  if t == 'number' then return tostring(e) end
  if t == 'table' then
    local m = field(e, 'message')
    if m ~= nil then return S.tostring(m) end
    local mt = getmetatable(e)
    if type(mt) == 'table' and rawget(mt, '__tostring') then return S.tostring(e) end
    return '(an error table without message)'
  end
  return ('(error object is a %s value)'):format(t)
end

-- yolk's os.exit() unwinds with a sentinel error (so the loop can stop
-- cleanly); it is not a failure to report.
function S.is_exit(e)
  if getmetatable(e) == Traced then e = e.error end
  return type(e) == 'table' and getmetatable(e) ~= nil and S.tostring(e) == 'os.exit() called'
end

-- The message of an error value without Lua's "file:line: " prefix.
function S.message(e)
  if getmetatable(e) == Traced then e = e.error end
  if type(e) ~= 'string' then return S.describe(e) end
  local stripped = e:match('^[^\n]-:%d+: (.*)$')
  return stripped or e
end

-- xpcall handler: keep the value, add where it came from.
function S.traceback(e)
  if getmetatable(e) == Traced then return e end
  local text = S.describe(e)
  if type(e) == 'table' then text = 'error: ' .. text end
  return setmetatable({ error = e, traceback = debug.traceback(text, 2) }, Traced)
end

-- What LuaJIT raises when an allocation fails (LUA_ERRMEM: the Lua heap is
-- at config.lua.memoryLimit, core/lua/lua_mem.c), and when the message
-- handler itself raised (LUA_ERRERR). Neither comes through a message
-- handler, so neither has a traceback: this is all there is.
S.MEMORY_ERROR = 'not enough memory'
S.HANDLER_ERROR = 'error in error handling'

local function memory_limit_text()
  local ok, core = pcall(require, 'yolk.core')
  local m = ok and type(core) == 'table' and core.memory and core.memory()
  if not m then return '' end
  return (' (config.lua.memoryLimit, %.0f MB)'):format(m.limit / 1048576)
end

-- An error value as caught by a pcall/xpcall around application code: a
-- Traced from the handler, or one of the two bare strings above, which get
-- a Traced saying what happened instead of a traceback. Anything else is
-- returned as it is.
function S.caught(e)
  if e == S.MEMORY_ERROR then
    return setmetatable({ error = e, traceback = 'not enough memory: the Lua heap reached its limit'
      .. memory_limit_text() .. '; Lua gives no traceback for a memory error (the allocation that failed '
      .. 'was in the code handling this)' }, Traced)
  elseif e == S.HANDLER_ERROR then
    -- After a stack overflow LuaJIT lets the message handler grow the stack
    -- by a few dozen slots, once; a handler that needs more (often, with
    -- the depth left over: a handler that only returns its argument always
    -- fits, one that calls anything may not) fails in turn, before it can
    -- even note the error it was given.
    return setmetatable({ error = e, traceback = 'error in error handling: the error handler failed in turn, most '
      .. 'likely out of stack after a stack overflow (endless recursion); the first error and its traceback are '
      .. 'lost' }, Traced)
  end
  return e
end

-- How failures of spawned coroutines are reported; logger.lua replaces it.
function S.report(traced, label)
  if S.is_exit(traced) then return end
  io.stderr:write((label and (label .. ': ') or '') .. tostring(traced) .. '\n')
end

local core_timer
local function timer(ms, fn)
  if not core_timer then
    core_timer = S.timer_impl or require('yolk.core').timer
  end
  return core_timer(ms, fn)
end

-- Tests inject a fake timer; the default is core.timer.
function S.set_timer(fn) S.timer_impl = fn; core_timer = fn end

-- What the running callback handles, for the watchdog (core.doing: its
-- warnings name it). A coroutine resumed later (a wait that ends) gets back
-- what it was started for.
local doing_kind, doing_name, doing_place
local core_doing, core_again
function S.doing(kind, name, place)
  if core_again and kind == doing_kind and name == doing_name and place == doing_place then
    -- what core.doing was told last (every call comes through here): it
    -- only has to mark this callback
    core_again()
    return
  end
  doing_kind, doing_name, doing_place = kind, name, place
  if core_doing == nil then
    local ok, core = pcall(require, 'yolk.core')
    core_doing = ok and type(core) == 'table' and core.doing or false
    core_again = core_doing and core.doing_again or nil
  end
  if core_doing then core_doing(kind, name, place) end
end
-- Tests inject a recorder (told every call).
function S.set_doing(fn) core_doing = fn; core_again = nil end

-- coroutine -> { kind, name, place } while it waits (S.wait)
local waiting_doing = setmetatable({}, { __mode = 'k' })

local function resume(co, ...)
  local d = waiting_doing[co]
  local pk, pn, pp = doing_kind, doing_name, doing_place
  if d then S.doing(d[1], d[2], d[3]) end
  local ok, err = coroutine.resume(co, ...)
  if d then S.doing(pk, pn, pp) end
  if not ok then
    -- The body is wrapped in xpcall, so this is an error in the scheduler itself.
    S.report(S.traceback(S.caught(err)), 'scheduler')
  end
end

-- Resume now when possible; a coroutine that is running (or has resumed us)
-- cannot be resumed, so let the loop do it on its next turn.
function S.resume(co, ...)
  local st = coroutine.status(co)
  if st == 'suspended' then
    resume(co, ...)
  elseif st ~= 'dead' then
    local args = pack(...)
    timer(0, function() S.resume(co, unpack(args, 1, args.n)) end)
  end
end

-- Every yolk coroutine runs this function (spawn_ex) or pooled_worker (go,
-- the packets'): the checked coroutine.yield below knows a yolk coroutine by
-- its bottom frame.
local function body(label, on_error, fn, ...)
  -- (no table for the results: after a memory error there may be no room)
  local ok, err = xpcall(fn, S.traceback, ...)
  if not ok then
    err = S.caught(err)
    if S.is_exit(err) then return end
    if on_error then
      local ok2, e2 = xpcall(on_error, S.traceback, err)
      if not ok2 then S.report(S.caught(e2), label) end
    else
      S.report(err, label)
    end
  end
end

-- Run fn(...) in a new coroutine. Errors are logged with their traceback
-- (label names what was running, e.g. a socket id) unless on_error is given:
-- on_error(traced) then decides.
function S.spawn_ex(label, on_error, fn, ...)
  local co = coroutine.create(body)
  resume(co, label, on_error, fn, ...)
  return co
end

function S.spawn(fn, ...) return S.spawn_ex(nil, nil, fn, ...) end

-- The packet path's runner: fn(a, b, c, d) in a coroutine taken from a pool
-- (a handler that returns without waiting gives its coroutine back at once,
-- so a steady flow of packets creates none), in one protected call. On an
-- error, on_error(traced, a, b, c, d) runs in the same coroutine (or the
-- error is reported). No closure or table is made per call.
local POOL_MAX = 64
local pool, pooled = {}, 0

-- The xpcall handler of the packets' code: errors.lua puts its own here
-- (it tells refusals from bugs).
S.app_traceback = S.traceback

local function pooled_worker(fn, on_error, a, b, c, d)
  while true do
    local ok, err = xpcall(fn, S.app_traceback, a, b, c, d)
    if not ok then err = S.caught(err) end
    if not ok and not S.is_exit(err) then
      if on_error then
        local ok2, e2 = xpcall(on_error, S.traceback, err, a, b, c, d)
        if not ok2 then S.report(S.caught(e2), 'error handler') end
      else
        S.report(err)
      end
    end
    if pooled >= POOL_MAX then return end
    err, a, b, c, d = nil, nil, nil, nil, nil
    pooled = pooled + 1
    pool[pooled] = coroutine.running()
    -- parked: the next S.go resumes here with its job
    fn, on_error, a, b, c, d = raw_yield()
  end
end

function S.go(on_error, fn, a, b, c, d)
  local co
  if pooled > 0 then
    co = pool[pooled]
    pool[pooled] = nil
    pooled = pooled - 1
  else
    co = coroutine.create(pooled_worker)
  end
  local ok, err = coroutine.resume(co, fn, on_error, a, b, c, d)
  if not ok then S.report(S.traceback(S.caught(err)), 'scheduler') end
end

function S.current()
  local co, main = coroutine.running()
  if co == nil or main then return nil end
  return co
end

local function woken(co, ...)
  waiting_doing[co] = nil
  return ...
end

-- Suspend the running coroutine until wake(...) is called; returns what was
-- passed to wake. register(wake) starts the operation and may call wake
-- at once (then there is no yield). Raises when not in a coroutine.
function S.wait(register)
  local co = S.current()
  if not co then error('yolk: cannot wait outside a yolk coroutine (connection, packet or request)', 3) end
  local state, result = 'starting', nil
  local function wake(...)
    if state == 'done' then return false end
    if state == 'starting' then
      state = 'done'; result = pack(...)
    else
      state = 'done'
      S.resume(co, ...)
    end
    return true
  end
  register(wake)
  if state == 'done' then return unpack(result, 1, result.n) end
  state = 'waiting'
  waiting_doing[co] = { doing_kind, doing_name, doing_place }
  return woken(co, raw_yield())
end

-- Other bottom functions of yolk's coroutines (the connections' own,
-- io/runtime.lua, which waits with S.raw_yield).
local own_bodies = {}
function S.own_body(fn) own_bodies[fn] = true end
S.raw_yield = raw_yield

-- True when the running coroutine is one of yolk's (spawn_ex's body or a
-- pooled worker at the bottom of its stack), not one the application made
-- for itself.
local function in_yolk_coroutine()
  local bottom
  for level = 2, 1e6 do
    local info = debug.getinfo(level, 'f')
    if not info then break end
    bottom = info.func
  end
  return bottom == body or bottom == pooled_worker or own_bodies[bottom] == true
end
S.in_yolk_coroutine = in_yolk_coroutine

-- coroutine.yield, for the application: inside a coroutine it made itself
-- (coroutine.wrap, an iterator), the real one. Inside one of yolk's (a
-- connection, a packet, a request), a bare yield would suspend the handler
-- with nothing to resume it, and its client would wait for ever: it raises
-- instead, a bug with the line that yielded.
function coroutine.yield(...)
  if in_yolk_coroutine() then
    error('coroutine.yield() called in a connection, packet or request handler: nothing would resume it; '
      .. 'to wait, use yolk.sleep(ms), socket:emitWithAck(...) or another yolk function that waits', 2)
  end
  return raw_yield(...)
end

-- yolk.sleep(ms): yields the running coroutine for ms milliseconds.
function S.sleep(ms)
  ms = tonumber(ms) or 0
  return S.wait(function(wake) timer(ms, function() wake() end) end)
end

-- A set of waiters that an owner can cancel together (a socket's pending
-- emitWithAck calls when it closes).
local WaitSet = {}
WaitSet.__index = WaitSet
function S.waitset() return setmetatable({ list = {}, closed = false }, WaitSet) end

-- Wait as S.wait does, but also wake with (nil, reason) if the set is
-- cancelled. register(wake) may return a function that stops the pending
-- operation; cancel() calls it before waking the waiter.
function WaitSet:wait(register)
  if self.closed then return nil, self.reason end
  local entry = {}
  local list = self.list
  local function remove() list[entry] = nil end
  return S.wait(function(wake)
    entry.wake = function(...) remove(); return wake(...) end
    list[entry] = true
    local stop = register(entry.wake)
    if type(stop) == 'function' then entry.stop = stop end
  end)
end

function WaitSet:cancel(reason)
  self.closed = true
  self.reason = reason
  local list = self.list
  self.list = {}
  for entry in pairs(list) do
    if entry.stop then pcall(entry.stop) end
    entry.wake(nil, reason)
  end
end

-- Like S.sleep, but cancelled (returning nil, reason) with the set.
function WaitSet:sleep(ms)
  return self:wait(function(wake)
    local t = timer(tonumber(ms) or 0, function() wake(true) end)
    return function() if t and t.stop then t:stop() end end
  end)
end

return S
