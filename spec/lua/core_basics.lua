-- core_basics.lua - yolk.core's timers, JSON, buffers, logging and error
-- handling, run by `yolk lua` (registered with ctest as lua_core_basics).
-- Exits 0 when every check passed, 1 otherwise.
local core = require('yolk.core')

local checks, failures = 0, 0
local function check(cond, what)
  checks = checks + 1
  if not cond then
    failures = failures + 1
    io.stderr:write('FAIL: ', what, '\n', debug.traceback(), '\n')
  end
end

-- the runtime's environment
check(type(core.version) == 'string', 'core.version')
check(arg and arg[0]:match('core_basics%.lua$'), 'arg[0] is the script')
check(package.loaded['yolk.core'] == core, 'yolk.core is cached')
check(not package.path:find('?.lua;;', 1, true) or true, 'package.path')
check(package.path:find('/?/init.lua', 1, true) ~= nil, 'package.path has <lua>/?/init.lua')

-- JSON
local v = core.json_decode('{"list":[1,2,{"x":null}],"empty_a":[],"empty_o":{},"s":"\\u00e9"}')
check(core.is_array(v.list) and core.is_array(v.empty_a) and core.is_object(v.empty_o), 'markers')
check(v.list[3].x == core.null, 'null')
check(v.s == '\195\169', 'unicode escape')
local again = core.json_decode(core.json_encode(v))
check(core.json_encode(again.empty_a) == '[]' and core.json_encode(again.empty_o) == '{}', '[] and {} survive')
check(core.json_encode({ 1, -5, 2 ^ 40, 1.5 }) == '[1,-5,1099511627776,1.5]', 'numbers')
check(core.json_encode(core.array {}) == '[]' and core.json_encode({}) == '{}', 'empty tables')
local ok, err = core.json_decode('{')
check(ok == nil and type(err) == 'string', 'decode error is nil, err')
check(select(2, core.json_decode('[1] x')) == 'invalid JSON at position 4 (unexpected data after the value)',
  'trailing garbage: where it stops')
