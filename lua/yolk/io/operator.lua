-- Broadcast operators: nsp:to(room), nsp:except(room), socket.broadcast,
-- socket:to(room), with flags (volatile, local). Each call returns a new
-- operator; emit and the fetch/join/leave/disconnect calls act on every
-- socket the target names, through the namespace's adapter (so on every
-- node of a cluster).
local scheduler = require('yolk.scheduler')
local util = require('yolk.io.util')

local list_of, append = util.list_of, util.append

local Operator = {}
Operator.__index = function(t, k)
  if k == 'volatile' then return t:_with { volatile = true } end
  if k == 'local' then return t:_with { ['local'] = true } end
  if k == 'broadcast' then return t end
  return Operator[k]
end

local M = { Operator = Operator }

-- state: the namespace's runtime state (state:core() is the core namespace).
-- socket.broadcast is an operator whose except holds the socket's own room.
function M.new(state, rooms, except, flags)
  return setmetatable({ state = state, rooms = rooms or {}, except_ = except or {}, flags = flags or {} }, Operator)
end

function Operator:_with(flags)
  local f = {}
  for k, v in pairs(self.flags) do f[k] = v end
  for k, v in pairs(flags) do f[k] = v end
  return M.new(self.state, self.rooms, self.except_, f)
end

function Operator:to(room)
  return M.new(self.state, append(append({}, self.rooms), list_of(room)), self.except_, self.flags)
end
Operator['in'] = Operator.to

function Operator:except(room)
  return M.new(self.state, self.rooms, append(append({}, self.except_), list_of(room)), self.flags)
end

function Operator:target()
  local t = { rooms = self.rooms, except = self.except_ }
  if self.flags.volatile then t.volatile = true end
  if self.flags['local'] then t['local'] = true end
  return t
end

function Operator:emit(ev, ...)
  if util.split_callback(ev, ...) then error('acks are not supported with broadcasting', 2) end
  return self.state:core():broadcast(self:target(), ev, ...)
end

-- fetchSockets(): yields; a list of sockets (each has id, handshake, rooms,
-- data, emit, join, leave, disconnect), or nil, err.
function Operator:fetchSockets()
  local state = self.state
  local target = self:target()
  local err, list = scheduler.wait(function(wake)
    state:core():fetch_sockets(target, function(e, l) wake(e, l) end)
  end)
  if err then return nil, util.err_string(err) end
  local remote = require('yolk.io.remote')
  local out = {}
  for i, item in ipairs(list or {}) do out[i] = remote.new(state, item) end
  return out
end

function Operator:socketsJoin(rooms) self.state:core():sockets_join(self:target(), list_of(rooms)) end
function Operator:socketsLeave(rooms) self.state:core():sockets_leave(self:target(), list_of(rooms)) end
function Operator:disconnectSockets(close) self.state:core():disconnect_sockets(self:target(), close and true or false) end

return M
