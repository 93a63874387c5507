-- Entry point called by the yolk executable:
--   require('yolk.boot').main{ command = 'dev'|'start', baseDir, port, env,
--                              workers, sticky, worker }
-- Loads the application (one generation), starts the HTTP and Socket.IO
-- server from its config and returns; the C side then runs the loop. With
-- `workers` it runs the cluster master instead (yolk.cluster); `worker` = K
-- makes this process worker K of a master (core/cluster.h).
local M = {}

-- app.shared: one table for the process, handed to every generation.
M.shared = {}

local function die(msg)
  io.stderr:write('yolk: ' .. msg .. '\n')
  io.stderr:flush()
  os.exit(1)
end

-- The repository (or install) directory that holds lua/yolk/.
function M.framework_dir()
  local src = debug.getinfo(1, 'S').source
  local dir = src:match('^@(.*)/yolk/boot%.lua$')
  return dir
end

-- <repo>/node_modules/socket.io-client/dist, when it exists.
function M.client_dist_dir(baseDir)
  local fs = require('yolk.fs')
  local candidates = { fs.join(baseDir, 'node_modules/socket.io-client/dist') }
  local fw = M.framework_dir()
  if fw then candidates[#candidates + 1] = fs.join(fw, '../node_modules/socket.io-client/dist') end
  for _, c in ipairs(candidates) do
    if fs.is_file(fs.join(c, 'socket.io.js')) then return fs.realpath(c) end
  end
  return nil
end

-- The Socket.IO options for core from config.io.init (egg-socket.io names).
function M.sio_options(config)
  local init = config.io.init or {}
  local opts = {}
  for k, v in pairs(init) do opts[k] = v end
  if opts.clientDistDir == nil then opts.clientDistDir = M.client_dist_dir(config.baseDir) end
  if opts.clientDistDir == false then opts.clientDistDir = nil end
  if config.io.generateId then opts.generateId = config.io.generateId end
  -- config.io.redis: a Redis adapter, the classic (pub/sub) one or with
  -- adapter = 'streams' the Redis Streams one (egg-socket.io's key names
  -- accepted: auth_pass for password)
  local r = config.io.redis
  if r then
    opts.redis = {
      adapter = r.adapter, url = r.url, host = r.host, port = r.port, username = r.username,
      password = r.password or r.auth_pass, db = r.db, requestsTimeout = r.requestsTimeout,
      connectTimeout = r.connectTimeout,
    }
    if r.adapter == 'streams' then
      opts.redis.streamName, opts.redis.maxLen, opts.redis.readCount = r.streamName, r.maxLen, r.readCount
      opts.redis.blockTimeInMs, opts.redis.channelPrefix = r.blockTimeInMs, r.channelPrefix
      opts.redis.sessionKeyPrefix = r.sessionKeyPrefix
    else
      opts.redis.key = r.key
    end
  end
  return opts
end

function M.env_for(opts)
  if opts.env and opts.env ~= '' then return opts.env end
  local e = os.getenv('YOLK_ENV')
  if e and e ~= '' then return e end
  if opts.command == 'dev' then return 'local' end
  return 'prod'
end

local function error_text(e)
  local loader = require('yolk.loader')
  if loader.is_load_error(e) then return e.message end
  return tostring(e)
end

-- config.metrics: GET/HEAD of its path answered by the core (core/metrics.h),
-- before static files, HTTP middleware and the router; an app route for
-- the same path is never reached, which the log says.
function M.serve_metrics(server, app)
  local m = app.config.metrics
  if type(m) ~= 'table' or not m.enable then return end
  local path = m.path or '/metrics'
  local ok, err = server:serve_metrics(path)
  if not ok then error('config.metrics: ' .. tostring(err)) end
  local route = app.router and app.router:match('GET', path)
  if route then
    require('yolk.logger').yolk:warn("app/router.lua: GET %s is the metrics endpoint (config.metrics.path): "
      .. 'this route is never reached', path)
  end
end

-- app.lua's serverDidReady hook, in its own coroutine.
function M.server_did_ready(app)
  local hooks = app.hooks
  if hooks and hooks.serverDidReady then
    require('yolk.scheduler').spawn_ex('serverDidReady', nil, hooks.serverDidReady, app)
  end
end

-- config.lua: the Lua heap's cap (at start only: a reload that changes it
-- says a restart is needed, yolk.reload) and the watchdog's threshold.
function M.apply_lua(config, at_start)
  local core = require('yolk.core')
  local l = config.lua or {}
  if at_start and core.set_memory_limit then core.set_memory_limit(l.memoryLimit or '1gb') end
  if core.watchdog then core.watchdog(tonumber(l.blockedWarning) or 1000) end
