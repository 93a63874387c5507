-- The fixture app of spec/e2e/cluster_redis.test.mjs: one node of a cluster sharing a
-- Redis server (config.io.redis). The test starts several with YOLK_TEST_REDIS_URL (the
-- test's redis-server), YOLK_TEST_NODE (this node's name, in answers) and optionally
-- YOLK_TEST_REDIS_KEY and YOLK_TEST_REQUESTS_TIMEOUT.
return function()
  local url = os.getenv('YOLK_TEST_REDIS_URL')
  return {
    cluster = { listen = { port = 3002 } },
    logger = { level = os.getenv('YOLK_TEST_LOG_LEVEL') or 'INFO' },
    node = os.getenv('YOLK_TEST_NODE') or 'yolk',
    io = {
      init = { pingInterval = 1000, pingTimeout = 1000 },
      namespace = { ['/'] = {}, ['/chat'] = {} },
      redis = url and {
        url = url,
        key = os.getenv('YOLK_TEST_REDIS_KEY'),
        requestsTimeout = tonumber(os.getenv('YOLK_TEST_REQUESTS_TIMEOUT') or ''),
      } or nil,
    },
  }
end
