/* lua_timer.c - core.timer(ms, fn) -> timer; timer:stop().
 *
 * A one-shot libuv timer, a runtime resource (lua_core.h): while pending, the
 * C side holds refs to fn and to the timer's box, and a graceful stop cancels
 * it. Firing or stopping releases it (timer:stop() then returns false) and
 * closes the handle; the memory goes in the close callback.
 *
 * core.timer(0, fn) (yolk.sleep(0): "let the loop run") runs fn on the next
 * loop iteration, after I/O, through an idle handle: a 0 ms libuv timer
 * started from a timer callback runs in the same timers pass (libuv 1.44), so
 * a coroutine that yields with sleep(0) in a loop would never let the loop
 * write, read or run anything else. */
#include <math.h>
#include <stdlib.h>

#include "lua_core.h"

#define TIMER_MT "yolk.timer"

typedef struct {
  yolk__lua_res_t res; /* first: the box points here */
  union {
    uv_handle_t handle;
    uv_timer_t timer;
    uv_idle_t idle; /* 0 ms */
  };
  int fn_ref;
} lua_timer_t;

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

/* Releases the resource and closes the handle. Returns the fn ref (the caller
 * unrefs it) so firing can still call it. */
static int timer_finish(lua_timer_t *t) {
  yolk__lua_res_release(&t->res);
  uv_close((uv_handle_t *)&t->handle, on_timer_closed);
  int ref = t->fn_ref;
  t->fn_ref = LUA_NOREF;
  return ref;
}

/* The class close: a graceful stop cancels pending timers. */
static void timer_close(yolk__lua_res_t *r) {
  lua_timer_t *t = (lua_timer_t *)r;
  luaL_unref(r->rt->L, LUA_REGISTRYINDEX, timer_finish(t));
}

static const yolk__lua_res_class_t timer_class = {TIMER_MT, timer_close};

static void fire(lua_timer_t *t) {
  lua_State *L = t->res.rt->L;
  t->res.closing = 1;
  int fn_ref = timer_finish(t);
  lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, fn_ref);
  yolk__lua_pcall(L, 0, 0);
}

static void on_timer(uv_timer_t *h) { fire(h->data); }
static void on_idle(uv_idle_t *h) { fire(h->data); }

/* core.timer(ms, fn) -> timer */
static int l_timer(lua_State *L) {
  lua_Number ms = luaL_checknumber(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!(ms >= 0)) ms = 0; /* also NaN */
  if (ms > 1e15) ms = 1e15;
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  lua_timer_t *t = yolk__calloc(1, sizeof(*t));
  if (ms == 0) {
    uv_idle_init(&rt->loop, &t->idle);
    t->idle.data = t;
    uv_idle_start(&t->idle, on_idle);
  } else {
    uv_timer_init(&rt->loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, on_timer, (uint64_t)ceil(ms), 0);
  }
  lua_pushvalue(L, 2);
  t->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  yolk__lua_res_open(L, &t->res, &timer_class);
  return 1;
}

/* timer:stop() -> true if it was pending */
static int t_stop(lua_State *L) {
  lua_timer_t *t = yolk__lua_res_check(L, 1, TIMER_MT);
  if (t) yolk__lua_res_close(&t->res);
  lua_pushboolean(L, t != NULL);
  return 1;
}

static int t_active(lua_State *L) {
  lua_pushboolean(L, yolk__lua_res_check(L, 1, TIMER_MT) != NULL);
  return 1;
}

void yolk__lua_open_timer(lua_State *L) {
  static const luaL_Reg methods[] = {{"stop", t_stop}, {"active", t_active}, {NULL, NULL}};
  yolk__lua_new_class(L, TIMER_MT, methods, NULL);
  lua_pushcfunction(L, l_timer);
  lua_setfield(L, -2, "timer");
}
