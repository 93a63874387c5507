-- app.events: a log of middleware steps per socket id, read by the tests
-- through the `events` socket event and GET /events/:id.
local Events = {}
Events.__index = Events
function Events:add(id, what)
  local l = self.by_id[id]
  if not l then l = {}; self.by_id[id] = l end
  l[#l + 1] = what
end
function Events:get(id)
  local yolk = require('yolk')
  local out = yolk.array({})
  for i, v in ipairs(self.by_id[id] or {}) do out[i] = v end
  return out
end
-- app.shared outlives reloads, so the log does too
return function(app)
  app.shared.events = app.shared.events or { by_id = {} }
  return { events = setmetatable(app.shared.events, Events) }
end
