-- The fixture app for yolk's end-to-end tests and the official Socket.IO
-- protocol suite (socketio/socket.io-protocol, test-suite/): the options its
-- README gives for the reference server.
return function(appInfo)
  return {
    io = {
      init = {
        pingInterval = 300,
        pingTimeout = 200,
        maxHttpBufferSize = 1e6,
        connectTimeout = 1000,
        cors = { origin = '*' },
        allowEIO3 = true,
      },
      namespace = {
        ['/'] = { connectionMiddleware = { 'hello' }, packetMiddleware = {} },
        ['/custom'] = { connectionMiddleware = { 'hello' } },
        -- the end-to-end tests' namespace: middleware order, refusals, filters
        ['/mw'] = { connectionMiddleware = { 'trace', 'auth' }, packetMiddleware = { 'filter' } },
      },
    },
    cluster = { listen = { port = 3000 } },
    logger = { level = 'INFO' },
    greeting = 'from default',
    middleware = { 'poweredBy' },
    poweredBy = { name = 'yolk-spec' },
  }
end
