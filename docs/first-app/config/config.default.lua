-- config/config.default.lua
return {
  io = {
    namespace = {
      -- the namespace the clients connect to, and its connection middleware
      ['/auction'] = { connectionMiddleware = { 'auth' } },
    },
  },
}
