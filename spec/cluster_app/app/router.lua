-- Every namespace-wide operation of socket.io, driven by clients through events whose
-- ack carries the result, so a test can run each one from any node of the cluster.
local yolk = require('yolk')

local function nullable(v) return v == nil and yolk.null or v end

-- The i-th argument of the event, nil for null or the ack callback.
local function arg(ctx, i)
  local v = ctx.args[i]
  if v == yolk.null or type(v) == 'function' then return nil end
  return v
end

return function(app)
  app.router:get('/hello/ready', function(ctx) ctx.body = 'ready' end)
  local io = app.io
  local node = app.config.node

  for _, name in ipairs { '/', '/chat' } do
    local nsp = io:of(name)
    local function ack(ctx, ...) if ctx.ack then ctx.ack(...) end end

    -- rooms of this socket
    nsp:route('join', function(ctx)
      ctx.socket:join(ctx.args[1])
      ack(ctx, node)
    end)
    nsp:route('setData', function(ctx)
      ctx.socket.data = ctx.args[1]
      ack(ctx, true)
    end)
    -- broadcasts: { rooms?, except?, volatile?, local? }, then the event's arguments
    nsp:route('broadcast', function(ctx)
      local opts = ctx.args[1]
      local op = nsp
      if opts.rooms then op = op:to(opts.rooms) end
      if opts.except then op = op:except(opts.except) end
      if opts.volatile then op = op.volatile end
      if opts['local'] then op = op['local'] end
      op:emit(unpack(ctx.args, 2, ctx.args.n - (ctx.ack and 1 or 0)))
      ack(ctx, true)
    end)
    nsp:route('socketBroadcast', function(ctx)
      ctx.socket.broadcast:emit('news', ctx.args[1])
      ack(ctx, true)
    end)
    -- every socket (or those of a room) asked; the answers, or the error and the answers so far
    nsp:route('ackAll', function(ctx)
      local op = nsp:timeout(tonumber(arg(ctx, 2)) or 2000)
      if arg(ctx, 1) then op = op:to(arg(ctx, 1)) end
      local answers, err, partial = op:emitWithAck('question', node)
      ack(ctx, nullable(answers), nullable(err), nullable(partial))
    end)
    nsp:route('ackAllCallback', function(ctx)
      nsp:timeout(tonumber(arg(ctx, 1)) or 2000):emit('question', node, function(err, answers)
        ack(ctx, nullable(err), answers)
      end)
    end)
    nsp:route('fetch', function(ctx)
      local op = nsp
      if arg(ctx, 1) then op = op:to(arg(ctx, 1)) end
      local list, err = op:fetchSockets()
      if not list then return ack(ctx, yolk.null, err) end
      local out = {}
      for i, s in ipairs(list) do out[i] = { id = s.id, rooms = yolk.array(s.rooms), data = nullable(s.data) } end
      ack(ctx, yolk.array(out))
    end)
    nsp:route('remoteEmit', function(ctx)
      -- a socket found by fetchSockets (maybe on another node) gets an event
      for _, s in ipairs(nsp:to(ctx.args[1]):fetchSockets()) do s:emit('direct', node) end
      ack(ctx, true)
    end)
    nsp:route('socketsJoin', function(ctx)
      nsp:to(ctx.args[1]):socketsJoin(ctx.args[2])
      ack(ctx, true)
    end)
    nsp:route('socketsLeave', function(ctx)
      nsp:to(ctx.args[1]):socketsLeave(ctx.args[2])
      ack(ctx, true)
    end)
    nsp:route('disconnectSockets', function(ctx)
      nsp:to(ctx.args[1]):disconnectSockets(arg(ctx, 2))
      ack(ctx, true)
    end)
    nsp:route('allRooms', function(ctx)
      local rooms, err = nsp.adapter:allRooms()
      if rooms then table.sort(rooms) end
      ack(ctx, rooms and yolk.array(rooms) or yolk.null, nullable(err))
    end)
    nsp:route('serverSideEmit', function(ctx)
      nsp:serverSideEmit('hello', node, nullable(arg(ctx, 1)))
      ack(ctx, true)
    end)
    nsp:route('serverSideEmitWithAck', function(ctx)
      local ms = tonumber(arg(ctx, 1))
      local answers, err = (ms and nsp:timeout(ms) or nsp):serverSideEmitWithAck('ping', node)
      if answers then table.sort(answers, function(a, b) return tostring(a.node) < tostring(b.node) end) end
      ack(ctx, nullable(answers), nullable(err))
    end)
    nsp:route('serverSideEmitCallback', function(ctx)
      nsp:serverSideEmit('ping', node, function(err, answers) ack(ctx, nullable(err), answers) end)
    end)
    -- egg-socket.io's adapter calls
    nsp:route('clients', function(ctx)
      local ids, err = nsp.adapter:clients(arg(ctx, 1) and { arg(ctx, 1) } or nil)
      if ids then table.sort(ids) end
      ack(ctx, ids and yolk.array(ids) or yolk.null, nullable(err))
    end)
    nsp:route('remoteDisconnect', function(ctx)
      nsp.adapter:remoteDisconnect(ctx.args[1], true)
      ack(ctx, true)
    end)
    -- connection state recovery: what the socket is now, and how many went through the middleware
    nsp:route('whoami', function(ctx)
      local rooms = ctx.socket.rooms
      table.sort(rooms)
      ack(ctx, { id = ctx.socket.id, recovered = ctx.socket.recovered, rooms = yolk.array(rooms),
        data = ctx.socket.data, seen = app.seen or 0 })
    end)
    nsp:route('emitSelf', function(ctx)
      -- socket:emit, n times (stored for recovery like broadcasts)
      for i = 1, tonumber(arg(ctx, 1)) or 1 do ctx.socket:emit('self', i) end
      ack(ctx, true)
    end)
    -- n broadcasts of size bytes, yielding to the loop every 50 (volatile: only to whoever keeps up)
    nsp:route('flood', function(ctx)
      local n, size = tonumber(arg(ctx, 1)) or 1, tonumber(arg(ctx, 2)) or 10
      local payload = string.rep('x', size)
      local op = arg(ctx, 3) and nsp.volatile or nsp
      local first = tonumber(arg(ctx, 4)) or 0
      for i = 1, n do
        op:emit('flood', first + i, payload)
        if i % 50 == 0 then yolk.sleep(0) end
      end
      ack(ctx, true)
    end)
    -- operations made at once, which a cluster adapter must apply in that order: 'order'
    -- events 1 (everyone), 2 (this node only), 3, then room 'late' joined by everyone, 4
    -- to it, 'late' left, 5 to it (nobody)
    nsp:route('ordered', function(ctx)
      nsp:emit('order', 1)
      nsp['local']:emit('order', 2)
      nsp:emit('order', 3)
      nsp:socketsJoin('late')
      nsp:to('late'):emit('order', 4)
      nsp:socketsLeave('late')
      nsp:to('late'):emit('order', 5)
      ack(ctx, true)
    end)
    nsp:route('disconnect', function(ctx)
      app.reasons = app.reasons or {}
      app.reasons[ctx.socket.id] = ctx.args[1]
    end)
    nsp:route('reasons', function(ctx) ack(ctx, app.reasons or yolk.object({})) end)
    -- what this node heard from serverSideEmit
    nsp:route('heard', function(ctx) ack(ctx, yolk.array(app.heard or {})) end)

    nsp:on('hello', function(from, payload)
      app.heard = app.heard or {}
      app.heard[#app.heard + 1] = { from = from, payload = payload, nsp = name }
    end)
    nsp:on('ping', function(from, reply)
      if reply then reply({ node = node, from = from }) end
    end)
  end
end
