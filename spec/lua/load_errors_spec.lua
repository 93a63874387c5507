-- Mistakes a newcomer makes while writing an app (issue 13, items 3 to 5):
-- the load fails with a message that names the config key and file, the
-- missing controller or service file, or the shape a middleware file must
-- have. Each test writes a small app into a temporary folder.
local application = require('yolk.application')
local loader = require('yolk.loader')
local logger = require('yolk.logger')
local core = require('yolk.core')

local tmp_root
local function tmp_app(files)
  if not tmp_root then
    local name = os.tmpname()
    os.remove(name)
    tmp_root = name .. '-yolk-load-errors'
    core.fs_mkdir(tmp_root)
  end
  local dir = ('%s/app%d'):format(tmp_root, math.random(1e9))
  for rel, text in pairs(files) do
    local path = dir .. '/' .. rel
    require('yolk.fs').mkdirp(path:match('^(.*)/[^/]*$'))
    local f = assert(io.open(path, 'w'))
    f:write(text)
    f:close()
  end
  return dir
end

-- The LoadError message of loading the app made of files (nil if it loads).
local function load_error(files, env)
  local dir = tmp_app(files)
  local ok2, err = pcall(application.load, { baseDir = dir, env = env or 'prod' })
  if ok2 then return nil end
  ok(loader.is_load_error(err), 'a LoadError: ' .. tostring(err))
  return err.message, err
end

local function config(text) return { ['config/config.default.lua'] = text } end

