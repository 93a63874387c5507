-- The benchmark app (bench/run.mjs starts it with `yolk start --baseDir bench/app --port P`).
-- Same settings as bench/node_server.mjs: long ping interval so heartbeats do not show up in
-- the measurements, logs at WARN so the log sink costs nothing per packet. Both transports are
-- on (the polling phase uses long-polling only; the others connect with WebSocket directly).
--
-- YOLK_BENCH_MODE=mw (bench/run.mjs sets it for the phases that need it) puts the demo-style
-- connection middleware (app/io/middleware/member.lua) on '/'; unset, '/' has none.
--
-- YOLK_BENCH_REDIS_URL=redis://127.0.0.1:PORT (bench/run.mjs sets it for the `cluster` phase,
-- like bench/node_server.mjs's @socket.io/redis-adapter) turns on the Redis adapter with the
-- default key 'socket.io'; unset, the server is alone (in-memory adapter), as in every other phase.
--
-- YOLK_BENCH_METRICS=1 turns config.metrics on (the endpoint and its event loop lag watcher; the
-- counters count either way), to measure what metrics cost.
return function(appInfo)
  local mw = os.getenv('YOLK_BENCH_MODE') == 'mw'
  local redis = os.getenv('YOLK_BENCH_REDIS_URL')
  if redis == '' then redis = nil end
  return {
    cluster = { listen = { port = 7001, hostname = '127.0.0.1' } },
    logger = { level = 'WARN' },
    metrics = { enable = os.getenv('YOLK_BENCH_METRICS') == '1' },
    io = {
      init = {
        pingInterval = 60000,
        pingTimeout = 60000,
        maxHttpBufferSize = 1e6,
        clientDistDir = false,
      },
      namespace = {
        ['/'] = { connectionMiddleware = mw and { 'member' } or {}, packetMiddleware = {} },
      },
      redis = redis and { url = redis, key = 'socket.io' } or nil,
    },
  }
end
