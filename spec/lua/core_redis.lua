-- core_redis.lua - core.redis (lua_redis.c) and the framework's client (lua/yolk/redis.lua),
-- run by `yolk lua` (registered with ctest as lua_core_redis) against a redis-server it
-- starts itself on a free port (under `timeout`, so it cannot outlive a crashed test), and
-- kills at the end. Prints "<n> checks, <k> failures"; exits 0 when every check passed.
-- Without redis-server it only checks what needs no server.
local core = require('yolk.core')
local redis = require('yolk.redis')
local scheduler = require('yolk.scheduler')

local checks, failures = 0, 0
local function check(cond, what)
  checks = checks + 1
  if not cond then
    failures = failures + 1
    io.stderr:write('FAIL: ', tostring(what), '\n', debug.traceback(), '\n')
  end
end

-- server_pid is timeout(1)'s, which passes SIGTERM on to redis-server and then exits
local server_pid
local function kill_server()
  if server_pid then
    os.execute(('kill %d 2>/dev/null; for i in $(seq 100); do kill -0 %d 2>/dev/null || break; sleep 0.02; done')
      :format(server_pid, server_pid))
  end
  server_pid = nil
end

local function finish()
  kill_server()
  print(string.format('%d checks, %d failures', checks, failures))
  os.exit(failures == 0 and 0 or 1)
end

-- ---- no server needed ------------------------------------------------------------------

local c0, err0 = core.redis { url = 'http://nope' }
check(c0 == nil and tostring(err0):find('redis://', 1, true), 'a bad url: nil, err')
check(not pcall(core.redis, { port = 'x' }), 'a bad port raises')
check(not pcall(core.redis, { db = -1 }), 'a bad db raises')
check(not pcall(core.redis, { host = 5 }), 'a bad host raises')
local ok_new, e_new = redis.new('rediss://x')
check(ok_new == nil and e_new:find('TLS'), 'rediss: nil, err')

-- calling outside a coroutine is misuse: it raises, clearly
do
  local c = assert(redis.new { port = 1, name = 'outside' })
  local ok, e = pcall(function() return c:get('k') end)
  check(not ok and tostring(e):find('must be called from a yolk coroutine', 1, true), 'outside a coroutine: ' .. tostring(e))
  ok, e = pcall(function() return c:pipeline():get('k'):exec() end)
  check(not ok and tostring(e):find('pipeline:exec', 1, true), 'pipeline outside a coroutine')
  c:close()
  check(c:status() == 'closed', 'closed status')
end

local function sh(cmd)
  local f = io.popen(cmd)
  local out = f:read('*a')
  f:close()
  return out
end

if sh('command -v redis-server'):match('^%s*$') then
  io.stderr:write('core_redis: redis-server not found, skipping the server tests\n')
  finish()
end

-- a free port: ask the kernel through a throwaway server
local probe = core.server {}
assert(probe:listen('127.0.0.1', 0))
local port = probe:port()
probe:close()

local function start_server()
  server_pid = tonumber(sh(('timeout 120 redis-server --port %d --bind 127.0.0.1 --save "" --appendonly no '
    .. '--protected-mode no --daemonize no >/dev/null 2>&1 & echo $!'):format(port)):match('%d+'))
end
start_server()
local url = ('redis://127.0.0.1:%d'):format(port)

local deadline = core.timer(20000, function()
  check(false, 'timed out')
  finish()
end)

local function sleep(ms) scheduler.sleep(ms) end

