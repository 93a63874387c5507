-- app/io/controller/auction.lua
local Auction = require('yolk.controller'):extend()

-- 'bid', amount, ack: the ack answers this client only; the room hears the news
function Auction:bid()
  local ctx, best = self.ctx, self.app.shared.best
  local answer = ctx.ack or function() end        -- nil when the client asked for no answer
  local amount = tonumber(ctx.args[1])
  if not amount or amount <= best.amount then
    return answer({ ok = false, best = best.amount })
  end
  best.amount, best.by = amount, ctx.socket.data.name
  ctx.socket:to('bidders'):emit('outbid', { amount = amount, by = best.by })
  answer({ ok = true, best = amount })
end

return Auction
