-- The few file-system calls the loader and static files need, through
-- LuaJIT's FFI (POSIX dirent/stat), so that yolk needs no extra Lua module.
local ffi = require('ffi')

ffi.cdef [[
typedef struct yolk_DIR yolk_DIR;
yolk_DIR *opendir(const char *name);
int closedir(yolk_DIR *dirp);
int mkdir(const char *pathname, unsigned int mode);
char *realpath(const char *path, char *resolved_path);
void free(void *ptr);
]]

-- struct dirent on Linux/glibc 64-bit: ino(8) off(8) reclen(2) type(1) name[256]
ffi.cdef [[
struct yolk_dirent { uint64_t d_ino; int64_t d_off; unsigned short d_reclen; unsigned char d_type; char d_name[256]; };
struct yolk_dirent *readdir(yolk_DIR *dirp);
]]

local C = ffi.C
local M = {}

-- Names in a directory (without . and ..), sorted; nil, err if it is not one.
function M.list(path)
  local d = C.opendir(path)
  if d == nil then return nil, 'cannot open directory ' .. path end
  local names = {}
  while true do
    local e = C.readdir(d)
    if e == nil then break end
    local name = ffi.string(e.d_name)
    if name ~= '.' and name ~= '..' then names[#names + 1] = name end
  end
  C.closedir(d)
  table.sort(names)
  return names
end

function M.is_dir(path)
  local d = C.opendir(path)
  if d == nil then return false end
  C.closedir(d)
  return true
end

function M.is_file(path)
  if M.is_dir(path) then return false end
  local f = io.open(path, 'rb')
  if not f then return false end
  f:close()
  return true
end

function M.exists(path) return M.is_dir(path) or M.is_file(path) end

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
    if not M.is_dir(acc) then C.mkdir(acc, tonumber('755', 8)) end
  end
  return M.is_dir(path)
end

function M.realpath(path)
  local p = C.realpath(path, nil)
  if p == nil then return nil end
  local s = ffi.string(p)
  C.free(p)
  return s
end

function M.join(a, b)
  if b:sub(1, 1) == '/' then return b end
  if a:sub(-1) == '/' then return a .. b end
  return a .. '/' .. b
end

return M
