-- Rooms of the chat and who is in them.
--
-- Whether a room exists: with `config.redis` set, the key `room:<name>` in Redis (as the
-- egg-socket.io tutorial does); otherwise an in-memory set seeded from `config.chat.rooms`.
--
-- Members and their nicknames live in this process's memory. Checking a nickname and
-- reserving it happen with no yield in between, so two sockets racing for the same name
-- cannot both get it (one Lua state, coroutines only switch at yields).

local Service = require('yolk.service')

local PREFIX = 'room'

-- The rooms outlive a service object (one per ctx) and a reload (yolk dev reloads this file
-- on every edit): they live in app.shared, the one table a process keeps across reloads.
local function state(app)
  local st = app.shared.chatRooms
  if not st then
    st = { known = {}, rooms = {} } -- known[name] = true: the room exists (memory mode);
    app.shared.chatRooms = st       -- rooms[name] = { order = { id, ... }, nick = { [id] = nickname|false } }
  end
  return st
end

local RoomService = Service:extend()

-- config.chat.rooms exist; seeded once per generation, so a reload adds new ones.
local function seed(app)
  local st = state(app)
  if st.seeded_by == app then return end
  st.seeded_by = app
  local chat = app.config.chat or {}
  for _, name in ipairs(chat.rooms or { 'demo' }) do st.known[name] = true end
end

local function members(app, name)
  local rooms = state(app).rooms
  local r = rooms[name]
  if not r then
    r = { order = {}, nick = {} }
    rooms[name] = r
  end
  return r
end

-- Does room `name` exist? May wait for Redis when it is configured.
function RoomService:exists(name)
  if type(name) ~= 'string' or name == '' then return false end
  local app = self.app
  if app.config.redis and app.redis then
    local v = app.redis:get(PREFIX .. ':' .. name)
    return v ~= nil and v ~= require('yolk').null
  end
  seed(app)
  return state(app).known[name] == true
end

-- Creates a room (memory mode only; used by tests and by config seeding).
function RoomService:create(name)
  seed(self.app)
  state(self.app).known[name] = true
end

-- Trims and checks a nickname: 1..20 characters, no control characters.
-- Returns the cleaned name or nil.
function RoomService.cleanNickname(_, name)
  if type(name) ~= 'string' then return nil end
  name = name:gsub('^%s+', ''):gsub('%s+$', '')
  if name == '' or name:find('[%z\1-\31\127]') then return nil end
  local _, chars = name:gsub('[^\128-\191]', '')
  if chars > 20 then return nil end
  return name
end

local function taken(r, nickname, except_id)
  if not nickname then return false end
  local lower = nickname:lower()
  for id, n in pairs(r.nick) do
    if n and id ~= except_id and n:lower() == lower then return true end
  end
  return false
end

-- Adds socket `id` to room `name`, with an optional nickname.
-- Returns true, or false and 'taken' when another member already has that nickname.
function RoomService:enter(name, id, nickname)
  local r = members(self.app, name)
  if taken(r, nickname, id) then return false, 'taken' end
  if r.nick[id] == nil then r.order[#r.order + 1] = id end
  r.nick[id] = nickname or false
  return true
end

-- Sets or changes the nickname of member `id`. Returns true or false, 'taken' | 'absent'.
function RoomService:rename(name, id, nickname)
  local r = state(self.app).rooms[name]
  if not r or r.nick[id] == nil then return false, 'absent' end
  if taken(r, nickname, id) then return false, 'taken' end
  r.nick[id] = nickname
  return true
end

function RoomService:leave(name, id)
  local rooms = state(self.app).rooms
  local r = rooms[name]
  if not r or r.nick[id] == nil then return end
  r.nick[id] = nil
  for i, v in ipairs(r.order) do
    if v == id then table.remove(r.order, i) break end
  end
  if #r.order == 0 then rooms[name] = nil end
end

function RoomService:has(name, id)
  local r = state(self.app).rooms[name]
  return r ~= nil and r.nick[id] ~= nil
end

function RoomService:nickname(name, id)
  local r = state(self.app).rooms[name]
  return r and r.nick[id] or nil
end

-- The members of a room in join order: { { id = ..., nickname = ... | yolk.null }, ... }.
function RoomService:users(name)
  local yolk = require('yolk')
  local list = yolk.array({})
  local r = state(self.app).rooms[name]
  if r then
    for _, id in ipairs(r.order) do
      list[#list + 1] = { id = id, nickname = r.nick[id] or yolk.null }
    end
  end
  return list
end

return RoomService
