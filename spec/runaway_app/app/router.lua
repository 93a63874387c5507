return function(app)
  local root = app.io:of('/')
  local c = app.io.controller.runaway
  for _, ev in ipairs { 'ping', 'hog', 'leak', 'free', 'spin', 'forever', 'recurse', 'recurseC', 'throwTable', 'throwNumber',
    'throwNil', 'throwUserdata', 'throwBadToString', 'throwBadMessage', 'yield', 'yieldInPcall', 'throwToErrorRoute', 'whoami' } do
    root:route(ev, c[ev])
  end
  root:route('error', c.onError)
  local h = app.controller.runaway
  app.router:get('/hello/ready', h.ready)
  app.router:get('/memory', h.memory)
  app.router:get('/hog', h.hog)
  app.router:get('/spin', h.spin)
  app.router:get('/recurse', h.recurse)
  app.router:get('/throw/:kind', h.throw)
  app.router:get('/yield', h.yield)
end
