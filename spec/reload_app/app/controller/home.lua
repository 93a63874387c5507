local yolk = require('yolk')
local Home = require('yolk.controller'):extend()

function Home:log()
  self.ctx.body = yolk.array(self.app.shared.log or {})
end

return Home
