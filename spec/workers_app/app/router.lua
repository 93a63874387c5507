return function(app)
  local root = app.io:of('/')
  root:route('whoami', app.io.controller.worker.whoami)
  root:route('echo', app.io.controller.worker.echo)
  app.router:get('/hello/ready', app.controller.worker.ready)
  app.router:get('/whoami', app.controller.worker.whoami)
  app.router:post('/whoami', app.controller.worker.whoami)
end
