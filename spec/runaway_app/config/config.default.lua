-- The fixture of spec/e2e/runaway.test.mjs (issue 12, "Runaway application
-- code"): controllers and HTTP routes that allocate without end, block the
-- loop, recurse forever, raise values that are not strings, raise while
-- their error is described, or call coroutine.yield themselves. The test
-- sets the limits through the environment; under `--workers 2` it also
-- starts a redis-server of its own (config.io.redis).
return function(appInfo)
  local redis_port = tonumber(os.getenv('YOLK_TEST_REDIS_PORT'))
  return {
    lua = {
      memoryLimit = os.getenv('YOLK_TEST_MEMORY_LIMIT') or '64mb',
      blockedWarning = tonumber(os.getenv('YOLK_TEST_BLOCKED_WARNING')) or 200,
      blockedRestart = tonumber(os.getenv('YOLK_TEST_BLOCKED_RESTART')) or 10000,
    },
    io = {
      init = { pingInterval = 1000, pingTimeout = 3000 },
      namespace = { ['/'] = { connectionMiddleware = {}, packetMiddleware = {} } },
      redis = redis_port and { host = '127.0.0.1', port = redis_port } or nil,
    },
    logger = { file = false },
  }
end
