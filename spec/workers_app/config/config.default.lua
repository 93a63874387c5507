-- The fixture app of spec/e2e/cluster.test.mjs (`yolk start --workers N`).
-- The test starts its own redis-server and says where through the
-- environment, as it does the heartbeat and the transports.
return function(appInfo)
  local redis_port = tonumber(os.getenv('YOLK_TEST_REDIS_PORT'))
  local transports = os.getenv('YOLK_TEST_TRANSPORTS')
  return {
    io = {
      init = {
        pingInterval = tonumber(os.getenv('YOLK_TEST_PING_INTERVAL')) or 1000,
        pingTimeout = 5000,
        transports = transports and { transports } or nil,
        cors = { origin = '*' },
      },
      namespace = { ['/'] = { connectionMiddleware = {}, packetMiddleware = {} } },
      redis = redis_port and { host = '127.0.0.1', port = redis_port } or nil,
    },
    logger = { level = os.getenv('YOLK_TEST_LOG_LEVEL') or 'INFO', file = false },
  }
end
