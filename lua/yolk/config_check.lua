-- Checking the keys of the config that yolk itself reads, so that a mistake
-- is reported as the config's, with the file (and line) that set it:
--
--   config/config.default.lua:6: config.io.namespace['live']: a namespace
--   name starts with '/' (did you mean '/live'?)
--
-- rather than as an error inside the framework when the value is first
-- used. Errors stop the load (yolk start exits, a reload keeps the running
-- code); keys yolk does not know under config.io.init are only warned about
-- (socket.io options yolk does not have are ignored, as socket.io ignores
-- what it does not know).
local fs = require('yolk.fs')
local loader = require('yolk.loader')
local errors = require('yolk.errors')

local M = {}

-- config.io.namespace['live'], config.cluster.listen.port, config.middleware[2]
function M.key_text(path)
  local out = { 'config' }
  for i, k in ipairs(path) do
    local under_namespace = i == 3 and path[1] == 'io' and path[2] == 'namespace'
    if type(k) == 'number' then
      out[#out + 1] = ('[%d]'):format(k)
    elseif type(k) == 'string' and k:match('^[%a_][%w_]*$') and not under_namespace then
      out[#out + 1] = '.' .. k
    else
      out[#out + 1] = "['" .. tostring(k):gsub("'", "\\'") .. "']"
    end
  end
  return table.concat(out)
end

local function get(t, path, n)
  for i = 1, n or #path do
    if type(t) ~= 'table' then return nil end
    t = rawget(t, path[i])
  end
  return t
end

-- The config file that set path (the env file wins the merge): the last
-- source whose own table has it.
local function origin(sources, path)
  for i = #sources, 1, -1 do
    if get(sources[i].value, path) ~= nil then return sources[i] end
  end
  -- a value made by merging (e.g. inside a table set in two files): the
  -- last file that has any part of the path
  for n = #path - 1, 1, -1 do
    for i = #sources, 1, -1 do
      if get(sources[i].value, path, n) ~= nil then return sources[i] end
    end
  end
end

local function escape(s) return (s:gsub('[%^%$%(%)%%%.%[%]%*%+%-%?]', '%%%0')) end

-- The position in text just after the key k (as `k =` or `['k'] =`), from init.
local function find_key(text, k, init)
  if type(k) ~= 'string' then return nil end
  local best
  for _, q in ipairs { "'", '"' } do
    local _, e = text:find('[' .. q .. k .. q .. ']', init, true)
    if e and (not best or e < best) then best = e end
  end
  if k:match('^[%a_][%w_]*$') then
    local _, e = text:find('%f[%w_]' .. escape(k) .. '%s*=[^=]', init)
    if e and (not best or e < best) then best = e end
  end
  return best
end

-- The line of text where path is set (each key searched after the one
-- before it), or of `needle` (a quoted string) after the deepest key found.
local function line_of(text, path, needle)
  local pos, found = 1, nil
  for _, k in ipairs(path) do
    local e = find_key(text, k, pos)
    if not e then break end
    pos, found = e, e
  end
  if needle then
    for _, q in ipairs { "'", '"' } do
      local s = text:find(q .. needle .. q, pos, true)
      if s then found = s; break end
    end
  end
  if not found then return nil end
  local n = 1
  for _ in text:sub(1, found):gmatch('\n') do n = n + 1 end
  return n
end

-- "config/config.default.lua:7: " for the file (and line) that set path,
-- "" when no config file did. needle: a value to find the line of.
function M.where(sources, path, needle)
  local src = origin(sources, path)
  if not src then return '', nil end
  local text = fs.read(src.path)
  local line = text and line_of(text, path, needle)
  return src.name .. (line and (':' .. line) or '') .. ': ', src.path
end

-- Checks ------------------------------------------------------------------------------

local Checker = {}
Checker.__index = Checker

function Checker:fail(path, message, needle)
  local where, file = M.where(self.sources, path, needle)
  error(loader.load_error(where .. M.key_text(path) .. ': ' .. message, file or self.dir), 0)
end

function Checker:warn(path, message)
  local where = M.where(self.sources, path)
  self.warnings[#self.warnings + 1] = where .. M.key_text(path) .. ': ' .. message
end

local function show(v)
  if type(v) == 'string' then return ('%q'):format(v) end
  return tostring(v)
end

local function got(v) return ('got %s %s'):format(type(v), show(v)) end

function Checker:type(path, v, want, allow_nil)
  if v == nil and allow_nil ~= false then return false end
  if type(v) ~= want then self:fail(path, ('must be a %s, %s'):format(want, got(v))) end
  return true
end

local function is_list(t)
  if type(t) ~= 'table' then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

-- number of milliseconds or a count, as the C side reads them
function Checker:number(path, v, min, max)
  if v == nil then return end
  if type(v) ~= 'number' then self:fail(path, ('must be a number, %s'):format(got(v))) end
  if v ~= v or v < min or v > max then self:fail(path, ('must be between %d and %d, got %s'):format(min, max, show(v))) end
end

-- The bytes of a size as the C side reads it (yolk__lua_parse_size), or nil.
local SIZE_UNITS = { [''] = 1, b = 1, kb = 1024, mb = 1024 ^ 2, gb = 1024 ^ 3 }
function M.size_bytes(v)
  if type(v) == 'number' then return v end
  if type(v) ~= 'string' then return nil end
  local num, unit = v:match('^%s*([%d%.eE+]+)%s*(%a*)$')
  local mul = unit and SIZE_UNITS[unit:lower()]
  return num and tonumber(num) and mul and tonumber(num) * mul or nil
end

-- a size: bytes, or a string such as "100kb" / "1mb"
function Checker:size(path, v)
  if v == nil then return end
  local n = M.size_bytes(v)
  if n and n >= 0 then return end
  self:fail(path, ('must be a size in bytes (a number, or a string such as "100kb" or "1mb"), %s'):format(got(v)))
end

local INIT = {
  path = 'path', pingInterval = 'ms', pingTimeout = 'ms', upgradeTimeout = 'ms', connectTimeout = 'ms',
  maxAttachments = 'count', maxJsonDepth = 'count', maxHttpBufferSize = 'size', allowEIO3 = 'boolean',
  maxBufferedBytes = 'size', maxNamespaces = 'count', maxClientsPerAddress = 'count',
  maxHandshakesPerSecond = 'count',
  allowUpgrades = 'boolean', transports = 'transports', clientDistDir = 'dir', cors = 'cors',
  connectionStateRecovery = 'recovery',
}
local RECOVERY = { maxDisconnectionDuration = 'ms', skipMiddlewares = 'boolean', maxPackets = 'count',
  maxBytes = 'size' }
M.INIT_OPTIONS = INIT

function Checker:init(init)
  local base = { 'io', 'init' }
  if init == nil then return end
  if type(init) ~= 'table' then self:fail(base, ('must be a table of socket.io options, %s'):format(got(init))) end
  local names = {}
  for k in pairs(INIT) do names[#names + 1] = k end
  table.sort(names)
  local keys = {}
  for k in pairs(init) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v, kind, path = init[k], INIT[k], { 'io', 'init', k }
    if kind == 'path' then
      self:type(path, v, 'string')
      if v:sub(1, 1) ~= '/' then self:fail(path, ("a path starts with '/', got %s"):format(show(v))) end
    elseif kind == 'ms' or kind == 'count' then
      self:number(path, v, 0, 4e9)
    elseif kind == 'size' then
      self:size(path, v)
    elseif kind == 'boolean' then
      self:type(path, v, 'boolean')
    elseif kind == 'transports' then
      if not is_list(v) or #v == 0 then
        self:fail(path, ("must be a list of transports, e.g. { 'polling', 'websocket' }, %s"):format(got(v)))
      end
      for i, t in ipairs(v) do
        if t ~= 'polling' and t ~= 'websocket' then
          self:fail({ 'io', 'init', k, i }, ("a transport is 'polling' or 'websocket', got %s"):format(show(t)))
        end
      end
    elseif kind == 'dir' then
      if v ~= false then self:type(path, v, 'string') end
    elseif kind == 'recovery' then
      if type(v) ~= 'table' then
        self:fail(path, ('must be a table such as { maxDisconnectionDuration = 120000 }, %s'):format(got(v)))
      end
      for rk, rv in pairs(v) do
        local rkind, rpath = RECOVERY[rk], { 'io', 'init', k, rk }
        if rkind == 'ms' then
          self:number(rpath, rv, 1, 4e9)
        elseif rkind == 'count' then
          self:number(rpath, rv, 0, 4e9)
        elseif rkind == 'size' then
          self:size(rpath, rv)
        elseif rkind == 'boolean' then
          self:type(rpath, rv, 'boolean')
        else
          self:fail(rpath, 'not an option of connectionStateRecovery (maxDisconnectionDuration, skipMiddlewares, '
            .. 'maxPackets, maxBytes)')
        end
      end
    elseif kind == 'cors' then
      if type(v) == 'table' then
        local o = v.origin
        if o ~= nil and type(o) ~= 'string' and type(o) ~= 'boolean' then
          local okl = is_list(o)
          if okl then for _, x in ipairs(o) do if type(x) ~= 'string' then okl = false end end end
          if not okl then
            self:fail({ 'io', 'init', 'cors', 'origin' },
              ('must be a string, a list of strings or a boolean, %s'):format(got(o)))
          end
        end
        self:type({ 'io', 'init', 'cors', 'credentials' }, v.credentials, 'boolean')
      elseif type(v) ~= 'boolean' then
        self:fail(path, ("must be a table such as { origin = '*' } or a boolean, %s"):format(got(v)))
      end
    else
      local hint = type(k) == 'string' and errors.suggest(k, names)
      self:warn(path, 'not an option yolk knows, ignored' .. (hint and ("; did you mean '%s'?"):format(hint) or ''))
    end
  end
end

local NSP_KEYS = { 'connectionMiddleware', 'packetMiddleware' }

function Checker:namespaces(namespace)
  local base = { 'io', 'namespace' }
  if namespace == nil then return end
  if type(namespace) ~= 'table' then
    self:fail(base, ("must be a table: namespace = { ['/'] = { connectionMiddleware = { ... } } }, %s"):format(got(namespace)))
  end
  for name, ncfg in pairs(namespace) do
    local path = { 'io', 'namespace', name }
    if type(name) ~= 'string' then
      self:fail(path, "namespaces are keyed by their name: namespace = { ['/live'] = { ... } }")
    end
    if name:sub(1, 1) ~= '/' then
      self:fail(path, ("a namespace name starts with '/' (did you mean '/%s'?)"):format(name))
    end
    if type(ncfg) ~= 'table' then
      self:fail(path, ('must be a table { connectionMiddleware = { ... }, packetMiddleware = { ... } }, %s'):format(got(ncfg)))
    end
    for k, list in pairs(ncfg) do
      local kpath = { 'io', 'namespace', name, k }
      if k ~= 'connectionMiddleware' and k ~= 'packetMiddleware' then
        local hint = type(k) == 'string' and errors.suggest(k, NSP_KEYS)
        self:fail(kpath, 'not a namespace setting (a namespace has connectionMiddleware and packetMiddleware)'
          .. (hint and ("; did you mean '%s'?"):format(hint) or ''))
      end
      if type(list) ~= 'table' or (next(list) ~= nil and not is_list(list)) then
        self:fail(kpath, ("must be a list of middleware names, e.g. { 'auth' }, %s"):format(got(list)))
      end
      for i, mw in ipairs(list) do
        if type(mw) ~= 'string' and type(mw) ~= 'function' then
          self:fail({ 'io', 'namespace', name, k, i },
            ('a middleware is the name of a file in app/io/middleware/ (or a function), %s'):format(got(mw)))
        end
      end
    end
  end
end

-- config.io.redis: the Redis adapter's options (kind, and which adapter
-- reads it: both, 'classic' or 'streams')
local REDIS = {
  url = { 'string', 'both' }, host = { 'string', 'both' }, port = { 'port', 'both' },
  username = { 'string', 'both' }, password = { 'string', 'both' }, auth_pass = { 'string', 'both' },
  db = { 'count', 'both' }, requestsTimeout = { 'ms', 'both' }, connectTimeout = { 'ms', 'both' },
  adapter = { 'adapter', 'both' },
  key = { 'name', 'classic' },
  streamName = { 'name', 'streams' }, maxLen = { 'positive', 'streams' }, readCount = { 'positive', 'streams' },
  blockTimeInMs = { 'positive', 'streams' }, channelPrefix = { 'name', 'streams' },
  sessionKeyPrefix = { 'string', 'streams' },
}

function Checker:redis(r)
  if r == nil then return end
  if type(r) ~= 'table' then
    self:fail({ 'io', 'redis' }, ("must be a table such as { url = 'redis://127.0.0.1:6379' }, %s"):format(got(r)))
  end
  local names = {}
  for k in pairs(REDIS) do names[#names + 1] = k end
  table.sort(names)
  local adapter = r.adapter or 'classic'
  local keys = {}
  for k in pairs(r) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v, spec, path = r[k], REDIS[k], { 'io', 'redis', k }
    local kind = spec and spec[1]
    if not spec then
      local hint = type(k) == 'string' and errors.suggest(k, names)
      self:fail(path, 'not an option of the Redis adapter' .. (hint and ("; did you mean '%s'?"):format(hint) or ''))
    elseif kind == 'string' then
      self:type(path, v, 'string')
    elseif kind == 'name' then
      if type(v) ~= 'string' or v == '' then self:fail(path, ('must be a non-empty string, %s'):format(got(v))) end
    elseif kind == 'port' then
      self:number(path, v, 0, 65535)
    elseif kind == 'count' or kind == 'ms' then
      self:number(path, v, 0, 4e9)
    elseif kind == 'positive' then
      self:number(path, v, 1, 4e9)
    elseif kind == 'adapter' and v ~= 'classic' and v ~= 'streams' then
      self:fail(path, ("'classic' (pub/sub, @socket.io/redis-adapter) or 'streams' (Redis Streams, "
        .. "@socket.io/redis-streams-adapter), %s"):format(got(v)))
    end
    if spec and spec[2] ~= 'both' and spec[2] ~= adapter then
      self:warn(path, ("an option of the %s adapter, ignored by the %s one%s"):format(spec[2], adapter,
        spec[2] == 'streams' and " (adapter = 'streams' selects it)" or ''))
    end
  end
end

local LEVELS = { DEBUG = true, INFO = true, WARN = true, ERROR = true, NONE = true }

-- config.lua: runaway application code (core/lua/lua_mem.c, lua_watchdog.c, cluster.c)
local LUA_KEYS = { 'blockedRestart', 'blockedWarning', 'memoryLimit' }
local MIN_MEMORY_LIMIT = 8 * 1024 * 1024

function Checker:lua(lua)
  if lua == nil then return end
  if type(lua) ~= 'table' then
    self:fail({ 'lua' }, ("must be a table such as { memoryLimit = '1gb', blockedWarning = 1000 }, %s"):format(got(lua)))
  end
  for k, v in pairs(lua) do
    local path = { 'lua', k }
    if k == 'memoryLimit' then
      self:size(path, v)
      local n = M.size_bytes(v)
      if n < MIN_MEMORY_LIMIT then
        self:fail(path, ("must be at least 8 MB (the framework itself needs a few), got %s"):format(show(v)))
      elseif n >= 1e18 then
        self:fail(path, ("must be less than 1e18 bytes, got %s"):format(show(v)))
      end
    elseif k == 'blockedWarning' then
      self:number(path, v, 0, 4e9)
    elseif k == 'blockedRestart' then
      self:number(path, v, 0, 4e9)
      if v > 0 and v < 1000 then
        self:fail(path, ('must be 0 (off) or at least 1000 ms (the workers beat every 250 ms), got %s'):format(show(v)))
      end
    else
      local hint = type(k) == 'string' and errors.suggest(k, LUA_KEYS)
      self:fail(path, 'not a setting of config.lua (' .. table.concat(LUA_KEYS, ', ') .. ')'
        .. (hint and ("; did you mean '%s'?"):format(hint) or ''))
    end
  end
end

function Checker:run(config)
  local io = config.io
  if type(io) ~= 'table' then self:fail({ 'io' }, ('must be a table, %s'):format(got(io))) end
  self:init(io.init)
  self:namespaces(io.namespace)
  self:redis(io.redis)
  if io.generateId ~= nil and type(io.generateId) ~= 'function' then
    self:fail({ 'io', 'generateId' }, ('must be a function(handshake) returning an id, %s'):format(got(io.generateId)))
  end

  local cluster = config.cluster
  if type(cluster) ~= 'table' then self:fail({ 'cluster' }, ('must be a table, %s'):format(got(cluster))) end
  local listen = cluster.listen
  if type(listen) ~= 'table' then self:fail({ 'cluster', 'listen' }, ('must be a table { port, hostname }, %s'):format(got(listen))) end
  local port = listen.port
  if port ~= nil and (type(port) ~= 'number' or port ~= math.floor(port) or port < 0 or port > 65535) then
    self:fail({ 'cluster', 'listen', 'port' }, ('must be a port number (0 to 65535), %s'):format(got(port)))
  end
  self:type({ 'cluster', 'listen', 'hostname' }, listen.hostname, 'string')

  local mw = config.middleware
  if mw ~= nil then
    if not is_list(mw) and not (type(mw) == 'table' and next(mw) == nil) then
      self:fail({ 'middleware' }, ("must be a list of names of files in app/middleware/, e.g. { 'gzip' }, %s"):format(got(mw)))
    end
    for i, name in ipairs(mw) do
      if type(name) ~= 'string' then
        self:fail({ 'middleware', i }, ('must be the name of a file in app/middleware/, %s'):format(got(name)))
      end
    end
  end

  local static = config.static
  if static ~= nil and static ~= false then
    if type(static) ~= 'table' then self:fail({ 'static' }, ('must be a table { prefix, dir } or false, %s'):format(got(static))) end
    self:type({ 'static', 'enable' }, static.enable, 'boolean')
    if self:type({ 'static', 'prefix' }, static.prefix, 'string') and static.prefix:sub(1, 1) ~= '/' then
      self:fail({ 'static', 'prefix' }, ("a URL prefix starts with '/', got %s"):format(show(static.prefix)))
    end
    self:type({ 'static', 'dir' }, static.dir, 'string')
    self:type({ 'static', 'cacheControl' }, static.cacheControl, 'string')
  end

  local logger = config.logger
  if logger ~= nil then
    if type(logger) ~= 'table' then self:fail({ 'logger' }, ('must be a table, %s'):format(got(logger))) end
    for _, k in ipairs { 'level', 'consoleLevel' } do
      local v = logger[k]
      if v ~= nil and type(v) ~= 'number' and not (type(v) == 'string' and LEVELS[v:upper()]) then
        self:fail({ 'logger', k }, ("must be 'DEBUG', 'INFO', 'WARN', 'ERROR' or 'NONE', %s"):format(got(v)))
      end
    end
  end

  self:lua(config.lua)

  local body = config.bodyParser
  if body ~= nil then
    if type(body) ~= 'table' then self:fail({ 'bodyParser' }, ('must be a table, %s'):format(got(body))) end
    self:size({ 'bodyParser', 'jsonLimit' }, body.jsonLimit)
    self:size({ 'bodyParser', 'formLimit' }, body.formLimit)
  end

  local metrics = config.metrics
  if metrics ~= nil and metrics ~= false then
    if type(metrics) ~= 'table' then
      self:fail({ 'metrics' }, ("must be a table { enable = true, path = '/metrics' } or false, %s"):format(got(metrics)))
    end
    for k, v in pairs(metrics) do
      if k == 'enable' then
        self:type({ 'metrics', k }, v, 'boolean')
      elseif k == 'path' then
        self:type({ 'metrics', k }, v, 'string')
        if v:sub(1, 1) ~= '/' or v:find('[%?#%s]') then
          self:fail({ 'metrics', k }, ("a URL path starts with '/' and has no query, got %s"):format(show(v)))
        end
        -- Socket.IO claims everything under its path before the metrics could
        local io_path = type(io.init) == 'table' and type(io.init.path) == 'string' and io.init.path or '/socket.io'
        local prefix = io_path:gsub('/+$', '') .. '/'
        if v:sub(1, #prefix) == prefix or v == prefix:sub(1, -2) then
          self:fail({ 'metrics', k }, ('%s is under the Socket.IO path %s (config.io.init.path): choose another')
            :format(show(v), show(io_path)))
        end
      else
        local hint = type(k) == 'string' and errors.suggest(k, { 'enable', 'path' })
        self:fail({ 'metrics', k }, 'not a metrics setting (enable, path)'
          .. (hint and ("; did you mean '%s'?"):format(hint) or ''))
      end
    end
  end

  local http = config.http
  if http ~= nil then
    if type(http) ~= 'table' then self:fail({ 'http' }, ('must be a table, %s'):format(got(http))) end
    for k, v in pairs(http) do
      if k == 'maxHeaderSize' then
        self:size({ 'http', k }, v)
      elseif k == 'headerTimeout' or k == 'keepAliveTimeout' then
        self:number({ 'http', k }, v, 1, 4e9)
      else
        self:fail({ 'http', k }, 'not an HTTP limit (maxHeaderSize, headerTimeout, keepAliveTimeout)')
      end
    end
  end
end

-- Check config (merged from sources, as yolk.config.load returns them).
-- Raises a LoadError naming the file, line and key; returns the warnings.
function M.check(config, sources, dir)
  local c = setmetatable({ sources = sources or {}, warnings = {}, dir = dir }, Checker)
  c:run(config)
  return c.warnings
end

-- Raise a LoadError about path (a message without the key, as the checks
-- above make), e.g. for an unknown middleware name found while loading.
function M.fail(sources, path, message, needle, dir)
  local c = setmetatable({ sources = sources or {}, warnings = {}, dir = dir }, Checker)
  c:fail(path, message, needle)
end

-- "config/config.default.lua: " for the file that set the top-level key
-- (e.g. 'redis'), for messages that already name the key.
function M.file_of(sources, key)
  local where = M.where(sources, { key })
  return (where:gsub(':%d+: $', ': '))
end

return M
