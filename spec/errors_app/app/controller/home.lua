return {
  hello = function(ctx) ctx.body = 'hello ' .. ctx.params.name end,
  bug = function(ctx)
    local lot = nil
    ctx.body = lot.title -- a bug
  end,
  forbidden = function(ctx) ctx:throw(403, 'not yours') end,
}
