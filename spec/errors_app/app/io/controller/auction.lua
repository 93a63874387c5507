local Auction = require('yolk.controller'):extend()

function Auction:bid()
  self.ctx.ack({ ok = true, amount = self.ctx.args[1] })
end

-- a bug: arithmetic on the string the client sent
function Auction:boom()
  local amount = self.ctx.args[1]
  self.ctx.ack({ ok = true, amount = amount + 1 })
end

-- a deliberate refusal
function Auction:tooLow()
  error({ message = 'bid too low', data = { min = 10 } })
end

return Auction
