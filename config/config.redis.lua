-- `yolk start --env redis` (or YOLK_ENV=redis): rooms live in Redis, as in the egg-socket.io
-- tutorial: room <name> exists while the key `room:<name>` does (`redis-cli set room:demo 1`).
-- REDIS_URL picks the server (default redis://127.0.0.1:6379).
return {
  redis = {
    client = { url = os.getenv('REDIS_URL') or 'redis://127.0.0.1:6379' },
  },
}
