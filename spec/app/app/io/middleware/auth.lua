local yolk = require('yolk')
-- Connection middleware driven by the client's auth payload (v5) or query (v4).
return function(app)
  return function(ctx, next)
    local socket = ctx.socket
    local auth = socket.handshake.auth or {}
    local q = ctx.query or {}
    local mode = auth.mode or q.mode
    app.events:add(socket.id, 'auth before')
    if mode == 'deny' then error('not authorized') end
    if mode == 'deny-table' then error({ message = 'forbidden', data = { code = 4031 } }) end
    if mode == 'kick' then
      -- the tutorial's "send deny, then kick" flow
      socket:emit(socket.id, { action = 'deny', message = 'you are kicked' })
      socket:disconnect()
    end
    if mode == 'tick' then
      -- egg-socket.io tutorial's tick(): deny via the own id, remoteDisconnect, no next()
      socket:emit(socket.id, { action = 'deny', message = 'room deleted' })
      app.io:of('/mw').adapter:remoteDisconnect(socket.id, true)
      return
    end
    if mode == 'slow' then yolk.sleep(200) end
    if mode == 'skip' then
      app.events:add(socket.id, 'auth skipped next')
      return
    end
    socket:join('authed')
    next()
    app.events:add(socket.id, 'auth after ' .. tostring(ctx.disconnectReason))
  end
end
