return {
  redis = {
    client = {
      url = os.getenv('YOLK_TEST_REDIS_URL'),
      connectionName = 'yolk-single',
      connectTimeout = 500,
    },
  },
}
