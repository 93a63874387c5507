-- Hot reload: load the whole application again into a new generation and
-- swap it in, or keep the running one when loading fails.
--
-- A generation (yolk.application) holds everything loaded from app/ and
-- config/: router, controllers, services, helpers, middleware chains,
-- config. The runtime (yolk.io) keeps the live sockets and one pointer, `gen`;
-- the swap is one assignment, so no packet ever sees half of a reload. Live
-- sockets keep their ids and rooms (those live in C); their next packets,
-- new connections and HTTP requests use the new generation. Code already
-- running keeps the generation it started with: a connection-middleware
-- chain waiting in next() for its socket's disconnect finishes in the old
-- code, a controller waiting on a timer finishes in the old code.
--
-- Some settings are used once, when the server starts (the listen address,
-- the worker count, the Engine.IO/Socket.IO options, the body size limit).
-- A reload that changes them says "restart required" and keeps the running
-- values in the new generation's config (so app.config tells the truth),
-- rather than pretending they took effect.
local M = {}

-- Config paths read only at start-up.
M.RESTART_ONLY = {
  { 'cluster' },                 -- listen port / hostname, workers
  { 'workers' },
  { 'io', 'init' },              -- Engine.IO / Socket.IO server options
  { 'io', 'generateId' },        -- its presence (its code is reloaded)
  { 'bodyParser', 'jsonLimit' }, -- the HTTP server's body size limit
  { 'lua', 'memoryLimit' },      -- the Lua heap's cap (a heap that fits one limit may not fit another)
  { 'lua', 'blockedRestart' },   -- read by the cluster master, which does not reload
  { 'metrics' },                 -- the metrics endpoint
}

local function get(t, path)
  for _, k in ipairs(path) do
    if type(t) ~= 'table' then return nil end
    t = t[k]
  end
  return t
end

