-- Events that move the metrics; an app route on the metrics path that the endpoint shadows
-- (GET is the endpoint's; other methods are the app's).
return function(app)
  local io = app.io
  app.router:get('/hello/ready', function(ctx) ctx.body = 'ready' end)
  app.router:get('/metrics', function(ctx) ctx.body = 'the app' end)
  app.router:post('/metrics', function(ctx) ctx.body = 'the app' end)

  -- a namespace whose name needs escaping in a label value
  io:of('/we"ird\\ns')

  for _, name in ipairs { '/', '/chat' } do
    local nsp = io:of(name)
    -- the arguments back through the ack
    nsp:route('echo', function(ctx) ctx.ack(unpack(ctx.args, 1, ctx.args.n - 1)) end)
    -- 'news' to every socket of the namespace (volatile when asked), n times
    nsp:route('bcast', function(ctx)
      local payload, n, volatile = ctx.args[1], tonumber(ctx.args[2]) or 1, ctx.args[3] == true
      local op = volatile and nsp.volatile or nsp
      for i = 1, n do op:emit('news', i, payload) end
      if ctx.ack then ctx.ack(true) end
    end)
    -- a bug (calling nil): yolk_lua_errors_total
    nsp:route('boom', function(ctx) local f; f() end)
    -- a refusal (error() in app code): not a Lua error
    nsp:route('refuse', function(ctx) error('not now') end)
    -- the server disconnects this socket
    nsp:route('kick', function(ctx) ctx.socket:disconnect() end)
    -- keeps the loop busy for ms milliseconds (yolk_event_loop_lag_seconds)
    nsp:route('spin', function(ctx)
      local t0 = os.clock()
      while os.clock() - t0 < (tonumber(ctx.args[1]) or 0) / 1000 do end
      if ctx.ack then ctx.ack(true) end
    end)
  end
end
