-- Broadcast operators: nsp:to(room), nsp:except(room), socket.broadcast,
-- socket:to(room), with flags (volatile, local, timeout). Each call returns
-- a new operator; emit and the fetch/join/leave/disconnect calls act on
-- every socket the target names, through the namespace's adapter (so on
-- every node of a cluster).
--
-- Broadcasts with acks (socket.io's io.timeout(ms).emit(ev, cb) and
-- emitWithAck): every recipient is asked; the answers (each one's first
-- argument) come back together once every recipient on every node has
-- answered, or when the timeout runs out ("operation has timed out", with
-- the answers so far). socket.io needs an explicit timeout here (without
-- one its timer fires at once); yolk waits DEFAULT_ACK_TIMEOUT ms.
local scheduler = require('yolk.scheduler')
local util = require('yolk.io.util')

local list_of, append, unpack = util.list_of, util.append, util.unpack

local DEFAULT_ACK_TIMEOUT = 5000

local Operator = {}
Operator.__index = function(t, k)
  if k == 'volatile' then return t:_with { volatile = true } end
  if k == 'local' then return t:_with { ['local'] = true } end
  if k == 'broadcast' then return t end
  return Operator[k]
end

local M = { Operator = Operator, DEFAULT_ACK_TIMEOUT = DEFAULT_ACK_TIMEOUT }

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

function Operator:timeout(ms)
  if type(ms) ~= 'number' or ms <= 0 then error('timeout(ms): ms must be a positive number', 2) end
  return self:_with { timeout = ms }
end

function Operator:target()
  local t = { rooms = self.rooms, except = self.except_ }
  if self.flags.volatile then t.volatile = true end
  if self.flags['local'] then t['local'] = true end
  return t
end

-- The error of a broadcast with acks, as socket.io words it.
local function broadcast_error(err)
  if err == 'timeout' then return 'operation has timed out' end
  return err
end

-- emit(ev, ..., cb): cb(err, answers) runs in a coroutine of its own.
function Operator:emit(ev, ...)
  local cb, args = util.split_callback(ev, ...)
  if not cb then return self.state:core():broadcast(self:target(), ev, ...) end
  return self.state:core():broadcast_with_ack(self:target(), self.flags.timeout or DEFAULT_ACK_TIMEOUT,
    function(err, answers)
      scheduler.spawn_ex('broadcast ack', nil, cb, broadcast_error(err), answers)
    end, unpack(args, 1, args.n))
end

-- Yields; the answers, or nil, err, the answers so far.
function Operator:emitWithAck(ev, ...)
  local core, target, timeout = self.state:core(), self:target(), self.flags.timeout or DEFAULT_ACK_TIMEOUT
  local args = util.pack(ev, ...)
  local err, answers = scheduler.wait(function(wake)
    local ok = core:broadcast_with_ack(target, timeout, wake, unpack(args, 1, args.n))
    if not ok then wake('broadcast refused (see the log)') end
  end)
  if err then return nil, broadcast_error(err), answers end
  return answers
end

-- Server-side emits (to the same namespace on the other nodes). With a
-- trailing callback, or through serverSideEmitWithAck, every other node's
-- handler answers once; the answers come back together, or the error after
-- the timeout (timeout(ms), else the adapter's requestsTimeout) with those
-- that came.
local function server_side_error(err, got, expected)
  if err == 'timeout' then
    return ('timeout reached: only %d responses received out of %d'):format(got, expected)
  end
  return err
end

-- serverSideEmit(ev, ...[, cb]): cb(err, answers) in a coroutine of its own.
function Operator:serverSideEmit(ev, ...)
  local core = self.state:core()
  local cb, args = util.split_callback(ev, ...)
  if not cb then return core:server_side_emit(ev, ...) end
  return core:server_side_emit_with_ack(self.flags.timeout, function(err, answers, got, expected)
    scheduler.spawn_ex('serverSideEmit ack', nil, cb, server_side_error(err, got, expected), answers)
  end, unpack(args, 1, args.n))
end

-- Yields; the answers, or nil, err, the answers so far.
function Operator:serverSideEmitWithAck(ev, ...)
  local core, timeout = self.state:core(), self.flags.timeout
  local args = util.pack(ev, ...)
  local err, answers, got, expected = scheduler.wait(function(wake)
    core:server_side_emit_with_ack(timeout, wake, unpack(args, 1, args.n))
  end)
  if err then return nil, server_side_error(err, got, expected), answers end
  return answers
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
