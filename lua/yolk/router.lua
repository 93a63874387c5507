-- HTTP routing (app.router): app.router:get('/user/:id', app.controller.user.show)
--
-- Paths are matched segment by segment: ':name' captures one segment into
-- ctx.params.name (percent-decoded), '*' captures the rest. Routes are tried
-- in the order they were added.
local M = {}

local Router = {}
Router.__index = Router
M.Router = Router

function M.new(opts)
  return setmetatable({ routes = {}, resolve = opts and opts.resolve }, Router)
end

local function escape(s) return (s:gsub('[%^%$%(%)%%%.%[%]%*%+%-%?]', '%%%0')) end

M.decode = require('yolk.core').decode_uri_component

-- '/user/:id/*' -> Lua pattern and the parameter names
function M.compile(path)
  if path:sub(1, 1) ~= '/' then error('route path must start with /: ' .. path, 3) end
  local names = {}
  local pat = '^'
  for seg in path:gmatch('/([^/]*)') do
    pat = pat .. '/'
    if seg:sub(1, 1) == ':' then
      local name = seg:sub(2):match('^([%w_]+)$')
      if not name then error('bad route parameter ' .. seg .. ' in ' .. path, 3) end
      names[#names + 1] = name
      pat = pat .. '([^/]+)'
    elseif seg == '*' then
      names[#names + 1] = 0
      pat = pat .. '(.*)'
    else
      pat = pat .. escape(seg)
    end
  end
  if path == '/' then pat = '^/' end
  return pat .. '/?$', names
end

local METHODS = { 'get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'all' }
M.METHODS = METHODS

-- router:get([name,] path, [middleware...,] handler)
function Router:register(method, ...)
  local n = select('#', ...)
  local args = { ... }
  local name
  if n >= 3 and type(args[1]) == 'string' and type(args[2]) == 'string' and args[2]:sub(1, 1) == '/' then
    name = table.remove(args, 1)
    n = n - 1
  end
  local path = table.remove(args, 1)
  n = n - 1
  if type(path) ~= 'string' then error('router:' .. method:lower() .. '(path, handler): path must be a string', 3) end
  local handler = args[n]
  args[n] = nil
  if type(handler) == 'string' and self.resolve then
    local found = self.resolve(handler)
    if not found then
      local file, action = handler:match('^(.*)%.([^%.]+)$')
      error(("router:%s(%q, '%s'): no controller action '%s' (expected a function %s in app/controller/%s.lua)")
        :format(method:lower(), path, handler, handler, action or handler, ((file or handler):gsub('%.', '/'))), 3)
    end
    handler = found
  end
  if type(handler) ~= 'function' and not (type(handler) == 'table' and getmetatable(handler) and getmetatable(handler).__call) then
    error(('router:%s(%q): the handler is a %s, not a function (misspelt controller name?)')
      :format(method:lower(), path, type(handler)), 3)
  end
  local pat, names = M.compile(path)
  local route = { method = method:upper(), path = path, name = name, pattern = pat, names = names,
    middleware = args, handler = handler }
  self.routes[#self.routes + 1] = route
  return route
end

for _, m in ipairs(METHODS) do
  Router[m] = function(self, ...) return self:register(m, ...) end
end
Router.del = Router.delete

-- The route for method and path, with its params; nil when none matches.
-- The second result tells whether the path matched with another method.
function Router:match(method, path)
  method = method:upper()
  local path_matched = false
  for _, r in ipairs(self.routes) do
    local caps = { path:match(r.pattern) }
    if caps[1] ~= nil then
      if r.method == method or r.method == 'ALL' or (method == 'HEAD' and r.method == 'GET') then
        local params = {}
        for i, n in ipairs(r.names) do
          local v = caps[i]
          if n == 0 then params[#params + 1] = v else params[n] = v and M.decode(v) end
        end
        return r, params
      end
      path_matched = true
    end
  end
  return nil, path_matched
end

return M
