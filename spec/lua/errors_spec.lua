-- Refusals and bugs (issue 13, item 1 and 2): how an error raised by
-- application code is told apart, logged, and what the client gets, under
-- `yolk start` and under `yolk dev` (yolk.errors.dev); unrouted events.
local scheduler = require('yolk.scheduler')
local logger = require('yolk.logger')
local application = require('yolk.application')
local errors = require('yolk.errors')
local io_mod = require('yolk.io')
local http = require('yolk.http')
local fake = require('fake_core')

local APP = SPEC_DIR .. '/fixtures/app1'

local function setup()
  local clock = fake.clock()
  scheduler.set_timer(clock.timer)
  local logs = {}
  logger.set_sink(function(level, comp, msg) logs[#logs + 1] = { level = level, msg = msg } end)
  local sio = fake.sio(clock)
  local rt = io_mod.runtime(sio)
  local app = application.load { baseDir = APP, env = 'unittest' }
  rt:use(app)
  app.testlog = {}
  return { clock = clock, sio = sio, rt = rt, app = app, logs = logs, nsp = sio:of('/') }
end

local function find_log(logs, text)
  for _, l in ipairs(logs) do if l.msg:find(text, 1, true) then return l end end
end

-- run fn under `yolk dev` (or not), restoring the flag
local function as_dev(dev, fn)
  local was = errors.dev
  errors.dev = dev
  local ok2, e = pcall(fn)
  errors.dev = was
  if not ok2 then error(e, 0) end
end

local function classify(fn)
  local ok2, traced = xpcall(fn, errors.traceback)
  assert(not ok2, 'expected an error')
  return traced
end

describe('errors: refusal or bug', function()
  it('error(string), error(table) and ctx:refuse in app code are refusals', function()
    local t = classify(function() error('not authorized') end)
    ok(errors.is_refusal(t))
    eq(errors.public(t), 'not authorized')
    ok(t.where:find('errors_spec.lua:%d+$'), t.where)
    t = classify(function() error({ message = 'forbidden', data = { code = 1 } }) end)
    local m, d = errors.public(t)
    eq({ m, d }, { 'forbidden', { code = 1 } })
    t = classify(function() error('no position', 0) end)
    ok(errors.is_refusal(t))
    local SocketCtx = require('yolk.context').SocketCtx
    t = classify(function() SocketCtx.refuse({}, 'go away', { n = 2 }) end)
    ok(errors.is_refusal(t))
    m, d = errors.public(t)
    eq({ m, d }, { 'go away', { n = 2 } })
    ok(t.where:find('errors_spec.lua:%d+$'), 'where points at the caller of ctx:refuse, not yolk: ' .. tostring(t.where))
  end)

  it('error values that are not strings: tables and numbers are refusals; nil, booleans, userdata, functions bugs', function()
    local t = classify(function() error({ code = 1 }) end)
    ok(errors.is_refusal(t))
    eq(errors.public(t), 'refused')
    eq(scheduler.message(t), '(an error table without message)')
    t = classify(function() error(42) end)
    ok(errors.is_refusal(t))
    eq(errors.public(t), '42')
    for _, v in ipairs { 'nil', 'true', 'newproxy(false)', 'print' } do
      local val = loadstring('return ' .. v)()
      t = classify(function() error(val) end)
      ok(not errors.is_refusal(t), v)
      eq(errors.public(t), 'server error')
      ok(t.traceback:find('^%(error object is a %a+ value%)\nstack traceback:'), t.traceback)
      ok(not errors.bug_message(t):find('0x'), 'no address')
    end
  end)

  it('describing an error never raises another (a __tostring or an __index that raises)', function()
    local bad = setmetatable({}, { __tostring = function() error('boom') end })
    local t = classify(function() error(bad) end)
    ok(errors.is_refusal(t))
    eq(errors.public(t), 'refused')
    ok(scheduler.message(t):find('^%(a table whose __tostring failed: .*boom%)$'), scheduler.message(t))
    t = classify(function() error({ message = bad, data = 1 }) end)
    local m, d = errors.public(t)
    eq({ m, d }, { 'refused', 1 })
    ok(logger.format('%s and %s', bad, 1):find('__tostring failed', 1, true))
    t = classify(function() error(setmetatable({}, { __index = function() error('index') end })) end)
    ok(errors.is_refusal(t))
    eq(errors.public(t), 'refused')
  end)

  it("what the VM raises is a bug, whatever the message", function()
    local cases = {
      function() local cfg = nil; return cfg.secret end,           -- attempt to index
      function() local f; f() end,                                 -- attempt to call
      function() return ('a') + 1 end,                             -- arithmetic on a string
      function() return {} < {} end,                               -- attempt to compare
      function() return 'a' .. {} end,                             -- attempt to concatenate
      function() local t = {}; t[nil] = 1 end,                     -- table index is nil
      function() return string.rep() end,                          -- bad argument (a C function)
      function() assert(false, 'asserted') end,                    -- assert: a check that failed
      function() local function r() return 1 + r() end; r() end,   -- stack overflow
      function() require('yolk.io.util').list_of(nil) end,         -- yolk misused: error() from yolk's file
      function() require('yolk.compose')({ 1 }) end,
    }
    for i, fn in ipairs(cases) do
      local t = classify(fn)
      ok(not errors.is_refusal(t), 'case ' .. i .. ' is a bug: ' .. tostring(t))
      as_dev(false, function() eq(errors.public(t), 'server error', 'case ' .. i) end)
    end
  end)

  it('under yolk dev a bug tells the real message, paths relative to the app', function()
    local t = classify(function() local cfg = nil; return cfg.secret end)
    as_dev(true, function()
      local m = errors.public(t, SPEC_DIR)
      eq(m, "errors_spec.lua:" .. m:match(':(%d+):') .. ": attempt to index local 'cfg' (a nil value)")
    end)
  end)

  it('a value that never went through the handler is a bug', function()
    ok(not errors.is_refusal('error in error handling'))
    eq(errors.public('error in error handling'), errors.dev and 'error in error handling' or 'server error')
  end)

  it('suggests the name a typo meant', function()
    eq(errors.suggest('bidd', { 'bid', 'join' }), 'bid')
    eq(errors.suggest('Join', { 'bid', 'join' }), 'join')
    eq(errors.suggest('xyz', { 'bid', 'join' }), nil)
  end)
end)

describe('errors: connection middleware', function()
  it('a bug: ERROR with file, line and traceback; the client gets "server error"', function()
    as_dev(false, function()
      local t = setup()
      local s = t.nsp:connect('b1', { query = { bug = 'index' } })
      eq(s:names(), { 'refuse' })
      eq(s.calls[1][2], { message = 'server error' })
      local l = find_log(t.logs, "attempt to index local 'cfg' (a nil value)")
      ok(l, 'logged')
      eq(l.level, 40)
      ok(l.msg:find('error in connection middleware of /', 1, true), l.msg)
      ok(l.msg:find('auth.lua:%d+: attempt to index'), 'file and line: ' .. l.msg)
      ok(l.msg:find('stack traceback', 1, true), 'traceback: ' .. l.msg)
      ok(l.msg:find("the client gets 'server error'", 1, true), l.msg)
      ok(not find_log(t.logs, 'refused'), 'not logged as a refusal')
    end)
  end)

  it('a bug under yolk dev: the client gets the real message', function()
    as_dev(true, function()
      local t = setup()
      local s = t.nsp:connect('b2', { query = { bug = 'index' } })
      local msg = s.calls[1][2].message
      ok(msg:match("^app/io/middleware/auth%.lua:%d+: attempt to index local 'cfg' %(a nil value%)$"), msg)
      eq(find_log(t.logs, "attempt to index local 'cfg'").level, 40)
    end)
  end)

  it('yolk misused is a bug too (ERROR, generic message)', function()
    as_dev(false, function()
      local t = setup()
      local s = t.nsp:connect('b3', { query = { bug = 'misuse' } })
      eq(s.calls[1][2], { message = 'server error' })
      eq(find_log(t.logs, 'room must be a string').level, 40)
    end)
  end)

  it('a refusal: INFO with where it was raised; message and data to the client, in both envs', function()
    for _, dev in ipairs { false, true } do
      as_dev(dev, function()
        local t = setup()
        local s = t.nsp:connect('r1', { query = { deny = 'ctx' } })
        eq(s.calls[1][2], { message = 'go away', data = { code = 7 } })
        local l = find_log(t.logs, 'connection to / refused: go away')
        ok(l, 'logged')
        eq(l.level, 20)
        ok(l.msg:find('(app/io/middleware/auth.lua:', 1, true), l.msg)
        ok(not l.msg:find('stack traceback', 1, true))
        s = t.nsp:connect('r2', { query = { deny = 'string' } })
        eq(s.calls[1][2], { message = 'not authorized' })
        eq(find_log(t.logs, 'refused: not authorized').level, 20)
      end)
    end
  end)
end)

describe('errors: packets', function()
  it('a bug in a controller: ERROR with traceback; a waiting ack gets { ok = false, error = "server error" }', function()
    as_dev(false, function()
      local t = setup()
      local s = t.nsp:connect('p1')
      t.nsp:send(s, { 'boom' }, 3)
      local l = find_log(t.logs, "attempt to index local 'settings'")
      eq(l.level, 40)
      ok(l.msg:find('stack traceback', 1, true))
      local last = s.calls[#s.calls]
      eq({ last[1], last[2], last[3][1], last[3].n }, { 'ack', 3, { ok = false, error = 'server error' }, 1 })
    end)
  end)

  it('a bug under yolk dev: the ack tells the real message', function()
    as_dev(true, function()
      local t = setup()
      local s = t.nsp:connect('p2')
      t.nsp:send(s, { 'boom' }, 4)
      local res = s.calls[#s.calls][3][1]
      ok(res.error:match("^app/io/controller/chat%.lua:%d+: attempt to index local 'settings' %(a nil value%)$"), res.error)
    end)
  end)

  it('refusals: INFO; the ack gets the message (and data); no ack, nothing sent', function()
    as_dev(false, function()
      local t = setup()
      local s = t.nsp:connect('p3')
      t.nsp:send(s, { 'tooLow' }, 1)
      eq(s.calls[#s.calls][3][1], { ok = false, error = 'bid too low' })
      local l = find_log(t.logs, "'tooLow' on / refused: bid too low")
      eq(l.level, 20)
      ok(l.msg:find('(app/io/controller/chat.lua:', 1, true), l.msg)
      t.nsp:send(s, { 'tooLowTable' }, 2)
      eq(s.calls[#s.calls][3][1], { ok = false, error = 'bid too low', data = { min = 5 } })
      t.nsp:send(s, { 'closed' }, 3)
      eq(s.calls[#s.calls][3][1], { ok = false, error = 'auction closed', data = { lot = 1 } })
      local n = #s.calls
      t.nsp:send(s, { 'tooLow' })
      eq(#s.calls, n, 'nothing sent without an ack')
      for _, l2 in ipairs(t.logs) do ok(l2.level < 40, 'no ERROR: ' .. l2.msg) end
    end)
  end)
end)

describe('errors: unrouted events', function()
  it('under yolk start: DEBUG only', function()
    as_dev(false, function()
      local t = setup()
      local s = t.nsp:connect('u1')
      t.nsp:send(s, { 'ech', 1 })
      local l = find_log(t.logs, 'no route for event')
      ok(not l or l.level == 10)
    end)
  end)

  it('under yolk dev: WARN once per event and namespace, with the routed names', function()
    as_dev(true, function()
      local t = setup()
      local s = t.nsp:connect('u2')
      t.nsp:send(s, { 'ech', 1 })
      t.nsp:send(s, { 'ech', 2 })
      t.nsp:send(s, { 'zzz' })
      local warned = {}
      for _, l in ipairs(t.logs) do if l.msg:find('no route for event', 1, true) then warned[#warned + 1] = l end end
      eq(#warned, 2)
      eq(warned[1].level, 30)
      ok(warned[1].msg:find("no route for event 'ech' on / (routed there: ask, boom, closed, echo, fast, help, ping, "
        .. "slow, tooLow, tooLowTable, withAck; did you mean 'echo'?)", 1, true), warned[1].msg)
      ok(warned[2].msg:find("'zzz'", 1, true) and not warned[2].msg:find('did you mean', 1, true), warned[2].msg)
    end)
  end)
end)

describe('errors: HTTP', function()
  local function fake_req(method, path)
    local req = { method = method, path = path, url = path, query = '', headers = {}, remote_addr = '127.0.0.1' }
    function req:respond(status, headers, body) self.responded = { status = status, headers = headers, body = body } end
    return req
  end

  it('a bug: 500, ERROR with traceback; a generic body, details under yolk dev', function()
    local t = setup()
    t.app.router:get('/bug', function(ctx) local cfg = nil; ctx.body = cfg.x end)
    as_dev(false, function()
      local req = fake_req('GET', '/bug')
      http.on_request(t.rt, req)
      eq(req.responded.status, 500)
      eq(req.responded.body, 'Internal Server Error')
      local l = find_log(t.logs, "attempt to index local 'cfg'")
      eq(l.level, 40)
      ok(l.msg:find('stack traceback', 1, true))
    end)
    as_dev(true, function()
      local req = fake_req('GET', '/bug')
      http.on_request(t.rt, req)
      eq(req.responded.status, 500)
      ok(req.responded.body:find("^Internal Server Error\n\n[^\n]*errors_spec%.lua:%d+: attempt to index local 'cfg'"), req.responded.body)
      ok(req.responded.body:find('stack traceback', 1, true), req.responded.body)
      eq(req.responded.headers['content-type'], 'text/plain; charset=utf-8')
    end)
  end)

  it('ctx:throw is a refusal: its status and message, INFO', function()
    local t = setup()
    t.app.router:get('/forbidden', function(ctx) ctx:throw(403, 'not yours') end)
    local req = fake_req('GET', '/forbidden')
    http.on_request(t.rt, req)
    eq(req.responded.status, 403)
    eq(req.responded.body, '{"message":"not yours"}')
    eq(find_log(t.logs, 'not yours').level, 20)
  end)
end)
