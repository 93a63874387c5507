-- The benchmark's events; bench/node_server.mjs handles the same ones the same way.
-- echo(...args): emits `echo` with the same args back to the sender (no ack).
-- echo-ack(...args, ack): acks the same args back.
-- bcast(payload): emits `bcast` payload to every socket of '/', sender included.
-- bcastRoom(room, payload): emits `bcast` payload to every socket in room.
-- join(room, ack): joins room, acks true.
-- left(ack): acks how many sockets the "mw" mode's middleware saw leave (its after-next() part).
local Bench = require('yolk.controller'):extend()

function Bench:echo()
  local ctx = self.ctx
  local args = ctx.args
  ctx.socket:emit('echo', unpack(args, 1, args.n))
end

function Bench:echoAck()
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

function Bench:left()
  local ctx = self.ctx
  if ctx.ack then ctx.ack(self.app.shared.benchLeft or 0) end
end

return Bench
