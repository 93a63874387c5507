-- The Socket.IO side of an application, with egg-socket.io's names, over the
-- sockets and namespaces of yolk.core.
--
-- Runtime (one per process, survives reloads): the core sio object, per
-- namespace the live sockets, and `gen`, the application generation that new
-- packets are handled by. View (one per generation): app.io with :of(name),
-- whose namespaces carry that generation's routes.
--
-- Each connection, packet and system event runs in its own coroutine. A
-- connection's coroutine sits inside its middleware chain for the socket's
-- whole life: the innermost next() admits the socket and waits for its close.
local scheduler = require('yolk.scheduler')
local context = require('yolk.context')
local logger_mod = require('yolk.logger')

local unpack = unpack or table.unpack
local function pack(...) return { n = select('#', ...), ... } end

local M = {}

-- A room argument (one room or an array of rooms) as a list. nil or a table
-- that is not an array is refused: read as "no rooms" it would widen
-- to(room) / disconnectSockets() to every socket of the namespace.
local function list_of(v)
  if type(v) == 'table' then
    local out = {}
    for i, x in ipairs(v) do out[i] = x end
    if #out == 0 and next(v) ~= nil then error('rooms must be a string or an array of strings, not an object', 3) end
    return out
  end
  if v == nil then error('room must be a string or an array of strings, not nil', 3) end
  return { v }
end

