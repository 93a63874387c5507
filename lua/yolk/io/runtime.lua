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
local errors = require('yolk.errors')
local socket_mod = require('yolk.io.socket')

local unpack = require('yolk.io.util').unpack

-- connection state recovery's skipMiddlewares: straight to the innermost next()
local function pass(_, nxt) return nxt() end

local State = {}
State.__index = State
function State:core() return self.nsp end

local Runtime = {}
Runtime.__index = Runtime

local M = { Runtime = Runtime, State = State }

function M.new(sio)
  return setmetatable({ sio = sio, states = {}, gen = nil }, Runtime)
end

-- The core namespace's handlers for the current generation. `connect` only
-- when the namespace has connection middleware: without it the core admits a
-- client at once, and the socket's object is made (`object`) when a packet
-- or a close first needs it, so an idle socket there costs Lua nothing.
function Runtime:bind(st)
  local h = st.handlers
  local gen = self.gen
  local lazy = gen and not gen:chains(st.name).connectionMiddleware
  st.nsp:set_handler {
    connect = not lazy and h.connect or nil,
    object = h.object,
    event = h.event,
    disconnecting = h.disconnecting,
    close = h.close,
  }
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
  st.handlers = {
    connect = function(sock) return rt:on_connect(st, sock) end,
    object = function(sock) return rt:new_socket(st, sock) end,
    event = function(socket, event, args, ack_id) rt:on_event(st, socket, event, args, ack_id) end,
    disconnecting = function(socket, reason) rt:system_event(st, socket, 'disconnecting', reason) end,
    close = function(socket, reason) rt:on_close(st, socket, reason) end,
  }
  self:bind(st)
  st.nsp:on_server_event(function(event, args, reply) rt:on_server_event(st, event, args, reply) end)
  return st
end

-- Point new connections and packets at generation `gen`; make sure every
-- namespace it knows exists.
function Runtime:use(gen)
  self.gen = gen
  gen.runtime = self
  for name in pairs(gen.io.nsps) do self:state(name) end
  for _, st in pairs(self.states) do self:bind(st) end
end

-- A refusal from an error raised in a connection middleware: what the
-- client gets in its CONNECT_ERROR. A deliberate refusal sends its message
-- (and data); a bug sends 'server error', or the real message under
-- `yolk dev` (yolk.errors).
local function refusal(err, baseDir)
  local message, data = errors.public(err, baseDir)
  local r = { message = message }
  if data ~= nil then r.data = data end
  return r
end
M.refusal = refusal

-- The socket's object (the one every callback gets): made when the client
-- connects, or, on a namespace without connection middleware, when first
-- needed. A recovered socket has the same id, rooms and data as before the
-- transport was lost.
function Runtime:new_socket(st, sock)
  local socket = socket_mod.new(st, sock)
  if sock:recovered() then
    socket.recovered = true
    local data = sock:restored_data()
    if type(data) == 'table' then socket.data = data end
  end
  return socket
end

-- The innermost next() of a connection's chain: admits the socket, then
-- waits for its close; returns the reason. Called once (a second call
-- raises, as compose's next() does). socket._next says where it is: nil
-- (not called yet), the connection's coroutine (waiting: Socket:_closed
-- hands it back to be resumed), true (called, not waiting).
local function admit_and_wait(ctx)
  local socket = ctx.socket
  if socket._next ~= nil then error('next() called multiple times', 2) end
  socket._next = true
  socket.sock:admit()
  local reason = socket.close_reason
  if reason == nil then
    local co = coroutine.running()
    socket._next = co
    repeat reason = scheduler.raw_yield() until socket._next ~= co -- only _closed ends the wait
  end
  ctx.disconnectReason = reason
  return reason
end

-- What a raise from a connection's chain means depends on whether the
-- client was admitted.
local function connection_failed(ctx, err)
  err = scheduler.caught(err)
  local socket = ctx.socket
  local gen, st = ctx.app, socket.state
  local deliberate = errors.is_refusal(err)
  if socket._next == nil then
    local gone = socket.close_reason ~= nil
    local r = refusal(err, gen.baseDir)
    if deliberate then
      if gone then return end
      ctx.logger:info('connection to %s refused: %s%s', st.name, r.message, errors.where(err, gen.baseDir))
    else
      -- a bug: logged with its traceback even when the client has left
      errors.count_bug()
      ctx.logger:error('error in connection middleware of %s%s: %s', st.name,
        gone and '' or (" (the client gets '%s')"):format(r.message), tostring(err))
      if gone then return end
    end
    socket.sock:refuse(r.message, r.data)
    return
  end
  if deliberate then
    ctx.logger:info('connection middleware of %s raised after next(): %s%s', st.name,
      scheduler.message(err), errors.where(err, gen.baseDir))
  else
    errors.count_bug()
    ctx.logger:error('error in connection middleware of %s: %s', st.name, tostring(err))
  end
