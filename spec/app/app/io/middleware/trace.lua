-- Records the order of connection middleware and what runs after next().
return function(app)
  return function(ctx, next)
    local id = ctx.socket.id
    app.events:add(id, 'trace before')
    next()
    app.events:add(id, 'trace after ' .. tostring(ctx.disconnectReason))
  end
end
