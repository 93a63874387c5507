-- Connection middleware: the client picks what happens with auth.mode (v4)
-- or the query's mode (v2).
return function(app)
  return function(ctx, next)
    local mode = ctx.socket.handshake.auth.mode or ctx.query.mode
    if mode == 'bug' then
      local cfg = nil
      return cfg.secret -- a bug: the VM raises
    end
    if mode == 'refuse' then ctx:refuse('closed for today', { reopens = 9 }) end
    if mode == 'error' then error('not on the list') end
    ctx.socket:join('bidders')
    next()
  end
end
