-- two clients on two databases of the same server; default applies to both
return {
  redis = {
    default = { url = os.getenv('YOLK_TEST_REDIS_URL'), connectTimeout = 500 },
    clients = {
      cache = { db = 1, connectionName = 'yolk-cache' },
      queue = { db = 2, connectionName = 'yolk-queue' },
    },
  },
}
