-- The hot-reload fixture (spec/e2e/reload_dev.test.mjs copies it to a temp
-- directory, puts a free port below and edits the files while yolk dev runs).
local n = 0
return function(appInfo)
  return {
    cluster = { listen = { port = 7001, hostname = '127.0.0.1' } },
    greeting = 'greeting v1',
    io = {
      -- socket ids: the prefix shows which generation made them
      generateId = function(handshake)
        n = n + 1
        return 'v1-' .. n
      end,
      namespace = {
        ['/'] = { connectionMiddleware = { 'conn' }, packetMiddleware = { 'tag' } },
      },
    },
  }
end