scheduler.spawn_ex('core_redis', function(e)
  check(false, 'raised: ' .. tostring(e))
  finish()
end, function()
  -- wait for the server: the raw connection says ready
  local conn = assert(core.redis { url = url, name = 'raw', connectTimeout = 300 })
  for _ = 1, 100 do
    if conn:status() == 'ready' then break end
    sleep(50)
  end
  check(conn:status() == 'ready', 'ready: ' .. conn:status())
  check(conn:name() == 'raw', 'name')

  -- the raw API: fn(reply, err) exactly once, later, in order
  local got = {}
  local function rec(i) return function(v, e) got[#got + 1] = { i, v, e } end end
  check(conn:command(rec(1), 'SET', 'a', 'x') == true, 'command returns true')
  check(conn:command(rec(2), 'GET', 'a'), 'get')
  check(conn:command(rec(3), 'GET', 'missing'), 'get missing')
  check(conn:command(rec(4), 'INCR', 'a'), 'incr a string')
  check(#got == 0, 'no callback inside command()')
  sleep(50)
  check(#got == 4 and got[1][1] == 1 and got[4][1] == 4, 'in order')
  check(got[1][2] == 'OK' and got[2][2] == 'x', 'status and bulk replies')
  check(got[3][2] == nil and got[3][3] == nil, 'nil reply: fn(nil)')
  check(got[4][2] == nil and tostring(got[4][3]):find('^ERR'), 'error reply: fn(nil, message)')
  check(not pcall(conn.command, conn, rec(9), 'SET', 'a', {}), 'a table argument raises')
  check(not pcall(conn.command, conn, 'notafunction', 'GET', 'a'), 'fn must be a function')

  -- values, through the client
  local c = assert(redis.new { url = url, name = 'client', connectTimeout = 300 })
  check(c:set('n', 7) == 'OK', 'set a number')
  check(c:incrby('n', 3) == 10, 'integer reply')
  c:del('l')
  c:rpush('l', 'a', 'b')
  local arr = c:lrange('l', 0, -1)
  check(getmetatable(arr) == core.array_mt and #arr == 2 and arr[2] == 'b', 'arrays are marked arrays')
  check(core.json_encode(c:lrange('nothing', 0, -1)) == '[]', 'an empty array encodes as []')
  local mixed = c:mget('n', 'missing')
  check(mixed[1] == '10' and mixed[2] == core.null, 'nil inside an array is core.null')
  -- MULTI/EXEC: an error inside an array is { err = message }
  local p = c:pipeline():multi():incr('n'):incr('l'):call('exec')
  local res = p:exec()
  check(res[1] == 'OK' and res[2] == 'QUEUED' and res[3] == 'QUEUED', 'pipeline of multi: ' .. core.json_encode(res))
  local ex = res[4]
  check(type(ex) == 'table' and ex[1] == 11 and type(ex[2]) == 'table' and tostring(ex[2].err):find('^WRONGTYPE'),
    'an error inside EXEC: ' .. core.json_encode(ex))
  -- many arguments (more than fit on the C stack arrays)
  local many = {}
  for i = 1, 40 do many[#many + 1] = 'f' .. i; many[#many + 1] = i end
  check(c:hset('big', unpack(many)) == 40, 'hset with 80 arguments')
  check(c:hget('big', 'f40') == '40', 'hget')
  -- binary keys and values
  local bin = '\0\255\r\n\0'
  check(c:set(bin, core.buffer(bin)) == 'OK', 'binary key and buffer value')
  check(c:get(bin) == bin, 'binary round trip')
  -- SUBSCRIBE would take the connection over: misuse
  local sok, serr = pcall(c.subscribe, c, 'x')
  check(not sok and tostring(serr):find('SUBSCRIBE needs a subscriber connection'), 'subscribe: ' .. tostring(serr))
  sok, serr = pcall(function() return c:pipeline():psubscribe('x*') end)
  check(not sok and tostring(serr):find('PSUBSCRIBE needs'), 'psubscribe in a pipeline: ' .. tostring(serr))
  -- the C layer refuses it as well
  local v, e = conn:command(function() end, 'MONITOR')
  check(v == nil and e:find('MONITOR needs a subscriber connection'), 'raw monitor: ' .. tostring(e))
  -- a coroutine waiting on a command when the client closes gets nil, err
  local waited
  scheduler.spawn(function() waited = { c:blpop('never', 0) } end)
  sleep(30)
  check(waited == nil, 'blpop waits')
  check(c:close() == true and c:close() == false, 'close once')
  check(waited and waited[1] == nil and waited[2] == 'redis: connection closed', 'waiter woken by close')
  v, e = c:get('a')
  check(v == nil and e == 'redis: connection closed', 'calls on a closed client: ' .. tostring(e))
  check(c:status() == 'closed', 'status closed')

  -- Redis goes away: fail fast; it comes back: the same connection object works again
  local c2 = assert(redis.new { url = url, name = 'restart' })
  check(c2:ping() == 'PONG', 'ping')
  local inflight
  scheduler.spawn(function() inflight = { c2:blpop('never', 0) } end)
  sleep(20)
  kill_server()
  for _ = 1, 100 do
    if inflight then break end
    sleep(20)
  end
  check(inflight and inflight[1] == nil and tostring(inflight[2]):find('^redis: connection lost'),
    'in-flight command: ' .. tostring(inflight and inflight[2]))
  local t0 = core.hrtime()
  v, e = c2:get('a')
  check(v == nil and tostring(e):find('^redis: not connected'), 'down: ' .. tostring(e))
  check((core.hrtime() - t0) / 1e6 < 50, 'fails fast')
  check(c2:status() == 'down', 'status down')
  start_server()
  local back
  for _ = 1, 200 do
    back = c2:ping()
    if back == 'PONG' then break end
    sleep(25)
  end
  check(back == 'PONG', 'back after the restart')
  check(c2:get('a') == nil, 'a fresh server')

  -- a pending command at teardown: os.exit while it waits (the runtime closes the
  -- connection and releases the callback's ref without running Lua; ASan checks it)
  conn:command(function() check(false, 'no Lua after os.exit') end, 'BLPOP', 'never', 0)
  deadline:stop()
  finish()
end)
