-- The benchmark's events; bench/node_server.mjs handles the same ones the same way.
return function(app)
  local c = app.io.controller.bench
  local nsp = app.io:of('/')
  nsp:route('echo', c.echo)
  nsp:route('echo-ack', c.echoAck)
  nsp:route('bcast', c.bcast)
  nsp:route('bcastRoom', c.bcastRoom)
  nsp:route('join', c.join)
  nsp:route('left', c.left)
end
