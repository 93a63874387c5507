local loader = require('yolk.loader')
local config = require('yolk.config')
local application = require('yolk.application')
local controller = require('yolk.controller')
local FIX = SPEC_DIR .. '/fixtures'

describe('loader', function()
  it('turns file names into egg property names', function()
    eq(loader.camel('foo_bar.lua'), 'fooBar')
    eq(loader.camel('foo-bar-baz'), 'fooBarBaz')
    eq(loader.camel('FooBar.lua'), 'fooBar')
    eq(loader.camel('home'), 'home')
  end)

  it('loads a tree, nesting sub-folders', function()
    local tree = loader.load_tree(FIX .. '/app1/app/io/controller')
    ok(tree.chat, 'chat')
    ok(tree.sub.echoThing, 'sub.echoThing')
    ok(type(tree.sub.echoThing.ping) == 'function')
    ok(loader.is_dir_node(tree.sub))
    ok(not loader.is_dir_node(tree.sub.echoThing))
  end)

  it('a missing directory is an empty tree', function()
    local tree = loader.load_tree(FIX .. '/nope')
    eq(next(tree), nil)
  end)

  it('a syntax error names the file and the line', function()
    local err = raises(function() loader.load_file(FIX .. '/bad_syntax/app/router.lua') end)
    ok(loader.is_load_error(err))
    ok(err.message:find('bad_syntax/app/router.lua:3:', 1, true), err.message)
  end)

  it('a runtime error while loading names the file', function()
    local path = os.tmpname()
    local f = io.open(path, 'w'); f:write('local x = nil\nreturn x.y\n'); f:close()
    local err = raises(function() loader.load_file(path) end)
    os.remove(path)
    ok(err.message:find(path .. ':2:', 1, true), err.message)
  end)

  it('looks up dotted names', function()
    eq(loader.lookup({ a = { b = 3 } }, 'a.b'), 3)
    eq(loader.lookup({ a = 1 }, 'a.b.c'), nil)
  end)
end)

describe('config', function()
  it('deep-merges objects, arrays replace', function()
    local dst = { a = { x = 1, y = { 1, 2, 3 } }, s = 'old' }
    config.merge(dst, { a = { y = { 9 }, z = 2 }, s = 'new' })
    eq(dst, { a = { x = 1, y = { 9 }, z = 2 }, s = 'new' })
  end)

  it('does not write into the source tables', function()
    local src = { a = { x = 1 } }
    local dst = config.merge({}, src)
    config.merge(dst, { a = { y = 2 } })
    eq(src, { a = { x = 1 } })
  end)

  it('loads default then env, function(appInfo) form, with defaults', function()
    local info = application.app_info(FIX .. '/app1', 'unittest')
    local c = config.load(info)
    eq(c.keys, 'fixture-app-keys')
    eq(c.list, { 9 })
    eq(c.nested, { a = 1, b = { c = 2, d = 3 } })
    eq(c.cluster.listen.port, 7001)
    eq(c.io.init.pingInterval, 300)
    eq(c.io.init.path, '/socket.io')
  end)

  it('another env does not see unittest values', function()
    local c = config.load(application.app_info(FIX .. '/app1', 'prod'))
    eq(c.list, { 1, 2, 3 })
  end)
end)

