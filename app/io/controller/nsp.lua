-- Socket events of the chat on '/'.
--
-- `exchange` is the egg-socket.io tutorial's event, kept wire-compatible: its original page
-- works against this server unchanged. `nickname`, `typing` and `voice` are this demo's.
--
-- Delivery rule shared by every event: the target '群聊' (group chat) means everyone else in
-- the sender's room; any other target is the id of a socket in the same room, and the
-- message reaches that socket only (through the room named by its id). Targets outside the
-- sender's room are refused, so nobody can write into rooms they did not join.

local Controller = require('yolk.controller')
local yolk = require('yolk')

local GROUP = '群聊'

local Nsp = Controller:extend()

local function reply(ctx, result)
  if ctx.ack then ctx.ack(result) end
end

-- Sends `event` with `msg` to `target` on behalf of ctx.socket. Returns true or false, why.
local function deliver(ctx, target, event, msg)
  local socket = ctx.socket
  local room = socket.data.room
  if not room then return false, 'not in a room' end
  if target == GROUP then
    socket:to(room):emit(event, msg)       -- the room, minus the sender
    return true
  end
  if not ctx.service.room:has(room, target) then return false, 'unknown target' end
  ctx.app.io:of('/'):to(target):emit(event, msg) -- only that socket
  return true
end

local function meta(ctx, target)
  local socket = ctx.socket
  return {
    client = socket.id,
    target = target,
    nickname = ctx.service.room:nickname(socket.data.room, socket.id) or nil,
  }
end

-- exchange({ target, payload }): a chat message. The tutorial's page sends payload = { msg }.
-- Goes out as parseMsg('exchange', payload, { client, target, nickname }) on the event named
-- '群聊' (group) or named by the target id (private).
function Nsp:exchange()
  local ctx = self.ctx
  local message = ctx.args[1]
  if type(message) ~= 'table' then return reply(ctx, { ok = false, error = 'bad message' }) end
  local target = message.target
  if type(target) ~= 'string' or target == '' then
    return reply(ctx, { ok = false, error = 'no target' })
  end
  local msg = ctx.helper.parseMsg('exchange', message.payload, meta(ctx, target))
  local ok, err = deliver(ctx, target, target, msg)
  reply(ctx, { ok = ok, error = err })
end

-- nickname(name, ack): sets or changes the sender's nickname, unique (case-insensitively)
-- in the room. Acks { ok = true, nickname } or { ok = false, error = 'invalid' | 'taken' };
-- on success the room receives `users`.
function Nsp:nickname()
  local ctx = self.ctx
  local socket = ctx.socket
  local room = socket.data.room
  local rooms = ctx.service.room
  local name = rooms:cleanNickname(ctx.args[1])
  if not name then return reply(ctx, { ok = false, error = 'invalid' }) end
  local ok, err = rooms:rename(room, socket.id, name)
  if not ok then return reply(ctx, { ok = false, error = err }) end
  reply(ctx, { ok = true, nickname = name })
  ctx.app.io:of('/'):to(room):emit('users', { room = room, users = rooms:users(room) })
end

-- typing({ target, typing = bool }): relayed as `typing` { client, nickname, target, typing }
-- to the group or to the private target. The page sends false when the user stops.
function Nsp:typing()
  local ctx = self.ctx
  local arg = ctx.args[1]
  if type(arg) ~= 'table' or type(arg.target) ~= 'string' then return end
  local m = meta(ctx, arg.target)
  m.typing = arg.typing == true
  deliver(ctx, arg.target, 'typing', m)
end

-- voice({ target, audio = <binary>, mime, duration }): a recorded voice message. Relayed as
-- `voice` parseMsg('voice', { audio, mime, duration }, { client, target, nickname }); the
-- audio stays binary end to end (a Socket.IO attachment), never base64.
function Nsp:voice()
  local ctx = self.ctx
  local arg = ctx.args[1]
  if type(arg) ~= 'table' or type(arg.target) ~= 'string' then
    return reply(ctx, { ok = false, error = 'bad message' })
  end
  local audio = arg.audio
  -- (#audio only on the real userdata: the pure-Lua stand-in used by unit tests has no __len in 5.1)
  if not yolk.is_buffer(audio) or (type(audio) == 'userdata' and #audio == 0) then
    return reply(ctx, { ok = false, error = 'no audio' })
  end
  local mime = type(arg.mime) == 'string' and #arg.mime < 100 and arg.mime:match('^audio/') and arg.mime
    or 'audio/webm'
  local duration = tonumber(arg.duration) or 0
  local msg = ctx.helper.parseMsg('voice', { audio = audio, mime = mime, duration = duration },
    meta(ctx, arg.target))
  local ok, err = deliver(ctx, arg.target, 'voice', msg)
  reply(ctx, { ok = ok, error = err })
end

return Nsp
