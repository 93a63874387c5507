-- merged over config.default.lua when --env unittest (or YOLK_ENV=unittest)
local n = 0
return {
  greeting = 'from unittest',
  io = {
    -- socket ids made by the app (v5 connections; egg-socket.io's generateId)
    generateId = function(handshake)
      n = n + 1
      local id = ('u-%d-%d'):format(n, math.random(1e9))
      -- what generateId saw, for the handshake-query test (Default:queries)
      _G.generate_id_seen = _G.generate_id_seen or {}
      _G.generate_id_seen[id] = handshake.query
      return id
    end,
  },
}