local function set(t, path, v)
  for i = 1, #path - 1 do
    local k = path[i]
    if type(t[k]) ~= 'table' then t[k] = {} end
    t = t[k]
  end
  t[path[#path]] = v
end

local function show(v)
  if type(v) == 'string' then return string.format('%q', v) end
  if type(v) == 'table' then
    local ok, s = pcall(require('yolk.core').json_encode, v)
    if ok then return s end
  end
  return tostring(v)
end

-- Differences between a and b as "path (a -> b)" strings. Functions count as
-- equal to each other (new code is expected), tables compare key by key.
function M.diff(a, b, prefix, out)
  out = out or {}
  if type(a) == 'function' and type(b) == 'function' then return out end
  if type(a) == 'table' and type(b) == 'table' then
    local keys = {}
    for k in pairs(a) do keys[k] = true end
    for k in pairs(b) do keys[k] = true end
    local sorted = {}
    for k in pairs(keys) do sorted[#sorted + 1] = k end
    table.sort(sorted, function(x, y) return tostring(x) < tostring(y) end)
    for _, k in ipairs(sorted) do
      M.diff(a[k], b[k], prefix and (prefix .. '.' .. tostring(k)) or tostring(k), out)
    end
    return out
  end
  if a ~= b then
    out[#out + 1] = ('%s (%s -> %s)'):format(prefix or '?', show(a), show(b))
  end
  return out
end

-- The restart-only settings that differ between two configs.
function M.restart_changes(old, new)
  local out = {}
  for _, path in ipairs(M.RESTART_ONLY) do
    M.diff(get(old, path), get(new, path), table.concat(path, '.'), out)
  end
  return out
end

-- Keep the running values of the restart-only settings that changed.
function M.pin(old, new)
  for _, path in ipairs(M.RESTART_ONLY) do
    if #M.diff(get(old, path), get(new, path)) > 0 then set(new, path, get(old, path)) end
  end
end

-- Modules the application loaded with require() from its own directory
-- (app/lib/x.lua as require('app.lib.x')) are dropped from package.loaded,
-- so the new generation loads them afresh. Returns what was dropped, so a
-- failed reload can put it back.
function M.drop_app_modules(baseDir)
  local fs = require('yolk.fs')
  local p = fs.join(baseDir, '?.lua') .. ';' .. fs.join(baseDir, '?/init.lua')
  local dropped = {}
  for name, mod in pairs(package.loaded) do
    if type(name) == 'string' and not name:match('^yolk') and package.searchpath(name, p) then
      dropped[name] = mod
    end
  end
  for name in pairs(dropped) do package.loaded[name] = nil end
  return dropped
end

function M.restore_app_modules(baseDir, dropped)
  M.drop_app_modules(baseDir) -- what the failed load required
  for name, mod in pairs(dropped) do package.loaded[name] = mod end
end

-- What a log line says caused the reload.
function M.describe(why)
  if type(why) ~= 'table' then return tostring(why or 'reload') end
  local shown = {}
  for i = 1, math.min(#why, 5) do shown[i] = why[i] end
  local s = table.concat(shown, ', ')
  if #why > 5 then s = s .. (' and %d more'):format(#why - 5) end
  return s .. ' changed'
end

-- The application's files as { [relative path] = content }: app/, config/,
-- app.lua. Kept after each load, so that a reload by signal can say which
-- files changed since the running generation was loaded.
function M.snapshot(baseDir)
  local fs = require('yolk.fs')
  local snap = {}
  local function walk(rel, depth)
    local names = fs.list(fs.join(baseDir, rel))
    if not names or depth > 32 then return end
    for _, name in ipairs(names) do
      if name:sub(1, 1) ~= '.' then
        local sub = rel .. '/' .. name
        local path = fs.join(baseDir, sub)
        if fs.is_dir(path) then walk(sub, depth + 1)
        else snap[sub] = fs.read(path) or '' end
      end
    end
  end
  walk('app', 0)
  walk('config', 0)
  local hooks = fs.read(fs.join(baseDir, 'app.lua'))
  if hooks then snap['app.lua'] = hooks end
  return snap
end

-- Paths that differ between two snapshots (added, removed or edited), sorted.
function M.changed_files(old, new)
  local out = {}
  for p, v in pairs(new) do if old[p] ~= v then out[#out + 1] = p end end
  for p in pairs(old) do if new[p] == nil then out[#out + 1] = p end end
  table.sort(out)
  return out
end

-- Call after the first load (yolk.boot.start).
function M.remember(baseDir)
  M.files = M.snapshot(baseDir)
end

local function error_text(e)
  local loader = require('yolk.loader')
  if loader.is_load_error(e) then return e.message end
  return tostring(e)
end

-- Reload the application of `boot` (yolk.boot: .runtime, .opts). why: a
-- string ('SIGHUP') or the list of changed files. Returns true, or false and
-- the error text.
function M.reload(boot, why)
  local rt = boot.runtime
  if not rt or not rt.gen then return false, 'not started' end
  local core = require('yolk.core')
  local logger = require('yolk.logger')
  local loader = require('yolk.loader')
  local t0 = core.hrtime()
  local old = rt.gen
  local snap = M.snapshot(old.baseDir)
  local changed = nil
  if type(why) ~= 'table' and M.files then
    -- a signal does not say what changed: compare with what is running
    local list = M.changed_files(M.files, snap)
    changed = #list > 0 and M.describe(list) or 'no file changed'
  end
  local dropped = M.drop_app_modules(old.baseDir)
  local ok, app = xpcall(require('yolk.application').load, function(e)
    if loader.is_load_error(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, boot.opts)
  if not ok then
    M.restore_app_modules(old.baseDir, dropped)
    M.failures = (M.failures or 0) + 1
    if core.count_reload then core.count_reload(false) end
    logger.yolk:error('reload failed (%s), keeping the running code: %s', M.describe(why), error_text(app))
    return false, error_text(app)
  end
  local restart = M.restart_changes(old.config, app.config)
  if #restart > 0 then
    M.pin(old.config, app.config)
    local text = table.concat(restart, ', ')
    if text ~= M.pending_restart then
      logger.yolk:warn('restart required to apply %s; still running with the old value%s until yolk restarts',
        text, #restart > 1 and 's' or '')
    else
      logger.yolk:warn('restart still required for %s', text)
    end
  end
  M.pending_restart = #restart > 0 and table.concat(restart, ', ') or nil
  logger.configure(app.config.logger, app.name)
  if boot.apply_lua then boot.apply_lua(app.config, false) end
  rt:use(app)
  -- code of the old generation that runs on its own (a loop started in
  -- serverDidReady) checks this to end instead of running twice
  old.retired = true
  M.count = (M.count or 0) + 1
  if core.count_reload then core.count_reload(true) end
  M.files = snap
  local ms = (core.hrtime() - t0) / 1e6
  if changed then
    logger.yolk:info('reloaded (%s) in %.1f ms: %s', M.describe(why), ms, changed)
  else
    logger.yolk:info('reloaded (%s) in %.1f ms', M.describe(why), ms)
  end
  if boot.server_did_ready then boot.server_did_ready(app) end
  return true, ms
end

-- yolk dev: watch app/, config/ and app.lua; reload once per burst of changes.
-- Only `yolk dev` watches, so this is also where the process learns it runs
-- as a development server (yolk.errors: clients see what a bug was,
-- unrouted events are warned about).
function M.watch(boot, baseDir, delay)
  local logger = require('yolk.logger')
  require('yolk.errors').dev = true
  local tree = require('yolk.watch').tree {
    root = baseDir,
    dirs = { 'app', 'config' },
    files = { 'app.lua' },
    delay = delay or 150,
    on_change = function(changed) M.reload(boot, changed) end,
    on_error = function(err) logger.yolk:warn('file watching: %s (changes there will not reload)', tostring(err)) end,
  }
  logger.yolk:info('watching app/, config/ and app.lua for changes (%d directories); edits reload the application',
    tree:count() - 1)
  return tree
end

-- yolk dev when the application does not load at start-up: log why, watch
-- app/, config/ and app.lua, and try to start again after each change.
function M.wait_for_fix(boot, opts, err)
  local logger = require('yolk.logger')
  logger.yolk:error('%s', err)
  local tree
  tree = require('yolk.watch').tree {
    root = opts.baseDir,
    dirs = { 'app', 'config' },
    files = { 'app.lua' },
    delay = 150,
    on_change = function(changed)
      M.drop_app_modules(opts.baseDir)
      local rt, err2 = boot.start(opts)
      if rt then
        tree:stop()
      else
        logger.yolk:error('%s (%s)', err2, M.describe(changed))
      end
    end,
  }
  -- said once the watchers are in place: a change made after this line is seen
  logger.yolk:info('waiting for a change in app/, config/ or app.lua to start again')
  return tree
end

return M
