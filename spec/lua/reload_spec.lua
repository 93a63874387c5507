-- yolk.reload: generations swap only when loading succeeds; restart-only
-- settings are reported and pinned; app modules are re-required.
local reload = require('yolk.reload')
local application = require('yolk.application')
local fs = require('yolk.fs')

local ROOT = SPEC_DIR .. '/../..'

local function copy_fixture()
  local tmp = os.tmpname()
  os.remove(tmp)
  assert(os.execute(('cp -r %q %q'):format(ROOT .. '/spec/reload_app', tmp)) == 0)
  return tmp
end

local function rewrite(path, from, to)
  local text = assert(fs.read(path))
  local i, j = text:find(from, 1, true)
  assert(i, path .. ' contains ' .. from)
  local f = assert(io.open(path, 'wb'))
  f:write(text:sub(1, i - 1) .. to .. text:sub(j + 1))
  f:close()
end

-- A runtime stand-in: reload only needs .gen and :use(gen).
local function fake_boot(dir)
  local opts = { baseDir = dir, env = 'unittest', shared = {} }
  local gen = application.load(opts)
  local rt = { gen = gen, uses = 0 }
  function rt:use(g) self.gen = g; self.uses = self.uses + 1 end
  return { runtime = rt, opts = opts }
end

describe('reload', function()
  it('diff lists changed paths; functions count as equal', function()
    local f1, f2 = function() end, function() end
    local d = reload.diff({ a = 1, b = { c = 'x', f = f1 } }, { a = 1, b = { c = 'y', f = f2 }, n = 4 })
    eq(#d, 2)
    eq(d[1], 'b.c ("x" -> "y")')
    eq(d[2], 'n (nil -> 4)')
  end)

  it('restart-only settings: listen port, workers, io.init, body limit; pin keeps the running ones', function()
    local g1, g2 = function() end, function() end
    local old = { cluster = { listen = { port = 1 } }, io = { init = { pingInterval = 5 }, generateId = g1 }, greeting = 'a' }
    local new = { cluster = { listen = { port = 2 }, workers = 3 }, io = { init = { pingInterval = 5 }, generateId = g2 },
      greeting = 'b', bodyParser = { jsonLimit = 10 } }
    local c = reload.restart_changes(old, new)
    eq(table.concat(c, '; '), 'cluster.listen.port (1 -> 2); cluster.workers (nil -> 3); bodyParser.jsonLimit (nil -> 10)')
    reload.pin(old, new)
    eq(#reload.restart_changes(old, new), 0)
    eq(new.cluster.listen.port, 1)
    eq(new.greeting, 'b')
    ok(new.io.generateId == g2, 'unchanged restart-only settings keep the new code')
  end)

  it("config.lua: the heap's cap and the master's blockedRestart need a restart, the watchdog's warning does not", function()
    local old = { lua = { memoryLimit = '1gb', blockedWarning = 1000, blockedRestart = 10000 } }
    local new = { lua = { memoryLimit = '2gb', blockedWarning = 200, blockedRestart = 5000 } }
    eq(table.concat(reload.restart_changes(old, new), '; '),
      'lua.memoryLimit ("1gb" -> "2gb"); lua.blockedRestart (10000 -> 5000)')
    reload.pin(old, new)
    eq(new.lua.memoryLimit, '1gb')
    eq(new.lua.blockedWarning, 200)
  end)

  it('snapshots the app files and lists the changed ones', function()
    local dir = copy_fixture()
    local a = reload.snapshot(dir)
    ok(a['app/router.lua'] and a['config/config.default.lua'] and a['app/lib/version.lua'], 'app/ and config/ files')
    ok(a['package.json'] == nil, 'only app/, config/ and app.lua')
    rewrite(dir .. '/app/router.lua', 'return function(app)', 'return function(app) --')
    os.remove(dir .. '/app/lib/version.lua')
    local f = assert(io.open(dir .. '/app.lua', 'wb')); f:write('return {}'); f:close()
    eq(table.concat(reload.changed_files(a, reload.snapshot(dir)), ' '), 'app.lua app/lib/version.lua app/router.lua')
    os.execute(('rm -rf %q'):format(dir))
  end)

  it('describes what changed', function()
    eq(reload.describe('SIGHUP'), 'SIGHUP')
    eq(reload.describe { 'app/a.lua' }, 'app/a.lua changed')
    eq(reload.describe { '1', '2', '3', '4', '5', '6', '7' }, '1, 2, 3, 4, 5 and 2 more changed')
  end)

  it('swaps in a new generation, keeps the old one when loading fails', function()
    local dir = copy_fixture()
    local boot = fake_boot(dir)
    local rt = boot.runtime
    local first = rt.gen
    rewrite(dir .. '/config/config.default.lua', "'greeting v1'", "'greeting v2'")
    local done = reload.reload(boot, { 'config/config.default.lua' })
    eq(done, true)
    eq(rt.uses, 1)
    ok(rt.gen ~= first, 'a new generation')
    eq(rt.gen.config.greeting, 'greeting v2')
    eq(first.config.greeting, 'greeting v1', 'the old generation is untouched')
    eq(first.retired, true, 'the old generation is marked retired')
    eq(rt.gen.retired, nil)
    eq(rt.gen.shared, first.shared, 'app.shared is shared')

    local second = rt.gen
    rewrite(dir .. '/app/io/controller/main.lua', 'function Main:hello()', 'function Main:hello(((')
    local ok2, err = reload.reload(boot, 'test')
    eq(ok2, false)
    ok(err:find('main%.lua:%d+:'), 'names file and line: ' .. err)
    ok(rt.gen == second, 'the running generation stays')
    eq(rt.uses, 1)
    os.execute(('rm -rf %q'):format(dir))
  end)

  it('re-requires the modules the app loaded from its directory, and restores them on failure', function()
    local dir = copy_fixture()
    local boot = fake_boot(dir)
    local v1 = package.loaded['app.lib.version']
    eq(v1.text, 'lib v1')
    rewrite(dir .. '/app/lib/version.lua', "'lib v1'", "'lib v2'")
    eq(reload.reload(boot, 'test'), true)
    eq(package.loaded['app.lib.version'].text, 'lib v2')
    local v2 = package.loaded['app.lib.version']
    rewrite(dir .. '/app/lib/version.lua', "'lib v2'", "'lib v3'")
    rewrite(dir .. '/app/router.lua', 'return function(app)', 'return function(app) error("router broken")')
    eq(reload.reload(boot, 'test'), false)
    ok(package.loaded['app.lib.version'] == v2, 'the running generation\'s module is back')
    ok(package.loaded['yolk.reload'] == reload, 'framework modules are never dropped')
    package.loaded['app.lib.version'] = nil
    os.execute(('rm -rf %q'):format(dir))
  end)

  it('a restart-only change is pinned in the new generation', function()
    local dir = copy_fixture()
    local boot = fake_boot(dir)
    rewrite(dir .. '/config/config.default.lua', 'port = 7001', 'port = 7002')
    rewrite(dir .. '/config/config.default.lua', "'greeting v1'", "'greeting v2'")
    eq(reload.reload(boot, 'test'), true)
    eq(boot.runtime.gen.config.cluster.listen.port, 7001)
    eq(boot.runtime.gen.config.greeting, 'greeting v2')
    package.loaded['app.lib.version'] = nil
    os.execute(('rm -rf %q'):format(dir))
  end)
end)
