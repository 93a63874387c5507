-- The sockets fetchSockets returns (socket.io's RemoteSocket): what a node
-- knows of a socket that may live on another node. For a local socket, data
-- and handshake are the live socket's own tables.
local util = require('yolk.io.util')

local Remote = {}
Remote.__index = Remote

local M = { Remote = Remote }

function M.new(state, item)
  local live = state:core():socket(item.id)
  return setmetatable({
    id = item.id,
    handshake = live and live.handshake or item.handshake,
    rooms = item.rooms,
    data = live and live.data or item.data,
    state = state,
  }, Remote)
end

local function only(self) return { rooms = { self.id } } end

function Remote:emit(ev, ...)
  return self.state:core():broadcast(only(self), ev, ...)
end
function Remote:join(rooms) self.state:core():sockets_join(only(self), util.list_of(rooms)) end
function Remote:leave(rooms) self.state:core():sockets_leave(only(self), util.list_of(rooms)) end
function Remote:disconnect(close) self.state:core():disconnect_sockets(only(self), close and true or false) end

return M
