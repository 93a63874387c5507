-- Tiny test runner for yolk's Lua modules, run inside the yolk runtime
-- (yolk.core is the real one; spec/lua/fake_core.lua stands in for the
-- Socket.IO server where a test drives the framework by hand):
--   build/yolk lua spec/lua/run.lua [filter]
-- Runs spec/lua/*_spec.lua; exits non-zero when any test fails.
local here = (arg and arg[0] or 'spec/lua/run.lua'):match('^(.*)/[^/]*$') or '.'
local root = here .. '/../..'
package.path = root .. '/lua/?.lua;' .. root .. '/lua/?/init.lua;' .. here .. '/?.lua;' .. package.path

local fs = require('yolk.fs')
local filter = arg and arg[1]

local T = { passed = 0, failed = 0, skipped = 0, failures = {} }
local stack = {}

local function fullname(name)
  local parts = {}
  for _, s in ipairs(stack) do parts[#parts + 1] = s end
  parts[#parts + 1] = name
  return table.concat(parts, ' > ')
end

function _G.describe(name, fn)
  stack[#stack + 1] = name
  fn()
  stack[#stack] = nil
end

function _G.it(name, fn)
  local full = fullname(name)
  if filter and not full:find(filter, 1, true) then return end
  T.in_pending = false
  local ok, err = xpcall(fn, function(e) return debug.traceback(tostring(e), 2) end)
  if ok and T.in_pending then
    T.in_pending = false
  elseif ok then
    T.passed = T.passed + 1
    io.write('  ok   ', full, '\n')
  else
    T.failed = T.failed + 1
    T.failures[#T.failures + 1] = full .. '\n' .. err
    io.write('  FAIL ', full, '\n')
  end
end

-- pending(reason): inside it(), marks that test skipped; outside, a placeholder.
function _G.pending(name)
  T.skipped = T.skipped + 1
  T.in_pending = true
  io.write('  skip ', fullname(name), '\n')
end

local function show(v, seen)
  seen = seen or {}
  if type(v) == 'string' then return string.format('%q', v) end
  if type(v) ~= 'table' then return tostring(v) end
  if seen[v] then return '<cycle>' end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. '=' .. show(v[k], seen) end
  return '{' .. table.concat(parts, ', ') .. '}'
end
_G.show = show

local function deep_eq(a, b)
  if a == b then return true end
  if type(a) ~= 'table' or type(b) ~= 'table' then return false end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
_G.deep_eq = deep_eq

function _G.eq(actual, expected, what)
  if not deep_eq(actual, expected) then
    error(('%sexpected %s, got %s'):format(what and (what .. ': ') or '', show(expected), show(actual)), 2)
  end
end

function _G.ok(v, what)
  if not v then error((what or 'expected a true value') .. ', got ' .. show(v), 2) end
end

function _G.raises(fn, pattern)
  local okk, err = pcall(fn)
  if okk then error('expected an error' .. (pattern and (' matching ' .. pattern) or ''), 2) end
  local msg = type(err) == 'table' and tostring(err.message or err) or tostring(err)
  if pattern and not msg:find(pattern) then
    error(('error %q does not match %q'):format(msg, pattern), 2)
  end
  return err
end

_G.SPEC_DIR = here

local files = {}
for _, name in ipairs(fs.list(here) or {}) do
  if name:match('_spec%.lua$') then files[#files + 1] = name end
end
for _, name in ipairs(files) do
  io.write(name, '\n')
  local chunk, err = loadfile(here .. '/' .. name)
  if not chunk then
    T.failed = T.failed + 1
    T.failures[#T.failures + 1] = name .. ': ' .. tostring(err)
  else
    local okk, e = xpcall(chunk, debug.traceback)
    if not okk then
      T.failed = T.failed + 1
      T.failures[#T.failures + 1] = name .. ': ' .. tostring(e)
    end
  end
end

for _, f in ipairs(T.failures) do io.write('\nFAILED: ', f, '\n') end
io.write(('\n%d passed, %d failed, %d skipped\n'):format(T.passed, T.failed, T.skipped))
io.stdout:flush()
os.exit(T.failed == 0 and 0 or 1, true)
