-- The Socket.IO runtime: one per process, it survives reloads. It holds the
-- core sio object, a small state per namespace (its core namespace), and
-- `gen`, the application generation that new connections and packets are
-- handled by (a reload swaps it in one assignment).
--
-- Each connection, packet and system event runs in its own coroutine. A
-- connection's coroutine sits inside its middleware chain for the socket's
-- whole life: the innermost next() admits the socket and waits for its close.
local scheduler = require('yolk.scheduler')
local context = require('yolk.context')
local logger_mod = require('yolk.logger')
local socket_mod = require('yolk.io.socket')

local unpack = require('yolk.io.util').unpack

local State = {}
State.__index = State
function State:core() return self.nsp end

local Runtime = {}
Runtime.__index = Runtime

local M = { Runtime = Runtime, State = State }

function M.new(sio)
  return setmetatable({ sio = sio, states = {}, gen = nil }, Runtime)
end

-- The namespace's state, creating the core namespace (and its handlers) on
-- first use.
function Runtime:state(name)
  local st = self.states[name]
  if st then return st end
  if not self.sio then error('yolk: the Socket.IO server is not started yet', 3) end
  st = setmetatable({ name = name, runtime = self }, State)
  st.nsp = self.sio:of(name)
  self.states[name] = st
  local rt = self
  st.nsp:set_handler {
    connect = function(sock) return rt:on_connect(st, sock) end,
    event = function(socket, event, args, ack_id) rt:on_event(st, socket, event, args, ack_id) end,
    disconnecting = function(socket, reason) rt:system_event(st, socket, 'disconnecting', reason) end,
    close = function(socket, reason) rt:on_close(st, socket, reason) end,
  }
  st.nsp:on_server_event(function(event, args, reply) rt:on_server_event(st, event, args, reply) end)
  return st
end

-- Point new connections and packets at generation `gen`; make sure every
-- namespace it knows exists.
function Runtime:use(gen)
  self.gen = gen
  gen.runtime = self
  for name in pairs(gen.io.nsps) do self:state(name) end
end

-- A refusal from an error raised in a connection middleware: its message
-- (and data) go to the client.
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

-- A client asks to join: make its socket object (the one every later
-- callback gets) and run the connection middleware in a coroutine.
function Runtime:on_connect(st, sock)
  local gen = self.gen
  local socket = socket_mod.new(st, sock)
  local chain = gen:chains(st.name).connectionMiddleware
  local ctx = context.socket_ctx(gen, socket)
  socket.ctx = ctx
  scheduler.spawn_ex(socket.id, nil, function()
    local admitted = false
    local function inner()
      admitted = true
      sock:admit()
      local reason = socket:_wait_closed()
      ctx.disconnectReason = reason
      return reason
    end
    local ok, err = xpcall(chain, scheduler.traceback, ctx, inner)
    if not ok then
      if not admitted then
        if socket.close_reason then return end -- gone meanwhile
        local r = refusal(err)
        ctx.logger:info('connection to %s refused: %s', st.name, r.message)
        ctx.logger:debug('%s', tostring(err))
        sock:refuse(r.message, r.data)
        return
      end
      ctx.logger:error('error in connection middleware: %s', tostring(err))
    end
    -- A chain that returned without calling next() still admits (egg).
    if not admitted then sock:admit() end
  end)
  return socket
end

-- Call the route (and socket:on listeners) for an event in ctx.
local function dispatch(gen, st, socket, event, ctx)
  local routes = gen.ioRoutes[st.name]
  local handler = routes and routes[event]
  if handler == nil and type(event) ~= 'string' then handler = routes and routes[tostring(event)] end
  local all = rawget(socket, 'listeners')
  local listeners = all and all[event]
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
  ctx.logger:error('error while handling %s: %s', logger_mod.printable(ctx.event), tostring(traced))
  local routes = gen.ioRoutes[st.name]
  local h = routes and routes['error']
  if h then
    local ectx = context.socket_ctx(gen, socket, { args = { n = 1, scheduler.message(traced) }, error = traced })
    local ok, e2 = xpcall(h, scheduler.traceback, ectx)
    if not ok then ctx.logger:error('error in the error route: %s', tostring(e2)) end
  end
end

-- An EVENT: args holds the arguments (args.n of them); with ack_id the
-- client asked for an answer: ctx.ack, also the last element of ctx.args.
function Runtime:on_event(st, socket, event, args, ack_id)
  local gen = self.gen
  local ctx = context.socket_ctx(gen, socket)
  if ack_id ~= nil then
    local sock = socket.sock
    local acked = false
    local function ack(...)
      if acked then return false end
      acked = true
      return sock:ack(ack_id, ...)
    end
    local n = args.n + 1
    args[n] = ack
    args.n = n
    ctx.ack = ack
  end
  ctx.event = event
  ctx.args = args
  local chain = gen:chains(st.name).packetMiddleware
  scheduler.spawn_ex(socket.id, nil, function()
    local ok, err = xpcall(chain, scheduler.traceback, ctx, function()
      return dispatch(gen, st, socket, event, ctx)
    end)
    if not ok then report(gen, st, socket, ctx, err) end
  end)
end

-- 'disconnecting' and 'disconnect' routes and listeners (admitted sockets only).
function Runtime:system_event(st, socket, event, reason)
  local gen = self.gen
  local routes = gen.ioRoutes[st.name]
  local handler = routes and routes[event]
  local all = rawget(socket, 'listeners')
  local listeners = all and all[event]
  if not handler and not listeners then return end
  local ctx = context.socket_ctx(gen, socket, { args = { n = 1, reason }, reason = reason, event = event })
  scheduler.spawn_ex(socket.id, nil, function()
    local ok, err = xpcall(function()
      if handler then handler(ctx) end
      if listeners then for _, fn in ipairs(listeners) do fn(reason) end end
    end, scheduler.traceback)
    if not ok then ctx.logger:error('error in %s handler: %s', event, tostring(err)) end
  end)
end

function Runtime:on_close(st, socket, reason)
  local wake = socket:_closed(reason)
  -- only sockets that were admitted hear about their disconnect
  if socket.sock:admitted() then self:system_event(st, socket, 'disconnect', reason) end
  if wake then wake(reason) end
end

-- A server-side event from another node; reply: the token to answer with
-- (the sender waits for one answer), or nil.
function Runtime:on_server_event(st, event, args, reply)
  local gen = self.gen
  local h = gen.io.serverHandlers[st.name]
  h = h and h[event]
  if not h then return end
  local n = args.n or #args
  if reply then
    local nsp, answered = st.nsp, false
    args[n + 1] = function(...)
      if answered then return end
      answered = true
      nsp:server_side_reply(reply, ...)
    end
    n = n + 1
  end
  scheduler.spawn_ex('serverSideEmit', nil, h, unpack(args, 1, n))
end

return M
