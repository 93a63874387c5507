local getpid = require('app.pid')
local Worker = require('yolk.controller'):extend()

-- ack { pid, sid (Engine.IO), address (handshake.address), transport }
function Worker:whoami()
  local ctx = self.ctx
  local hs = ctx.socket.handshake
  if ctx.ack then
    ctx.ack({ pid = getpid(), id = ctx.socket.id, address = hs.address, peerHeader = hs.headers['x-yolk-peer'] or false })
  end
end

-- echo(x) -> ack(x), and the event 'echoed' with it
function Worker:echo()
  local ctx = self.ctx
  ctx.socket:emit('echoed', ctx.args[1])
  if ctx.ack then ctx.ack(ctx.args[1]) end
end

return Worker
