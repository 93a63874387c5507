-- The socket object application code sees (ctx.socket), egg-socket.io's
-- names over yolk.core's socket handle.
--
-- One socket state: everything the socket *is* (admission, rooms, acks,
-- handshake) lives in C and is read through the handle `sock`; this table
-- holds only what belongs to Lua code: socket.data, socket:on listeners,
-- the waits of emitWithAck, and the close reason once it is gone. It is
-- created once, when the client connects, and the C side hands this same
-- object to every later callback.
local scheduler = require('yolk.scheduler')
local util = require('yolk.io.util')
local operator = require('yolk.io.operator')

local unpack, list_of, append = util.unpack, util.list_of, util.append
local VOLATILE = 1 -- yolk.core's emit flag

local Socket = {}
local M = { Socket = Socket }

-- Fields computed from the handle (or made on first use).
local getters = {
  handshake = function(s)
    local hs = s.sock:handshake() or {}
    rawset(s, 'handshake', hs) -- it does not change: read once
    return hs
  end,
  request = function(s)
    local r = { headers = s.handshake.headers }
    rawset(s, 'request', r)
    return r
  end,
  rooms = function(s) return s.sock:rooms() end,
  connected = function(s) return s.sock:connected() end,
  disconnected = function(s) return not s.sock:connected() end,
  closed = function(s) return rawget(s, 'close_reason') ~= nil or not s.sock:alive() end,
  broadcast = function(s) return operator.new(s.state, {}, { s.id }) end,
  volatile = function(s) return s:_flags { volatile = true } end,
  nsp = function(s) return s.state.runtime.gen.io:of(s.state.name) end,
  conn = function(s) return { protocol = s.sock:protocol() } end,
  waits = function(s)
    local w = scheduler.waitset()
    rawset(s, 'waits', w)
    return w
  end,
  -- socket.data: made on first use (fetchSockets reads it through here too)
  data = function(s)
    local d = {}
    rawset(s, 'data', d)
    return d
  end,
}
Socket.__index = function(t, k)
  local g = getters[k]
  if g then return g(t) end
  return Socket[k]
end

Socket.recovered = false

function M.new(state, sock)
  return setmetatable({ sock = sock, state = state, id = sock:id() }, Socket)
end

-- A view of the socket with emit flags (timeout, volatile).
local Flagged = {}
Flagged.__index = Flagged
function Socket:_flags(flags)
  return setmetatable({ socket = self, flags = flags }, Flagged)
end
function Socket:timeout(ms) return self:_flags { timeout = ms } end
function Flagged:timeout(ms)
  local f = {}
  for k, v in pairs(self.flags) do f[k] = v end
  f.timeout = ms
  return setmetatable({ socket = self.socket, flags = f }, Flagged)
end
function Flagged:emit(ev, ...) return self.socket:_emit(self.flags, ev, ...) end
function Flagged:emitWithAck(ev, ...) return self.socket:_emitWithAck(self.flags, ev, ...) end

-- The callback of an emit that asked for an ack, run in a coroutine of its
-- own when the answer (or, with a timeout, the error) comes.
local function ack_runner(label, cb, with_err)
  return function(err, res)
    if err then
      if with_err then scheduler.spawn_ex(label, nil, cb, util.err_string(err)) end
      return
    end
    res = res or { n = 0 }
    -- unpacked inside the new coroutine: too many values from the client is
    -- then the callback's error, reported as such
    if with_err then
      scheduler.spawn_ex(label, nil, function() return cb(nil, unpack(res, 1, res.n or #res)) end)
    else
      scheduler.spawn_ex(label, nil, function() return cb(unpack(res, 1, res.n or #res)) end)
    end
  end
end

function Socket:_emit(flags, ev, ...)
  local fl = flags.volatile and VOLATILE or 0
  local cb, args = util.split_callback(ev, ...)
  if not cb then return self.sock:emit(fl, flags.timeout, nil, ev, ...) end
  return self.sock:emit(fl, flags.timeout, ack_runner(self.id, cb, flags.timeout ~= nil), unpack(args, 1, args.n))
end

function Socket:emit(ev, ...)
  -- the common case, no trailing callback, without split_callback's call
  local n = select('#', ...)
  if n == 0 or type((select(n, ...))) ~= 'function' then return self.sock:emit(0, nil, nil, ev, ...) end
  local cb, args = util.split_callback(ev, ...) -- (a callback: the test above)
  return self.sock:emit(0, nil, ack_runner(self.id, cb, false), unpack(args, 1, args.n))
end

-- Yields until the client acknowledges; returns the ack's arguments, or
-- nil, err on timeout or disconnect.
function Socket:_emitWithAck(flags, ev, ...)
  local sock = self.sock
  local args = util.pack(ev, ...)
  local ok, res = self.waits:wait(function(wake)
    local sent = sock:emit(flags.volatile and VOLATILE or 0, flags.timeout, function(err, r)
      if err then wake(nil, util.err_string(err)) else wake(true, r) end
    end, unpack(args, 1, args.n))
    if sent == false then wake(nil, 'socket is disconnected') end
  end)
  if not ok then return nil, res end
  res = res or { n = 0 }
  return unpack(res, 1, res.n or #res)
end

function Socket:emitWithAck(ev, ...) return self:_emitWithAck({}, ev, ...) end

function Socket:join(rooms)
  self.sock:join(list_of(rooms))
  return self
end

function Socket:leave(room)
  self.sock:leave(list_of(room))
  return self
end

function Socket:to(room) return operator.new(self.state, list_of(room), { self.id }) end
Socket['in'] = Socket.to
function Socket:except(room) return operator.new(self.state, {}, append({ self.id }, list_of(room))) end

function Socket:disconnect(close)
  self.sock:disconnect(close and true or false)
  return self
end

-- socket:on(event, fn): a listener besides the router (fn(...) gets the
-- event's args, in the packet's coroutine).
function Socket:on(event, fn)
  local all = rawget(self, 'listeners')
  if not all then
    all = {}
    self.listeners = all
  end
  local l = all[event]
  if not l then
    l = {}
    all[event] = l
  end
  l[#l + 1] = fn
  return self
end

-- Called by the runtime once the socket is gone: pending emitWithAck calls
-- end; returns the coroutine of the connection middleware waiting in next()
-- (_next, set by the runtime's innermost next()), to be resumed with the
-- reason (the runtime does so after the disconnect route).
function Socket:_closed(reason)
  self.close_reason = reason
  local w = rawget(self, 'waits')
  if w then w:cancel('socket disconnected: ' .. tostring(reason)) end
  local co = rawget(self, '_next')
  if type(co) ~= 'thread' then return nil end
  self._next = true
  return co
end

return M
