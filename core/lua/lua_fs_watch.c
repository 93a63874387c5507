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
 * Lifetime: as lua_timer.c. While active, the C side holds refs to fn and to
 * the watch's box, and the watch is on the runtime's list, so a graceful stop
 * (or the runtime's teardown) closes it. Stopping unlinks it, kills the box
 * (watch:stop() then returns false) and closes the handle; the memory goes in
 * the close callback. fn may stop its own watch. */
#include <stdlib.h>
#include <string.h>

#include "lua_core.h"

#define WATCH_MT "yolk.watch"

struct yolk__lua_watch_s {
  uv_fs_event_t handle;
  yolk_lua_rt_t *rt;
  int fn_ref, box_ref;
  char *path;
  yolk__lua_watch_t *prev, *next;
};

static void on_watch_closed(uv_handle_t *h) {
  yolk__lua_watch_t *w = h->data;
  free(w->path);
  free(w);
}

/* Unlinks w, releases its refs and closes its handle. */
static void watch_finish(yolk__lua_watch_t *w) {
  yolk_lua_rt_t *rt = w->rt;
  if (w->prev) w->prev->next = w->next;
  else rt->watches = w->next;
  if (w->next) w->next->prev = w->prev;
  w->prev = w->next = NULL;
  yolk__lua_box_kill(rt->L, w->box_ref);
  w->box_ref = LUA_NOREF;
  luaL_unref(rt->L, LUA_REGISTRYINDEX, w->fn_ref);
  w->fn_ref = LUA_NOREF;
  uv_close((uv_handle_t *)&w->handle, on_watch_closed);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  yolk__lua_watch_t *w = h->data;
  yolk_lua_rt_t *rt = w->rt;
  lua_State *L = rt->L;
  if (rt->exiting || w->fn_ref == LUA_NOREF) return;
  /* push fn now: it must survive a stop from inside the call */
  lua_rawgeti(L, LUA_REGISTRYINDEX, w->fn_ref);
  if (status < 0) {
    yolk__log(YOLK_LOG_WARN, "lua", "watching %s failed: %s", w->path, uv_strerror(status));
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushstring(L, uv_strerror(status));
    watch_finish(w);
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

void yolk__lua_watches_close_all(yolk_lua_rt_t *rt) {
  while (rt->watches) watch_finish(rt->watches);
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
  yolk__lua_watch_t *w = yolk__calloc(1, sizeof(*w));
  w->rt = rt;
  w->fn_ref = w->box_ref = LUA_NOREF;
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
  w->box_ref = yolk__lua_box_new(L, w, WATCH_MT);
  w->next = rt->watches;
  if (rt->watches) rt->watches->prev = w;
  rt->watches = w;
  return 1;
}

/* watch:stop() -> true if it was active */
static int w_stop(lua_State *L) {
  yolk__lua_watch_t *w = yolk__lua_box_get(L, 1, WATCH_MT);
  if (w) watch_finish(w);
  lua_pushboolean(L, w != NULL);
  return 1;
}

static int w_active(lua_State *L) {
  lua_pushboolean(L, yolk__lua_box_get(L, 1, WATCH_MT) != NULL);
  return 1;
}

static int w_path(lua_State *L) {
  yolk__lua_watch_t *w = yolk__lua_box_get(L, 1, WATCH_MT);
  if (!w) return 0;
  lua_pushstring(L, w->path);
  return 1;
}

void yolk__lua_open_fs_watch(lua_State *L) {
  static const luaL_Reg methods[] = {{"stop", w_stop}, {"active", w_active}, {"path", w_path}, {NULL, NULL}};
  luaL_newmetatable(L, WATCH_MT);
  lua_newtable(L);
  luaL_register(L, NULL, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_watch);
  lua_setfield(L, -2, "watch");
}
