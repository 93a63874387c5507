-- Base class for controllers and services (egg's BaseContextClass).
--
--   local Home = require('yolk.controller'):extend()
--   function Home:index() self.ctx.body = 'hi' end
--   return Home
--
-- An instance is made per request/packet with self.ctx, self.app,
-- self.service, self.config and self.logger.
local Base = {}
Base.__index = Base
Base.__yolk_class = true

function Base:extend(proto)
  local cls = proto or {}
  cls.__index = cls
  cls.super = self
  cls.__yolk_class = true
  return setmetatable(cls, { __index = self })
end

function Base:new(ctx)
  local app = ctx and ctx.app
  local o = setmetatable({
    ctx = ctx,
    app = app,
    service = ctx and ctx.service,
    config = app and app.config,
    logger = ctx and ctx.logger,
  }, self)
  if o.init then o:init() end
  return o
end

-- A class made with extend() (not a plain table of functions).
function Base.is_class(v)
  return type(v) == 'table' and rawget(v, '__yolk_class') == true and v ~= Base
end

-- The methods a class defines (its own and inherited, not Base's).
function Base.methods(cls)
  local names, seen = {}, {}
  local c = cls
  while c and c ~= Base do
    for k, v in pairs(c) do
      if type(v) == 'function' and type(k) == 'string' and not seen[k]
        and k ~= 'init' and k ~= 'new' and k ~= 'extend' and k:sub(1, 2) ~= '__' then
        seen[k] = true
        names[#names + 1] = k
      end
    end
    c = rawget(c, 'super')
  end
  table.sort(names)
  return names
end

-- Turn a loaded controller (class or table of functions) into a table of
-- functions fn(ctx, ...) suitable for routes. Class methods get a fresh
-- instance per call, as egg does.
function Base.bind(value)
  if Base.is_class(value) then
    local out = {}
    for _, name in ipairs(Base.methods(value)) do
      out[name] = function(ctx, ...)
        local inst = value:new(ctx)
        return inst[name](inst, ctx, ...)
      end
    end
    return out
  end
  return value
end

return Base
