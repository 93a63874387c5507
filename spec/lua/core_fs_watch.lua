-- core_fs_watch.lua - core.watch (lua_fs_watch.c) and the framework's tree
-- watcher (lua/yolk/watch.lua), run by `yolk lua` (registered with ctest as
-- lua_core_fs_watch). Exits 0 when every check passed, 1 otherwise.
local core = require('yolk.core')
local fs = require('yolk.fs')
local watch = require('yolk.watch')

local checks, failures = 0, 0
local function check(cond, what)
  checks = checks + 1
  if not cond then
    failures = failures + 1
    io.stderr:write('FAIL: ', what, '\n', debug.traceback(), '\n')
  end
end

local function finish()
  print(string.format('%d checks, %d failures', checks, failures))
  os.exit(failures == 0 and 0 or 1)
end

local function write(path, text)
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
end

local tmp = os.tmpname()
os.remove(tmp)
check(fs.mkdirp(tmp .. '/app/sub'), 'mkdir')

-- bad arguments and paths
check(not pcall(core.watch, tmp), 'watch needs a function')
local none, err = core.watch(tmp .. '/does-not-exist', function() end)
check(none == nil and type(err) == 'string' and err:find('does%-not%-exist'), 'a missing path: nil, err')

-- the guard against a long hang
local deadline = core.timer(10000, function()
  check(false, 'timed out')
  finish()
end)

-- step 1: a raw watch sees a file written in its directory; stop() inside the callback is fine
local step2
local seen = {}
local w1
w1 = core.watch(tmp .. '/app', function(name, events)
  seen[#seen + 1] = tostring(name) .. ':' .. tostring(events)
  if name == 'a.lua' then
    check(events == 'change' or events == 'rename' or events == 'rename,change', 'events: ' .. tostring(events))
    check(w1:active(), 'active in its callback')
    check(w1:stop() == true, 'stop from the callback')
    check(w1:stop() == false and not w1:active(), 'stopped twice')
    check(w1:path() == nil, 'no path after stop')
    core.timer(0, step2)
  end
end)
check(w1 and w1:active(), 'watch is active')
check(w1:path() == tmp .. '/app', 'watch:path()')
core.timer(20, function() write(tmp .. '/app/a.lua', 'return 1\n') end)

-- step 2: the tree watcher: one debounced call per burst, sub-directories,
-- directories created later, editor files ignored
function step2()
  local calls = {}
  local tree
  local phase = 1
  tree = watch.tree {
    root = tmp, dirs = { 'app', 'config' }, files = { 'app.lua' }, delay = 80,
    on_change = function(changed)
      calls[#calls + 1] = table.concat(changed, ' ')
      if phase == 1 then
        check(#calls == 1, 'one call for a burst')
        check(calls[1] == 'app/a.lua app/sub/b.lua', 'the burst: ' .. calls[1])
        phase = 2
        -- a new directory, then a file in it after it is watched
        fs.mkdirp(tmp .. '/app/new')
        write(tmp .. '/app/.a.lua.swp', 'x')
      elseif phase == 2 then
        check(calls[2] == 'app/new', 'the new directory: ' .. calls[2])
        check(tree.watches['app/new'] ~= nil, 'the new directory is watched')
        phase = 3
        write(tmp .. '/app/new/c.lua', 'return 3\n')
      elseif phase == 3 then
        check(calls[3] == 'app/new/c.lua', 'a file in the new directory: ' .. calls[3])
        phase = 4
        -- config/ did not exist: creating it is seen through the root watch
        fs.mkdirp(tmp .. '/config')
        write(tmp .. '/public.txt', 'not watched')
      elseif phase == 4 then
        check(calls[4] == 'config', 'config/ created: ' .. calls[4])
        check(tree.watches['config'] ~= nil, 'config/ is watched')
        phase = 5
        write(tmp .. '/app.lua', 'return {}\n')
      elseif phase == 5 then
        check(calls[5] == 'app.lua', 'app.lua at the root: ' .. calls[5])
        local n = tree:count()
        check(n == 5, 'watches: root, app, app/sub, app/new, config: ' .. n)
        phase = 6
        -- a symlink back up the tree is not followed forever
        os.execute(('ln -s .. %q'):format(tmp .. '/app/sub/loop'))
        os.execute(('rm -rf %q'):format(tmp .. '/app/new'))
      elseif phase == 6 then
        local c6 = ' ' .. calls[6] .. ' '
        check(c6:find(' app/new ', 1, true) and c6:find(' app/sub/loop ', 1, true), 'removed directory, new link: ' .. calls[6])
        check(tree.watches['app/new'] == nil, 'the removed directory is no longer watched')
        check(tree:count() == 4, 'watches after removal: ' .. tree:count())
        tree:stop()
        check(tree:count() == 0, 'stop drops every watch')
        write(tmp .. '/app/a.lua', 'return 4\n')
        core.timer(200, function()
          check(#calls == 6, 'nothing after stop')
          check(watch.ignored('x.lua~') and watch.ignored('.x.swp') and watch.ignored('4913')
            and not watch.ignored('x.lua'), 'ignored names')
          -- a watch left active is closed by core.stop()
          local left = core.watch(tmp, function() end)
          check(left:active(), 'left active')
          deadline:stop()
          core.stop()
          core.timer(0, function()
            check(not left:active(), 'core.stop() closes watches')
            os.execute('rm -rf ' .. tmp)
            finish()
          end)
        end)
      end
    end,
  }
  check(tree:count() == 3, 'root, app, app/sub watched: ' .. tree:count())
  -- a burst of writes in two directories
  write(tmp .. '/app/a.lua', 'return 2\n')
  core.timer(20, function() write(tmp .. '/app/sub/b.lua', 'return 2\n') end)
  core.timer(40, function() write(tmp .. '/app/a.lua', 'return 22\n') end)
end
