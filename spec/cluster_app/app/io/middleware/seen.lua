-- Counts the connections that went through the connection middleware (a recovered
-- socket skips it when connectionStateRecovery.skipMiddlewares is on).
return function(app)
  return function(ctx, next)
    app.seen = (app.seen or 0) + 1
    next()
  end
end
