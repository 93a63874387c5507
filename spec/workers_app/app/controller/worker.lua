local getpid = require('app.pid')
local Worker = require('yolk.controller'):extend()

function Worker:ready()
  self.ctx.body = 'ready'
end

-- Which worker answered, and what it knows of the client.
function Worker:whoami()
  local ctx = self.ctx
  ctx.body = { pid = getpid(), ip = ctx.ip, peerHeader = ctx:get('x-yolk-peer') or false,
               xff = ctx:get('x-forwarded-for') or false, body = ctx.request.rawBody or false }
end

return Worker
