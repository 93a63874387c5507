-- The demo chat app (the repository root) against a fake yolk.core: who each message is
-- addressed to. The end-to-end tests (spec/e2e/demo*.test.mjs) check the same on the wire.
local scheduler = require('yolk.scheduler')
local logger = require('yolk.logger')
local application = require('yolk.application')
local io_mod = require('yolk.io')
local yolk = require('yolk')
local fake = require('fake_core')

local GROUP = '群聊'

local function setup()
  local clock = fake.clock()
  scheduler.set_timer(clock.timer)
  local logs = {}
  logger.set_sink(function(level, _, msg) logs[#logs + 1] = { level = level, msg = msg } end)
  local sio = fake.sio(clock)
  local rt = io_mod.runtime(sio)
  local app = application.load { baseDir = SPEC_DIR .. '/../..', env = 'unittest' }
  rt:use(app)
  local t = { clock = clock, sio = sio, rt = rt, app = app, logs = logs, nsp = sio:of('/') }
  function t.join(id, query)
    local s = t.nsp:connect(id, { query = query or { room = 'demo' }, auth = {}, headers = {} })
    clock.advance(0) -- adapter:clients() answers from a timer in the fake
    return s
  end
  -- Broadcasts recorded since the last call, as { event, target, args }.
  local seen = 0
  function t.broadcasts()
    local out = {}
    for i = seen + 1, #t.nsp.calls do
      local c = t.nsp.calls[i]
      if c[1] == 'broadcast' then out[#out + 1] = { event = c[3][1], target = c[2], args = c[3] } end
    end
    seen = #t.nsp.calls
    return out
  end
  function t.send(s, args, ack_id)
    t.nsp:send(s, args, ack_id)
    clock.advance(0)
  end
  return t
end

local function events(list)
  local out = {}
  for i, b in ipairs(list) do out[i] = b.event end
  return out
end

local function last_ack(s)
  for i = #s.calls, 1, -1 do
    if s.calls[i][1] == 'ack' then return s.calls[i][3][1] end
  end
end

describe('demo app: connection', function()
  it('denies a missing room on the socket\'s own id, then disconnects', function()
    local t = setup()
    local s = t.join('x1', { room = 'nope' })
    eq(s:names(), { 'emit:x1', 'disconnect', 'admit' })
    local msg = s.calls[1][2][2]
    eq(msg.data.action, 'deny')
    eq(msg.data.payload.type, 'deleted')
    ok(msg.meta.timestamp > 1.6e12, 'epoch milliseconds')
    eq(t.broadcasts(), {})
  end)

  it('joins the room and tells it `online` and `users`', function()
    local t = setup()
    local s = t.join('a1', { room = 'demo', nickname = ' alice ' })
    ok(s:names()[1] == 'admit' or s:names()[2] == 'admit')
    local b = t.broadcasts()
    eq(events(b), { 'online', 'users' })
    eq(b[1].target.rooms, { 'demo' })
    local online = b[1].args[2]
    -- (the fake lists admitted sockets only; the e2e test checks the joiner is listed)
    ok(type(online.clients) == 'table', 'clients is a list')
    eq(online.action, 'join')
    eq(online.target, 'participant')
    eq(online.message, 'alice joined.')
    eq(b[2].args[2].users, { { id = 'a1', nickname = 'alice' } })
  end)

  it('a taken nickname is denied at join; the leave frees it', function()
    local t = setup()
    local a = t.join('n1', { room = 'demo', nickname = 'Neo' })
    local d = t.join('n2', { room = 'demo', nickname = 'NEO' })
    eq(d.calls[1][2][2].data.payload.type, 'nickname')
    eq(d:names()[2], 'disconnect')
    t.broadcasts()
    t.nsp:close(a, 'client namespace disconnect')
    t.clock.advance(0)
    local b = t.broadcasts()
    eq(events(b), { 'online', 'users' })
    eq(b[1].args[2].action, 'leave')
    eq(b[1].args[2].message, 'Neo left.')
    eq(b[2].args[2].users, {})
    local again = t.join('n3', { room = 'demo', nickname = 'neo' })
    eq(again:names(), { 'join', 'admit' })
  end)
end)

describe('demo app: messages', function()
  it('group exchange goes to the room minus the sender, as event 群聊', function()
    local t = setup()
    local a = t.join('g1', { room = 'demo', nickname = 'gina' })
    t.join('g2')
    t.broadcasts()
    t.send(a, { 'exchange', { target = GROUP, payload = { msg = 'hi 😀' } } }, 3)
    local b = t.broadcasts()
    eq(#b, 1)
    eq(b[1].event, GROUP)
    eq(b[1].target.rooms, { 'demo' })
    eq(b[1].target.except, { 'g1' })
    local msg = b[1].args[2]
    eq(msg.data, { action = 'exchange', payload = { msg = 'hi 😀' } })
    eq(msg.meta.client, 'g1')
    eq(msg.meta.target, GROUP)
    eq(msg.meta.nickname, 'gina')
    eq(last_ack(a), { ok = true })
  end)

  it('private exchange goes only to the target id, as the event named by it', function()
    local t = setup()
    local a = t.join('p1')
    t.join('p2')
    t.broadcasts()
    t.send(a, { 'exchange', { target = 'p2', payload = { msg = 'psst' } } })
    local b = t.broadcasts()
    eq(#b, 1)
    eq(b[1].event, 'p2')
    eq(b[1].target.rooms, { 'p2' })
    eq(b[1].args[2].meta.client, 'p1')
  end)

  it('refuses targets outside the sender\'s room', function()
    local t = setup()
    local a = t.join('r1')
    t.join('r2', { room = 'lobby' })
    t.broadcasts()
    t.send(a, { 'exchange', { target = 'r2', payload = { msg = 'x' } } }, 1)
    t.send(a, { 'exchange', { target = 'lobby', payload = { msg = 'x' } } }, 2)
    eq(t.broadcasts(), {})
    eq(last_ack(a), { ok = false, error = 'unknown target' })
  end)

  it('nickname changes are unique and announced with `users`', function()
    local t = setup()
    t.join('u1', { room = 'demo', nickname = 'Ann' })
    local b = t.join('u2')
    t.broadcasts()
    t.send(b, { 'nickname', 'ann' }, 1)
    eq(last_ack(b), { ok = false, error = 'taken' })
    t.send(b, { 'nickname', '' }, 2)
    eq(last_ack(b), { ok = false, error = 'invalid' })
    eq(t.broadcasts(), {})
    t.send(b, { 'nickname', 'Bea' }, 3)
    eq(last_ack(b), { ok = true, nickname = 'Bea' })
    local bc = t.broadcasts()
    eq(events(bc), { 'users' })
    eq(bc[1].args[2].users, { { id = 'u1', nickname = 'Ann' }, { id = 'u2', nickname = 'Bea' } })
  end)

  it('typing and voice follow the same group/private rule; voice stays binary', function()
    local t = setup()
    local a = t.join('v1', { room = 'demo', nickname = 'vic' })
    t.join('v2')
    t.broadcasts()
    t.send(a, { 'typing', { target = GROUP, typing = true } })
    local b = t.broadcasts()
    eq(b[1].event, 'typing')
    eq(b[1].target, { rooms = { 'demo' }, except = { 'v1' } })
    eq(b[1].args[2], { client = 'v1', nickname = 'vic', target = GROUP, typing = true })
    local audio = yolk.buffer('\0\1\2\255')
    t.send(a, { 'voice', { target = 'v2', mime = 'audio/ogg', duration = 12, audio = audio } }, 4)
    b = t.broadcasts()
    eq(b[1].event, 'voice')
    eq(b[1].target.rooms, { 'v2' })
    local p = b[1].args[2].data.payload
    ok(p.audio == audio, 'the same buffer object is passed on')
    eq({ p.mime, p.duration }, { 'audio/ogg', 12 })
    t.send(a, { 'voice', { target = 'v2', audio = 'text' } }, 5)
    eq(last_ack(a), { ok = false, error = 'no audio' })
  end)
end)
