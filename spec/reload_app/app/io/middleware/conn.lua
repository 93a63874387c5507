-- Connection middleware: records what runs before and after next() in
-- app.shared (which survives reloads), so the test can see which version of
-- this file a connection's chain finished in.
return function(app)
  return function(ctx, next)
    local log = app.shared.log or {}
    app.shared.log = log
    log[#log + 1] = 'conn v1 before ' .. ctx.socket.id
    next()
    log[#log + 1] = 'conn v1 after ' .. ctx.socket.id
  end
end
