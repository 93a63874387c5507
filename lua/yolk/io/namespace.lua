-- app.io and its namespaces, as the application sees them: one view per
-- generation (its routes and server-side handlers), over the runtime's
-- namespace states (which outlive reloads).
local scheduler = require('yolk.scheduler')
local util = require('yolk.io.util')
local operator = require('yolk.io.operator')

local list_of = util.list_of

local View = {}
View.__index = View

local Nsp = {}
Nsp.__index = function(t, k)
  if k == 'sockets' then return t:_sockets() end
  if k == 'adapter' then return setmetatable({ nsp = t }, require('yolk.io.namespace').Adapter) end
  if k == 'volatile' or k == 'local' or k == 'broadcast' then return t:_op()[k] end
  return Nsp[k]
end

local M = { View = View, Nsp = Nsp }

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

for _, m in ipairs { 'emit', 'emitWithAck', 'to', 'in', 'except', 'timeout', 'fetchSockets', 'socketsJoin',
  'socketsLeave', 'disconnectSockets', 'serverSideEmit', 'serverSideEmitWithAck', 'route' } do
  View[m] = function(self, ...) local n = self:of('/'); return n[m](n, ...) end
end

function Nsp:_state()
  local rt = self.app.runtime
  if not rt then error('yolk: the server is not started yet', 3) end
  return rt:state(self.name)
end

function Nsp:_op() return operator.new(self:_state()) end

-- nsp.sockets[id]: the local socket with that id (the live object), or nil.
function Nsp:_sockets()
  local core = self:_state():core()
  return setmetatable({}, { __index = function(_, id) return core:socket(id) end })
end

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

-- nsp:on(event, fn): server-side events from serverSideEmit on other nodes;
-- fn(...) gets the event's arguments, and a last one, a function to call
-- once with the answer, when the sender asked for one.
function Nsp:on(event, fn)
  local h = self.view.serverHandlers[self.name]
  if not h then h = {}; self.view.serverHandlers[self.name] = h end
  h[event] = fn
  return self
end

function Nsp:emit(ev, ...) return self:_op():emit(ev, ...) end
function Nsp:emitWithAck(ev, ...) return self:_op():emitWithAck(ev, ...) end
function Nsp:timeout(ms) return self:_op():timeout(ms) end
function Nsp:to(room) return self:_op():to(room) end
Nsp['in'] = Nsp.to
function Nsp:except(room) return self:_op():except(room) end
function Nsp:fetchSockets() return self:_op():fetchSockets() end
function Nsp:socketsJoin(rooms) return self:_op():socketsJoin(rooms) end
function Nsp:socketsLeave(rooms) return self:_op():socketsLeave(rooms) end
function Nsp:disconnectSockets(close) return self:_op():disconnectSockets(close) end
function Nsp:serverSideEmit(ev, ...) return self:_op():serverSideEmit(ev, ...) end
function Nsp:serverSideEmitWithAck(ev, ...) return self:_op():serverSideEmitWithAck(ev, ...) end

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

-- Every room of the namespace on every node (socket ids included, as
-- socket.io's allRooms), as a list of names.
function Adapter:allRooms(cb)
  local core = self.nsp:_state():core()
  return maybe_async(cb, function()
    local err, rooms = scheduler.wait(function(wake) core:all_rooms(wake) end)
    if err then return nil, util.err_string(err) end
    return rooms
  end)
end

function Adapter:remoteDisconnect(id, close, cb)
  local op = self.nsp:_op():to(id)
  return maybe_async(cb, function()
    op:disconnectSockets(close)
    return true
  end)
end

return M
