-- Configuration of the chat demo (the repository root is a yolk application).
-- config.<env>.lua files deep-merge over this one.
return function(appInfo)
  local config = {}

  config.cluster = { listen = { port = 7001, hostname = '127.0.0.1' } }

  config.io = {
    init = {
      -- The egg-socket.io tutorial's page loads the socket.io 2.x client (Engine.IO v3):
      -- accept it so that page works against this server unchanged.
      allowEIO3 = true,
      -- Voice messages travel as binary attachments: room for about a minute of Opus.
      maxHttpBufferSize = 2e6,
    },
    namespace = {
      ['/'] = {
        connectionMiddleware = { 'auth' },
        packetMiddleware = {},
      },
    },
  }

  -- Rooms that exist when no Redis is configured (app/service/room.lua). With
  -- config.redis set, a room exists when the key `room:<name>` does, as in the tutorial.
  config.chat = { rooms = { 'demo' } }

  return config
end
