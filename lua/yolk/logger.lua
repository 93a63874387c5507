-- Loggers: app.logger, ctx.logger (prefixed with the socket id or the
-- request), levels DEBUG < INFO < WARN < ERROR < NONE. Lines go through
-- core.log, which writes the console and the log file (logs/<name>.log) set
-- with core.set_log_file.
local M = {}

M.LEVELS = { DEBUG = 10, INFO = 20, WARN = 30, ERROR = 40, NONE = 100 }

local core = require('yolk.core')
local scheduler = require('yolk.scheduler')
local sink = core.log -- function(level, component, msg); tests replace it

function M.set_sink(fn) sink = fn end

local threshold = 20
function M.level_of(name)
  if type(name) == 'number' then return name end
  return M.LEVELS[tostring(name or 'INFO'):upper()] or 20
end

-- Configure from config.logger: level, and the file logs/<name>.log.
function M.configure(cfg, name)
  threshold = M.level_of(cfg and cfg.level)
  core.set_log_level(threshold)
  if cfg and cfg.dir and cfg.file ~= false then
    local fs = require('yolk.fs')
    fs.mkdirp(cfg.dir)
    core.set_log_file(fs.join(cfg.dir, (name or 'yolk') .. '.log'))
  end
end

local function format(fmt, ...)
  if select('#', ...) == 0 then return tostring(fmt) end
  local args = { ... }
  for i = 1, select('#', ...) do
    local v = args[i]
    if type(v) ~= 'string' and type(v) ~= 'number' then args[i] = scheduler.tostring(v) end -- (an error's __tostring may raise)
  end
  local ok, s = pcall(string.format, tostring(fmt), unpack(args, 1, select('#', ...)))
  if ok then return s end
  local parts = { tostring(fmt) }
  for i = 1, select('#', ...) do parts[#parts + 1] = tostring(args[i]) end
  return table.concat(parts, ' ')
end
M.format = format

-- s with control bytes as \xNN: for client data (event names, paths) put
-- in a log line, where a CR or LF would forge lines.
function M.printable(s)
  return (tostring(s):gsub('%c', function(c) return ('\\x%02x'):format(c:byte()) end))
end

local Logger = {}
Logger.__index = Logger

function M.new(component, prefix)
  return setmetatable({ component = component or 'app', prefix = prefix }, Logger)
end

function Logger:log(level, fmt, ...)
  if level < threshold then return end
  local msg = format(fmt, ...)
  if self.prefix then msg = '[' .. self.prefix .. '] ' .. msg end
  sink(level, self.component, msg)
end

function Logger:debug(...) return self:log(10, ...) end
function Logger:info(...) return self:log(20, ...) end
function Logger:warn(...) return self:log(30, ...) end
function Logger:error(...) return self:log(40, ...) end

-- A logger for one connection or request: same component, with a prefix.
function Logger:child(prefix)
  if self.prefix then prefix = self.prefix .. ' ' .. prefix end
  return M.new(self.component, prefix)
end

-- The framework's own logger, and errors of spawned coroutines.
M.yolk = M.new('yolk')
scheduler.report = function(traced, label)
  if scheduler.is_exit(traced) then return end
  require('yolk.errors').count_bug()
  local l = label and M.yolk:child(label) or M.yolk
  l:error('%s', tostring(traced))
end

return M
