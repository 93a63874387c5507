-- Boot hooks (egg's app.js): didLoad after the files load, serverDidReady
-- after listen (in a coroutine).
local yolk = require('yolk')
return {
  didLoad = function(app)
    app.bootLog = { 'didLoad' }
  end,
  serverDidReady = function(app)
    yolk.sleep(1)
    app.bootLog[#app.bootLog + 1] = 'serverDidReady'
  end,
}
