/* lua_fs_watch.c - core.watch(path, fn(filename, events, err)) -> watch;
 * watch:stop(), watch:active(), watch:path().
 *
 * A libuv fs-event watcher on one file or directory. On Linux (inotify) it is
 * NOT recursive: it reports changes to the entries directly inside a watched
 * directory, so the framework (lua/yolk/watch.lua) watches every directory of
 * a tree itself and adds watchers for directories created later. Debouncing
 * the bursts an editor's save produces is the framework's business too.
 *
 * fn gets the changed entry's name relative to the watched path (nil when the
 * OS does not say) and the events as a string: "change", "rename" or
 * "rename,change". On an error fn gets (nil, nil, message) once; the watch
 * then stops.
 *
 * Lifetime: a runtime resource (lua_core.h), as lua_timer.c. While active,
 * the C side holds refs to fn and to the watch's box, and a graceful stop (or
 * the runtime's teardown) closes it. Stopping releases it (watch:stop() then
 * returns false) and closes the handle; the memory goes in the close
 * callback. fn may stop its own watch. */
#include <stdlib.h>
#include <string.h>

#include "lua_core.h"

#define WATCH_MT "yolk.watch"

typedef struct {
  yolk__lua_res_t res; /* first: the box points here */
  uv_fs_event_t handle;
  int fn_ref;
  char *path;
} lua_watch_t;

static void on_watch_closed(uv_handle_t *h) {
  lua_watch_t *w = h->data;
  free(w->path);
  free(w);
}

/* The class close: releases the resource and its fn, closes the handle. */
static void watch_close(yolk__lua_res_t *r) {
  lua_watch_t *w = (lua_watch_t *)r;
  yolk__lua_res_release(r);
  luaL_unref(r->rt->L, LUA_REGISTRYINDEX, w->fn_ref);
  w->fn_ref = LUA_NOREF;
  uv_close((uv_handle_t *)&w->handle, on_watch_closed);
}

static const yolk__lua_res_class_t watch_class = {WATCH_MT, watch_close};

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  lua_watch_t *w = h->data;
  yolk_lua_rt_t *rt = w->res.rt;
  lua_State *L = rt->L;
  if (rt->exiting || w->fn_ref == LUA_NOREF) return;
  /* push fn now: it must survive a stop from inside the call */
  lua_rawgeti(L, LUA_REGISTRYINDEX, w->fn_ref);
  if (status < 0) {
    yolk__log(YOLK_LOG_WARN, "lua", "watching %s failed: %s", w->path, uv_strerror(status));
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushstring(L, uv_strerror(status));
    yolk__lua_res_close(&w->res);
    yolk__lua_pcall(L, 3, 0);
    return;
  }
  if (filename) lua_pushstring(L, filename);
  else lua_pushnil(L);
  if ((events & UV_RENAME) && (events & UV_CHANGE)) lua_pushliteral(L, "rename,change");
  else if (events & UV_RENAME) lua_pushliteral(L, "rename");
  else lua_pushliteral(L, "change");
  yolk__lua_pcall(L, 2, 0);
}

/* core.watch(path, fn) -> watch | nil, err */
static int l_watch(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  if (rt->stopping) {
    lua_pushnil(L);
    lua_pushliteral(L, "the runtime is stopping");
    return 2;
  }
  lua_watch_t *w = yolk__calloc(1, sizeof(*w));
  w->fn_ref = LUA_NOREF;
  w->path = yolk__strndup(path, strlen(path));
  uv_fs_event_init(&rt->loop, &w->handle);
  w->handle.data = w;
  int rc = uv_fs_event_start(&w->handle, on_fs_event, path, 0);
  if (rc < 0) {
    uv_close((uv_handle_t *)&w->handle, on_watch_closed);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot watch %s: %s", path, uv_strerror(rc));
    return 2;
  }
  lua_pushvalue(L, 2);
  w->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  yolk__lua_res_open(L, &w->res, &watch_class);
  return 1;
}

/* watch:stop() -> true if it was active */
static int w_stop(lua_State *L) {
  lua_watch_t *w = yolk__lua_res_check(L, 1, WATCH_MT);
  if (w) yolk__lua_res_close(&w->res);
  lua_pushboolean(L, w != NULL);
  return 1;
}

static int w_active(lua_State *L) {
  lua_pushboolean(L, yolk__lua_res_check(L, 1, WATCH_MT) != NULL);
  return 1;
}

static int w_path(lua_State *L) {
  lua_watch_t *w = yolk__lua_res_check(L, 1, WATCH_MT);
  if (!w) return 0;
  lua_pushstring(L, w->path);
  return 1;
}

void yolk__lua_open_fs_watch(lua_State *L) {
  static const luaL_Reg methods[] = {{"stop", w_stop}, {"active", w_active}, {"path", w_path}, {NULL, NULL}};
  yolk__lua_new_class(L, WATCH_MT, methods, NULL);
  lua_pushcfunction(L, l_watch);
  lua_setfield(L, -2, "watch");
}
