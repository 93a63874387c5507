-- HTTP middleware (config.middleware = { 'poweredBy' }), options from config.poweredBy.
return function(app, options)
  return function(ctx, next)
    next()
    ctx:set('x-powered-by', options and options.name or 'yolk')
  end
end
