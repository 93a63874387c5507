-- On connection: emit `auth` with the handshake's auth payload (the
-- protocol suite's handler). Emits made before next() reach the client right
-- after its CONNECT acknowledgement.
return function(app)
  return function(ctx, next)
    ctx.socket:emit('auth', ctx.socket.handshake.auth)
    next()
  end
end
