-- Connection/packet semantics against a fake yolk.core.
local scheduler = require('yolk.scheduler')
local logger = require('yolk.logger')
local application = require('yolk.application')
local io_mod = require('yolk.io')
local fake = require('fake_core')

local function setup()
  local clock = fake.clock()
  scheduler.set_timer(clock.timer)
  local logs = {}
  logger.set_sink(function(level, comp, msg) logs[#logs + 1] = { level = level, msg = msg } end)
  local sio = fake.sio(clock)
  local rt = io_mod.runtime(sio)
  local app = application.load { baseDir = SPEC_DIR .. '/fixtures/app1', env = 'unittest' }
  rt:use(app)
  app.testlog = {}
  return { clock = clock, sio = sio, rt = rt, app = app, log = app.testlog, logs = logs, nsp = sio:of('/') }
end

local function find_log(logs, pat)
  for _, l in ipairs(logs) do if l.msg:find(pat, 1, true) then return l end end
end

describe('connection middleware', function()
  it('admits in the innermost next() and runs the after-code on disconnect', function()
    local t = setup()
    local s = t.nsp:connect('s1')
    eq(s:names(), { 'admit' })
    eq(t.log, { 'auth before s1' })
    t.nsp:close(s, 'client namespace disconnect')
    eq(t.log, { 'auth before s1', 'route disconnect client namespace disconnect',
      'auth after s1 client namespace disconnect' })
  end)

  it('an error before next() refuses with the message, without position', function()
    local t = setup()
    local s = t.nsp:connect('s2', { query = { deny = 'string' } })
    eq(s:names(), { 'refuse' })
    eq(s.calls[1][2], { message = 'not authorized' })
  end)

  it('a table error refuses with message and data', function()
    local t = setup()
    local s = t.nsp:connect('s3', { query = { deny = 'table' } })
    eq(s.calls[1][2], { message = 'nope', data = { code = 42 } })
  end)

  it('a middleware returning without next() still admits', function()
    local t = setup()
    local s = t.nsp:connect('s4', { query = { skip = '1' } })
    eq(s:names(), { 'admit' })
    t.nsp:close(s, 'x')
    eq(t.log, { 'auth before s4', 'route disconnect x' })
  end)

  it('emit + disconnect before next() happen before admit (C orders the wire)', function()
    local t = setup()
    local s = t.nsp:connect('s5', { query = { kick = '1' } })
    eq(s:names(), { 'emit:deny', 'disconnect', 'admit' })
  end)

  it('waits in middleware without blocking other connections', function()
    local t = setup()
    local a = t.nsp:connect('a', { query = { wait = '100' } })
    local b = t.nsp:connect('b')
    eq(a:names(), {})
    eq(b:names(), { 'admit' })
    t.clock.advance(100)
    eq(a:names(), { 'admit' })
  end)

  it('a client gone during the wait: next() returns at once with the reason', function()
    local t = setup()
    local a = t.nsp:connect('a', { query = { wait = '100' } })
    t.nsp:close(a, 'transport close')
    t.clock.advance(100)
    eq(t.log, { 'auth before a', 'auth after a transport close' }) -- no disconnect route: never admitted
  end)
end)

describe('packets', function()
  it('packet middleware wraps the controller; no next() drops the packet', function()
    local t = setup()
    local s = t.nsp:connect('p1')
    t.nsp:send(s, { 'echo', 'x', 2 })
    t.nsp:send(s, { 'blocked', 'y' })
    eq(t.log, { 'auth before p1', 'filter before echo', 'filter after echo', 'dropped' })
    local last = s.calls[#s.calls]
    eq(last[1], 'emit')
    eq({ last[2][1], last[2][2], last[2][3], last[2].n }, { 'echo', 'x', 2, 3 })
  end)

  it('a waiting controller does not block the next packet; after-code waits for it', function()
    local t = setup()
    local s = t.nsp:connect('p2')
    t.nsp:send(s, { 'slow' })
    t.nsp:send(s, { 'fast' })
    eq(t.log, { 'auth before p2', 'filter before slow', 'slow start', 'filter before fast', 'fast', 'filter after fast' })
    t.clock.advance(100)
    eq(t.log[#t.log - 1], 'slow end')
    eq(t.log[#t.log], 'filter after slow')
  end)

  it('ack function is the last arg and ctx.ack; services and counts', function()
    local t = setup()
    local s = t.nsp:connect('p3')
    t.nsp:send(s, { 'withAck', 'a', 'b' }, 7)
    local last = s.calls[#s.calls]
    eq(last[1], 'ack')
    eq(last[2], 7)
    eq({ last[3][1], last[3][2], last[3][3] }, { 'got', 3, 'user x p3' })
  end)

  it('a controller error is logged with traceback and socket id; the socket stays', function()
    local t = setup()
    local s = t.nsp:connect('p4')
    t.nsp:send(s, { 'boom' })
    local l = find_log(t.logs, "attempt to index local 'settings'")
    ok(l, 'logged')
    eq(l.level, 40)
    ok(l.msg:find('[p4]', 1, true), 'socket id in ' .. l.msg)
    ok(l.msg:find('chat.lua:', 1, true), 'file in ' .. l.msg)
    ok(l.msg:find('stack traceback', 1, true))
    for _, c in ipairs(s.calls) do ok(c[1] ~= 'disconnect') end
    t.nsp:send(s, { 'ping', 5 })
    eq(s.calls[#s.calls][2][1], 'pong')
  end)

  it('table controllers in sub-folders and helpers work', function()
    local t = setup()
    local s = t.nsp:connect('p5')
    t.nsp:send(s, { 'help' })
    eq(s.calls[#s.calls][2][2], 'HI!')
  end)

  it('emitWithAck yields until the ack; a timeout gives nil, err', function()
    local t = setup()
    local s = t.nsp:connect('p6')
    t.nsp:send(s, { 'ask' })
    eq(s.calls[#s.calls][2][1], 'question')
    eq(s.calls[#s.calls][3].timeout, 50)
    s.acks[1](nil, { n = 1, 'yes' })
    eq(t.log[#t.log - 1], 'answer yes nil')
    t.nsp:send(s, { 'ask' })
    s.acks[2]('operation has timed out', nil)
    ok(t.log[#t.log - 1]:find('answer nil operation has timed out', 1, true), t.log[#t.log - 1])
  end)

  it('a disconnect wakes a pending emitWithAck with an error', function()
    local t = setup()
    local s = t.nsp:connect('p7')
    t.nsp:send(s, { 'ask' })
    t.nsp:close(s, 'transport close')
    eq(t.log[3], 'answer nil socket disconnected: transport close')
    eq(t.log[#t.log], 'auth after p7 transport close')
  end)
end)

describe('namespace API', function()
  it('to/except/broadcast build the right targets', function()
    local t = setup()
    local s = t.nsp:connect('n1')
    local sock = t.nsp.objs['n1']
    sock:to('room1'):emit('a', 1)
    sock.broadcast:emit('b')
    sock:except('r2'):emit('c')
    t.app.io:of('/'):to('r3'):except('r4'):emit('d')
    t.app.io:of('/').volatile:emit('e')
    local c = t.nsp.calls
    eq(c[1][2], { rooms = { 'room1' }, except = { 'n1' } })
    eq(c[2][2], { rooms = {}, except = { 'n1' } })
    eq(c[3][2], { rooms = {}, except = { 'n1', 'r2' } })
    eq(c[4][2], { rooms = { 'r3' }, except = { 'r4' } })
    eq(c[5][2], { rooms = {}, except = {}, volatile = true })
  end)

  it('adapter:clients yields the ids in the rooms', function()
    local t = setup()
    local a = t.nsp:connect('c1')
    local b = t.nsp:connect('c2')
    local sa = t.nsp.objs['c1']
    sa:join('r')
    local ids
    scheduler.spawn(function() ids = t.app.io:of('/').adapter:clients({ 'r' }) end)
    t.clock.advance(0)
    eq(ids, { 'c1' })
    local all
    scheduler.spawn(function()
      local list = t.app.io:of('/'):fetchSockets()
      all = {}
      for i, x in ipairs(list) do all[i] = x.id end
    end)
    t.clock.advance(0)
    eq(all, { 'c1', 'c2' })
  end)

  it('join takes a string or a list; sockets are listed once admitted', function()
    local t = setup()
    t.nsp:connect('j1')
    local j1 = t.nsp.objs.j1
    j1:join({ 'a', 'b' })
    j1:join('c')
    eq(j1.rooms, { 'j1', 'a', 'b', 'c' })
    ok(t.app.io:of('/').sockets.j1)
  end)

  it('/custom exists with no middleware; unknown names are not created', function()
    local t = setup()
    ok(t.sio.nsps['/custom'])
    ok(not t.sio.nsps['/other'])
    local s = t.sio.nsps['/custom']:connect('x')
    eq(s:names(), { 'admit' })
  end)

  it('without connection middleware: admitted by the core, the object made when first needed', function()
    local t = setup()
    local nsp = t.sio.nsps['/custom']
    ok(nsp.handler.connect == nil) -- the core admits at once
    ok(t.nsp.handler.connect ~= nil) -- '/' has middleware
    local s = nsp:connect('lazy1')
    eq(s:names(), { 'admit' })
    eq(nsp.objs.lazy1, nil) -- nothing made in Lua yet
    local obj = nsp:socket('lazy1')
    ok(obj ~= s and obj.id == 'lazy1' and obj.sock == s)
    eq(obj.recovered, false)
    eq(obj.data, {}) -- made on first use, then the same table
    obj.data.x = 1
    eq(nsp:obj(s).data.x, 1)
    eq(rawget(obj, 'data'), obj.data)
    nsp:close(s, 'transport close')
    eq(obj.close_reason, 'transport close')
    -- one that closes without its object ever being made: made for the close
    local s2 = nsp:connect('lazy2')
    nsp:close(s2, 'transport close')
    eq(nsp.objs.lazy2.close_reason, 'transport close')
  end)
end)
