-- HTTP routes and Socket.IO events of the chat demo.
return function(app)
  local router, controller, io = app.router, app.controller, app.io

  router:get('/', controller.home.index)

  local nsp = io:of('/')
  nsp:route('exchange', io.controller.nsp.exchange) -- the tutorial's event
  nsp:route('nickname', io.controller.nsp.nickname)
  nsp:route('typing', io.controller.nsp.typing)
  nsp:route('voice', io.controller.nsp.voice)
end
