-- core_runaway.lua - the runtime's part in containing runaway Lua code, run
-- by `yolk lua` (registered with ctest as lua_core_runaway): the Lua heap's
-- cap (core.memory, core.set_memory_limit; lua_mem.c) and the watchdog
-- (core.watchdog, core.doing; lua_watchdog.c). Its log lines are read back
-- from a log file. Exits 0 when every check passed, 1 otherwise.
local core = require('yolk.core')

local checks, failures = 0, 0
local function check(cond, what)
  checks = checks + 1
  if not cond then
    failures = failures + 1
    io.stderr:write('FAIL: ', what, '\n', debug.traceback(), '\n')
  end
end

local MB = 1024 * 1024
local log_path = os.tmpname()
check(core.set_log_file(log_path), 'log file')
local function log_text()
  local f = io.open(log_path)
  local s = f and f:read('*a') or ''
  if f then f:close() end
  return s
end

-- the cap: 1 GB by default, at least 8 MB
local m = core.memory()
check(m.limit == 1024 * MB and m.used > 0 and m.used < 16 * MB and m.refused == 0, 'core.memory() at start')
check(not pcall(core.set_memory_limit, '4mb'), 'a limit below 8 MB is refused')
check(not pcall(core.set_memory_limit, 'lots'), 'a limit that is not a size is refused')
check(core.set_memory_limit('16mb') == 1024 * MB, 'set_memory_limit returns the previous limit')
check(core.memory().limit == 16 * MB, 'the new limit')

-- an allocating loop (compiled by the JIT): "not enough memory" in its own pcall
local ok, err = pcall(function()
  local t = {}
  for i = 1, 1e9 do t[i] = { i } end
end)
check(not ok and err == 'not enough memory', 'refused past the limit: ' .. tostring(err))
check(core.memory().refused == 1, 'one refusal counted')
check(core.memory().used <= 17 * MB, 'the heap stayed under limit + reserve: ' .. core.memory().used)

-- core.json_decode is not refused midway (its reader's C buffers, used for
-- deep nesting, long keys and escaped strings, would be lost to the error;
-- the ASan build's leak check sees them): the code keeping the values is,
-- at its next allocation
local doc = ('['):rep(40) .. '{"' .. ('k'):rep(300) .. '":"a\\nb' .. ('x'):rep(1000) .. '"}' .. (']'):rep(40)
check(#core.json_decode(doc) == 1, 'the document decodes')
collectgarbage()
local okj, errj = pcall(function()
  local keep = {}
  for i = 1, 1e9 do keep[i] = core.json_decode(doc) end
end)
collectgarbage() -- (the reserve is lent already: room for the checks below)
check(not okj and errj == 'not enough memory', 'decoding refused past the limit: ' .. tostring(errj))
check(core.memory().refused == 2, 'a second refusal counted')

-- the callbacks from the loop are followed by the safe point: a full
-- collection after a refusal, a report, the reserve taken back
core.timer(1, function()
  local ok2, err2 = pcall(function()
    local t = {}
    for i = 1, 1e9 do t[i] = 'x' .. i end
  end)
  check(not ok2 and err2 == 'not enough memory', 'refused again, from a callback')
end)

core.timer(20, function()
  local used = core.memory().used
  check(used < 4 * MB, 'collected at the safe point: ' .. used)
  local text = log_text()
  check(text:find('WARN [lua] the Lua heap reached config.lua.memoryLimit (16.0 MB) while running a Lua callback: ', 1, true),
    'the safe point reported the refusal:\n' .. text)
  check(text:find('MB before a full collection, %d+%.%d MB after'), 'before and after')

  -- live data up to the limit (a leak): small allocations still fit, big
  -- ones fail; once released, the heap comes back
  leak = {}
  local ok3 = pcall(function()
    for i = 1, 1e9 do leak[i] = string.rep('y', 4096) .. i end
  end)
  check(not ok3, 'the leak hits the cap')
end)

core.timer(40, function()
  check(core.memory().used > 15 * MB, 'the leak is live: ' .. core.memory().used)
  local small = pcall(function() return { 1, 2, 3 }, ('z'):rep(100) end)
  check(small, 'a small allocation still works')
  local big = pcall(function() return ('w'):rep(2 * MB) end)
  check(not big, 'a big one does not')
  leak = nil
end)

core.timer(60, function()
  collectgarbage()
  check(core.memory().used < 4 * MB, 'released: ' .. core.memory().used)
  local text = log_text()
  check(text:find('ERROR %[lua%] the Lua heap reached config.lua.memoryLimit %(16.0 MB%) while running a Lua callback: '
    .. '%d+ allocations? refused, and it still holds %d+%.%d MB after a full collection: the application keeps '
    .. 'that much reachable %(a leak%?%)') ~= nil,
    'the leak was reported as such:\n' .. text)
  check(pcall(function() return ('v'):rep(4 * MB) end), 'allocations work again')

  -- the watchdog: a callback that runs longer than the threshold is named
  -- while it runs, and timed once it returns
  check(not pcall(core.watchdog, -1), 'watchdog: milliseconds')
  check(pcall(core.doing, 1, {}, nil), 'core.doing ignores what is not a string')
  core.watchdog(50)
  core.timer(1, function()
    core.doing('event', 'spin', '/live')
    local t0 = core.hrtime()
    while core.hrtime() - t0 < 200e6 do end
  end)
  core.timer(300, function()
    local w = log_text()
    check(w:find("WARN [lua] event 'spin' on /live has kept the loop busy for 0.", 1, true),
      'the watchdog named the callback:\n' .. w)
    check(w:find("(config.lua.blockedWarning = 50 ms): no other client is served until it returns", 1, true), 'and the threshold')
    check(w:find("WARN %[lua%] event 'spin' on /live returned after 0%.[12]%d s"), 'then timed it:\n' .. w)
    local before = #w
    core.timer(1, function()
      core.doing('request', 'GET', '/quick')
      local t0 = core.hrtime()
      while core.hrtime() - t0 < 10e6 do end
    end)
    core.timer(150, function()
      check(not log_text():sub(before + 1):find('GET /quick', 1, true), 'a short callback is not warned about')
      core.watchdog(0)
      core.set_log_file(nil)
      os.remove(log_path)
      print(string.format('%d checks, %d failures', checks, failures))
      os.exit(failures == 0 and 0 or 1)
    end)
  end)
end)
