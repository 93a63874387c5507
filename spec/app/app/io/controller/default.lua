-- Handlers of the official protocol suite, plus what the e2e tests drive.
local yolk = require('yolk')
local Default = require('yolk.controller'):extend()

-- queries -> the handshake query as generateId, socket.handshake, ctx.query
-- and a fetchSockets item see it, with the order of its keys
function Default:queries()
  local ctx = self.ctx
  local core = require('yolk.core')
  local id = ctx.socket.id
  local fetched
  for _, s in ipairs(self.app.io:of('/'):fetchSockets()) do
    if s.id == id then fetched = s end
  end
  local function view(q) return { q = q or yolk.null, keys = q and core.json_keys(q) or yolk.null } end
  -- the item as another node would see it: through its JSON form
  local remote = core.json_decode(core.json_encode(fetched.handshake))
  ctx.ack({
    generated = view(_G.generate_id_seen and _G.generate_id_seen[id]),
    socket = view(ctx.socket.handshake.query),
    ctx = view(ctx.query),
    fetched = view(fetched.handshake.query),
    remote = view(remote.query),
  })
end

-- message -> message-back with the same arguments
function Default:message()
  local args = self.ctx.args
  self.ctx.socket:emit('message-back', unpack(args, 1, args.n))
end

-- stamp(obj) -> ack with obj plus a key added in Lua (it comes after the original ones)
function Default:stamp()
  local obj = self.ctx.args[1]
  obj.stamped = true
  self.ctx.ack(obj)
end

-- message-with-ack -> ack with the same arguments
function Default:messageWithAck()
  local args = self.ctx.args
  local ack = args[args.n]
  if type(ack) == 'function' then ack(unpack(args, 1, args.n - 1)) end
end

function Default:join()
  local socket = self.ctx.socket
  socket:join(self.ctx.args[1])
  if self.ctx.ack then self.ctx.ack(socket.rooms) end
end

function Default:leave()
  self.ctx.socket:leave(self.ctx.args[1])
  if self.ctx.ack then self.ctx.ack(true) end
end

-- toRoom(room, ...): to everyone in room except the sender
function Default:toRoom()
  local args = self.ctx.args
  local n = args.n
  if self.ctx.ack then n = n - 1 end
  self.ctx.socket:to(args[1]):emit('room-message', unpack(args, 2, n))
  if self.ctx.ack then self.ctx.ack(true) end
end

-- nspToRoom(room, ...): from the namespace, to everyone in the room
function Default:nspToRoom()
  local args = self.ctx.args
  local n = args.n
  if self.ctx.ack then n = n - 1 end
  self.app.io:of('/'):to(args[1]):emit('room-message', unpack(args, 2, n))
  if self.ctx.ack then self.ctx.ack(true) end
end

function Default:broadcastAll()
  self.ctx.socket.broadcast:emit('broadcast-message', self.ctx.args[1])
  if self.ctx.ack then self.ctx.ack(true) end
end

function Default:exceptRoom()
  self.app.io:of('/'):except(self.ctx.args[1]):emit('except-message', self.ctx.args[2])
  if self.ctx.ack then self.ctx.ack(true) end
end

-- sleep(ms) then ack: other packets keep being handled meanwhile
function Default:slow()
  yolk.sleep(tonumber(self.ctx.args[1]) or 300)
  self.ctx.ack('slow done')
end

function Default:fast()
  self.ctx.ack('fast done')
end

function Default:boom()
  error('controller exploded on purpose')
end

-- ask the client, with an ack, and report its answer
function Default:ask()
  local socket = self.ctx.socket
  local res, err = socket:timeout(tonumber(self.ctx.args[1]) or 1000):emitWithAck('question', 'what?')
  self.ctx.ack(res == nil and yolk.null or res, err == nil and yolk.null or err)
end

function Default:clients()
  local ids = self.app.io:of('/').adapter:clients({ self.ctx.args[1] })
  table.sort(ids)
  self.ctx.ack(yolk.array(ids))
end

function Default:fetch()
  local list = self.app.io:of('/'):fetchSockets()
  local ids = yolk.array({})
  for i, s in ipairs(list) do ids[i] = s.id end
  table.sort(ids)
  self.ctx.ack(ids)
end

function Default:kinds()
  -- empty array and object must round-trip as [] and {}
  self.ctx.ack(yolk.array({}), yolk.object({}), yolk.null, self.ctx.args[1])
end

function Default:binary()
  local b = self.ctx.args[1]
  self.ctx.ack(yolk.is_buffer(b), b, yolk.buffer('\0\1\2'))
end

function Default:helper()
  self.ctx.ack(self.ctx.helper.shout(self.ctx.args[1]), self.service.clock:stamp(1))
end

function Default:whoami()
  local s = self.ctx.socket
  self.ctx.ack({ id = s.id, query = s.handshake.query, auth = s.handshake.auth })
end

function Default:events()
  self.ctx.ack(self.app.events:get(self.ctx.args[1]))
end

-- socketsJoin/socketsLeave/disconnectSockets on a room, remoteDisconnect by id
function Default:roomJoin()
  local a = self.ctx.args
  self.app.io:of('/'):to(a[1]):socketsJoin(a[2])
  self.ctx.ack(true)
end

function Default:roomLeave()
  local a = self.ctx.args
  self.app.io:of('/'):to(a[1]):socketsLeave(a[2])
  self.ctx.ack(true)
end

function Default:roomKick()
  self.app.io:of('/'):to(self.ctx.args[1]):disconnectSockets()
  self.ctx.ack(true)
end

function Default:remoteKick()
  self.app.io:of('/').adapter:remoteDisconnect(self.ctx.args[1], true)
  self.ctx.ack(true)
end

function Default:rooms()
  self.ctx.ack(self.ctx.socket.rooms)
end

function Default:bye()
  self.ctx.socket:disconnect()
end

-- emit, then close the whole connection: the client must see the emit, then
-- the DISCONNECT ("io server disconnect"), on every transport
function Default:byeClose()
  self.ctx.socket:emit('bye', 1)
  self.ctx.socket:disconnect(true)
end

return Default
