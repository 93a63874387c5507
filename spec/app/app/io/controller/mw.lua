local yolk = require('yolk')
-- Handlers on /mw (behind the trace/auth/filter middleware).
return {
  echo = function(ctx)
    local args = ctx.args
    if ctx.ack then ctx.ack(unpack(args, 1, args.n - 1)) end
  end,
  blocked = function(ctx)
    if ctx.ack then ctx.ack('should never happen') end
  end,
  slow = function(ctx)
    ctx.app.events:add(ctx.socket.id, 'slow start')
    yolk.sleep(100)
    ctx.app.events:add(ctx.socket.id, 'slow end')
    if ctx.ack then ctx.ack('slow') end
  end,
  rooms = function(ctx) ctx.ack(ctx.socket.rooms) end,
}
