-- The fixture app of spec/e2e/redis_client.test.mjs: app.redis through HTTP routes.
-- Without an env file there is no Redis (app.redis is nil); --env single gives one
-- client, --env multi two named ones. YOLK_TEST_REDIS_URL is the test's redis-server.
return {
  cluster = { listen = { port = 3001 } },
  logger = { level = 'INFO' },
}
