-- This worker's process id (LuaJIT's FFI: the framework has no call for it).
local ffi = require('ffi')
pcall(ffi.cdef, 'int getpid(void);')
return function() return ffi.C.getpid() end