-- objects keep their key order; keys added in Lua come after
local o = core.json_decode('{"t":1,"s":0,"n":5,"p":"x"}')
check(core.json_encode(o) == '{"t":1,"s":0,"n":5,"p":"x"}', 'key order kept')
o.z = true
o.s = nil
check(core.json_encode(o) == '{"t":1,"n":5,"p":"x","z":true}', 'removed keys gone, added ones last')
check(core.json_encode(core.json_decode('{"a":1,"b":2,"a":3}')) == '{"a":3,"b":2}', 'a repeated key: last value, first place')
check(core.is_object(o) and not core.is_array(o), 'an ordered object is an object')
local ks = core.json_keys(core.json_decode('{"b":1,"a":2}'))
check(ks[1] == 'b' and ks[2] == 'a' and #ks == 2, 'json_keys')
-- a lone surrogate (a string cut inside an emoji) is read as U+FFFD, as JSON.parse does
check(core.json_decode('"a\\ud83d"') == 'a\239\191\189', 'lone surrogate escape')
check(core.json_decode('"\\ud83d\\ude00"') == '\240\159\152\128', 'surrogate pair')
check(not pcall(core.json_encode, { core.buffer('x') }), 'buffers are not JSON')

-- buffers
local b = core.buffer('a\0b')
check(#b == 3 and b:tostring() == 'a\0b' and tostring(b) == 'a\0b', 'buffer basics')
check(core.is_buffer(b) and not core.is_buffer('a\0b'), 'is_buffer')
check(core.buffer(b) == b, 'buffer copy compares equal')

-- logging (goes to stderr and the log file)
local logfile = os.tmpname()
check(core.set_log_file(logfile) == true, 'set_log_file')
core.log(30, 'core_basics', 'a warning for the log file')
core.log('debug', 'core_basics', 'below the level: not written')
core.set_log_file(nil)
local f = io.open(logfile)
local text = f:read('*a')
f:close()
os.remove(logfile)
check(text:find('WARN [core_basics] a warning for the log file', 1, true) ~= nil, 'log line in file')
check(not text:find('not written', 1, true), 'log level filters')
local bad = core.set_log_file('/nonexistent-dir/x.log')
check(bad == nil, 'set_log_file on a bad path returns nil, err')

-- servers: options, listen errors, close (HTTP and Socket.IO traffic is
-- covered by spec/e2e/lua_core.test.mjs)
check(pcall(core.server, { max_body_size = '1mb', max_header_size = 8192 }), 'size strings accepted')
check(not pcall(core.server, { max_body_size = 'lots' }), 'bad size raises')
check(not pcall(core.server, { header_timeout_ms = 'soon' }), 'bad number raises')
local s1 = core.server()
check(s1:listen('127.0.0.1', 0) == true, 'listen on port 0')
local port = s1:port()
check(type(port) == 'number' and port > 0, 'port() after listen')
local s2 = core.server()
local ok2, err2 = s2:listen('127.0.0.1', port)
check(ok2 == nil and tostring(err2):find('EADDRINUSE', 1, true) ~= nil, 'listen on a used port: nil, EADDRINUSE')
check(s2:close() == true and s2:close() == false, 'close once')
check(s2:port() == nil and select(1, s2:listen('127.0.0.1', 0)) == nil, 'a closed server is dead')
local sio = s1:socketio { pingInterval = 1000, maxHttpBufferSize = '100kb', transports = { 'websocket' } }
check(s1:socketio() == sio, 'one sio per server')
local nsp = sio:of('/chat')
check(sio:of('/chat') == nsp and nsp:name() == '/chat', 'of() returns the same namespace')
check(not pcall(sio.of, sio, 'chat'), 'namespace names start with /')
check(not pcall(s1.socketio, core.server(), { transports = { 'carrier-pigeon' } }), 'unknown transport raises')
check(nsp:socket('nope') == nil, 'nsp:socket(unknown) is nil')
check(nsp:broadcast(nil, 'ev', 1) == true, 'broadcast to nobody')
check(not pcall(nsp.broadcast, nsp, nil, 'ev', print), 'broadcast of a function raises')
check(nsp:broadcast(nil, 'connect') == false, 'a reserved event name is refused')
local fetched
nsp:fetch_sockets({ rooms = { 'r' } }, function(err, list) fetched = { err = err, n = #list } end)
s1:close()
check(sio:of('/x') == nil, 'a closing server makes no namespaces')

-- timers: order, stop, errors in callbacks do not stop the loop
local order = {}
local t0 = core.now()
core.timer(30, function() order[#order + 1] = 30 end)
core.timer(10, function() order[#order + 1] = 10 end)
core.timer(0, function() order[#order + 1] = 0 end)
local stopped = core.timer(5, function() order[#order + 1] = 'stopped timer ran' end)
check(stopped:stop() == true and stopped:stop() == false, 'timer:stop once')
check(stopped:active() == false, 'stopped timer is not active')
core.timer(15, function() error('an expected error from a timer callback') end)
core.timer(20, function() error({ code = 42 }) end) -- a non-string error object
core.timer(40, function()
  check(table.concat(order, ',') == '0,10,30', 'timer order: ' .. table.concat(order, ','))
  check(core.now() - t0 >= 30, 'time advanced')
  check(core.hrtime() > 0, 'hrtime')
  check(fetched and fetched.err == nil and fetched.n == 0, 'fetch_sockets called back')
  check(nsp:name() == nil and nsp:broadcast(nil, { 'x' }) == false, 'namespace is dead once the server closed')
  -- core.stop() cancels pending timers and ends the loop
  core.timer(100000, function() check(false, 'timer after stop ran') end)
  core.timer(0, function()
    core.stop()
    core.timer(0, function()
      -- timers made after stop still run (shutdown hooks need them)
      print(string.format('%d checks, %d failures', checks, failures))
      os.exit(failures == 0 and 0 or 1)
    end)
  end)
end)
