-- The benchmark app (bench/run.mjs starts it with `yolk start --baseDir bench/app --port P`).
-- Same settings as bench/node_server.mjs: long ping interval so heartbeats do not show up in
-- the measurements, no HTTP long-polling needed (the bench clients speak WebSocket directly),
-- logs at WARN so the log sink costs nothing per packet.
return function(appInfo)
  return {
    cluster = { listen = { port = 7001, hostname = '127.0.0.1' } },
    logger = { level = 'WARN' },
    io = {
      init = {
        pingInterval = 60000,
        pingTimeout = 60000,
        maxHttpBufferSize = 1e6,
        clientDistDir = false,
      },
      namespace = {
        ['/'] = { connectionMiddleware = {}, packetMiddleware = {} },
      },
    },
  }
end
