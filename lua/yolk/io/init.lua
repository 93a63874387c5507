-- The Socket.IO side of an application, with egg-socket.io's names, over the
-- sockets and namespaces of yolk.core. One class per file:
--   runtime.lua    the process-wide runtime: namespace states, connection
--                  middleware, packet dispatch, the generation in use
--   namespace.lua  app.io and its namespaces (per generation), nsp.adapter
--   socket.lua     the socket object (ctx.socket)
--   operator.lua   broadcast operators: to(), except(), volatile, ...
--   remote.lua     the sockets fetchSockets returns
--   util.lua       helpers they share
local runtime = require('yolk.io.runtime')
local namespace = require('yolk.io.namespace')

return {
  runtime = runtime.new,
  view = namespace.view,
  refusal = runtime.refusal,
  Runtime = runtime.Runtime,
  Nsp = namespace.Nsp,
  Adapter = namespace.Adapter,
  Socket = require('yolk.io.socket').Socket,
  Operator = require('yolk.io.operator').Operator,
}
