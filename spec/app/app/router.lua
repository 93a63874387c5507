return function(app)
  local io = app.io
  local c = io.controller.default
  local root = io:of('/')
  root:route('message', c.message)
  root:route('message-with-ack', c.messageWithAck)
  for _, ev in ipairs { 'join', 'leave', 'toRoom', 'nspToRoom', 'broadcastAll', 'exceptRoom', 'slow', 'fast',
    'boom', 'ask', 'clients', 'fetch', 'kinds', 'binary', 'helper', 'whoami', 'events', 'bye', 'byeClose',
    'roomJoin', 'roomLeave', 'roomKick', 'remoteKick', 'rooms', 'queries', 'stamp' } do
    root:route(ev, c[ev])
  end

  root:route('disconnecting', function(ctx)
    app.events:add(ctx.socket.id, 'disconnecting ' .. tostring(ctx.args[1]) .. ' in ' .. #ctx.socket.rooms .. ' rooms')
  end)

  local mw = io:of('/mw')
  for _, ev in ipairs { 'echo', 'blocked', 'slow', 'rooms' } do mw:route(ev, io.controller.mw[ev]) end
  mw:route('disconnect', function(ctx) app.events:add(ctx.socket.id, 'route disconnect ' .. tostring(ctx.args[1])) end)

  app.router:get('/', app.controller.home.index)
  app.router:get('/hello/:name', app.controller.home.hello)
  app.router:post('/echo', app.controller.home.echo)
  app.router:put('/echo', app.controller.home.echo)
  app.router:get('/events/:id', app.controller.home.events)
  app.router:get('/boom', app.controller.home.boom)
  app.router:get('/env', app.controller.home.env)
  app.router:get('/sleep', 'home.sleep')
end
