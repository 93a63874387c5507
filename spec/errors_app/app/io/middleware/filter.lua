-- Packet middleware: refuses 'spam', has a bug on 'filterBug'.
return function(app)
  return function(ctx, next)
    if ctx.event == 'spam' then error('no spam here') end
    if ctx.packet[1] == 'filterBug' then return ctx.packet.missing.field end
    next()
  end
end
