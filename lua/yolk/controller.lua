-- Base class for controllers and services (egg's BaseContextClass).
--
--   local Home = require('yolk.controller'):extend()
--   function Home:index() self.ctx.body = 'hi' end
--   return Home
--
-- An instance is made per request/packet with self.ctx, self.app,
-- self.service, self.config and self.logger.
local Base = {}
Base.__yolk_class = true

-- An instance holds ctx and app; service, config and logger are read from
-- them the first time they are used (most handlers never touch them, and an
-- instance is made per packet).
local lazy = {
  service = function(o) local ctx = rawget(o, 'ctx'); return ctx and ctx.service end,
  config = function(o) local app = rawget(o, 'app'); return app and app.config end,
  logger = function(o) local ctx = rawget(o, 'ctx'); return ctx and ctx.logger end,
}

-- The __index of a class's instances: the class (and its ancestors), then
-- the lazy fields.
local function instance_index(cls)
  return function(o, k)
    local v = cls[k]
    if v ~= nil then return v end
    local make = lazy[k]
    if make then
      v = make(o)
      rawset(o, k, v)
      return v
    end
  end
end
Base.__index = instance_index(Base)

function Base:extend(proto)
  local cls = proto or {}
  cls.super = self
  cls.__yolk_class = true
  setmetatable(cls, { __index = self })
  cls.__index = instance_index(cls)
  return cls
end

function Base:new(ctx)
  local o = setmetatable({ ctx = ctx, app = ctx and ctx.app }, self)
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
