/* lua_watchdog.c - config.lua.blockedWarning: a thread that notices a
 * callback keeping the loop busy, and says which.
 *
 * A LuaJIT loop compiled to machine code never sees a debug hook (nor a
 * signal handler's request to stop), so nothing interrupts it: the watchdog
 * only watches, from its own thread, and reports.
 *
 * The loop's side costs two atomic stores per callback and no clock:
 * yolk__lua_watch_begin/_end around each callback from the loop into Lua
 * (the outermost yolk__lua_pcall) publish the number of the running one (0
 * between them). The thread wakes a few times per blockedWarning (period
 * P = blockedWarning / 4, 10 to 250 ms) and notes when it first saw a number;
 * when the same callback is still running blockedWarning later, it logs a
 * WARN naming it (its start is known to within P), again at about twice,
 * four times... that long (at least once a minute), and the loop logs how
 * long it took once it returns. What the callback handles comes from the
 * framework (core.doing: an event and its namespace, an HTTP request), a few
 * bytes copied under a mutex only when they change.
 *
 * Log lines are whole lines written with one call each (log.c), so the
 * thread may write them while the loop is stuck.
 *
 * Single process: the warning is all there is. Under `yolk start --workers N`
 * the master also restarts a worker whose loop has been blocked for longer
 * than config.lua.blockedRestart (it hears the worker's heartbeat on their
 * pipe: cluster_worker.c, cluster.c). */
#include <stdio.h>
#include <string.h>

#include "lua_core.h"

/* The thread's longest and shortest sleep, and the longest gap between two
 * warnings about one callback. */
#define WATCH_MAX_PERIOD_NS (250ull * 1000000ull)
#define WATCH_MIN_PERIOD_NS (10ull * 1000000ull)
#define WATCH_MAX_REPEAT_NS (60ull * 1000000000ull)

void yolk__lua_watch_begin(yolk_lua_rt_t *rt) {
  yolk__lua_watch_t *w = &rt->watch;
  atomic_store_explicit(&w->active, ++w->seq, memory_order_release);
}

/* "event 'chat' on /live" from what core.doing() stored; lock held. */
static void describe_locked(yolk__lua_watch_t *w, uint64_t seq, char *buf, size_t len) {
  if (atomic_load_explicit(&w->what_seq, memory_order_acquire) != seq || !w->kind[0]) {
    snprintf(buf, len, "a Lua callback");
  } else if (!strcmp(w->kind, "event")) {
    snprintf(buf, len, "event '%s' on %s", w->name, w->place);
  } else if (!strcmp(w->kind, "request")) {
    snprintf(buf, len, "HTTP %s %s", w->name, w->place);
  } else if (!strcmp(w->kind, "connection")) {
    snprintf(buf, len, "the connection middleware of %s", w->place);
  } else if (w->name[0] && w->place[0]) {
    snprintf(buf, len, "%s '%s' on %s", w->kind, w->name, w->place);
  } else {
    snprintf(buf, len, "%s%s%s", w->kind, w->name[0] || w->place[0] ? " " : "", w->name[0] ? w->name : w->place);
  }
}

void yolk__lua_watch_describe(yolk_lua_rt_t *rt, char *buf, size_t len) {
  yolk__lua_watch_t *w = &rt->watch;
  uv_mutex_lock(&w->mu);
  describe_locked(w, w->seq, buf, len);
  uv_mutex_unlock(&w->mu);
}

void yolk__lua_watch_end(yolk_lua_rt_t *rt) {
  yolk__lua_watch_t *w = &rt->watch;
  atomic_store_explicit(&w->active, 0, memory_order_release);
  if (atomic_load_explicit(&w->warned, memory_order_acquire) != w->seq) return;
  /* it was warned about: say how long it took (from when the thread first
   * saw it, so at most one period short) */
  uint64_t since = atomic_load_explicit(&w->since, memory_order_acquire);
  char what[200];
  yolk__lua_watch_describe(rt, what, sizeof(what));
  yolk__log(YOLK_LOG_WARN, "lua", "%s returned after %.2f s; the loop served nothing else meanwhile", what,
            (double)(uv_hrtime() - since) / 1e9);
}

static void watch_thread(void *arg) {
  yolk__lua_watch_t *w = arg;
  uint64_t last = 0, next_warn = 0;
  uv_mutex_lock(&w->mu);
  while (!w->stop) {
    uint64_t limit = atomic_load_explicit(&w->warn_ns, memory_order_relaxed);
    uint64_t period = limit / 4;
    if (period > WATCH_MAX_PERIOD_NS || !limit) period = WATCH_MAX_PERIOD_NS;
    if (period < WATCH_MIN_PERIOD_NS) period = WATCH_MIN_PERIOD_NS;
    uv_cond_timedwait(&w->cond, &w->mu, period);
    if (w->stop) break;
    uint64_t active = atomic_load_explicit(&w->active, memory_order_acquire);
    uint64_t now = uv_hrtime();
    if (active != last) {
      /* another callback (or none) since the last look: it began at most a
       * period ago */
      last = active;
      atomic_store_explicit(&w->since, now, memory_order_release);
      next_warn = limit;
      continue;
    }
    if (!active || !limit) continue;
    uint64_t busy = now - atomic_load_explicit(&w->since, memory_order_relaxed);
    if (busy < next_warn) continue;
    next_warn = busy + (busy < WATCH_MAX_REPEAT_NS ? busy : WATCH_MAX_REPEAT_NS);
    char what[200];
    describe_locked(w, active, what, sizeof(what));
    atomic_store_explicit(&w->warned, active, memory_order_release);
    uv_mutex_unlock(&w->mu);
    yolk__log(YOLK_LOG_WARN, "lua",
              "%s has kept the loop busy for %.1f s (config.lua.blockedWarning = %.0f ms): no other client is "
              "served until it returns",
              what, (double)busy / 1e9, (double)limit / 1e6);
    uv_mutex_lock(&w->mu);
  }
  uv_mutex_unlock(&w->mu);
}

