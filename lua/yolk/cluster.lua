-- The cluster master: `yolk start --workers N [--sticky]` (core/cluster.h).
-- It loads only the configuration (the workers load the application, each in
-- its own process), checks it, and runs core.cluster_master, which listens,
-- starts the workers and keeps them running until SIGTERM/SIGINT. SIGHUP
-- reloads the workers' code, one worker at a time.
local M = {}

local function die(msg)
  io.stderr:write('yolk: ' .. msg .. '\n')
  io.stderr:flush()
  os.exit(1)
end

-- The configuration a worker will load (default, env file, --port).
function M.config(boot, opts)
  local application = require('yolk.application')
  local config_mod = require('yolk.config')
  local loader = require('yolk.loader')
  local env = boot.env_for(opts)
  local info = application.app_info(opts.baseDir, env)
  local ok, config = xpcall(config_mod.load, function(e)
    if loader.is_load_error(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, info)
  if not ok then
    return nil, loader.is_load_error(config) and config.message or tostring(config)
  end
  if opts.port then config.cluster.listen.port = tonumber(opts.port) end
  return config, env, info
end

local function has(list, x)
  for _, v in ipairs(list or {}) do if v == x then return true end end
  return false
end

function M.master(boot, opts)
  local core = require('yolk.core')
  local fs = require('yolk.fs')
  local logger = require('yolk.logger')
  local config, env, info = M.config(boot, opts)
  if not config then die('cannot start the application: ' .. env) end
  local n = opts.workers
  if n > 1 and not config.io.redis then
    die(("--workers %d needs config.io.redis: the workers reach each other through the Redis adapter. "
      .. "Set it in %s (or config/config.%s.lua), e.g. io = { redis = { host = '127.0.0.1', port = 6379 } }")
      :format(n, fs.join(info.baseDir, 'config/config.default.lua'), env))
  end
  logger.configure(config.logger, info.name)
  local init = config.io.init or {}
  local listen = config.cluster.listen
  local metrics = type(config.metrics) == 'table' and config.metrics.enable and (config.metrics.path or '/metrics')
  local args = { 'start', '--baseDir', info.baseDir, '--env', env }
  if opts.port then
    args[#args + 1] = '--port'
    args[#args + 1] = tostring(opts.port)
  end
  local master, err = core.cluster_master {
    workers = n,
    sticky = opts.sticky or false,
    host = listen.hostname or '127.0.0.1',
    port = tonumber(listen.port) or 7001,
    path = init.path or '/socket.io',
    max_body_size = config.bodyParser and config.bodyParser.jsonLimit or nil,
    max_payload = init.maxHttpBufferSize,
    -- a worker whose loop stays blocked this long is killed and restarted
    blocked_restart = tonumber((config.lua or {}).blockedRestart) or 10000,
    metrics_path = metrics or nil,
    args = args,
  }
  if not master then die(err) end
  if not opts.sticky and n > 1 and (init.transports == nil or has(init.transports, 'polling')) then
    logger.yolk:warn("without --sticky the workers share the socket, and the requests of a polling session "
      .. "reach any of them: set config.io.init.transports = { 'websocket' }, or use --sticky")
  end
  core.on_signal('SIGHUP', function() master:reload() end)
  return master
end

return M
