-- Connection middleware on '/': the egg-socket.io tutorial's room check, join and leave.
--
-- The handshake query carries `room` (required) and optionally `nickname`. A socket asking
-- for a room that does not exist receives, on the event named by its own id,
-- parseMsg('deny', { type = 'deleted', ... }) and is disconnected; one asking for a nickname
-- already used in the room gets the same with type = 'nickname'. Everyone else joins the
-- room; the room then receives `online` (the tutorial's event: the ids in the room) and
-- `users` (this demo's event: ids with nicknames).

-- Tells the room who joined or left: `online` is the tutorial's event (the ids in the room),
-- `users` is this demo's (ids with nicknames, in join order).
local function broadcastPresence(ctx, nsp, room, action, id, nickname)
  nsp:to(room):emit('online', {
    clients = nsp.adapter:clients({ room }),
    action = action,
    target = 'participant',
    message = (nickname or ('User(' .. id .. ')')) .. (action == 'join' and ' joined.' or ' left.'),
    client = id,
    nickname = nickname,
    timestamp = ctx.helper.now(),
  })
  nsp:to(room):emit('users', { room = room, users = ctx.service.room:users(room) })
end

return function(app)
  return function(ctx, next)
    local socket, helper = ctx.socket, ctx.helper
    local id = socket.id
    local nsp = app.io:of('/')
    local query = ctx.query or socket.handshake.query or {}
    local room = query.room
    local roomService = ctx.service.room

    local function tick(msg)
      -- The reply must reach the socket before it is dropped: yolk delivers what was emitted
      -- to a not-yet-admitted socket right after its CONNECT acknowledgement, then DISCONNECT.
      socket:emit(id, helper.parseMsg('deny', msg))
      -- Without `close`: the client gets DISCONNECT ('io server disconnect', so it does not
      -- reconnect) and closes the connection itself once it has no other namespace.
      socket:disconnect()
    end

    if type(room) ~= 'string' or not roomService:exists(room) then
      return tick({ type = 'deleted', message = 'deleted, room has been deleted.' })
    end

    local nickname
    if query.nickname ~= nil and query.nickname ~= '' then
      nickname = roomService:cleanNickname(query.nickname)
      if not nickname then
        return tick({ type = 'nickname', message = 'invalid nickname (1 to 20 characters).' })
      end
    end
    -- No yield between this check and the join below: the nickname stays reserved.
    if not roomService:enter(room, id, nickname) then
      return tick({ type = 'nickname', message = 'nickname "' .. nickname .. '" is already taken.' })
    end
    socket.data.room = room
    socket:join(room)
    broadcastPresence(ctx, nsp, room, 'join', id, nickname)

    next()

    -- The socket has left every room by now: clients() lists the remaining ones.
    nickname = roomService:nickname(room, id) -- it may have changed since
    roomService:leave(room, id)
    broadcastPresence(ctx, nsp, room, 'leave', id, nickname)
  end
end
