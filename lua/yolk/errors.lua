-- Errors raised by application code: a refusal the code meant, or a bug.
--
-- The rule (README, "Refusals and bugs"): an error is a *refusal* when the
-- application raised it on purpose, with error(string) or error(table) in
-- its own code, ctx:refuse(message, data) or ctx:throw(status, message).
-- Everything else is a *bug*: what the VM raises by itself (indexing nil,
-- calling nil, arithmetic on a string, a stack overflow...), what a C
-- function raises (bad argument #1 to 'format'), what yolk raises when it is
-- misused (rooms must be a string...), a failed assert().
--
-- The one reliable place to tell them apart is the xpcall handler: it runs
-- where the error was raised, before the stack unwinds. If the function that
-- raised is `error` itself and its caller is not a file of yolk, the
-- application called error(): a refusal, when the value is a string, a number
-- or a table (error(nil), a boolean, a userdata or a function say nothing a
-- client could be told: bugs). Messages are not parsed, so an app message
-- that happens to read "attempt to index ..." is still a refusal.
--
-- Describing an error never raises another (an error object's __tostring
-- may: scheduler.describe/tostring), and the errors that come without a
-- handler's traceback (memory, a handler that failed) are said to be such
-- (scheduler.caught).
--
-- A refusal is logged at INFO and its message goes to the client; a bug is
-- logged at ERROR with its traceback and the client gets 'server error',
-- or, under `yolk dev`, the real message (M.dev, set by yolk.reload's watch).
local scheduler = require('yolk.scheduler')

local M = {}

-- True under `yolk dev` (yolk.reload.watch sets it): clients are told what
-- a bug was, unrouted events are warned about.
M.dev = false

-- What a client is told about a bug outside `yolk dev`.
M.GENERIC = 'server error'

local raw_error = error

-- Files of the framework: every yolk module is loaded from the folder of
-- this one ("@/.../lua/yolk/").
local FRAMEWORK = debug.getinfo(1, 'S').source:match('^(@.*/)errors%.lua$') or '@yolk/'
local function in_framework(source)
  return source ~= nil and source:sub(1, #FRAMEWORK) == FRAMEWORK
end
M.in_framework = in_framework

-- ctx:refuse(message, data) raises one of these.
local Refusal = {}
Refusal.__index = Refusal
Refusal.__tostring = function(r) return tostring(r.message) end
M.Refusal = Refusal

function M.refuse(message, data, level)
  local r = setmetatable({ message = message == nil and 'refused' or tostring(message), data = data }, Refusal)
  raw_error(r, (level or 1) + 1)
end

-- "file:line" of the first frame at or above `level` that is application
-- code (a Lua function outside yolk's files), or nil.
local function app_position(level)
  for l = level + 1, level + 40 do
    local info = debug.getinfo(l, 'Sl')
    if not info then return nil end
    if info.what ~= 'C' and not in_framework(info.source) and info.currentline and info.currentline > 0 then
      local src = info.source:sub(1, 1) == '@' and info.source:sub(2) or info.short_src
      return src .. ':' .. info.currentline
    end
  end
end

-- Lua cuts long file names in messages ("...me/app/io/x.lua:3: ..."): the
-- message of a string error with the frame's whole file name, found while
-- the stack is still there (levels from the handler's caller up).
local function full_message(e)
  if type(e) ~= 'string' then return nil end
  local short = e:match('^(%.%.%.[^\n]-):%d+: ')
  if not short then return nil end
  for l = 3, 8 do
    local info = debug.getinfo(l, 'S')
    if not info then return nil end
    if info.short_src == short and info.source:sub(1, 1) == '@' then
      return info.source:sub(2) .. e:sub(#short + 1)
    end
  end
end

-- The xpcall handler for application code: scheduler.traceback's Traced,
-- plus `refusal` (true/false) and `where` (the application line that raised
-- a refusal). A value that is already Traced keeps its classification.
function M.traceback(e)
  if scheduler.is_traced(e) then return e end
  local refusal, where = false, nil
  local kind = type(e)
  local mt = kind == 'table' and getmetatable(e)
  if mt == Refusal or (kind == 'table' and scheduler.field(e, 'expose') == true and scheduler.field(e, 'status') ~= nil) then
    -- ctx:refuse / ctx:throw: raised from yolk's file on the app's behalf
    refusal = true
    where = app_position(2)
  elseif kind == 'string' or kind == 'number' or kind == 'table' then
    -- (error(nil), error(true), an error that is a userdata or a function:
    -- nothing a client could be told, a bug)
    local raiser = debug.getinfo(2, 'f')
    if raiser and raiser.func == raw_error then
      local caller = debug.getinfo(3, 'S')
      if caller and caller.what ~= 'C' and not in_framework(caller.source) then
        refusal = true
        where = app_position(2)
      end
    end
  end
  local text = scheduler.describe(e)
  if kind == 'table' then text = 'error: ' .. text end
  return setmetatable({ error = e, traceback = debug.traceback(text, 2), refusal = refusal, where = where,
    full = not refusal and full_message(e) or nil }, scheduler.Traced)
end

scheduler.app_traceback = M.traceback

-- Counts a bug for the metrics (yolk_lua_errors_total, kept by the core);
-- called where a bug is logged. A stand-in core without the counter (the
-- Lua unit tests') counts nothing.
function M.count_bug()
  local core = package.loaded['yolk.core']
  if type(core) == 'table' and core.count_lua_error then core.count_lua_error() end
end

-- A refusal? (Anything that did not go through M.traceback is a bug: the
-- handler itself failed, "error in error handling", or memory ran out.)
function M.is_refusal(traced)
  return scheduler.is_traced(traced) and traced.refusal == true
end

-- text with the application's folder left out of paths ("/home/me/app/x.lua:3"
-- -> "app/x.lua:3"), for what a developer reads in a browser.
function M.relative(text, baseDir)
  text = tostring(text)
  if not baseDir or baseDir == '' then return text end
  local prefix = baseDir:gsub('/+$', '') .. '/'
  local out, i = {}, 1
  while true do
    local s, e = text:find(prefix, i, true)
    if not s then break end
    out[#out + 1] = text:sub(i, s - 1)
    i = e + 1
  end
  out[#out + 1] = text:sub(i)
  return table.concat(out)
end

-- The message of a bug as Lua gave it (with the file and line, relative to
-- baseDir), without the traceback.
function M.bug_message(traced, baseDir)
  local e = scheduler.is_traced(traced) and traced.error or traced
  local text = scheduler.describe(e)
  if scheduler.is_traced(traced) and traced.full then text = traced.full end
  return M.relative(text, baseDir)
end

-- The message and the traceback, paths relative to baseDir: what `yolk dev`
-- shows in an HTTP 500.
function M.details(traced, baseDir)
  local tb = scheduler.is_traced(traced) and traced.traceback or ''
  local rest = tb:match('\n(stack traceback:.*)$') or ''
  return M.bug_message(traced, baseDir) .. '\n' .. M.relative(rest, baseDir)
end

-- What the client is told: message and data. A refusal's own message (and
-- data); for a bug 'server error', or the real message under `yolk dev`.
function M.public(traced, baseDir)
  if M.is_refusal(traced) then
    local e = traced.error
    if type(e) == 'table' then
      local msg = scheduler.field(e, 'message')
      if msg ~= nil then
        -- a message that cannot be made a string: the client is told no more
        local ok, s = pcall(tostring, msg)
        msg = ok and type(s) == 'string' and s or nil
      end
      return msg or 'refused', scheduler.field(e, 'data')
    end
    return scheduler.message(e), nil
  end
  if M.dev then return M.bug_message(traced, baseDir), nil end
  return M.GENERIC, nil
end

-- " (app/io/middleware/auth.lua:7)": where a refusal was raised, for its log line.
function M.where(traced, baseDir)
  local w = scheduler.is_traced(traced) and traced.where
  if not w then return '' end
  return ' (' .. M.relative(w, baseDir) .. ')'
end

-- The distance between two short names (insertions, deletions, changes).
local function distance(a, b)
  if #a > 64 or #b > 64 then return math.huge end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end
M.distance = distance

-- The candidate a misspelt name most likely meant (at most two edits away,
-- or one in four letters for long names; case ignored), or nil: for
-- "did you mean ...?".
function M.suggest(name, candidates)
  name = tostring(name):lower()
  local best, best_d = nil, math.max(2, math.floor(#name / 4)) + 1
  for _, c in ipairs(candidates) do
    local d = distance(name, tostring(c):lower())
    if d < best_d and d < #name then best, best_d = c, d end
  end
  return best
end

return M
