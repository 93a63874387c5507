-- ctx objects: one per connection (connection middleware), per packet
-- (packet middleware and controllers) and per HTTP request.
--
-- A ctx is a plain table; ctx.service, ctx.helper and ctx.logger are made on
-- first use, and anything else is looked up in the generation's context
-- prototype (app/extend/context.lua over yolk's own methods).
local controller = require('yolk.controller')
local loader = require('yolk.loader')

local M = {}

-- ctx.service: services resolved lazily, class services instantiated once
-- per ctx (egg's behaviour), folders nest. An unknown name raises, naming the
-- file it would be and the services there are (at the caller's line).
local function service_proxy(tree, ctx)
  return setmetatable({}, {
    __index = function(t, k)
      local v = rawget(tree, k)
      if v == nil then
        if type(k) ~= 'string' then return nil end
        error(loader.unknown_message(tree, k, 'service', 'app/service'), 2)
      end
      if loader.is_dir_node(v) then
        v = service_proxy(v, ctx)
      elseif controller.is_class(v) then
        v = v:new(ctx)
      end
      rawset(t, k, v)
      return v
    end,
  })
end
M.service_proxy = service_proxy

-- ctx.helper.fn(...): helper functions; ctx.helper.ctx is the ctx.
local function helper_proxy(helpers, ctx)
  return setmetatable({ ctx = ctx, app = ctx.app }, { __index = helpers })
end

local lazy = {
  service = function(ctx) return service_proxy(ctx.app.services or {}, ctx) end,
  -- socket ctx: the handshake query (read from C when first asked for)
  query = function(ctx)
    local s = rawget(ctx, 'socket')
    return s and s.handshake.query or {}
  end,
  -- socket ctx: egg-socket.io's ctx.packet, [event, ...args]
  packet = function(ctx)
    local args = rawget(ctx, 'args')
    if not args then return nil end
    local n = args.n or #args
    -- a loop, not unpack(): a client may send more arguments than Lua can
    -- hold on its stack
    local p = { n = n + 1, rawget(ctx, 'event') }
    for i = 1, n do p[i + 1] = args[i] end
    return p
  end,
  helper = function(ctx) return helper_proxy(ctx.app.helpers or {}, ctx) end,
  logger = function(ctx)
    local base = ctx.app.logger
    local socket = rawget(ctx, 'socket')
    if socket then
      -- one child logger per socket (and generation), not per packet
      local lg = rawget(socket, '_logger')
      if lg and rawget(socket, '_logger_base') == base then return lg end
      lg = base:child(socket.id)
      rawset(socket, '_logger', lg)
      rawset(socket, '_logger_base', base)
      return lg
    end
    local label = ctx.method and ctx.path and (ctx.method .. ' ' .. ctx.path)
    return label and base:child(label) or base
  end,
}

-- Metatables per generation and kind, cached on the generation.
function M.metatable(app, proto)
  return {
    __index = function(t, k)
      local make = lazy[k]
      if make then
        local v = make(t)
        rawset(t, k, v)
        return v
      end
      local p = app.context_proto
      if p then
        local v = p[k]
        if v ~= nil then return v end
      end
      return proto[k]
    end,
  }
end

-- Methods every socket ctx has.
local SocketCtx = {}
M.SocketCtx = SocketCtx

-- The metatable of an app's socket ctxs, made on first use.
local function socket_ctx_mt(app)
  local mt = app._socket_ctx_mt
  if not mt then
    mt = M.metatable(app, SocketCtx)
    app._socket_ctx_mt = mt
  end
  return mt
end

function M.socket_ctx(app, socket, fields)
  local ctx = fields or {}
  ctx.app = app
  ctx.socket = socket
  return setmetatable(ctx, socket_ctx_mt(app))
end

-- A packet's ctx, made in one go (its fields known up front: no growing);
-- ack is nil when the client asked for none.
function M.packet_ctx(app, socket, event, args, ack)
  return setmetatable({ app = app, socket = socket, event = event, args = args, ack = ack }, socket_ctx_mt(app))
end

-- ctx:refuse(message [, data]): a deliberate refusal. In a connection
-- middleware the client's connect_error gets message and data; in a packet
-- middleware or a controller the packet stops there and an ack the client
-- waits for gets { ok = false, error = message, data = data }. Logged at INFO.
function SocketCtx:refuse(message, data)
  require('yolk.errors').refuse(message, data, 2)
end


-- HTTP ctx methods.
local HttpCtx = {}
M.HttpCtx = HttpCtx

function HttpCtx:set(name, value)
  if type(name) == 'table' then
    for k, v in pairs(name) do self:set(k, v) end
    return
  end
  self.response.headers[tostring(name):lower()] = tostring(value)
end

function HttpCtx:get(name)
  return self.headers[tostring(name):lower()]
end

function HttpCtx:throw(status, message)
  error({ status = status, message = message or tostring(status), expose = true }, 2)
end

function HttpCtx:redirect(url)
  self.status = 302
  self:set('location', url)
  self.body = 'Redirecting to ' .. url
end

function M.http_ctx(app, fields)
  local mt = app._http_ctx_mt
  if not mt then
    mt = M.metatable(app, HttpCtx)
    app._http_ctx_mt = mt
  end
  fields.app = app
  return setmetatable(fields, mt)
end

-- An anonymous ctx for code that runs outside a request (timers, boot).
function M.anonymous(app)
  return M.http_ctx(app, { method = 'GET', path = '/', query = {}, params = {}, headers = {},
    request = { headers = {} }, response = { headers = {} } })
end

return M
