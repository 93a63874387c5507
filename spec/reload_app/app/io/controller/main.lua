-- Socket events whose answers the test changes by editing this file.
local yolk = require('yolk')
local version = require('app.lib.version')
local Main = require('yolk.controller'):extend()

local HELLO = 'hello v1'
function Main:hello() self.ctx.ack(HELLO) end
-- the packet middleware's tag and this file's text: always of one generation
function Main:both() self.ctx.ack(tostring(self.ctx.tag) .. ' + ' .. HELLO) end
function Main:tag() self.ctx.ack(self.ctx.tag or yolk.null) end
function Main:greeting() self.ctx.ack(self.app.config.greeting) end
function Main:version() self.ctx.ack(version.text) end
function Main:id() self.ctx.ack(self.ctx.socket.id) end

function Main:join()
  self.ctx.socket:join(self.ctx.args[1])
  self.ctx.ack(true)
end

function Main:rooms() self.ctx.ack(yolk.array(self.ctx.socket.rooms)) end

return Main