end

-- A connection's coroutine: the middleware chain, whose innermost next()
-- admits and waits. Kept small: while the socket is connected its
-- middleware waits in next() with only this function and xpcall below it,
-- so the coroutine's stack can go back to its smallest size (LuaJIT shrinks
-- a thread's stack at GC when little of it is in use). Per connection: the
-- socket's object, the ctx, the coroutine and the innermost next().
local function connection(ctx, chain)
  local ok, err = xpcall(chain, errors.traceback, ctx, function() return admit_and_wait(ctx) end)
  if not ok then return connection_failed(ctx, err) end
  -- A chain that returned without calling next() still admits (egg).
  if ctx.socket._next == nil then ctx.socket.sock:admit() end
end
-- a yolk coroutine: a bare coroutine.yield() in its middleware raises
scheduler.own_body(connection)

-- A client asks to join a namespace with connection middleware: make its
-- socket object (the one every later callback gets) and run the middleware
-- in a coroutine of its own.
function Runtime:on_connect(st, sock)
  scheduler.doing('connection', nil, st.name)
  local gen = self.gen
  local socket = self:new_socket(st, sock)
  local chains = gen:chains(st.name)
  -- one middleware needs no composing: admit_and_wait refuses a second
  -- next() itself, as compose's next() would
  local list = chains.connectionMiddlewareList
  local chain = list and #list == 1 and list[1] or chains.connectionMiddleware or pass
  if socket.recovered then
    local rec = (gen.config.io.init or {}).connectionStateRecovery
    if type(rec) == 'table' and rec.skipMiddlewares ~= false then chain = pass end
  end
  local co = coroutine.create(connection)
  local ok, err = coroutine.resume(co, context.socket_ctx(gen, socket), chain)
  if not ok then scheduler.report(scheduler.traceback(scheduler.caught(err)), socket.id) end
  return socket
end

-- Up to this many unrouted event names per namespace are warned about under
-- `yolk dev` (a client may send any name).
local UNROUTED_WARNINGS = 50