local function append(dst, src)
  for _, x in ipairs(src) do dst[#dst + 1] = x end
  return dst
end

-- Split (ev, a, b, fn) into the packet args { ev, a, b, n = 3 } and the
-- trailing callback, if any.
local function emit_args(ev, ...)
  local args = pack(ev, ...)
  local cb
  if args.n > 1 and type(args[args.n]) == 'function' then
    cb = args[args.n]
    args[args.n] = nil
    args.n = args.n - 1
  end
  return args, cb
end

local function err_string(err)
  if type(err) == 'table' then return tostring(err.message or err) end
  return tostring(err)
end

------------------------------------------------------------------------------
-- Broadcast operator: nsp:to(room), socket.broadcast, socket:to(room)...
------------------------------------------------------------------------------
local Operator = {}
Operator.__index = function(t, k)
  if k == 'volatile' then return t:_with { volatile = true } end
  if k == 'local' then return t:_with { ['local'] = true } end
  if k == 'broadcast' then return t end
  return Operator[k]
end
M.Operator = Operator

local function operator(state, rooms, except, flags)
  return setmetatable({ state = state, rooms = rooms or {}, except_ = except or {}, flags = flags or {} }, Operator)
end

function Operator:_with(flags)
  local f = {}
  for k, v in pairs(self.flags) do f[k] = v end
  for k, v in pairs(flags) do f[k] = v end
  return operator(self.state, self.rooms, self.except_, f)
end

function Operator:to(room)
  return operator(self.state, append(append({}, self.rooms), list_of(room)), self.except_, self.flags)
end
Operator['in'] = Operator.to

function Operator:except(room)
  return operator(self.state, self.rooms, append(append({}, self.except_), list_of(room)), self.flags)
end

function Operator:target()
  local t = { rooms = self.rooms, except = self.except_ }
  if self.flags.volatile then t.volatile = true end
  if self.flags['local'] then t['local'] = true end
  return t
end

function Operator:emit(ev, ...)
  local args, cb = emit_args(ev, ...)
  if cb then error('acks are not supported with broadcasting', 2) end
  self.state:core():broadcast(self:target(), args)
  return true
end

-- fetchSockets(): yields; a list of sockets (local ones are the live objects'
-- data; each has id, handshake, rooms, data, emit, join, leave, disconnect).
function Operator:fetchSockets()
  local state = self.state
  local target = self:target()
  local err, list = scheduler.wait(function(wake)
    state:core():fetch_sockets(target, function(e, l) wake(e, l) end)
  end)
  if err then return nil, err_string(err) end
  local out = {}
  for i, item in ipairs(list or {}) do out[i] = M.remote_socket(state, item) end
  return out
end

function Operator:socketsJoin(rooms) self.state:core():sockets_join(self:target(), list_of(rooms)) end
function Operator:socketsLeave(rooms) self.state:core():sockets_leave(self:target(), list_of(rooms)) end
function Operator:disconnectSockets(close) self.state:core():disconnect_sockets(self:target(), close and true or false) end

------------------------------------------------------------------------------
-- Sockets returned by fetchSockets (maybe on another node, later).
------------------------------------------------------------------------------
local Remote = {}
Remote.__index = Remote

function M.remote_socket(state, item)
  local live = state.all[item.id]
  return setmetatable({
    id = item.id,
    handshake = item.handshake or (live and live.handshake),
    rooms = item.rooms,
    data = live and live.data or item.data,
    state = state,
  }, Remote)
end

function Remote:emit(ev, ...)
  local args = emit_args(ev, ...)
  self.state:core():broadcast({ rooms = { self.id } }, args)
  return true
end
function Remote:join(rooms) self.state:core():sockets_join({ rooms = { self.id } }, list_of(rooms)) end
function Remote:leave(rooms) self.state:core():sockets_leave({ rooms = { self.id } }, list_of(rooms)) end
function Remote:disconnect(close) self.state:core():disconnect_sockets({ rooms = { self.id } }, close and true or false) end

------------------------------------------------------------------------------
-- Socket
------------------------------------------------------------------------------
local Socket = {}
M.Socket = Socket
local socket_getters = {
  rooms = function(s)
    local r = s.sock:rooms()
    return r or {}
  end,
  connected = function(s) return not s.closed and s.sock:connected() end,
  disconnected = function(s) return s.closed or not s.sock:connected() end,
  broadcast = function(s) return operator(s.state, {}, { s.id }) end,
  volatile = function(s) return s:_flags { volatile = true } end,
  nsp = function(s) return s.state.runtime.gen.io:of(s.state.name) end,
  conn = function(s) return { protocol = s.sock:protocol() } end,
}
Socket.__index = function(t, k)
  local g = socket_getters[k]
  if g then return g(t) end
  return Socket[k]
end

function M.new_socket(state, sock)
  local s = setmetatable({
    sock = sock,
    state = state,
    id = sock:id(),
    handshake = sock:handshake() or {},
    data = {},
    closed = false,
    waits = scheduler.waitset(),
    listeners = {},
  }, Socket)
  s.request = { headers = s.handshake.headers }
  return s
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

function Socket:_emit(flags, ev, ...)
  local args, cb = emit_args(ev, ...)
  local opts
  if flags.volatile or flags.timeout or cb then
    opts = { volatile = flags.volatile, timeout = flags.timeout }
    if cb then
      local with_err = flags.timeout ~= nil
      local label = self.id
      opts.ack = function(err, res)
        res = res or { n = 0 }
        if with_err then
          if err then
            scheduler.spawn_ex(label, nil, cb, err_string(err))
          else
            -- unpacked inside the new coroutine: too many values from the
            -- client is then the callback's error, reported as such
            scheduler.spawn_ex(label, nil, function() return cb(nil, unpack(res, 1, res.n or #res)) end)
          end
        elseif not err then
          scheduler.spawn_ex(label, nil, function() return cb(unpack(res, 1, res.n or #res)) end)
        end
      end
    end
  end
  return self.sock:emit(args, opts)
end

function Socket:emit(ev, ...) return self:_emit({}, ev, ...) end

-- Yields until the client acknowledges; returns the ack's arguments, or
-- nil, err on timeout or disconnect.
function Socket:_emitWithAck(flags, ev, ...)
  local args = pack(ev, ...)
  local sock = self.sock
  local ok, res = self.waits:wait(function(wake)
    local sent = sock:emit(args, {
      volatile = flags.volatile,
      timeout = flags.timeout,
      ack = function(err, r)
        if err then wake(nil, err_string(err)) else wake(true, r) end
      end,
    })
    if sent == false then wake(nil, 'socket is disconnected') end
  end)
  if not ok then return nil, res end
  res = res or { n = 0 }
  return unpack(res, 1, res.n or #res)
end

function Socket:emitWithAck(ev, ...) return self:_emitWithAck({}, ev, ...) end

function Socket:join(rooms)
  for _, r in ipairs(list_of(rooms)) do self.sock:join(r) end
  return self
end

function Socket:leave(room)
  for _, r in ipairs(list_of(room)) do self.sock:leave(r) end
  return self
end

function Socket:to(room) return operator(self.state, list_of(room), { self.id }) end
Socket['in'] = Socket.to
function Socket:except(room) return operator(self.state, {}, append({ self.id }, list_of(room))) end

function Socket:disconnect(close)
  self.sock:disconnect(close and true or false)
  return self
end

-- socket:on(event, fn): a listener besides the router (fn(...) gets the
-- event's args, in the packet's coroutine).
function Socket:on(event, fn)
  local l = self.listeners[event]
  if not l then l = {}; self.listeners[event] = l end
  l[#l + 1] = fn
  return self
end

-- Wait (in the connection's coroutine) until the socket has closed; returns
-- the reason.
function Socket:_wait_closed()
  if self.closed then return self.close_reason end
  return scheduler.wait(function(wake) self.close_wake = wake end)
end

------------------------------------------------------------------------------
-- Namespace state (runtime) and namespace view (per generation)
------------------------------------------------------------------------------
local State = {}
State.__index = State

function State:core() return self.nsp end

local Runtime = {}
Runtime.__index = Runtime
M.Runtime = Runtime

function M.runtime(sio)
  return setmetatable({ sio = sio, states = {}, gen = nil }, Runtime)
end

-- The namespace's state, creating the core namespace (and its handlers) on
-- first use.
function Runtime:state(name)
  local st = self.states[name]
  if st then return st end
  if not self.sio then error('yolk: the Socket.IO server is not started yet', 3) end
  st = setmetatable({ name = name, runtime = self, all = {}, sockets = {} }, State)
  st.nsp = self.sio:of(name)
  self.states[name] = st
  local rt = self
  st.nsp:set_handler {
    connect = function(sock) rt:on_connect(st, sock) end,
    event = function(sock, args, ack_id) rt:on_event(st, sock, args, ack_id) end,
    disconnecting = function(sock, reason) rt:on_disconnecting(st, sock, reason) end,
    close = function(sock, reason) rt:on_close(st, sock, reason) end,
  }
  if st.nsp.on_server_event then
    st.nsp:on_server_event(function(args) rt:on_server_event(st, args) end)
  end
  return st
end

-- Point new connections and packets at generation `gen`; make sure every
-- namespace it knows exists.
function Runtime:use(gen)
  self.gen = gen
  gen.runtime = self
  for name in pairs(gen.io.nsps) do self:state(name) end
end

local function refusal(err)
  local e = err
  if scheduler.is_traced(e) then e = e.error end
  if type(e) == 'table' then
    local r = { message = tostring(e.message or scheduler.message(e)) }
    if e.data ~= nil then r.data = e.data end
    return r
  end
  return { message = scheduler.message(e) }
end
M.refusal = refusal

function Runtime:admit(st, socket)
  if socket.admitted then return end
  socket.admitted = true
  if not socket.closed then st.sockets[socket.id] = socket end
  socket.sock:admit()
end

function Runtime:on_connect(st, sock)
  local gen = self.gen
  local socket = M.new_socket(st, sock)
  st.all[socket.id] = socket
  local chain = gen:chains(st.name).connectionMiddleware
  local ctx = context.socket_ctx(gen, socket)
  socket.ctx = ctx
  local rt = self
  scheduler.spawn_ex(socket.id, nil, function()
    local function inner()
      rt:admit(st, socket)
      local reason = socket:_wait_closed()
      ctx.disconnectReason = reason
      return reason
    end
    local ok, err = xpcall(chain, scheduler.traceback, ctx, inner)
    if not ok then
      if not socket.admitted then
        local r = refusal(err)
        ctx.logger:info('connection to %s refused: %s', st.name, r.message)
        ctx.logger:debug('%s', tostring(err))
        st.all[socket.id] = nil
        socket.closed = true
        socket.sock:refuse(r)
        return
      end
      ctx.logger:error('error in connection middleware: %s', tostring(err))
    end
    -- A chain that returned without calling next() still admits (egg).
    if not socket.admitted then rt:admit(st, socket) end
  end)
end

-- Call the route (and socket:on listeners) for an event in ctx.
local function dispatch(gen, st, socket, event, ctx)
  local routes = gen.ioRoutes[st.name]
  local handler = routes and routes[event]
  if handler == nil and type(event) ~= 'string' then handler = routes and routes[tostring(event)] end
  local listeners = socket.listeners[event]
  if handler then handler(ctx) end
  if listeners then
    for _, fn in ipairs(listeners) do fn(unpack(ctx.args, 1, ctx.args.n)) end
  end
  if not handler and not listeners then
    ctx.logger:debug('no route for event %s on %s', logger_mod.printable(event), st.name)
  end
end

-- The 'error' route, if any, hears about controller errors.
local function report(gen, st, socket, ctx, traced)
  ctx.logger:error('error while handling %s: %s', logger_mod.printable(ctx.packet and ctx.packet[1]), tostring(traced))
  local routes = gen.ioRoutes[st.name]
  local h = routes and routes['error']
  if h then
    local ectx = context.socket_ctx(gen, socket, { args = { n = 1, scheduler.message(traced) }, error = traced })
    local ok, e2 = xpcall(h, scheduler.traceback, ectx)
    if not ok then ctx.logger:error('error in the error route: %s', tostring(e2)) end
  end
end

function Runtime:on_event(st, sock, args, ack_id)
  local gen = self.gen
  local socket = st.all[sock:id()]
  if not socket then return end
  local n = args.n or #args
  local ctx = context.socket_ctx(gen, socket)
  if ack_id ~= nil then
    local acked = false
    local function ack(...)
      if acked then return false end
      acked = true
      return sock:ack(ack_id, pack(...))
    end
    n = n + 1
    args[n] = ack
    ctx.ack = ack
  end
  args.n = n
  ctx.packet = args
  -- a loop, not unpack(): a client may send more arguments than Lua can
  -- hold on its stack (a few thousand), which must not fail here
  local a = { n = n - 1 }
  for i = 2, n do a[i - 1] = args[i] end
  ctx.args = a
  local event = args[1]
  local chain = gen:chains(st.name).packetMiddleware
  scheduler.spawn_ex(socket.id, nil, function()
    local ok, err = xpcall(chain, scheduler.traceback, ctx, function()
      return dispatch(gen, st, socket, event, ctx)
    end)
    if not ok then report(gen, st, socket, ctx, err) end
  end)
end

local function system_event(rt, st, socket, event, reason)
  local gen = rt.gen
  local routes = gen.ioRoutes[st.name]
  local handler = routes and routes[event]
  local listeners = socket.listeners[event]
  if not handler and not listeners then return end
  local ctx = context.socket_ctx(gen, socket, { args = { n = 1, reason }, reason = reason })
  ctx.packet = { n = 2, event, reason }
  scheduler.spawn_ex(socket.id, nil, function()
    local ok, err = xpcall(function()
      if handler then handler(ctx) end
      if listeners then for _, fn in ipairs(listeners) do fn(reason) end end
    end, scheduler.traceback)
    if not ok then ctx.logger:error('error in %s handler: %s', event, tostring(err)) end
  end)
end

function Runtime:on_disconnecting(st, sock, reason)
  local socket = st.all[sock:id()]
  if not socket or not socket.admitted then return end
  system_event(self, st, socket, 'disconnecting', reason)
end

function Runtime:on_close(st, sock, reason)
  local socket = st.all[sock:id()]
  if not socket or socket.closed then return end
  socket.closed = true
  socket.close_reason = reason
  st.all[socket.id] = nil
  st.sockets[socket.id] = nil
  socket.waits:cancel('socket disconnected: ' .. tostring(reason))
  -- only sockets that were admitted hear about their disconnect
  if socket.admitted then system_event(self, st, socket, 'disconnect', reason) end
  local wake = socket.close_wake
  socket.close_wake = nil
  if wake then wake(reason) end
end

function Runtime:on_server_event(st, args)
  local gen = self.gen
  local h = gen.io.serverHandlers[st.name]
  h = h and h[args[1]]
  if not h then return end
  scheduler.spawn_ex('serverSideEmit', nil, h, unpack(args, 2, args.n or #args))
end

------------------------------------------------------------------------------
-- app.io and its namespaces (per generation)
------------------------------------------------------------------------------
local View = {}
View.__index = View

local Nsp = {}
Nsp.__index = function(t, k)
  if k == 'sockets' then return t:_state().sockets end
  if k == 'adapter' then return setmetatable({ nsp = t }, M.Adapter) end
  if k == 'volatile' or k == 'local' or k == 'broadcast' then return t:_op()[k] end
  return Nsp[k]
end
M.Nsp = Nsp

function M.view(app)
  return setmetatable({ app = app, nsps = {}, serverHandlers = {} }, View)
end

function View:of(name)
  if type(name) ~= 'string' or name:sub(1, 1) ~= '/' then error('io:of(name): name must start with /', 2) end
  local n = self.nsps[name]
  if not n then
    n = setmetatable({ name = name, view = self, app = self.app }, Nsp)
    self.nsps[name] = n
    -- created at once when the server already runs (io:of at run time)
    local rt = self.app.runtime
    if rt and rt.sio then rt:state(name) end
  end
  return n
end

for _, m in ipairs { 'emit', 'to', 'in', 'except', 'fetchSockets', 'socketsJoin', 'socketsLeave',
  'disconnectSockets', 'serverSideEmit', 'route' } do
  View[m] = function(self, ...) local n = self:of('/'); return n[m](n, ...) end
end

function Nsp:_state()
  local rt = self.app.runtime
  if not rt then error('yolk: the server is not started yet', 3) end
  return rt:state(self.name)
end

function Nsp:_op() return operator(self:_state()) end

-- route(event, handler): handler(ctx) for the event on this namespace.
function Nsp:route(event, handler)
  if type(handler) ~= 'function' then
    error(("io:of('%s'):route('%s', handler): the handler is a %s, not a function (misspelt controller name?)")
      :format(self.name, tostring(event), type(handler)), 2)
  end
  local routes = self.app.ioRoutes[self.name]
  if not routes then routes = {}; self.app.ioRoutes[self.name] = routes end
  routes[event] = handler
  return self
end

-- nsp:on(event, fn): server-side events from serverSideEmit on other nodes.
function Nsp:on(event, fn)
  local h = self.view.serverHandlers[self.name]
  if not h then h = {}; self.view.serverHandlers[self.name] = h end
  h[event] = fn
  return self
end

function Nsp:name_() return self.name end
function Nsp:emit(ev, ...) return self:_op():emit(ev, ...) end
function Nsp:to(room) return self:_op():to(room) end
Nsp['in'] = Nsp.to
function Nsp:except(room) return self:_op():except(room) end
function Nsp:fetchSockets() return self:_op():fetchSockets() end
function Nsp:socketsJoin(rooms) return self:_op():socketsJoin(rooms) end
function Nsp:socketsLeave(rooms) return self:_op():socketsLeave(rooms) end
function Nsp:disconnectSockets(close) return self:_op():disconnectSockets(close) end
function Nsp:serverSideEmit(ev, ...)
  local args = emit_args(ev, ...)
  self:_state():core():server_side_emit(args)
  return true
end

-- nsp.adapter: the calls egg-socket.io's tutorial uses. Both yield when
-- called without a callback; with a trailing callback fn(err, result) they
-- run in their own coroutine and return at once (the old Node style).
local Adapter = {}
Adapter.__index = Adapter
M.Adapter = Adapter

local function maybe_async(cb, fn, ...)
  if type(cb) == 'function' then
    scheduler.spawn(function(...)
      local r, e = fn(...)
      cb(e, r)
    end, ...)
    return true
  end
  return fn(...)
end

-- The ids of the sockets in rooms (all sockets when rooms is empty).
function Adapter:clients(rooms, cb)
  if type(rooms) == 'function' then cb, rooms = rooms, nil end
  local op = self.nsp:_op()
  if rooms and #list_of(rooms) > 0 then op = op:to(rooms) end
  return maybe_async(cb, function()
    local list, err = op:fetchSockets()
    if not list then return nil, err end
    local ids = {}
    for i, s in ipairs(list) do ids[i] = s.id end
    return ids
  end)
end

function Adapter:remoteDisconnect(id, close, cb)
  local op = self.nsp:_op():to(id)
  return maybe_async(cb, function()
    op:disconnectSockets(close)
    return true
  end)
end

M.logger = logger_mod
return M