void yolk__lua_watch_init(yolk__lua_watch_t *w) {
  memset(w, 0, sizeof(*w));
  uv_mutex_init(&w->mu);
  uv_cond_init(&w->cond);
}

void yolk__lua_watch_free(yolk__lua_watch_t *w) {
  if (w->started) {
    uv_mutex_lock(&w->mu);
    w->stop = 1;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->thread);
    w->started = 0;
  }
  uv_cond_destroy(&w->cond);
  uv_mutex_destroy(&w->mu);
}

/* core.watchdog(ms): warn about a callback that runs longer than ms (0: no
 * more warnings). The thread starts on first use. */
static int l_watchdog(lua_State *L) {
  yolk__lua_watch_t *w = lua_touserdata(L, lua_upvalueindex(1));
  lua_Number ms = luaL_checknumber(L, 1);
  luaL_argcheck(L, ms >= 0 && ms < 1e12, 1, "milliseconds (0: off)");
  atomic_store_explicit(&w->warn_ns, (uint64_t)(ms * 1e6), memory_order_relaxed);
  if (!w->started && ms > 0) {
    /* a small stack of its own: the command's thread has a large one
     * (core/bin/yolk.c) and this one only formats log lines */
    uv_thread_options_t topts = {UV_THREAD_HAS_STACK_SIZE, 256 * 1024};
    int r = uv_thread_create_ex(&w->thread, &topts, watch_thread, w);
    if (r < 0) return luaL_error(L, "cannot start the watchdog thread: %s", uv_strerror(r));
    w->started = 1;
  } else if (w->started) {
    uv_mutex_lock(&w->mu);
    uv_cond_signal(&w->cond); /* the new period now */
    uv_mutex_unlock(&w->mu);
  }
  return 0;
}

static void copy_field(char *dst, size_t cap, lua_State *L, int idx) {
  size_t len = 0;
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : "";
  if (len >= cap) len = cap - 1;
  memcpy(dst, s, len);
  dst[len] = '\0';
}

/* core.doing(kind, name, place): what the running callback handles, for the
 * watchdog's messages: ('event', 'chat', '/live'), ('request', 'GET',
 * '/path'), ('connection', nil, '/live'), ('handler', 'disconnect', '/').
 * Strings only; anything else counts as empty.
 *
 * The last three values are kept as upvalues 2 to 4: while they are held,
 * no other string can have their addresses, so the same addresses mean the
 * same text and the copy is skipped (a server handling one event over and
 * over only marks each callback). Nothing here raises while the mutex is
 * held. */
static int l_doing(lua_State *L) {
  yolk__lua_watch_t *w = lua_touserdata(L, lua_upvalueindex(1));
  lua_settop(L, 3);
  int same = 1;
  for (int i = 1; i <= 3; i++) {
    if (lua_type(L, i) != LUA_TSTRING) {
      lua_pushnil(L);
      lua_replace(L, i);
    }
    if (!lua_rawequal(L, i, lua_upvalueindex(i + 1))) same = 0;
  }
  if (!same) {
    uv_mutex_lock(&w->mu);
    copy_field(w->kind, sizeof(w->kind), L, 1);
    copy_field(w->name, sizeof(w->name), L, 2);
    copy_field(w->place, sizeof(w->place), L, 3);
    atomic_store_explicit(&w->what_seq, w->seq, memory_order_release);
    uv_mutex_unlock(&w->mu);
    for (int i = 1; i <= 3; i++) {
      lua_pushvalue(L, i);
      lua_replace(L, lua_upvalueindex(i + 1));
    }
  } else {
    atomic_store_explicit(&w->what_seq, w->seq, memory_order_release);
  }
  return 0;
}

/* core.doing_again(): core.doing with the same three values as the call
 * before (scheduler.lua knows): only marks this callback. */
static int l_doing_again(lua_State *L) {
  yolk__lua_watch_t *w = lua_touserdata(L, lua_upvalueindex(1));
  atomic_store_explicit(&w->what_seq, w->seq, memory_order_release);
  return 0;
}

void yolk__lua_open_watchdog(lua_State *L) {
  yolk__lua_watch_t *w = &yolk__lua_rt(L)->watch;
  lua_pushlightuserdata(L, w);
  lua_pushcclosure(L, l_watchdog, 1);
  lua_setfield(L, -2, "watchdog");
  lua_pushlightuserdata(L, w);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushcclosure(L, l_doing, 4);
  lua_setfield(L, -2, "doing");
  lua_pushlightuserdata(L, w);
  lua_pushcclosure(L, l_doing_again, 1);
  lua_setfield(L, -2, "doing_again");
}
