-- GET / : the chat page (public/index.html). Its scripts and styles come from /public/
-- (config.static) and the Socket.IO client from /socket.io/socket.io.js, all from this
-- server: the demo works offline.
local Controller = require('yolk.controller')

local Home = Controller:extend()

local page -- read once, except under `yolk dev` (env local), where edits show on reload

local function readPage(baseDir)
  local f, err = io.open(baseDir .. '/public/index.html', 'rb')
  if not f then return nil, err end
  local s = f:read('*a')
  f:close()
  return s
end

function Home:index()
  local ctx = self.ctx
  if not page or self.app.env == 'local' then
    local err
    page, err = readPage(self.app.baseDir or self.app.config.baseDir or '.')
    if not page then
      ctx.status = 500
      ctx.body = 'chat page missing: ' .. tostring(err)
      return
    end
  end
  ctx:set('Content-Type', 'text/html; charset=utf-8')
  ctx:set('Cache-Control', 'no-cache')
  ctx.body = page
end

return Home
