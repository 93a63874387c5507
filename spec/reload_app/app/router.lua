return function(app)
  local c = app.io.controller.main
  local root = app.io:of('/')
  for _, ev in ipairs { 'hello', 'both', 'tag', 'greeting', 'version', 'join', 'rooms', 'id' } do
    root:route(ev, c[ev])
  end
  app.router:get('/log', app.controller.home.log)
end
