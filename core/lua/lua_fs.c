/* lua_fs.c - the file-system calls the loader, the config and the reload
 * need (core.fs_*), through libuv's uv_fs_* functions.
 *
 * These run synchronously, on the loop's thread: they are for loading an
 * application (start-up and reloads, which read the application's own files
 * anyway), never for serving requests (static files go through static.h,
 * on the thread pool). Errors are returned as nil, message. */
#include <stdlib.h>
#include <string.h>

#include "lua_core.h"

static int push_error(lua_State *L, const char *what, const char *path, int rc) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s %s: %s", what, path, uv_strerror(rc));
  return 2;
}

/* core.fs_scandir(path) -> { names (without . and ..), sorted } | nil, err */
static int l_scandir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uv_fs_t req;
  int rc = uv_fs_scandir(NULL, &req, path, 0, NULL);
  if (rc < 0) {
    uv_fs_req_cleanup(&req);
    return push_error(L, "cannot list", path, rc);
  }
  lua_createtable(L, rc, 0);
  uv_dirent_t ent;
  int n = 0;
  while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
    lua_pushstring(L, ent.name);
    lua_rawseti(L, -2, ++n);
  }
  uv_fs_req_cleanup(&req);
  /* sorted, so that loading order does not depend on the file system */
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, -3);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  return 1;
}

/* core.fs_stat(path) -> { type = 'file'|'directory'|'other', size, mtime (s) } | nil, err */
static int l_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uv_fs_t req;
  int rc = uv_fs_stat(NULL, &req, path, NULL);
  if (rc < 0) {
    uv_fs_req_cleanup(&req);
    return push_error(L, "cannot stat", path, rc);
  }
  const uv_stat_t *st = &req.statbuf;
  lua_createtable(L, 0, 3);
  const char *type = (st->st_mode & S_IFMT) == S_IFREG ? "file" : (st->st_mode & S_IFMT) == S_IFDIR ? "directory" : "other";
  lua_pushstring(L, type);
  lua_setfield(L, -2, "type");
  lua_pushnumber(L, (lua_Number)st->st_size);
  lua_setfield(L, -2, "size");
  lua_pushnumber(L, (lua_Number)st->st_mtim.tv_sec + (lua_Number)st->st_mtim.tv_nsec / 1e9);
  lua_setfield(L, -2, "mtime");
  uv_fs_req_cleanup(&req);
  return 1;
}

/* core.fs_realpath(path) -> absolute path | nil, err */
static int l_realpath(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uv_fs_t req;
  int rc = uv_fs_realpath(NULL, &req, path, NULL);
  if (rc < 0) {
    uv_fs_req_cleanup(&req);
    return push_error(L, "cannot resolve", path, rc);
  }
  lua_pushstring(L, req.ptr);
  uv_fs_req_cleanup(&req);
  return 1;
}

/* core.fs_mkdir(path [, mode]) -> true | nil, err (an existing directory is fine) */
static int l_mkdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int mode = (int)luaL_optinteger(L, 2, 0755);
  uv_fs_t req;
  int rc = uv_fs_mkdir(NULL, &req, path, mode, NULL);
  uv_fs_req_cleanup(&req);
  if (rc < 0 && rc != UV_EEXIST) return push_error(L, "cannot create", path, rc);
  lua_pushboolean(L, 1);
  return 1;
}

void yolk__lua_open_fs(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"fs_scandir", l_scandir}, {"fs_stat", l_stat}, {"fs_realpath", l_realpath}, {"fs_mkdir", l_mkdir}, {NULL, NULL},
  };
  luaL_register(L, NULL, fns);
}
