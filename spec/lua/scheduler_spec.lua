local scheduler = require('yolk.scheduler')
local fake = require('fake_core')

describe('scheduler', function()
  local clock = fake.clock()
  scheduler.set_timer(clock.timer)

  it('strips the position prefix from error messages', function()
    local _, e = pcall(error, 'not authorized')
    eq(scheduler.message('x.lua:12: not authorized'), 'not authorized')
    eq(scheduler.message('/a/b:c/x.lua:3: bad: thing'), 'bad: thing')
    eq(scheduler.message({ message = 'm', data = 1 }), 'm')
    eq(scheduler.message('plain'), 'plain')
  end)

  it('sleep yields and resumes after the time, without blocking others', function()
    local log = {}
    scheduler.spawn(function() log[#log + 1] = 'a1'; scheduler.sleep(100); log[#log + 1] = 'a2' end)
    scheduler.spawn(function() log[#log + 1] = 'b' end)
    eq(log, { 'a1', 'b' })
    clock.advance(99)
    eq(log, { 'a1', 'b' })
    clock.advance(1)
    eq(log, { 'a1', 'b', 'a2' })
  end)

  it('wait returns at once when woken synchronously', function()
    local got
    scheduler.spawn(function() got = { scheduler.wait(function(wake) wake(1, 2) end) } end)
    eq(got, { 1, 2 })
  end)

  it('waiting outside a coroutine raises', function()
    raises(function() scheduler.sleep(1) end, 'outside')
  end)

  it('errors in spawned coroutines are reported with a traceback', function()
    local reported
    local old = scheduler.report
    scheduler.report = function(t, label) reported = { t = t, label = label } end
    scheduler.spawn_ex('sid1', nil, function() error('kaboom') end)
    scheduler.report = old
    ok(reported)
    eq(reported.label, 'sid1')
    ok(tostring(reported.t):find('kaboom'))
    ok(tostring(reported.t):find('stack traceback'))
  end)

  it('a waitset wakes its waiters with nil, reason on cancel', function()
    local ws = scheduler.waitset()
    local res
    scheduler.spawn(function() res = { ws:wait(function() end) } end)
    eq(res, nil)
    ws:cancel('closed')
    eq(res, { nil, 'closed' })
    local res2
    scheduler.spawn(function() res2 = { ws:wait(function() end) } end)
    eq(res2, { nil, 'closed' })
  end)

  it('cancel stops the pending operation and wakes the sleeper', function()
    local ws = scheduler.waitset()
    local res
    scheduler.spawn(function() res = { ws:sleep(1000) } end)
    local pending = #clock.queue
    ws:cancel('gone')
    eq(res, { nil, 'gone' })
    clock.advance(1000)
    eq(res, { nil, 'gone' })
    local ws2 = scheduler.waitset()
    local res2
    scheduler.spawn(function() res2 = { ws2:sleep(10) } end)
    clock.advance(10)
    eq(res2, { true })
  end)

  it('a second wake is ignored', function()
    local w, n = nil, 0
    scheduler.spawn(function() scheduler.wait(function(wake) w = wake end); n = n + 1 end)
    ok(w(1))
    ok(not w(2))
    eq(n, 1)
  end)

  it('go: runs in a pooled coroutine; one that returns is reused, one that waits is not shared', function()
    local seen = {}
    local function who(tag) seen[#seen + 1] = { tag, coroutine.running() } end
    scheduler.go(nil, who, 'a')
    scheduler.go(nil, who, 'b')
    eq(seen[1][2], seen[2][2]) -- the same coroutine, given back and taken again
    local waker
    scheduler.go(nil, function() who('c1'); scheduler.wait(function(w) waker = w end); who('c2') end)
    scheduler.go(nil, who, 'd') -- c is waiting: d gets another coroutine
    eq(seen[4][1], 'd')
    assert(seen[3][2] ~= seen[4][2], 'a waiting coroutine is not handed out')
    waker()
    eq(seen[5][1], 'c2')
    eq(seen[5][2], seen[3][2])
  end)

  it('go: arguments are passed, errors go to on_error with them, and the coroutine goes back to the pool', function()
    local got
    scheduler.go(function(traced, a, b) got = { scheduler.message(traced), a, b } end,
      function(a, b) error('boom ' .. a .. b) end, 'x', 'y')
    eq(got, { 'boom xy', 'x', 'y' })
    local ran
    scheduler.go(nil, function(a, b, c, d) ran = { a, b, c, d } end, 1, 2, 3, 4)
    eq(ran, { 1, 2, 3, 4 })
  end)

  it('go: an error in on_error is reported, not raised', function()
    local reported
    local old = scheduler.report
    scheduler.report = function(t) reported = tostring(t) end
    scheduler.go(function() error('second') end, function() error('first') end)
    scheduler.report = old
    assert(reported and reported:find('second'), reported)
  end)

  it("coroutine.yield in one of yolk's coroutines raises at the line that yielded; the app's own coroutines yield", function()
    local err
    scheduler.spawn_ex('t', function(traced) err = traced end, function() coroutine.yield(1) end)
    ok(err and tostring(err):find('coroutine.yield() called in a connection, packet or request handler', 1, true),
      tostring(err))
    ok(tostring(err):find('scheduler_spec.lua:%d+: coroutine.yield'), 'at the line that yielded')
    local got
    scheduler.spawn(function()
      local gen = coroutine.wrap(function() coroutine.yield(1); coroutine.yield(2) end)
      got = { gen(), gen() }
    end)
    eq(got, { 1, 2 })
    local done
    scheduler.spawn(function() scheduler.sleep(5); done = true end)
    clock.advance(5)
    ok(done, 'waits still yield')
    ok(not pcall(coroutine.yield), 'outside any coroutine: Lua says so')
  end)

  it('go: coroutine.yield in a pooled packet coroutine raises too, and the coroutine goes back to the pool', function()
    local seen, err = {}, nil
    scheduler.go(function(traced) err = traced end, function()
      seen[#seen + 1] = coroutine.running()
      coroutine.yield('x')
      seen[#seen + 1] = 'not reached'
    end)
    ok(err and tostring(err):find('coroutine.yield() called in a connection, packet or request handler', 1, true),
      tostring(err))
    scheduler.go(nil, function() seen[#seen + 1] = coroutine.running() end)
    eq(#seen, 2)
    ok(seen[1] == seen[2], 'the same coroutine, back in the pool')
  end)

  it('a coroutine that waited resumes with what it was handling; the waker gets its own back', function()
    local seen = {}
    scheduler.set_doing(function(k, n, p) seen[#seen + 1] = table.concat({ k or '-', n or '-', p or '-' }, ' ') end)
    scheduler.doing('event', 'a', '/')
    scheduler.spawn(function() scheduler.sleep(10) end)
    scheduler.doing('request', 'GET', '/x')
    clock.advance(10)
    scheduler.set_doing(nil)
    eq(seen, { 'event a /', 'request GET /x', 'event a /', 'request GET /x' })
  end)

  it('describes any error value without raising', function()
    eq(scheduler.describe('x'), 'x')
    eq(scheduler.describe(42), '42')
    eq(scheduler.describe({ message = 'm' }), 'm')
    eq(scheduler.describe({}), '(an error table without message)')
    eq(scheduler.describe(nil), '(error object is a nil value)')
    eq(scheduler.describe(newproxy(false)), '(error object is a userdata value)')
    local bad = setmetatable({}, { __tostring = function() error('boom', 0) end })
    eq(scheduler.describe(bad), '(a table whose __tostring failed: boom)')
    eq(scheduler.describe({ message = bad }), '(a table whose __tostring failed: boom)')
    eq(scheduler.describe(setmetatable({}, { __index = function() error('no') end })), '(an error table without message)')
    eq(scheduler.tostring(setmetatable({}, { __tostring = function() return {} end })),
      '(a table whose __tostring returned a table)')
  end)

  it('a memory error and a failed handler come without traceback: caught() says what they are', function()
    local t = scheduler.caught('not enough memory')
    ok(scheduler.is_traced(t))
    ok(tostring(t):find('^not enough memory: the Lua heap reached its limit'), tostring(t))
    ok(tostring(t):find('Lua gives no traceback for a memory error', 1, true))
    t = scheduler.caught('error in error handling')
    ok(tostring(t):find('out of stack after a stack overflow', 1, true), tostring(t))
    eq(scheduler.caught('other'), 'other')
    local traced = setmetatable({ error = 1, traceback = 'x' }, scheduler.Traced)
    ok(scheduler.caught(traced) == traced)
  end)
end)
