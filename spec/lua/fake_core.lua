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

function F.sock(nsp, id, handshake)
  return setmetatable({ _nsp = nsp, _id = id, _rooms = { id }, _closed = false, calls = {},
    _handshake = handshake or { query = {}, auth = {}, headers = {} }, acks = {} }, Sock)
end

function Sock:record(...) self.calls[#self.calls + 1] = { ... } end
function Sock:id() return self._id end
function Sock:nsp() return self._nsp end
function Sock:protocol() return 5 end
function Sock:connected() return self._admitted and not self._closed end
function Sock:handshake() return self._handshake end
function Sock:admit() self._admitted = true; self:record('admit') end
function Sock:refuse(err) self._closed = true; self:record('refuse', err) end
function Sock:emit(args, opts)
  if self._closed then return false end
  self:record('emit', args, opts)
  if opts and opts.ack then self.acks[#self.acks + 1] = opts.ack end
  return true
end
function Sock:ack(id, args) self:record('ack', id, args) end
function Sock:join(room) self._rooms[#self._rooms + 1] = room; self:record('join', room) end
function Sock:leave(room)
  for i, r in ipairs(self._rooms) do if r == room then table.remove(self._rooms, i) break end end
  self:record('leave', room)
end
function Sock:rooms() return self._rooms end
function Sock:disconnect(close) self:record('disconnect', close) end

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
function Nsp:broadcast(target, args) self.calls[#self.calls + 1] = { 'broadcast', target, args } end
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
function Nsp:server_side_emit(args) self.calls[#self.calls + 1] = { 'server_side_emit', args } end

-- Simulate the C side: a client connects / sends / leaves.
function Nsp:connect(id, handshake)
  local s = F.sock(self, id, handshake)
  self.socks[id] = s
  self.handler.connect(s)
  return s
end
function Nsp:send(s, args, ack_id)
  args.n = args.n or #args
  self.handler.event(s, args, ack_id)
end
function Nsp:close(s, reason)
  if s._closed then return end
  if self.handler.disconnecting then self.handler.disconnecting(s, reason) end
  s._closed = true
  self.handler.close(s, reason)
end

function F.sio(clock)
  local sio = { nsps = {} }
  function sio:of(name)
    local n = self.nsps[name]
    if not n then
      n = setmetatable({ _name = name, calls = {}, socks = {}, clock = clock }, Nsp)
      self.nsps[name] = n
    end
    return n
  end
  return sio
end

return F
