-- app/io/middleware/auth.lua
return function(app)
  -- the middleware: runs once per connecting client
  return function(ctx, next)
    local name = ctx.socket.handshake.auth.name   -- io(url, { auth: { name } })
    if type(name) ~= 'string' or name == '' then
      ctx:refuse('a name is required')             -- the client's connect_error
    end
    ctx.socket.data.name = name
    ctx.socket:join('bidders')                     -- a room
    next()                                         -- admitted; returns when the client leaves
    app.logger:info('%s left (%s)', name, ctx.disconnectReason)
  end
end
