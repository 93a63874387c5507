-- The few file-system calls the loader, the config and the reload need,
-- through yolk.core (libuv's uv_fs_*). They run on the loop's thread: for
-- loading an application, not for serving requests (static files go through
-- the core's static responder, off the loop).
local core = require('yolk.core')

local M = {}

-- Names in a directory (without . and ..), sorted; nil, err if it is not one.
function M.list(path)
  return core.fs_scandir(path)
end

local function kind(path)
  local st = core.fs_stat(path)
  return st and st.type
end

function M.is_dir(path) return kind(path) == 'directory' end
function M.is_file(path) return kind(path) == 'file' end
function M.exists(path) return kind(path) ~= nil end

-- The modification time of a file (seconds, fractional), or nil.
function M.mtime(path)
  local st = core.fs_stat(path)
  return st and st.mtime
end

function M.read(path)
  local f, err = io.open(path, 'rb')
  if not f then return nil, err end
  local s = f:read('*a')
  f:close()
  return s
end

-- mkdir -p
function M.mkdirp(path)
  local acc = path:sub(1, 1) == '/' and '' or '.'
  for part in path:gmatch('[^/]+') do
    acc = acc .. '/' .. part
    if not M.is_dir(acc) then core.fs_mkdir(acc) end
  end
  return M.is_dir(path)
end

function M.realpath(path)
  return (core.fs_realpath(path))
end

function M.join(a, b)
  if b:sub(1, 1) == '/' then return b end
  if a:sub(-1) == '/' then return a .. b end
  return a .. '/' .. b
end

return M