end

-- Load and start; returns the runtime and the generation.
function M.start(opts)
  local core = require('yolk.core')
  local application = require('yolk.application')
  local logger = require('yolk.logger')
  local http = require('yolk.http')
  local io_mod = require('yolk.io')

  local env = M.env_for(opts)
  -- a cluster worker: the master's pipe and socket (before anything listens)
  local worker
  if opts.worker then
    local werr
    worker, werr = core.cluster_worker(opts.worker, opts.sticky)
    if not worker then return nil, werr end
  end
  local ok, app = xpcall(application.load, function(e)
    if require('yolk.loader').is_load_error(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, { baseDir = opts.baseDir or '.', env = env, port = opts.port, shared = M.shared })
  if not ok then
    return nil, 'cannot start the application: ' .. error_text(app), 'load'
  end
  local config = app.config
  logger.configure(config.logger, app.name)
  M.apply_lua(config, true)

  local limits = config.http or {}
  local server = core.server({
    max_body_size = config.bodyParser and config.bodyParser.jsonLimit or nil,
    max_header_size = limits.maxHeaderSize,
    header_timeout_ms = limits.headerTimeout,
    keepalive_timeout_ms = limits.keepAliveTimeout,
  })
  local sio_opts = M.sio_options(config)
  if worker and opts.sticky then sio_opts.sidPrefix = worker:sid_prefix() end
  if sio_opts.generateId then
    -- through the running generation, so that a reload changes the code
    sio_opts.generateId = function(handshake)
      local gen = M.runtime and M.runtime.gen
      local fn = gen and gen.config.io.generateId or config.io.generateId
      return fn(handshake)
    end
  end
  local sio = server:socketio(sio_opts)
  local runtime = io_mod.runtime(sio)
  runtime.server = server
  runtime.core = core
  runtime:use(app)
  server:on_request(function(req) http.on_request(runtime, req) end)
  M.serve_metrics(server, app)

  local listen = config.cluster.listen
  local host = listen.hostname or '127.0.0.1'
  local port = tonumber(listen.port) or 7001
  local lok, lerr
  if worker then lok, lerr = worker:serve(server) else lok, lerr = server:listen(host, port) end
  if not lok then
    server:close()
    return nil, ('cannot listen on %s:%d: %s'):format(host, port, tostring(lerr))
  end
  M.runtime = runtime
  M.worker = worker
  M.opts = { baseDir = app.baseDir, env = env, port = opts.port, shared = M.shared }
  if core.on_signal then
    core.on_signal('SIGHUP', function()
      local rok = M.reload('SIGHUP')
      if worker then worker:reloaded(rok) end -- the master goes on with the next worker
    end)
  end
  if worker then
    logger.yolk:info('%s (env %s) serving http://%s:%d/ as worker %d', app.name, env, host, port, opts.worker)
  else
    logger.yolk:info('%s (env %s) listening on http://%s:%d/', app.name, env, host, server:port())
  end
  M.server_did_ready(app)
  -- yolk dev reloads on file changes; yolk start only on SIGHUP
  require('yolk.reload').remember(app.baseDir)
  if opts.command == 'dev' and core.watch then
    M.watcher = require('yolk.reload').watch(M, app.baseDir)
  end
  return runtime, app
end

-- Load the application again into a new generation and swap it in; on any
-- error keep the running one (yolk.reload). why: 'SIGHUP' or the list of
-- changed files (yolk dev's watcher).
function M.reload(why)
  return require('yolk.reload').reload(M, why)
end

function M.main(opts)
  opts = opts or {}
  local cmd = opts.command or 'start'
  if cmd ~= 'dev' and cmd ~= 'start' then die('unknown command ' .. tostring(cmd)) end
  if opts.workers then return require('yolk.cluster').master(M, opts) end
  local rt, err, kind = M.start(opts)
  if not rt and cmd == 'dev' and kind == 'load' and require('yolk.core').watch then
    -- yolk dev: a broken file is fixed, not fatal; wait for a change
    return require('yolk.reload').wait_for_fix(M, opts, err)
  end
  if not rt then die(err) end
  return rt
end

return M
