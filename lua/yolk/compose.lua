-- koa-style composition of middleware functions fn(ctx, next).
--
-- compose{a, b}(ctx, final) runs a; a's next() runs b; b's next() runs
-- final(ctx). Code after `next()` runs when everything inside has returned.
-- A middleware that does not call next() stops the chain there. next() may be
-- called once; its return value is what the inner part returned.
local function compose(middleware)
  for i, fn in ipairs(middleware) do
    if type(fn) ~= 'function' then
      error(('middleware #%d is a %s, not a function'):format(i, type(fn)), 2)
    end
  end
  local count = #middleware
  return function(ctx, final)
    local index = 0
    local function dispatch(i)
      if i <= index then error('next() called multiple times', 2) end
      index = i
      local fn
      if i <= count then fn = middleware[i] else fn = final end
      if not fn then return end
      return fn(ctx, function() return dispatch(i + 1) end)
    end
    return dispatch(1)
  end
end

return compose