describe('config mistakes name the key and the file', function()
  it("a namespace without its leading '/'", function()
    local msg = load_error(config([[
return {
  io = {
    namespace = {
      live = { connectionMiddleware = {} },
    },
  },
}
]]))
    eq(msg, "config/config.default.lua:4: config.io.namespace['live']: a namespace name starts with '/' (did you mean '/live'?)")
  end)

  it('the env file that set the key is the one named', function()
    local msg = load_error({
      ['config/config.default.lua'] = "return { io = { namespace = { ['/'] = {} } } }\n",
      ['config/config.prod.lua'] = "return {\n  io = { namespace = { ['chat'] = {} } },\n}\n",
    })
    eq(msg, "config/config.prod.lua:2: config.io.namespace['chat']: a namespace name starts with '/' (did you mean '/chat'?)")
  end)

  it('io.init option types', function()
    local cases = {
      { 'pingInterval = "25s"', 'config.io.init.pingInterval: must be a number, got string "25s"' },
      { 'pingTimeout = -1', 'config.io.init.pingTimeout: must be between 0 and 4000000000, got -1' },
      { 'allowEIO3 = "false"', 'config.io.init.allowEIO3: must be a boolean, got string "false"' },
      { "transports = { 'websockets' }", "config.io.init.transports[1]: a transport is 'polling' or 'websocket', got \"websockets\"" },
      { "transports = 'websocket'", "config.io.init.transports: must be a list of transports, e.g. { 'polling', 'websocket' }, got string \"websocket\"" },
      { "maxHttpBufferSize = '1 megabyte'", 'config.io.init.maxHttpBufferSize: must be a size in bytes' },
      { "path = 'socket.io'", "config.io.init.path: a path starts with '/', got \"socket.io\"" },
      { 'cors = { origin = 5 }', 'config.io.init.cors.origin: must be a string, a list of strings or a boolean, got number 5' },
    }
    for _, c in ipairs(cases) do
      local msg = load_error(config('return {\n  io = {\n    init = { ' .. c[1] .. ' },\n  },\n}\n'))
      ok(msg and msg:find('config/config.default.lua:3: ' .. c[2], 1, true), c[1] .. ' -> ' .. tostring(msg))
    end
  end)

  it('an io.init option yolk does not know is warned about, with the likely name', function()
    local logs = {}
    logger.set_sink(function(level, comp, m) logs[#logs + 1] = { level = level, msg = m } end)
    local msg = load_error(config('return { io = { init = { pingIntervall = 100, serveClient = false } } }\n'))
    eq(msg, nil)
    local warned = {}
    for _, l in ipairs(logs) do if l.level == 30 then warned[#warned + 1] = l.msg end end
    eq(warned, {
      "config/config.default.lua:1: config.io.init.pingIntervall: not an option yolk knows, ignored; did you mean 'pingInterval'?",
      'config/config.default.lua:1: config.io.init.serveClient: not an option yolk knows, ignored',
    })
  end)

  it('cluster.listen.port', function()
    local msg = load_error(config("return {\n  cluster = {\n    listen = { port = '7001' },\n  },\n}\n"))
    eq(msg, 'config/config.default.lua:3: config.cluster.listen.port: must be a port number (0 to 65535), got string "7001"')
    msg = load_error(config('config = {}\nconfig.cluster = { listen = { port = 70010 } }\nreturn config\n'))
    eq(msg, 'config/config.default.lua:2: config.cluster.listen.port: must be a port number (0 to 65535), got number 70010')
  end)

  it('namespace settings: a misspelt key, a name instead of a list, an unknown middleware', function()
    local msg = load_error(config("return { io = { namespace = {\n  ['/'] = { connectMiddleware = { 'auth' } },\n} } }\n"))
    eq(msg, "config/config.default.lua:2: config.io.namespace['/'].connectMiddleware: not a namespace setting "
      .. "(a namespace has connectionMiddleware and packetMiddleware); did you mean 'connectionMiddleware'?")
    msg = load_error(config("return { io = { namespace = {\n  ['/'] = { connectionMiddleware = 'auth' },\n} } }\n"))
    eq(msg, "config/config.default.lua:2: config.io.namespace['/'].connectionMiddleware: must be a list of "
      .. "middleware names, e.g. { 'auth' }, got string \"auth\"")
    msg = load_error({
      ['config/config.default.lua'] = "return { io = { namespace = {\n  ['/'] = {\n    connectionMiddleware = { 'auth', 'nosuch' },\n  },\n} } }\n",
      ['app/io/middleware/auth.lua'] = 'return function(app) return function(ctx, next) next() end end\n',
    })
    eq(msg, "config/config.default.lua:3: config.io.namespace['/'].connectionMiddleware: unknown middleware 'nosuch' "
      .. '(expected app/io/middleware/nosuch.lua; known: auth)')
  end)

  it('other keys yolk reads: middleware, static, logger, bodyParser, io.generateId', function()
    local cases = {
      { "middleware = 'gzip'", "config.middleware: must be a list of names of files in app/middleware/, e.g. { 'gzip' }, got string \"gzip\"" },
      { "static = { prefix = 'public' }", "config.static.prefix: a URL prefix starts with '/', got \"public\"" },
      { "logger = { level = 'VERBOSE' }", "config.logger.level: must be 'DEBUG', 'INFO', 'WARN', 'ERROR' or 'NONE', got string \"VERBOSE\"" },
      { "bodyParser = { jsonLimit = 'lots' }", 'config.bodyParser.jsonLimit: must be a size in bytes' },
      { "io = { generateId = 'uuid' }", 'config.io.generateId: must be a function(handshake) returning an id, got string "uuid"' },
    }
    for _, c in ipairs(cases) do
      local msg = load_error(config('return {\n  ' .. c[1] .. ',\n}\n'))
      ok(msg and msg:find('config/config.default.lua:2: ' .. c[2], 1, true), c[1] .. ' -> ' .. tostring(msg))
    end
  end)

  it('config.io.redis: the Redis adapter options, streams ones under the classic adapter warned about', function()
    local cases = {
      { "adapter = 'stream'", "config.io.redis.adapter: 'classic' (pub/sub, @socket.io/redis-adapter) or 'streams' (Redis Streams, @socket.io/redis-streams-adapter), got string \"stream\"" },
      { "adapter = 'streams', maxLen = 0", 'config.io.redis.maxLen: must be between 1 and 4000000000, got 0' },
      { "adapter = 'streams', streamName = ''", 'config.io.redis.streamName: must be a non-empty string, got string ""' },
      { "adapter = 'streams', blockTimeInMs = '5s'", 'config.io.redis.blockTimeInMs: must be a number, got string "5s"' },
      { "streamname = 'x'", "config.io.redis.streamname: not an option of the Redis adapter; did you mean 'streamName'?" },
      { "port = 'six'", 'config.io.redis.port: must be a number, got string "six"' },
    }
    for _, c in ipairs(cases) do
      local msg = load_error(config('return {\n  io = {\n    redis = { ' .. c[1] .. ' },\n  },\n}\n'))
      ok(msg and msg:find('config/config.default.lua:3: ' .. c[2], 1, true), c[1] .. ' -> ' .. tostring(msg))
    end
    local logs = {}
    logger.set_sink(function(level, comp, m) logs[#logs + 1] = { level = level, msg = m } end)
    eq(load_error(config("return { io = { redis = { url = 'redis://h', maxLen = 10, key = 'k' } } }\n")), nil)
    eq(load_error(config("return { io = { redis = { adapter = 'streams', key = 'k', readCount = 5 } } }\n")), nil)
    local warned = {}
    for _, l in ipairs(logs) do if l.level == 30 then warned[#warned + 1] = l.msg end end
    eq(warned, {
      "config/config.default.lua:1: config.io.redis.maxLen: an option of the streams adapter, ignored by the classic one (adapter = 'streams' selects it)",
      'config/config.default.lua:1: config.io.redis.key: an option of the classic adapter, ignored by the streams one',
    })
  end)

  it('config.lua: memoryLimit, blockedWarning, blockedRestart', function()
    local cases = {
      { "lua = 1", "config.lua: must be a table such as { memoryLimit = '1gb', blockedWarning = 1000 }, got number 1" },
      { "lua = { memoryLimit = 'lots' }", 'config.lua.memoryLimit: must be a size in bytes' },
      { "lua = { memoryLimit = '4mb' }", 'config.lua.memoryLimit: must be at least 8 MB (the framework itself needs a few), got "4mb"' },
      { "lua = { memoryLimit = 1e6 }", 'config.lua.memoryLimit: must be at least 8 MB' },
      { "lua = { memoryLimit = '1e30gb' }", 'config.lua.memoryLimit: must be less than 1e18 bytes, got "1e30gb"' },
      { "lua = { blockedWarning = '1s' }", 'config.lua.blockedWarning: must be a number, got string "1s"' },
      { "lua = { blockedRestart = 500 }", 'config.lua.blockedRestart: must be 0 (off) or at least 1000 ms (the workers beat every 250 ms), got 500' },
      { "lua = { memorylimit = '1gb' }", "config.lua.memorylimit: not a setting of config.lua (blockedRestart, blockedWarning, memoryLimit); did you mean 'memoryLimit'?" },
    }
    for _, c in ipairs(cases) do
      local msg = load_error(config('return {\n  ' .. c[1] .. ',\n}\n'))
      ok(msg and msg:find('config/config.default.lua:2: ' .. c[2], 1, true), c[1] .. ' -> ' .. tostring(msg))
    end
    for _, good in ipairs { "lua = { memoryLimit = '64mb', blockedWarning = 0, blockedRestart = 0 }",
      "lua = { memoryLimit = 2 ^ 31, blockedWarning = 250, blockedRestart = 1000 }" } do
      eq(load_error(config('return {\n  ' .. good .. ',\n}\n')), nil)
    end
  end)

  it('config.metrics: enable, path (not under the Socket.IO path), nothing else', function()
    local cases = {
      { "metrics = true", "config.metrics: must be a table { enable = true, path = '/metrics' } or false, got boolean true" },
      { "metrics = { enable = 'yes' }", 'config.metrics.enable: must be a boolean, got string "yes"' },
      { "metrics = { path = 'metrics' }", "config.metrics.path: a URL path starts with '/' and has no query, got \"metrics\"" },
      { "metrics = { path = '/m?x=1' }", "config.metrics.path: a URL path starts with '/' and has no query" },
      { "metrics = { path = '/socket.io/metrics' }",
        'config.metrics.path: "/socket.io/metrics" is under the Socket.IO path "/socket.io" (config.io.init.path): choose another' },
      { "metrics = { enabled = true }", "config.metrics.enabled: not a metrics setting (enable, path); did you mean 'enable'?" },
    }
    for _, c in ipairs(cases) do
      local msg = load_error(config('return {\n  ' .. c[1] .. ',\n}\n'))
      ok(msg and msg:find('config/config.default.lua:2: ' .. c[2], 1, true), c[1] .. ' -> ' .. tostring(msg))
    end
    eq(load_error(config("return { metrics = { enable = true, path = '/internal/metrics' } }\n")), nil)
    eq(load_error(config("return { metrics = false }\n")), nil)
  end)

  it('config.redis: the messages of yolk.redis, with the file', function()
    local msg = load_error({ ['config/config.prod.lua'] = "return { redis = { client = { port = 'six' } } }\n" })
    eq(msg, 'config/config.prod.lua: config.redis.client.port must be a number, got string')
  end)
end)

describe('unknown controllers and services', function()
  local files = {
    ['app/io/controller/auction.lua'] = 'return { bid = function(ctx) end }\n',
    ['app/io/controller/chat.lua'] = 'return { say = function(ctx) end }\n',
    ['app/controller/home.lua'] = 'return { index = function(ctx) end }\n',
    ['app/service/lots.lua'] = 'return { all = function() return {} end }\n',
  }
  local function with(extra)
    local t = {}
    for k, v in pairs(files) do t[k] = v end
    for k, v in pairs(extra) do t[k] = v end
    return t
  end

  it('a socket controller that has no file: raised at the line of the router', function()
    local msg = load_error(with { ['app/router.lua'] =
      "return function(app)\n  local io = app.io\n  io:of('/'):route('boom', io.controller.opps.boom)\nend\n" })
    ok(msg:find("app/router.lua:3: no controller 'opps' (expected app/io/controller/opps.lua; known: auction, chat)", 1, true), msg)
  end)

  it('an HTTP controller; a sub-folder; a camelCase name', function()
    local msg = load_error(with { ['app/router.lua'] =
      "return function(app)\n  app.router:get('/', app.controller.hom.index)\nend\n" })
    ok(msg:find("app/router.lua:2: no controller 'hom' (expected app/controller/hom.lua; known: home)", 1, true), msg)
    msg = load_error(with {
      ['app/controller/admin/users.lua'] = 'return {}\n',
      ['app/router.lua'] = "return function(app)\n  app.router:get('/', app.controller.admin.userList.index)\nend\n" })
    ok(msg:find("no controller 'admin.userList' (expected app/controller/admin/userList.lua or "
      .. 'app/controller/admin/user_list.lua; known: users)', 1, true), msg)
  end)

  it('a service that has no file: raised at the line that asked for it', function()
    local dir = tmp_app(with {})
    local app = application.load { baseDir = dir, env = 'prod' }
    local ctx = app:createAnonymousContext()
    ok(ctx.service.lots.all)
    local err = raises(function() return ctx.service.lot.all end)
    ok(tostring(err):find("load_errors_spec.lua:%d+: no service 'lot' %(expected app/service/lot.lua; known: lots%)"), tostring(err))
  end)
end)

describe('a middleware file that returns the middleware itself', function()
  it('fails at load, saying what the file must return', function()
    local msg = load_error({
      ['config/config.default.lua'] = "return { io = { namespace = { ['/'] = { packetMiddleware = { 'filter' } } } } }\n",
      ['app/io/middleware/filter.lua'] = 'return function(ctx, next)\n  if ctx.packet[1] == "spam" then return end\n  next()\nend\n',
    })
    eq(msg, "app/io/middleware/filter.lua: returns the middleware itself, function(ctx, next), which fails when "
      .. "called with app (app/io/middleware/filter.lua:2: attempt to index field 'packet' (a nil value)); "
      .. 'a middleware file returns a function that takes app and returns the middleware:\n'
      .. '  return function(app)\n    return function(ctx, next) ... end\n  end')
  end)

  it('also when calling it with app does not fail but returns nothing callable', function()
    local msg = load_error({
      ['app/middleware/timing.lua'] = 'return function(ctx, next)\n  local t = os.clock()\nend\n',
      ['config/config.default.lua'] = "return { middleware = { 'timing' } }\n",
    })
    ok(msg:find('^app/middleware/timing.lua: returns the middleware itself, function%(ctx, next%): called with app '
      .. 'it returned nil, not function%(ctx, next%)'), msg)
    ok(msg:find('  return function(app)\n    return function(ctx, next) ... end\n  end', 1, true), msg)
  end)

  it('a file that returns something else than a function', function()
    local msg = load_error({ ['app/io/middleware/auth.lua'] = 'return { auth = true }\n' })
    eq(msg, 'app/io/middleware/auth.lua: returns a table; a middleware file returns a function that takes app and '
      .. 'returns the middleware:\n  return function(app)\n    return function(ctx, next) ... end\n  end')
  end)

  it('a factory with a bug of its own is reported as such', function()
    local msg = load_error({
      ['app/io/middleware/auth.lua'] = 'return function(app)\n  local secret = app.config.auth.secret\n  return function(ctx, next) next() end\nend\n',
    })
    ok(msg:find("^app/io/middleware/auth.lua: error while creating middleware: .*auth.lua:2: attempt to index field 'auth'"), msg)
  end)
end)

if tmp_root then os.execute("rm -rf '" .. tmp_root .. "'") end
