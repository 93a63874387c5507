-- Connection middleware of the demo's kind (app/io/middleware/auth.lua, without its Redis and
-- room checks), on '/' when the server runs in the "mw" mode (config/config.default.lua): the
-- socket joins a room and gets a `welcome` emit before it is admitted, then the middleware stays
-- suspended in next() for as long as the socket is connected, and counts the departure after.
-- bench/node_server.mjs does the same with io.use() and a 'disconnect' listener.
return function(app)
  app.shared.benchLeft = app.shared.benchLeft or 0
  return function(ctx, next)
    local socket = ctx.socket
    socket:join('members')
    socket:emit('welcome', socket.id)
    next()
    app.shared.benchLeft = app.shared.benchLeft + 1
  end
end