-- An event nobody handles: DEBUG, or under `yolk dev` a WARN (once per name
-- and namespace in a generation) listing the events that are routed there.
local SYSTEM = { disconnect = true, disconnecting = true, error = true }
local function unrouted(gen, st, event, ctx)
  local name = logger_mod.printable(event)
  if not errors.dev then
    ctx.logger:debug('no route for event %s on %s', name, st.name)
    return
  end
  local seen = gen._unrouted
  if not seen then seen = {}; gen._unrouted = seen end
  local nsp_seen = seen[st.name]
  if not nsp_seen then nsp_seen = { names = {}, n = 0 }; seen[st.name] = nsp_seen end
  if nsp_seen.names[name] or nsp_seen.n > UNROUTED_WARNINGS then return end
  nsp_seen.n = nsp_seen.n + 1
  nsp_seen.names[name] = true
  if nsp_seen.n > UNROUTED_WARNINGS then
    ctx.logger:warn('more unrouted events on %s: no longer warned about', st.name)
    return
  end
  local routed = {}
  for k in pairs(gen.ioRoutes[st.name] or {}) do
    if type(k) == 'string' and not SYSTEM[k] then routed[#routed + 1] = k end
  end
  table.sort(routed)
  local best = errors.suggest(tostring(event), routed)
  local hint = best and ("; did you mean '%s'?"):format(best) or ''
  if #routed == 0 then
    ctx.logger:warn("no route for event '%s' on %s: nothing is routed there (app/router.lua: app.io:of('%s'):route(...))",
      name, st.name, st.name)
  else
    ctx.logger:warn("no route for event '%s' on %s (routed there: %s%s)", name, st.name, table.concat(routed, ', '), hint)
  end
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
  if not handler and not listeners then unrouted(gen, st, event, ctx) end
end

-- An error in the packet middleware or the controller: a refusal is logged
-- at INFO, a bug at ERROR with its traceback; the 'error' route, if any,
-- hears about both; an ack the client is still waiting for is answered
-- with { ok = false, error = message [, data] } (the client's only way to
-- hear about it: Socket.IO v5 has no per-packet error).
local function report(gen, st, socket, ctx, traced)
  local ev = logger_mod.printable(ctx.event)
  if errors.is_refusal(traced) then
    ctx.logger:info("'%s' on %s refused: %s%s", ev, st.name, scheduler.message(traced), errors.where(traced, gen.baseDir))
  else
    errors.count_bug()
    ctx.logger:error('error while handling %s: %s', ev, tostring(traced))
  end
  local routes = gen.ioRoutes[st.name]
  local h = routes and routes['error']
  if h then
    local ectx = context.socket_ctx(gen, socket, { args = { n = 1, scheduler.message(traced) }, error = traced,
      ack = rawget(ctx, 'ack') })
    local ok, e2 = xpcall(h, errors.traceback, ectx)
    if not ok then
      errors.count_bug()
      ctx.logger:error('error in the error route: %s', tostring(scheduler.caught(e2)))
    end
  end
  local ack = rawget(ctx, 'ack')
  if ack then
    local message, data = errors.public(traced, gen.baseDir)
    ack({ ok = false, error = message, data = data })
  end
end

-- The closures of the packet path live in functions of their own: a
-- function that makes a closure closes upvalues when it returns, which
-- LuaJIT 2.1 (beta3) cannot compile, so the common path stays closure-free.
local function run_chain(chain, ctx, gen, st, socket)
  return chain(ctx, function() return dispatch(gen, st, socket, ctx.event, ctx) end)
end

local function make_ack(sock, ack_id)
  -- the core's handle makes it in C (one allocation instead of four)
  local acker = sock.acker
  if acker then return acker(sock, ack_id) end
  local acked = false
  return function(...)
    if acked then return false end
    acked = true
    return sock:ack(ack_id, ...)
  end
end

-- A packet in its coroutine: the packet middleware (when there is some),
-- then the route. Errors go to packet_failed.
local function run_packet(ctx, gen, st, socket)
  local chain = gen:chains(st.name).packetMiddleware
  if not chain then return dispatch(gen, st, socket, ctx.event, ctx) end
  return run_chain(chain, ctx, gen, st, socket)
end

local function packet_failed(traced, ctx, gen, st, socket)
  report(gen, st, socket, ctx, traced)
end

-- An EVENT: args holds the arguments (args.n of them); with ack_id the
-- client asked for an answer: ctx.ack, also the last element of ctx.args.
-- The packet runs in a pooled coroutine with one protected call; nothing
-- but ctx (and the ack, when asked for) is made for it.
function Runtime:on_event(st, socket, event, args, ack_id)
  scheduler.doing('event', event, st.name)
  local gen = self.gen
  local ack
  if ack_id ~= nil then
    ack = make_ack(socket.sock, ack_id)
    local n = args.n + 1
    args[n] = ack
    args.n = n
  end
  local ctx = context.packet_ctx(gen, socket, event, args, ack)
  scheduler.go(packet_failed, run_packet, ctx, gen, st, socket)
end

-- 'disconnecting' and 'disconnect' routes and listeners (admitted sockets only).
function Runtime:system_event(st, socket, event, reason)
  local gen = self.gen
  local routes = gen.ioRoutes[st.name]
  local handler = routes and routes[event]
  local all = rawget(socket, 'listeners')
  local listeners = all and all[event]
  if not handler and not listeners then return end
  scheduler.doing('handler', event, st.name)
  local ctx = context.socket_ctx(gen, socket, { args = { n = 1, reason }, reason = reason, event = event })
  scheduler.spawn_ex(socket.id, nil, function()
    local ok, err = xpcall(function()
      if handler then handler(ctx) end
      if listeners then for _, fn in ipairs(listeners) do fn(reason) end end
    end, errors.traceback)
    if not ok then
      err = scheduler.caught(err)
      if errors.is_refusal(err) then
        ctx.logger:info('%s handler raised: %s%s', event, scheduler.message(err), errors.where(err, gen.baseDir))
      else
        errors.count_bug()
        ctx.logger:error('error in %s handler: %s', event, tostring(err))
      end
    end
  end)
end

function Runtime:on_close(st, socket, reason)
  local waiting = socket:_closed(reason)
  -- only sockets that were admitted hear about their disconnect
  if socket.sock:admitted() then self:system_event(st, socket, 'disconnect', reason) end
  if waiting then scheduler.resume(waiting, reason) end
end

-- A server-side event from another node; reply: the token to answer with
-- (the sender waits for one answer), or nil.
function Runtime:on_server_event(st, event, args, reply)
  local gen = self.gen
  local h = gen.io.serverHandlers[st.name]
  h = h and h[event]
  if not h then return end
  scheduler.doing('server event', event, st.name)
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
