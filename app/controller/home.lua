-- GET / : the chat page (public/index.html). Its scripts and styles come from /public/
-- (config.static) and the Socket.IO client from /socket.io/socket.io.js, all from this
-- server: the demo works offline.
local Controller = require('yolk.controller')

local Home = Controller:extend()

-- served by the core's static-file responder: read off the loop, cached
-- until the file changes, ETag and 304 for the browser's revalidations
function Home:index()
  if not self.ctx:sendFile('public/index.html') then self.ctx.body = 'chat page missing: public/index.html' end
end

return Home
