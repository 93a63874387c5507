-- The hot-reload fixture (spec/e2e/reload_dev.test.mjs copies it to a temp
-- directory, puts a free port below and edits the files while yolk dev runs).
return function(appInfo)
  return {
    cluster = { listen = { port = 7001, hostname = '127.0.0.1' } },
    greeting = 'greeting v1',
    io = {
      namespace = {
        ['/'] = { connectionMiddleware = { 'conn' }, packetMiddleware = { 'tag' } },
      },
    },
  }
end
