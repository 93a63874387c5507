-- Finding and loading an application's files, egg style.
--
-- File names become property names (foo_bar.lua -> fooBar), sub-folders
-- nest (controller/admin/user.lua -> controller.admin.user). Loading never
-- kills the process: failures raise a LoadError naming the file and line,
-- which boot prints, and which a reload (later) reports while keeping the
-- previous generation.
local fs = require('yolk.fs')

local M = {}

local LoadError = {}
LoadError.__index = LoadError
LoadError.__tostring = function(e) return e.message end
M.LoadError = LoadError

function M.is_load_error(e) return getmetatable(e) == LoadError end

function M.load_error(message, file)
  return setmetatable({ message = message, file = file }, LoadError)
end

-- foo_bar / foo-bar / FooBar -> fooBar
function M.camel(name)
  name = name:gsub('%.lua$', '')
  local out = name:gsub('[_%-]+(%w)', function(c) return c:upper() end)
  out = out:gsub('^%u', string.lower)
  return out
end

-- Directories are plain tables marked with this metatable, so a node that is
-- a folder can be told apart from a file that returned a table.
local DIR = { __name = 'yolk.dir', __yolk_dir = true }
M.DIR = DIR
function M.is_dir_node(t)
  local mt = getmetatable(t)
  return mt == DIR or (type(mt) == 'table' and rawget(mt, '__yolk_dir') == true)
end

-- The names in a tree, sorted.
local function known(tree)
  local names = {}
  for k in pairs(tree) do if type(k) == 'string' then names[#names + 1] = k end end
  table.sort(names)
  return names
end

-- "no controller 'opps' (expected app/io/controller/opps.lua; known: auction, chat)":
-- what a lookup of an unknown name in a strict tree raises. kind and folder
-- describe the tree (a sub-folder's node knows its own).
function M.unknown_message(tree, name, kind, folder)
  local mt = getmetatable(tree)
  local info = type(mt) == 'table' and rawget(mt, '__yolk_what')
  if info then kind, folder = info.kind, info.folder end
  local prefix = info and info.dotted or ''
  local snake = name:gsub('(%l)(%u)', '%1_%2'):lower()
  local file = folder .. '/' .. name .. '.lua'
  if snake ~= name then file = file .. ' or ' .. folder .. '/' .. snake .. '.lua' end
  local names = known(tree)
  return ("no %s '%s%s' (expected %s; known: %s)"):format(kind, prefix, name, file,
    #names > 0 and table.concat(names, ', ') or 'none')
end

-- A folder node whose unknown names raise (what = { kind = 'controller',
-- folder = 'app/io/controller', dotted = 'admin.' for a sub-folder }), at
-- the line of the code that looked.
local function strict_dir(what)
  local mt = { __name = 'yolk.dir', __yolk_dir = true,
    __yolk_what = { kind = what.kind, folder = what.folder, dotted = what.dotted or '' } }
  mt.__index = function(t, k)
    if type(k) ~= 'string' then return nil end
    error(M.unknown_message(t, k), 2)
  end
  return setmetatable({}, mt)
end

-- Run a Lua file and return what it returns. A syntax error or an error
-- while running raises a LoadError whose message names the file and line.
function M.load_file(path, env)
  local chunk, err = loadfile(path)
  if not chunk then
    error(M.load_error('cannot load ' .. tostring(err), path), 0)
  end
  if env then setfenv(chunk, env) end
  local ok, res = xpcall(chunk, function(e)
    if M.is_load_error(e) then return e end
    return M.load_error(('error while loading %s: %s'):format(path,
      debug.traceback(type(e) == 'table' and tostring(e.message or e) or tostring(e), 2)), path)
  end)
  if not ok then error(res, 0) end
  return res
end

-- Load every .lua file below dir into a nested table. transform(value,
-- path, keys) may change what is stored (e.g. bind controller classes).
-- A missing directory gives an empty table. With what = { kind, folder }
-- (e.g. { kind = 'controller', folder = 'app/controller' }) looking up a
-- name that is not there raises (M.unknown_message) instead of giving nil.
function M.load_tree(dir, transform, keys, what)
  keys = keys or {}
  local node = what and strict_dir(what) or setmetatable({}, DIR)
  local names = fs.list(dir)
  if not names then return node end
  for _, name in ipairs(names) do
    local path = fs.join(dir, name)
    if name:sub(1, 1) ~= '.' then
      if fs.is_dir(path) then
        local sub = {}
        for i, k in ipairs(keys) do sub[i] = k end
        sub[#sub + 1] = M.camel(name)
        local sub_what = what and { kind = what.kind, folder = what.folder .. '/' .. name,
          dotted = (what.dotted or '') .. M.camel(name) .. '.' }
        node[M.camel(name)] = M.load_tree(path, transform, sub, sub_what)
      elseif name:match('%.lua$') then
        local key = M.camel(name)
        local sub = {}
        for i, k in ipairs(keys) do sub[i] = k end
        sub[#sub + 1] = key
        local value = M.load_file(path)
        if transform then value = transform(value, path, sub) end
        node[key] = value
      end
    end
  end
  return node
end

-- Look a dotted name up in a tree ("admin.user" -> tree.admin.user); nil
-- when it is not there (strict trees do not raise here).
function M.lookup(tree, dotted)
  local node = tree
  for part in tostring(dotted):gmatch('[^%.]+') do
    if type(node) ~= 'table' then return nil end
    if M.is_dir_node(node) then node = rawget(node, part) else node = node[part] end
  end
  return node
end

return M
