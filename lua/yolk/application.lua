-- Loading a whole application into one "generation": config, extensions,
-- services, controllers, middleware, router. A generation is a plain object
-- that the runtime points at; nothing in it refers to live connections, so a
-- later reload can build a new one next to the running one and swap the
-- runtime's pointer in one assignment (a failed load leaves the old one).
local fs = require('yolk.fs')
local loader = require('yolk.loader')
local config_mod = require('yolk.config')
local controller = require('yolk.controller')
local compose = require('yolk.compose')
local router_mod = require('yolk.router')
local logger_mod = require('yolk.logger')
local context = require('yolk.context')
local config_check = require('yolk.config_check')
local errors = require('yolk.errors')

local M = {}

local App = {}
App.__index = App
M.App = App

-- The app's name: package.json's "name" (read with the JSON reader), else
-- the folder's.
local function app_name(baseDir)
  local text = fs.read(fs.join(baseDir, 'package.json'))
  local pkg = text and require('yolk.core').json_decode(text)
  if type(pkg) == 'table' and type(pkg.name) == 'string' and pkg.name ~= '' then return pkg.name end
  return baseDir:match('([^/]+)/*$') or 'app'
end

function M.app_info(baseDir, env)
  return {
    name = app_name(baseDir),
    baseDir = baseDir,
    env = env,
    root = (env == 'local' or env == 'unittest') and baseDir or (os.getenv('HOME') or baseDir),
    HOME = os.getenv('HOME'),
  }
end

local function fail(message, file) error(loader.load_error(message, file), 0) end

-- Load a file that returns a table or function(app) -> table.
local function load_extension(app, path)
  if not fs.is_file(path) then return nil end
  local v = loader.load_file(path)
  if type(v) == 'function' then v = v(app) end
  if v ~= nil and type(v) ~= 'table' then fail(path .. ': must return a table', path) end
  return v
end

local SHAPE = '  return function(app)\n    return function(ctx, next) ... end\n  end'
local MUST = 'a middleware file returns a function that takes app and returns the middleware:\n' .. SHAPE

-- Middleware files return function(app[, options]) -> function(ctx, next).
local function middleware_factories(dir, baseDir)
  return loader.load_tree(dir, function(value, path)
    if type(value) ~= 'function' then
      fail(('%s: returns a %s; %s'):format(errors.relative(path, baseDir), type(value), MUST), path)
    end
    return { factory = value, path = path }
  end)
end

-- A file that returns the middleware itself (function(ctx, next)) instead
-- of its factory: its parameters say so.
local function looks_like_middleware(fn)
  if type(fn) ~= 'function' then return false end
  local p1, p2 = debug.getlocal(fn, 1), debug.getlocal(fn, 2)
  return p1 == 'ctx' or p2 == 'next'
end

-- Make the middleware of a file: call its factory with app (and the
-- options config[name]). A factory that fails, or returns nothing callable,
-- stops the load with the shape the file must have.
local function instantiate(app, entry, options, what)
  local rel = errors.relative(entry.path, app.baseDir)
  local f = entry.factory
  local itself = looks_like_middleware(f)
  local must = MUST
  local ok, mw = xpcall(f, errors.traceback, app, options)
  if not ok then
    if itself then
      fail(('%s: returns the middleware itself, function(ctx, next), which fails when called with app (%s); %s')
        :format(rel, errors.bug_message(mw, app.baseDir), must), entry.path)
    end
    fail(('%s: error while creating middleware: %s'):format(rel, errors.details(mw, app.baseDir)), entry.path)
  end
  local mt = type(mw) == 'table' and getmetatable(mw)
  if type(mw) ~= 'function' and not (mt and mt.__call) then
    fail(('%s: %scalled with app it returned %s, not function(ctx, next) (%s); %s'):format(rel,
      itself and 'returns the middleware itself, function(ctx, next): ' or '', type(mw), what, must), entry.path)
  end
  return mw
end

