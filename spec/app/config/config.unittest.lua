-- merged over config.default.lua when --env unittest (or YOLK_ENV=unittest)
local n = 0
return {
  greeting = 'from unittest',
  io = {
    -- socket ids made by the app (v5 connections; egg-socket.io's generateId)
    generateId = function(handshake)
      n = n + 1
      return ('u-%d-%d'):format(n, math.random(1e9))
    end,
  },
}
