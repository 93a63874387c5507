-- Packet middleware: tags every packet's ctx (the 'tag' event answers it).
return function(app)
  return function(ctx, next)
    ctx.tag = 'tag v1'
    next()
  end
end
