-- Stand-ins for yolk.core's Socket.IO objects and timers, recording every
-- call, so the framework's semantics can be tested without the C side.
local F = {}

-- Timers: run when the test advances the clock.
function F.clock()
  local c = { now = 0, queue = {}, seq = 0 }
  function c.timer(ms, fn)
    c.seq = c.seq + 1
    local t = { at = c.now + (ms or 0), fn = fn, seq = c.seq }
    c.queue[#c.queue + 1] = t
    return { stop = function() t.stopped = true end }
  end
  function c.advance(ms)
    local target = c.now + (ms or 0)
    while true do
      table.sort(c.queue, function(a, b) if a.at ~= b.at then return a.at < b.at end return a.seq < b.seq end)
      local t = c.queue[1]
      if not t or t.at > target then break end
      table.remove(c.queue, 1)
      c.now = t.at
      if not t.stopped then t.fn() end
    end
    c.now = target
  end
  return c
end

local Sock = {}
Sock.__index = Sock

local function pack(...) return { n = select('#', ...), ... } end

function F.sock(nsp, id, handshake)
  return setmetatable({ _nsp = nsp, _id = id, _rooms = { id }, _closed = false, calls = {},
    _handshake = handshake or { query = {}, auth = {}, headers = {} }, acks = {} }, Sock)
end

function Sock:record(...) self.calls[#self.calls + 1] = { ... } end
function Sock:id() return self._id end
function Sock:nsp() return self._nsp end
function Sock:object() return self._nsp.objs[self._id] end
function Sock:protocol() return 5 end
function Sock:connected() return self._admitted and not self._closed end
function Sock:admitted() return self._admitted end
function Sock:recovered() return false end
function Sock:restored_data() return nil end
function Sock:alive() return not self._gone end
function Sock:handshake() return self._handshake end
function Sock:admit() self._admitted = true; self:record('admit') end
function Sock:refuse(message, data) self._closed = true; self:record('refuse', { message = message, data = data }) end
-- recorded as { 'emit', { ev, args..., n }, { volatile, timeout, ack } }
function Sock:emit(flags, timeout, ack, ...)
  if self._closed then return false end
  self:record('emit', pack(...), { volatile = flags == 1 or nil, timeout = timeout, ack = ack })
  if ack then self.acks[#self.acks + 1] = ack end
  return true
end
function Sock:ack(id, ...) self:record('ack', id, pack(...)) end
function Sock:join(rooms)
  for _, room in ipairs(type(rooms) == 'table' and rooms or { rooms }) do
    self._rooms[#self._rooms + 1] = room
    self:record('join', room)
  end
end
function Sock:leave(rooms)
  for _, room in ipairs(type(rooms) == 'table' and rooms or { rooms }) do
    for i, r in ipairs(self._rooms) do if r == room then table.remove(self._rooms, i) break end end
    self:record('leave', room)
  end
end
function Sock:rooms() return self._rooms end
function Sock:disconnect(close) self:record('disconnect', close) end
function Sock:broadcast(target, ...) self:record('broadcast', target, pack(...)) end

-- Names of the calls, for order checks: { 'admit', 'emit:auth', ... }
function Sock:names()
  local out = {}
  for i, c in ipairs(self.calls) do
    local n = c[1]
    if n == 'emit' then n = 'emit:' .. tostring(c[2][1]) end
    out[i] = n
  end
  return out
end

local Nsp = {}
Nsp.__index = Nsp
function Nsp:name() return self._name end
function Nsp:set_handler(h) self.handler = h end
function Nsp:on_server_event(fn) self.server_event = fn end
function Nsp:broadcast(target, ...) self.calls[#self.calls + 1] = { 'broadcast', target, pack(...) } end
function Nsp:socket(id)
  local s = self.socks[id]
  if s and not s._closed then return self:obj(s) end
end
-- The socket's object, made when first needed when there was no connect
-- handler (as the binding does).
function Nsp:obj(s)
  local o = self.objs[s._id]
  if o == nil then
    o = self.handler.object and self.handler.object(s) or s
    self.objs[s._id] = o
  end
  return o
end
function Nsp:fetch_sockets(target, cb)
  self.calls[#self.calls + 1] = { 'fetch_sockets', target }
  local list = {}
  for _, s in pairs(self.socks) do
    if s._admitted and not s._closed then
      local match = not target.rooms or #target.rooms == 0
      for _, r in ipairs(target.rooms or {}) do for _, sr in ipairs(s._rooms) do if r == sr then match = true end end end
      if match then list[#list + 1] = { id = s._id, rooms = s._rooms, handshake = s._handshake } end
    end
  end
  table.sort(list, function(a, b) return a.id < b.id end)
  self.clock.timer(0, function() cb(nil, list) end)
end
function Nsp:sockets_join(target, rooms) self.calls[#self.calls + 1] = { 'sockets_join', target, rooms } end
function Nsp:sockets_leave(target, rooms) self.calls[#self.calls + 1] = { 'sockets_leave', target, rooms } end
function Nsp:disconnect_sockets(target, close) self.calls[#self.calls + 1] = { 'disconnect_sockets', target, close } end
function Nsp:server_side_emit(...) self.calls[#self.calls + 1] = { 'server_side_emit', pack(...) } end

-- Simulate the C side: a client connects / sends / leaves.
function Nsp:connect(id, handshake)
  local s = F.sock(self, id, handshake)
  self.socks[id] = s
  if self.handler.connect then
    self.objs[id] = self.handler.connect(s) or s
  else
    s:admit() -- nothing to decide: the object is made when first needed
  end
  return s
end
function Nsp:send(s, args, ack_id)
  local n = args.n or #args
  local rest = { n = n - 1 }
  for i = 2, n do rest[i - 1] = args[i] end
  self.handler.event(self:obj(s), args[1], rest, ack_id)
end
function Nsp:close(s, reason)
  if s._closed and s._gone then return end
  local obj = self:obj(s)
  if s._admitted and self.handler.disconnecting then self.handler.disconnecting(obj, reason) end
  s._closed = true
  self.handler.close(obj, reason)
  s._gone = true
end

function F.sio(clock)
  local sio = { nsps = {} }
  function sio:of(name)
    local n = self.nsps[name]
    if not n then
      n = setmetatable({ _name = name, calls = {}, socks = {}, objs = {}, clock = clock }, Nsp)
      self.nsps[name] = n
    end
    return n
  end
  return sio
end

return F