-- opts: baseDir, env, port, runtime (shared; may be nil in tests)
function M.load(opts)
  local baseDir = fs.realpath(opts.baseDir or '.')
  if not baseDir or not fs.is_dir(baseDir) then
    fail('baseDir ' .. tostring(opts.baseDir) .. ' is not a directory')
  end
  local env = opts.env
  local info = M.app_info(baseDir, env)
  local config, sources = config_mod.load(info)
  local configdir = fs.join(baseDir, 'config')
  local warnings = config_check.check(config, sources, configdir)
  if opts.port then config.cluster.listen.port = tonumber(opts.port) end

  local app = setmetatable({
    name = info.name, baseDir = baseDir, env = env, info = info, config = config,
    runtime = opts.runtime, loadedAt = os.time(),
    -- app.shared survives reloads (one table per process): the place for
    -- in-memory state that must outlive a generation
    shared = opts.shared or {},
  }, App)
  app.logger = logger_mod.new(app.name)
  app.coreLogger = logger_mod.yolk
  for _, w in ipairs(warnings) do app.coreLogger:warn('%s', w) end
  local appdir = fs.join(baseDir, 'app')

  -- config.redis -> app.redis (yolk.redis: the clients outlive a reload)
  local rok, rerr = pcall(require('yolk.redis').attach, app)
  if not rok then fail(config_check.file_of(sources, 'redis') .. tostring(rerr), configdir) end

  -- require('app.lib.x') finds the application's own modules.
  local p = fs.join(baseDir, '?.lua') .. ';' .. fs.join(baseDir, '?/init.lua')
  if not package.path:find(p, 1, true) then package.path = p .. ';' .. package.path end

  -- extensions
  app.helpers = load_extension(app, fs.join(appdir, 'extend/helper.lua')) or {}
  app.context_proto = load_extension(app, fs.join(appdir, 'extend/context.lua'))
  local appext = load_extension(app, fs.join(appdir, 'extend/application.lua'))
  if appext then for k, v in pairs(appext) do app[k] = v end end

  -- services (raw: classes are instantiated per ctx); looking up a name
  -- that has no file raises, naming the file it would be
  app.services = loader.load_tree(fs.join(appdir, 'service'), nil, nil,
    { kind = 'service', folder = 'app/service' })
  -- controllers: class methods become fn(ctx) wrappers
  local bind = function(v) return controller.bind(v) end
  app.controller = loader.load_tree(fs.join(appdir, 'controller'), bind, nil,
    { kind = 'controller', folder = 'app/controller' })

  -- Socket.IO side
  local io = require('yolk.io')
  app.io = io.view(app)
  app.io.controller = loader.load_tree(fs.join(appdir, 'io/controller'), bind, nil,
    { kind = 'controller', folder = 'app/io/controller' })
  local io_factories = middleware_factories(fs.join(appdir, 'io/middleware'), baseDir)
  app.io.middleware = {}
  for name, entry in pairs(io_factories) do
    if not loader.is_dir_node(entry) then
      app.io.middleware[name] = instantiate(app, entry, config[name], 'io middleware ' .. name)
    end
  end
  app.ioRoutes = {}
  app.ioChains = {}
  local function known(t)
    local names = {}
    for k, v in pairs(t) do if not loader.is_dir_node(v) then names[#names + 1] = k end end
    table.sort(names)
    return #names > 0 and table.concat(names, ', ') or 'none'
  end
  for nspname, ncfg in pairs(config.io.namespace or {}) do
    local chains = {}
    for _, kind in ipairs { 'connectionMiddleware', 'packetMiddleware' } do
      local list = {}
      for i, name in ipairs(ncfg[kind] or {}) do
        local mw = type(name) == 'function' and name or app.io.middleware[name]
        if not mw then
          config_check.fail(sources, { 'io', 'namespace', nspname, kind },
            ("unknown middleware '%s' (expected app/io/middleware/%s.lua; known: %s)")
              :format(tostring(name), tostring(name), known(app.io.middleware)), tostring(name), configdir)
        end
        list[i] = mw
      end
      -- an empty chain is no chain: packets go straight to their route, and
      -- clients are admitted at once (io/runtime.lua)
      if #list > 0 then
        chains[kind] = compose(list)
        chains[kind .. 'List'] = list
      end
    end
    app.ioChains[nspname] = chains
    app.io:of(nspname) -- the namespace exists even without routes
  end

  -- HTTP middleware: config.middleware = { 'name' } from app/middleware/*.lua
  local http_factories = middleware_factories(fs.join(appdir, 'middleware'), baseDir)
  local http_list = {}
  for i, name in ipairs(config.middleware or {}) do
    local entry = rawget(http_factories, name)
    if not entry or loader.is_dir_node(entry) then
      config_check.fail(sources, { 'middleware' }, ("unknown middleware '%s' (expected app/middleware/%s.lua; known: %s)")
        :format(name, name, known(http_factories)), name, configdir)
    end
    http_list[i] = instantiate(app, entry, config[name], 'middleware ' .. name)
  end
  app.httpChain = compose(http_list)
  app.router = router_mod.new({ resolve = function(dotted) return loader.lookup(app.controller, dotted) end })

  -- app.lua (egg's app.js): function(app), or a table of boot hooks
  -- { didLoad = fn(app), serverDidReady = fn(app) }. didLoad runs once the
  -- files are loaded (before the router); serverDidReady after listen, in a
  -- coroutine (it may wait).
  local hpath = fs.join(baseDir, 'app.lua')
  if fs.is_file(hpath) then
    local hooks = loader.load_file(hpath)
    if type(hooks) == 'function' then hooks = { didLoad = hooks } end
    if type(hooks) ~= 'table' then fail(hpath .. ': must return function(app) or a table of hooks', hpath) end
    app.hooks = hooks
    if hooks.didLoad then
      local ok, err = xpcall(hooks.didLoad, function(e)
        return loader.load_error(('error in %s: %s'):format(hpath,
          debug.traceback(type(e) == 'table' and tostring(e.message or e) or tostring(e), 2)), hpath)
      end, app)
      if not ok then error(err, 0) end
    end
  end

  -- app/router.lua returns function(app)
  local rpath = fs.join(appdir, 'router.lua')
  if fs.is_file(rpath) then
    local fn = loader.load_file(rpath)
    if type(fn) ~= 'function' then fail(rpath .. ': must return function(app)', rpath) end
    local ok, err = xpcall(fn, function(e)
      if loader.is_load_error(e) then return e end
      return loader.load_error(('error in %s: %s'):format(rpath,
        debug.traceback(type(e) == 'table' and tostring(e.message or e) or tostring(e), 2)), rpath)
    end, app)
    if not ok then error(err, 0) end
  end
  return app
end

-- The composed chains for a namespace: connectionMiddleware and
-- packetMiddleware, each only when there is some.
local no_chains = {}
function App:chains(nspname)
  return self.ioChains[nspname] or no_chains
end

-- A ctx for code outside requests: app:createAnonymousContext().
function App:createAnonymousContext()
  return context.anonymous(self)
end

return M
