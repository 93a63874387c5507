-- Configuration: framework defaults, then config/config.default.lua, then
-- config/config.<env>.lua, deep-merged (objects merge key by key, arrays and
-- everything else replace). A file returns a table or function(appInfo).
local loader = require('yolk.loader')
local fs = require('yolk.fs')

local M = {}

local function is_array(t)
  local yolk = require('yolk')
  return yolk.is_array(t)
end

-- Merge src into dst (in place) and return dst. Objects merge key by key;
-- arrays, strings, numbers and functions replace.
function M.merge(dst, src)
  if type(src) ~= 'table' then return dst end
  local yolk = require('yolk')
  for k, v in pairs(src) do
    local cur = dst[k]
    if type(v) == 'table' and v ~= yolk.null and not yolk.is_buffer(v) and not is_array(v) then
      if type(cur) == 'table' and cur ~= yolk.null and not is_array(cur) then
        M.merge(cur, v)
      else
        -- copy, so later merges never write into a table a config file owns
        dst[k] = M.merge(setmetatable({}, getmetatable(v)), v)
      end
    else
      dst[k] = v
    end
  end
  return dst
end

-- What yolk uses when the application says nothing.
function M.defaults(info)
  return {
    name = info.name,
    env = info.env,
    baseDir = info.baseDir,
    cluster = { listen = { port = 7001, hostname = '127.0.0.1' } },
    io = {
      init = { path = '/socket.io' },
      namespace = {},
    },
    static = { enable = true, prefix = '/public/', dir = fs.join(info.baseDir, 'public') },
    logger = { level = 'INFO', consoleLevel = 'INFO', dir = fs.join(info.baseDir, 'logs') },
    bodyParser = { jsonLimit = 1024 * 1024, formLimit = 1024 * 1024 },
    middleware = {},
    -- runaway application code (README, "Runaway code"): the Lua heap's cap,
    -- the watchdog's warning, and (cluster mode) the restart of a blocked worker
    lua = { memoryLimit = '1gb', blockedWarning = 1000, blockedRestart = 10000 },
    metrics = { enable = false, path = '/metrics' },
  }
end

-- Load one config file into a table (nil when the file does not exist).
function M.load_file(path, info)
  if not fs.is_file(path) then return nil end
  local v = loader.load_file(path)
  if type(v) == 'function' then
    local ok, res = xpcall(v, function(e)
      return loader.load_error(('error in %s: %s'):format(path, debug.traceback(tostring(type(e) == 'table' and e.message or e), 2)), path)
    end, info)
    if not ok then error(res, 0) end
    v = res
  end
  if v ~= nil and type(v) ~= 'table' then
    error(loader.load_error(path .. ': must return a table or function(appInfo), got ' .. type(v), path), 0)
  end
  return v
end

-- The merged config, and the files it came from ({ path, name, value }, in
-- merge order), so that a message about a key can name the file that set it.
function M.load(info)
  local config = M.defaults(info)
  local dir = fs.join(info.baseDir, 'config')
  local sources = {}
  for _, name in ipairs { 'config.default.lua', 'config.' .. info.env .. '.lua' } do
    local path = fs.join(dir, name)
    local v = M.load_file(path, info)
    if v then
      M.merge(config, v)
      sources[#sources + 1] = { path = path, name = 'config/' .. name, value = v }
    end
  end
  return config, sources
end

return M
