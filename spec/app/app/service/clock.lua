local Clock = require('yolk.service'):extend()
function Clock:stamp(x) return { value = x, by = self.ctx.socket and self.ctx.socket.id or 'http' } end
return Clock
