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
local DIR = { __name = 'yolk.dir' }
M.DIR = DIR
function M.is_dir_node(t) return getmetatable(t) == DIR end

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
-- A missing directory gives an empty table.
function M.load_tree(dir, transform, keys)
  local node = setmetatable({}, DIR)
  keys = keys or {}
  local names = fs.list(dir)
  if not names then return node end
  for _, name in ipairs(names) do
    local path = fs.join(dir, name)
    if name:sub(1, 1) ~= '.' then
      if fs.is_dir(path) then
        local sub = {}
        for i, k in ipairs(keys) do sub[i] = k end
        sub[#sub + 1] = M.camel(name)
        node[M.camel(name)] = M.load_tree(path, transform, sub)
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

-- Look a dotted name up in a tree ("admin.user" -> tree.admin.user).
function M.lookup(tree, dotted)
  local node = tree
  for part in tostring(dotted):gmatch('[^%.]+') do
    if type(node) ~= 'table' then return nil end
    node = node[part]
  end
  return node
end

return M
