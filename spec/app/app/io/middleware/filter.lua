-- Packet middleware: drops `blocked`, records before/after around the rest.
return function(app)
  return function(ctx, next)
    local id = ctx.socket.id
    local ev = ctx.packet[1]
    if ev == 'blocked' then
      app.events:add(id, 'dropped blocked')
      return
    end
    app.events:add(id, 'filter before ' .. tostring(ev))
    next()
    app.events:add(id, 'filter after ' .. tostring(ev))
  end
end
