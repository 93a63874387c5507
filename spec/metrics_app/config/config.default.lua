-- The fixture app of spec/e2e/metrics.test.mjs: config.metrics on, and events that make
-- every figure move. YOLK_TEST_REDIS_PORT (the cluster tests' redis-server) turns on the
-- Redis adapter for `yolk start --workers N`; YOLK_TEST_MAX_BUFFERED sets maxBufferedBytes
-- (a slow client is cut sooner); YOLK_TEST_TRANSPORTS a single transport.
return function()
  local redis_port = tonumber(os.getenv('YOLK_TEST_REDIS_PORT') or '')
  local transports = os.getenv('YOLK_TEST_TRANSPORTS')
  return {
    logger = { level = os.getenv('YOLK_TEST_LOG_LEVEL') or 'INFO', file = false },
    metrics = { enable = true, path = os.getenv('YOLK_TEST_METRICS_PATH') or '/metrics' },
    io = {
      init = {
        pingInterval = 1000,
        pingTimeout = 2000,
        maxBufferedBytes = os.getenv('YOLK_TEST_MAX_BUFFERED'),
        transports = transports and { transports } or nil,
      },
      namespace = { ['/'] = {}, ['/chat'] = {} },
      redis = redis_port and { host = '127.0.0.1', port = redis_port } or nil,
    },
  }
end
