-- The fixture app of spec/e2e/cluster_redis.test.mjs: one node of a cluster sharing a
-- Redis server (config.io.redis). The test starts several with YOLK_TEST_REDIS_URL (the
-- test's redis-server), YOLK_TEST_NODE (this node's name, in answers) and optionally
-- YOLK_TEST_REDIS_KEY and YOLK_TEST_REQUESTS_TIMEOUT. YOLK_TEST_REDIS_ADAPTER=streams picks
-- the Redis Streams adapter (cluster_redis_streams.test.mjs), whose stream and channel
-- prefix are then YOLK_TEST_REDIS_KEY too. Without YOLK_TEST_REDIS_URL it is one node with
-- the in-memory adapter (spec/e2e/recovery.test.mjs runs it so).
return function()
  local url = os.getenv('YOLK_TEST_REDIS_URL')
  local key = os.getenv('YOLK_TEST_REDIS_KEY')
  local streams = os.getenv('YOLK_TEST_REDIS_ADAPTER') == 'streams'
  return {
    cluster = { listen = { port = 3002 } },
    http = {
      maxHeaderSize = os.getenv('YOLK_TEST_MAX_HEADER_SIZE'),
      headerTimeout = tonumber(os.getenv('YOLK_TEST_HEADER_TIMEOUT') or ''),
      keepAliveTimeout = tonumber(os.getenv('YOLK_TEST_KEEPALIVE_TIMEOUT') or ''),
    },
    logger = { level = os.getenv('YOLK_TEST_LOG_LEVEL') or 'INFO' },
    node = os.getenv('YOLK_TEST_NODE') or 'yolk',
    io = {
      init = {
        pingInterval = 1000,
        pingTimeout = 1000,
        maxBufferedBytes = os.getenv('YOLK_TEST_MAX_BUFFERED'),
        maxNamespaces = tonumber(os.getenv('YOLK_TEST_MAX_NAMESPACES') or ''),
        maxClientsPerAddress = tonumber(os.getenv('YOLK_TEST_MAX_CLIENTS_PER_ADDRESS') or ''),
        maxHandshakesPerSecond = tonumber(os.getenv('YOLK_TEST_MAX_HANDSHAKES') or ''),
        -- YOLK_TEST_RECOVERY_MS: connection state recovery on, with that maxDisconnectionDuration
        connectionStateRecovery = os.getenv('YOLK_TEST_RECOVERY_MS') and {
          maxDisconnectionDuration = tonumber(os.getenv('YOLK_TEST_RECOVERY_MS')),
          skipMiddlewares = os.getenv('YOLK_TEST_RECOVERY_SKIP') ~= '0',
        } or nil,
      },
      namespace = { ['/'] = { connectionMiddleware = { 'seen' } }, ['/chat'] = {} },
      redis = url and {
        url = url,
        adapter = streams and 'streams' or nil,
        key = not streams and key or nil,
        streamName = streams and key or nil,
        channelPrefix = streams and key or nil,
        blockTimeInMs = streams and tonumber(os.getenv('YOLK_TEST_BLOCK_MS') or '') or nil,
        requestsTimeout = tonumber(os.getenv('YOLK_TEST_REQUESTS_TIMEOUT') or ''),
      } or nil,
    },
  }
end
