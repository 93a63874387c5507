-- Redis clients for applications, as egg-redis gives them:
--
--   config.redis = { client = { host, port, password, db } }          -> app.redis
--   config.redis = { clients = { cache = {...}, queue = {...} } }     -> app.redis.clients.cache
--
-- A client's commands are its methods (`app.redis:get(k)`, `:set(k, v, 'EX', 60)`,
-- `:hget(h, f)`, any command by name, or `:call('cmd', ...)`). They yield the calling
-- coroutine and return the reply, or nil, err. Misuse raises (no coroutine, an argument
-- that is not a string, number or buffer, SUBSCRIBE and the like); a Redis error or an I/O
-- failure returns nil, err: while Redis is down a call returns at once with
-- "redis: not connected (...)".
--
-- Each client is one connection (core.redis, core/redis.h) that reconnects by itself. The
-- clients belong to the process, not to a generation: a reload reuses a client whose
-- configuration did not change, and replaces one whose configuration did (the old one is
-- closed once the new generation is running; if the reload fails, the new one is closed
-- and the old one stays).
local scheduler = require('yolk.scheduler')

local M = {}

local unpack = unpack or table.unpack
local function pack(...) return { n = select('#', ...), ... } end

local function core() return require('yolk.core') end

local function is_buffer(v)
  local c = core()
  return c.is_buffer ~= nil and c.is_buffer(v)
end

local function check_args(level, cmd, args)
  for i = 1, args.n do
    local v = args[i]
    local t = type(v)
    if t ~= 'string' and t ~= 'number' and not is_buffer(v) then
      error(('redis: argument #%d to %s is a %s (expected a string, number or buffer)')
        :format(i, tostring(cmd):upper(), t), level + 1)
    end
  end
end

-- Commands that would turn the connection into a subscriber one (the C layer refuses them too).
local NEEDS_SUBSCRIBER = { subscribe = true, psubscribe = true, ssubscribe = true, unsubscribe = true,
  punsubscribe = true, sunsubscribe = true, monitor = true }

local function check_command(cmd, level)
  if type(cmd) ~= 'string' or cmd == '' then
    error('redis: call(command, ...): the command must be a non-empty string', level + 1)
  end
  if NEEDS_SUBSCRIBER[cmd:lower()] then
    error(('redis: %s needs a subscriber connection; this client is for commands'):format(cmd:upper()), level + 1)
  end
end

local function need_coroutine(what, level)
  if not scheduler.current() then
    error(('redis: %s must be called from a yolk coroutine (a request, a connection, a packet, '
      .. 'or yolk.spawn), not from the main chunk'):format(what), level + 1)
  end
end

-- ---- a client -------------------------------------------------------------------------

local Client = {}
local client_methods = {}
M.Client = Client

-- Any other name is a Redis command: client:hgetall(k) is client:call('hgetall', k).
Client.__index = function(_, k)
  local m = client_methods[k]
  if m ~= nil or type(k) ~= 'string' or not k:match('^%a[%w_]*$') then return m end
  m = function(self, ...) return self:call(k, ...) end
  client_methods[k] = m
  return m
end
Client.__tostring = function(self)
  return ('redis client %s (%s)'):format(tostring(rawget(self, '_name')), self:status())
end

-- client:call(command, args...) -> reply | nil, err
function client_methods:call(cmd, ...)
  check_command(cmd, 2)
  need_coroutine(cmd:upper(), 2)
  local args = pack(...)
  check_args(2, cmd, args)
  local conn = rawget(self, '_conn')
  return scheduler.wait(function(wake)
    local ok, err = conn:command(wake, cmd, unpack(args, 1, args.n))
    if not ok then wake(nil, err) end
  end)
end

-- 'connecting' | 'ready' | 'down' | 'closed'
function client_methods:status() return rawget(self, '_conn'):status() end

-- Closes the connection; waiting calls return nil, 'redis: connection closed'.
function client_methods:close() return rawget(self, '_conn'):close() end

