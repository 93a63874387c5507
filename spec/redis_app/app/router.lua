-- Routes that run Redis commands through app.redis and answer with what came back.
local yolk = require('yolk')

-- A reply as JSON can carry it: { value, err, type } (type is the Lua type, 'nil' for nil).
local function result(v, err)
  return { value = v == nil and yolk.null or v, err = err == nil and yolk.null or err, type = type(v) }
end

local function client_of(app, name)
  if name == nil or name == '' then return app.redis end
  return app.redis.clients[name]
end

return function(app)
  app.router:get('/hello/ready', function(ctx) ctx.body = 'ready' end)

  -- POST /call { args = { 'set', 'k', 'v' }, client = name|nil, raw = bool }: as a method
  -- (app.redis:set('k', 'v')) or, with raw, through app.redis:call('set', 'k', 'v').
  app.router:post('/call', function(ctx)
    local body = ctx.request.body
    local client = client_of(app, body.client)
    local args = body.args
    local t0 = require('yolk.core').hrtime()
    local v, err
    if body.raw then
      v, err = client:call(unpack(args))
    else
      v, err = client[args[1]](client, unpack(args, 2))
    end
    local r = result(v, err)
    r.ms = (require('yolk.core').hrtime() - t0) / 1e6
    ctx.body = r
  end)

  -- Binary values both ways: a string with every byte value, and a buffer argument.
  app.router:get('/binary', function(ctx)
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local all = table.concat(bytes)
    local ok1 = app.redis:set('bin:str', all)
    local got1 = app.redis:get('bin:str')
    local ok2 = app.redis:set('bin:buf', yolk.buffer('\0\1\2\255'))
    local got2 = app.redis:get('bin:buf')
    local len = app.redis:strlen('bin:str')
    ctx.body = { set = ok1 .. ',' .. ok2, same = got1 == all, len = len, buf = got2 == '\0\1\2\255' }
  end)

  -- Misuse raises (with a message saying what was wrong).
  app.router:get('/misuse', function(ctx)
    local out = {}
    for i, fn in ipairs {
      function() return app.redis:set('k', {}) end,
      function() return app.redis:set('k', true) end,
      function() return app.redis:call(42) end,
      function() return app.redis:pipeline():set('k', function() end) end,
      function() return app.redis:subscribe('news') end,
    } do
      local ok, err = pcall(fn)
      out[i] = ok and 'no error' or tostring(err)
    end
    ctx.body = out
  end)

  -- A pipeline of mixed results.
  app.router:get('/pipeline', function(ctx)
    local p = app.redis:pipeline()
    p:del('p:n', 'p:l')
    p:incr('p:n'):incrby('p:n', 10):get('p:missing'):rpush('p:l', 'a', 'b'):lrange('p:l', 0, -1):incr('p:l')
    local res, err = p:exec()
    ctx.body = { res = res or yolk.null, err = err or yolk.null }
  end)

  -- config.redis.clients: app.redis is the set of clients, not a client.
  app.router:get('/container', function(ctx)
    local ok, err = pcall(function() local v = app.redis:set('k', 'v') return v end)
    ctx.body = {
      raised = not ok and tostring(err) or yolk.null,
      get = app.redis.get('cache') == app.redis.clients.cache and app.redis:get('queue') == app.redis.clients.queue,
      names = { tostring(app.redis.clients.cache), tostring(app.redis.clients.queue) },
    }
  end)

  app.router:get('/status', function(ctx)
    ctx.body = { status = app.redis:status(), tostring = tostring(app.redis) }
  end)
end
