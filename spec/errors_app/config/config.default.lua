-- The fixture of spec/e2e/errors.test.mjs (issue 13): refusals and bugs in
-- connection middleware, packet middleware, controllers and HTTP handlers;
-- unrouted events. Run with `yolk start` and with `yolk dev`.
return {
  io = {
    init = { allowEIO3 = true },
    namespace = {
      ['/live'] = { connectionMiddleware = { 'auth' }, packetMiddleware = { 'filter' } },
    },
  },
  logger = { file = false },
}