-- ---- pipelines --------------------------------------------------------------------------

-- client:pipeline():set('a', 1):incr('a'):get('a'):exec() sends the commands together and
-- returns one array of results in order: a reply, yolk.null for a nil reply, or
-- { err = message } for a command that failed; or nil, err when nothing could be sent.
local Pipeline = {}
local pipeline_methods = {}
Pipeline.__index = function(_, k)
  local m = pipeline_methods[k]
  if m ~= nil or type(k) ~= 'string' or not k:match('^%a[%w_]*$') then return m end
  m = function(self, ...) return self:call(k, ...) end
  pipeline_methods[k] = m
  return m
end

function client_methods:pipeline()
  return setmetatable({ _client = self, _cmds = {} }, Pipeline)
end

-- Adds a command; returns the pipeline (chainable).
function pipeline_methods:call(cmd, ...)
  check_command(cmd, 2)
  local args = pack(cmd, ...)
  local sub = pack(...)
  check_args(2, cmd, sub)
  local cmds = rawget(self, '_cmds')
  cmds[#cmds + 1] = args
  return self
end

function pipeline_methods:exec()
  need_coroutine('pipeline:exec()', 2)
  local cmds = rawget(self, '_cmds')
  rawset(self, '_cmds', {})
  local yolk = require('yolk')
  local results = yolk.array({})
  local n = #cmds
  if n == 0 then return results end
  local conn = rawget(rawget(self, '_client'), '_conn')
  return scheduler.wait(function(wake)
    local left = n
    for i = 1, n do
      local function done(v, err)
        if err ~= nil then results[i] = { err = err }
        elseif v == nil then results[i] = yolk.null
        else results[i] = v end
        left = left - 1
        if left == 0 then wake(results) end
      end
      local c = cmds[i]
      local ok, err = conn:command(done, unpack(c, 1, c.n))
      if not ok then
        -- nothing was sent when the first one fails (the state does not change in between)
        if i == 1 then return wake(nil, err) end
        done(nil, err)
      end
    end
  end)
end

-- ---- making clients ---------------------------------------------------------------------

local OPTION_KEYS = { url = 'string', host = 'string', port = 'number', username = 'string',
  password = 'string', db = 'number', connectTimeout = 'number', connectionName = 'string', name = 'string' }

-- A new client (not tied to the application's config): require('yolk.redis').new{ url = ... }.
-- Closed by a graceful stop, or by client:close().
function M.new(opts)
  if type(opts) == 'string' then opts = { url = opts } end
  if type(opts) ~= 'table' then error('redis.new: options must be a table or a redis:// url', 2) end
  local conn, err = core().redis(opts)
  if not conn then return nil, err end
  return setmetatable({ _conn = conn, _name = opts.name or 'redis' }, Client)
end

-- The options of one configured client: config.redis.default under it, checked.
local function client_options(where, default, cfg)
  if type(cfg) == 'string' then cfg = { url = cfg } end
  if type(cfg) ~= 'table' then error(('%s must be a table or a redis:// url'):format(where), 0) end
  local o = {}
  for _, src in ipairs { default or {}, cfg } do
    for k, v in pairs(src) do
      if k == 'cluster' or k == 'sentinels' or k == 'nodes' then
        if v then error(('%s.%s: Redis Cluster and Sentinel are not supported'):format(where, k), 0) end
      elseif OPTION_KEYS[k] then
        local want = OPTION_KEYS[k]
        if want == 'number' and type(v) == 'string' and tonumber(v) then v = tonumber(v) end
        if type(v) ~= want then
          error(('%s.%s must be a %s, got %s'):format(where, k, want, type(v)), 0)
        end
        o[k] = v
      end
      -- other keys (egg-redis's weakDependent, ioredis options yolk does not have) are ignored
    end
  end
  if (o.password == '') then o.password = nil end
  return o
end

-- A stable text for a set of options: equal options, equal key.
local function options_key(o)
  local keys = {}
  for k in pairs(o) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. '=' .. type(o[k]) .. ':' .. tostring(o[k]) end
  return table.concat(parts, '\n')
end

-- The configured clients of the running generation: live[slot] = { key, client }, where
-- slot is 'client' or 'clients.<name>'.
local live = {}
M._live = live
-- What each loaded generation uses (weak: a generation that is gone is forgotten).
local slots_of = setmetatable({}, { __mode = 'k' })

-- Several clients: app.redis.clients.<name>, or app.redis.get(name) as egg's singleton.
local Clients = {}
Clients.__index = function(t, k)
  if k == 'get' then
    return function(a, b)
      local name = (a == t) and b or a
      return rawget(t, 'clients')[name]
    end
  end
  if type(k) == 'string' and k:match('^%a[%w_]*$') then
    return function()
      error(("app.redis has several clients (config.redis.clients): use app.redis.clients.<name>:%s(...)")
        :format(k), 2)
    end
  end
  return nil
end

local function slot_name(slot) return slot == 'client' and 'app.redis' or ('app.redis.' .. slot) end

-- Once the load that made these slots is over: if its generation is the running one,
-- close the clients it no longer uses; if not (the reload failed), close the ones it made.
local function settle(app)
  local slots = slots_of[app]
  if not slots then return end
  local boot = package.loaded['yolk.boot']
  local rt = type(boot) == 'table' and boot.runtime or nil
  local running = rt == nil or rt.gen == app
  local used = {}
  if running then
    for _, e in pairs(slots) do used[e.client] = true end
    for slot, e in pairs(live) do
      if not used[e.client] then e.client:close() end
      live[slot] = nil
    end
    for slot, e in pairs(slots) do live[slot] = e end
  else
    for _, e in pairs(live) do used[e.client] = true end
    for _, e in pairs(slots) do
      if e.made and not used[e.client] then e.client:close() end
    end
  end
end

-- Called by yolk.application.load once the config is loaded: sets app.redis from
-- config.redis (nil without it). Raises a load error for a bad configuration.
function M.attach(app)
  local cfg = app.config.redis
  if cfg == nil or cfg == false then
    app.redis = nil
    if next(live) == nil then return end
    slots_of[app] = {}
    core().timer(0, function() settle(app) end)
    return
  end
  if type(cfg) ~= 'table' then error('config.redis must be a table', 0) end
  if cfg.client and cfg.clients then
    error('config.redis: set either client (app.redis) or clients (app.redis.clients.<name>), not both', 0)
  end
  local wanted = {}
  if cfg.client then
    wanted.client = client_options('config.redis.client', cfg.default, cfg.client)
  elseif cfg.clients then
    if type(cfg.clients) ~= 'table' then error('config.redis.clients must be a table of name = options', 0) end
    for name, c in pairs(cfg.clients) do
      wanted['clients.' .. tostring(name)] =
        client_options('config.redis.clients.' .. tostring(name), cfg.default, c)
    end
  else
    error('config.redis needs client = { host, port, password, db } or clients = { name = {...} }', 0)
  end
  local slots = {}
  for slot, o in pairs(wanted) do
    o.name = o.name or slot_name(slot)
    local key = options_key(o)
    local e = live[slot]
    if e and e.key == key and e.client:status() ~= 'closed' then
      slots[slot] = { key = key, client = e.client }
    else
      local client, err = M.new(o)
      if not client then
        for _, made in pairs(slots) do if made.made then made.client:close() end end
        error(('config.redis.%s: %s'):format(slot, tostring(err)), 0)
      end
      slots[slot] = { key = key, client = client, made = true }
    end
  end
  slots_of[app] = slots
  if slots.client then
    app.redis = slots.client.client
  else
    local named = {}
    for slot, e in pairs(slots) do named[slot:sub(#'clients.' + 1)] = e.client end
    app.redis = setmetatable({ clients = named }, Clients)
  end
  core().timer(0, function() settle(app) end)
end

return M
