-- echo(...args, ack): acks the same args back.
-- bcast(payload): emits `bcast` payload to every socket of '/', sender included.
-- bcastRoom(room, payload): emits `bcast` payload to every socket in room.
-- join(room, ack): joins room, acks true.
local Bench = require('yolk.controller'):extend()

function Bench:echo()
  local ctx = self.ctx
  local args = ctx.args
  if ctx.ack then ctx.ack(unpack(args, 1, args.n - 1)) end
end

function Bench:bcast()
  self.app.io:of('/'):emit('bcast', self.ctx.args[1])
end

function Bench:bcastRoom()
  local args = self.ctx.args
  self.app.io:of('/'):to(args[1]):emit('bcast', args[2])
end

function Bench:join()
  local ctx = self.ctx
  ctx.socket:join(ctx.args[1])
  if ctx.ack then ctx.ack(true) end
end

return Bench
