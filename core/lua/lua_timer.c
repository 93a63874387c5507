/* lua_timer.c - core.timer(ms, fn) -> timer; timer:stop().
 *
 * A one-shot libuv timer. While pending, the C side holds refs to fn and to
 * the timer's box, and the timer is on the runtime's list so a graceful stop
 * can cancel it. Firing or stopping unlinks it, kills the box (timer:stop()
 * then returns false) and closes the handle; the memory goes in close_cb. */
#include <math.h>
#include <stdlib.h>

#include "lua_core.h"

#define TIMER_MT "yolk.timer"

struct yolk__lua_timer_s {
  uv_timer_t handle;
  yolk_lua_rt_t *rt;
  int fn_ref, box_ref;
  yolk__lua_timer_t *prev, *next;
};

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

/* Unlinks t, releases its refs and closes its handle. Returns the fn ref
 * (the caller unrefs it) so firing can still call it. */
static int timer_finish(yolk__lua_timer_t *t) {
  yolk_lua_rt_t *rt = t->rt;
  if (t->prev) t->prev->next = t->next;
  else rt->timers = t->next;
  if (t->next) t->next->prev = t->prev;
  yolk__lua_box_kill(rt->L, t->box_ref);
  uv_close((uv_handle_t *)&t->handle, on_timer_closed);
  return t->fn_ref;
}

static void on_timer(uv_timer_t *h) {
  yolk__lua_timer_t *t = h->data;
  lua_State *L = t->rt->L;
  int fn_ref = timer_finish(t);
  lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, fn_ref);
  yolk__lua_pcall(L, 0, 0);
}

void yolk__lua_timers_cancel_all(yolk_lua_rt_t *rt) {
  while (rt->timers) luaL_unref(rt->L, LUA_REGISTRYINDEX, timer_finish(rt->timers));
}

/* core.timer(ms, fn) -> timer */
static int l_timer(lua_State *L) {
  lua_Number ms = luaL_checknumber(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!(ms >= 0)) ms = 0; /* also NaN */
  if (ms > 1e15) ms = 1e15;
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  yolk__lua_timer_t *t = yolk__calloc(1, sizeof(*t));
  t->rt = rt;
  uv_timer_init(&rt->loop, &t->handle);
  t->handle.data = t;
  uv_timer_start(&t->handle, on_timer, (uint64_t)ceil(ms), 0);
  lua_pushvalue(L, 2);
  t->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t->box_ref = yolk__lua_box_new(L, t, TIMER_MT);
  t->next = rt->timers;
  if (rt->timers) rt->timers->prev = t;
  rt->timers = t;
  return 1;
}

/* timer:stop() -> true if it was pending */
static int t_stop(lua_State *L) {
  yolk__lua_timer_t *t = yolk__lua_box_get(L, 1, TIMER_MT);
  if (!t) {
    lua_pushboolean(L, 0);
    return 1;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, timer_finish(t));
  lua_pushboolean(L, 1);
  return 1;
}

static int t_active(lua_State *L) {
  lua_pushboolean(L, yolk__lua_box_get(L, 1, TIMER_MT) != NULL);
  return 1;
}

void yolk__lua_open_timer(lua_State *L) {
  static const luaL_Reg methods[] = {{"stop", t_stop}, {"active", t_active}, {NULL, NULL}};
  luaL_newmetatable(L, TIMER_MT);
  lua_newtable(L);
  luaL_register(L, NULL, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_timer);
  lua_setfield(L, -2, "timer");
}