describe('controller', function()
  it('class methods become per-call instances with ctx', function()
    local C = controller:extend()
    local seen = {}
    function C:hello(ctx) seen[#seen + 1] = self; return self.ctx == ctx and ctx.x end
    local bound = controller.bind(C)
    local ctx1, ctx2 = { x = 1 }, { x = 2 }
    eq(bound.hello(ctx1), 1)
    eq(bound.hello(ctx2), 2)
    ok(seen[1] ~= seen[2], 'fresh instance per call')
  end)

  it('inherits methods through extend', function()
    local A = controller:extend()
    function A:a() return 'a' end
    local B = A:extend()
    function B:b() return 'b' .. self:a() end
    local bound = controller.bind(B)
    eq(bound.b({}), 'ba')
    ok(bound.a)
    ok(not bound.extend and not bound.new)
  end)

  it('tables of functions stay as they are', function()
    local t = { f = function() end }
    eq(controller.bind(t), t)
  end)
end)

describe('application.load', function()
  it('loads the fixture app', function()
    local app = application.load { baseDir = FIX .. '/app1', env = 'unittest' }
    eq(app.name, 'fixture-app')
    ok(app.ioRoutes['/'].echo)
    ok(app.ioRoutes['/'].ping)
    ok(app.io.nsps['/custom'], '/custom registered')
    ok(app.router:match('GET', '/home/3'))
    ok(app.testlog, 'extend/application')
    ok(app.helpers.shout)
  end)

  it('an unknown middleware name is an error naming it', function()
    local err = raises(function() application.load { baseDir = FIX .. '/bad_mw', env = 'unittest' } end)
    ok(err.message:find("unknown middleware 'nosuch'", 1, true), err.message)
  end)

  it('a syntax error in router.lua names the file and line', function()
    local err = raises(function() application.load { baseDir = FIX .. '/bad_syntax', env = 'unittest' } end)
    ok(err.message:find('router.lua:3:', 1, true), err.message)
  end)
end)

describe('boot', function()
  local boot = require('yolk.boot')
  it('env: --env, then YOLK_ENV, else local for dev and prod for start', function()
    eq(boot.env_for { command = 'start', env = 'test' }, 'test')
    local fromenv = os.getenv('YOLK_ENV')
    if fromenv and fromenv ~= '' then
      eq(boot.env_for { command = 'dev' }, fromenv)
    else
      eq(boot.env_for { command = 'dev' }, 'local')
      eq(boot.env_for { command = 'start' }, 'prod')
    end
  end)

  it('passes config.io.init through and adds generateId', function()
    local gen = function() return 'x' end
    local o = boot.sio_options { baseDir = '/nonexistent', io = { init = { pingInterval = 300, clientDistDir = false }, generateId = gen } }
    eq(o.pingInterval, 300)
    eq(o.generateId, gen)
    eq(o.clientDistDir, nil)
  end)

  it('config.io.redis: the classic adapter, or the streams one with its own options', function()
    local o = boot.sio_options { baseDir = '/nonexistent', io = { redis = { url = 'redis://h', key = 'k',
      auth_pass = 'pw', streamName = 'ignored' } } }
    eq(o.redis, { url = 'redis://h', key = 'k', password = 'pw' })
    o = boot.sio_options { baseDir = '/nonexistent', io = { redis = { adapter = 'streams', host = 'h', key = 'ignored',
      streamName = 's', maxLen = 10, readCount = 5, blockTimeInMs = 100, channelPrefix = 'c',
      sessionKeyPrefix = 'p:', requestsTimeout = 300 } } }
    eq(o.redis, { adapter = 'streams', host = 'h', streamName = 's', maxLen = 10, readCount = 5, blockTimeInMs = 100,
      channelPrefix = 'c', sessionKeyPrefix = 'p:', requestsTimeout = 300 })
  end)
end)

describe('context', function()
  local context = require('yolk.context')
  it('app/extend/context.lua methods, lazy service instances per ctx', function()
    local app = application.load { baseDir = FIX .. '/app1', env = 'unittest' }
    local ctx = context.socket_ctx(app, { id = 'S1', handshake = { query = { a = '1' } } })
    eq(ctx:who(), 'ctx of S1')
    eq(ctx.query, { a = '1' })
    local svc = ctx.service.userInfo
    ok(svc == ctx.service.userInfo, 'one instance per ctx')
    eq(svc:describe('y'), 'user y S1')
    local ctx2 = context.socket_ctx(app, { id = 'S2', handshake = {} })
    ok(ctx2.service.userInfo ~= svc, 'another ctx, another instance')
    eq(ctx.service.sub.plain.value(), 7)
    eq(ctx.helper.shout('a'), 'A!')
  end)
end)
