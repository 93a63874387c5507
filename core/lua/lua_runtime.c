/* lua_runtime.c - the Lua state, its loop, the one pcall wrapper, signals,
 * logging and the lifecycle functions of yolk.core (see lua_core.c for the
 * module's contract). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lualib.h>

#include "lua_core.h"

#ifndef YOLK_VERSION
#define YOLK_VERSION "0.0.0"
#endif
#ifndef YOLK_INSTALL_LUA_DIR
#define YOLK_INSTALL_LUA_DIR "/usr/local/share/yolk/lua"
#endif

/* Addresses used as unique registry keys. */
static const char rt_key = 0;
static const char exit_key = 0; /* the value os.exit() raises to unwind */

/* A graceful stop that has not finished after this long is cut short: a
 * client that never lets go must not keep a stopping server up forever. */
enum { STOP_DEADLINE_MS = 10000 };

const char *yolk__lua_version(void) { return YOLK_VERSION; }

const char *yolk__lua_framework_dir(void) {
  const char *env = getenv("YOLK_LUA_DIR");
  if (env && *env) return env;
#ifdef YOLK_SOURCE_LUA_DIR
  struct stat st;
  if (stat(YOLK_SOURCE_LUA_DIR, &st) == 0 && S_ISDIR(st.st_mode)) return YOLK_SOURCE_LUA_DIR;
#endif
  return YOLK_INSTALL_LUA_DIR;
}

yolk_lua_rt_t *yolk__lua_rt(lua_State *L) {
  /* every packet asks (several times): the allocator's counter, installed
   * by yolk__lua_rt_new in the runtime's own state, is a field of the
   * runtime and is found without a registry lookup */
  yolk__lua_mem_t *m = yolk__lua_mem_of(L);
  if (m) return (yolk_lua_rt_t *)((char *)m - offsetof(yolk_lua_rt_t, mem));
  lua_pushlightuserdata(L, (void *)&rt_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  yolk_lua_rt_t *rt = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return rt;
}

lua_State *yolk__lua_rt_state(yolk_lua_rt_t *rt) { return rt->L; }
uv_loop_t *yolk__lua_rt_loop_handle(yolk_lua_rt_t *rt) { return &rt->loop; }

/* ---- the pcall wrapper ----------------------------------------------------- */

static int is_exit_sentinel(lua_State *L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_pushlightuserdata(L, (void *)&exit_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  int same = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return same;
}

/* Message handler: turns the error into "message\nstack traceback: ...".
 * Error values that are not strings (tables, nil) are described rather than
 * lost. The os.exit sentinel passes through untouched. */
static int traceback_handler(lua_State *L) {
  if (is_exit_sentinel(L, 1)) return 1;
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_isstring(L, -1))
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* The handler is made once per runtime (pushing a C function allocates a
 * closure in LuaJIT: once per packet would be garbage per packet). */
static void push_traceback_handler(lua_State *L, yolk_lua_rt_t *rt) {
  if (!rt) {
    lua_pushcfunction(L, traceback_handler);
    return;
  }
  if (rt->traceback_ref == 0) {
    lua_pushcfunction(L, traceback_handler);
    rt->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->traceback_ref);
}

/* rt->mem.depth counts the protected calls running: the Lua heap's cap
 * refuses allocations only inside one (lua_mem.c). */
static int pcall_traceback_rt(lua_State *L, yolk_lua_rt_t *rt, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  push_traceback_handler(L, rt);
  lua_insert(L, base);
  if (rt) rt->mem.depth++;
  int status = lua_pcall(L, nargs, nresults, base);
  if (rt) rt->mem.depth--;
  lua_remove(L, base);
  return status;
}

static int pcall_traceback(lua_State *L, int nargs, int nresults) {
  return pcall_traceback_rt(L, yolk__lua_rt(L), nargs, nresults);
}

int yolk__lua_pcall_keep_error(lua_State *L, int nargs, int nresults) {
  return pcall_traceback(L, nargs, nresults);
}

/* The callbacks from the loop (depth 0) are what the watchdog times and
 * what the memory cap's safe point follows. */
int yolk__lua_pcall(lua_State *L, int nargs, int nresults) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  if (rt && rt->exiting) {
    lua_pop(L, nargs + 1);
    return -1;
  }
  int outermost = rt && rt->mem.depth == 0;
  if (outermost) yolk__lua_watch_begin(rt);
  int status = pcall_traceback_rt(L, rt, nargs, nresults);
  if (status != 0) {
    if (!is_exit_sentinel(L, -1)) {
      /* a memory error comes without a traceback (no message handler runs
       * for it): its string is all there is */
      if (rt) rt->lua_errors++;
      const char *msg = lua_tostring(L, -1);
      yolk_log_write(YOLK_LOG_ERROR, "lua", msg ? msg : "(error without message)");
    }
    lua_pop(L, 1);
  }
  if (outermost) {
    /* a collection after a runaway belongs to its time */
    if (!rt->exiting) yolk__lua_mem_safe_point(rt);
    yolk__lua_watch_end(rt);
  }
  return status;
}

int yolk__lua_call_ref(lua_State *L, int ref, int nargs, int nresults) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) {
    lua_pop(L, nargs);
    return -1;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, -nargs - 1);
  return yolk__lua_pcall(L, nargs, nresults);
}

/* ---- boxes ------------------------------------------------------------------ */

int yolk__lua_box_new(lua_State *L, void *p, const char *tname) {
  yolk__lua_box_t *box = lua_newuserdata(L, sizeof(*box));
  box->p = p;
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void yolk__lua_box_push(lua_State *L, int ref) { lua_rawgeti(L, LUA_REGISTRYINDEX, ref); }

void yolk__lua_box_kill(lua_State *L, int ref) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  yolk__lua_box_t *box = lua_touserdata(L, -1);
  if (box) box->p = NULL;
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

void *yolk__lua_box_get(lua_State *L, int idx, const char *tname) {
  yolk__lua_box_t *box = luaL_checkudata(L, idx, tname);
  return box->p;
}

void yolk__lua_new_class(lua_State *L, const char *tname, const luaL_Reg *methods, const luaL_Reg *meta) {
  luaL_newmetatable(L, tname);
  if (meta) luaL_register(L, NULL, meta);
  if (methods) {
    lua_newtable(L);
    luaL_register(L, NULL, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

yolk_sb_t *yolk__lua_scratch(lua_State *L) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  rt->scratch.len = 0;
  return &rt->scratch;
}

void yolk__lua_scratch_done(lua_State *L) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  if (rt->scratch.cap > 64 * 1024) yolk__sb_free(&rt->scratch);
  rt->scratch.len = 0;
}

/* ---- resources ------------------------------------------------------------------ */

void yolk__lua_res_open(lua_State *L, yolk__lua_res_t *r, const yolk__lua_res_class_t *cls) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  r->cls = cls;
  r->rt = rt;
  r->closing = 0;
  r->box_ref = yolk__lua_box_new(L, r, cls->tname);
  yolk__list_push_back(&rt->resources, &r->node);
}

void yolk__lua_res_close(yolk__lua_res_t *r) {
  if (r->closing) return;
  r->closing = 1;
  r->cls->close(r);
}

void yolk__lua_res_release(yolk__lua_res_t *r) {
  yolk__list_remove(&r->node);
  yolk__lua_box_kill(r->rt->L, r->box_ref);
  r->box_ref = LUA_NOREF;
}

void *yolk__lua_res_check(lua_State *L, int idx, const char *tname) {
  yolk__lua_res_t *r = yolk__lua_box_get(L, idx, tname);
  return r && !r->closing ? r : NULL;
}

void yolk__lua_close_all(yolk_lua_rt_t *rt) {
  /* A close may release other resources, or (through Lua callbacks) open
   * new ones: start from the head each time, skipping those already closing. */
  for (;;) {
    yolk_list_t *n;
    yolk__lua_res_t *open = NULL;
    yolk__list_foreach(n, &rt->resources) {
      yolk__lua_res_t *r = yolk__list_entry(n, yolk__lua_res_t, node);
      if (!r->closing) {
        open = r;
        break;
      }
    }
    if (!open) return;
    yolk__lua_res_close(open);
  }
}

/* ---- stop and signals -------------------------------------------------------- */

static void on_stop_deadline(uv_timer_t *t) {
  yolk_lua_rt_t *rt = t->data;
  yolk__log(YOLK_LOG_WARN, "lua", "graceful stop did not finish in %d ms; exiting", STOP_DEADLINE_MS);
  rt->exiting = 1;
  uv_stop(&rt->loop);
}

void yolk__lua_rt_stop(yolk_lua_rt_t *rt) {
  rt->stopping = 1;
  yolk__lua_close_all(rt);
  if (!rt->stop_deadline_started) {
    rt->stop_deadline_started = 1;
    /* unref'd: it must not be what keeps the loop running */
    uv_timer_start(&rt->stop_deadline, on_stop_deadline, STOP_DEADLINE_MS, 0);
  }
}

static const char *const signal_names[3] = {"SIGINT", "SIGTERM", "SIGHUP"};

static void dispatch_signal(yolk_lua_rt_t *rt, int idx) {
  if (idx < 2 && rt->stopping) {
    /* a second Ctrl-C while stopping: do not make the user wait */
    yolk__log(YOLK_LOG_WARN, "lua", "%s while stopping: exiting now", signal_names[idx]);
    rt->exiting = 1;
    if (!rt->exit_code) rt->exit_code = 1;
    uv_stop(&rt->loop);
    return;
  }
  if (rt->sig_refs[idx] != LUA_NOREF) {
    lua_State *L = rt->L;
    lua_pushstring(L, signal_names[idx]);
    if (yolk__lua_call_ref(L, rt->sig_refs[idx], 1, 1) == 0) {
      /* a handler returning false takes over: the default is skipped */
      int keep_running = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
      lua_pop(L, 1);
      if (keep_running) return;
    }
    if (idx == 2) return;
  } else if (idx == 2) {
    yolk__log(YOLK_LOG_INFO, "lua", "SIGHUP received (no handler registered)");
    return;
  }
  yolk__log(YOLK_LOG_INFO, "lua", "%s received: stopping", signal_names[idx]);
  yolk__lua_rt_stop(rt);
}

static void on_sighup(uv_signal_t *h, int signum) {
  (void)signum;
  dispatch_signal(h->data, 2);
}

/* SIGINT and SIGTERM do not go through uv_signal: its handler only queues
 * the signal for the loop, so a loop stuck in Lua code (an endless loop in a
 * handler) could never be interrupted. Our handler posts to the loop too, but
 * when the previous signal is still unprocessed it restores the default
 * action and re-raises: the second Ctrl-C always ends the process. */
static yolk_lua_rt_t *signal_rt;
static volatile sig_atomic_t signals_pending; /* bit 0: SIGINT, bit 1: SIGTERM */
static struct sigaction old_sigint, old_sigterm;

static void raw_signal_handler(int signum) {
  if (signals_pending) {
    signal(signum, SIG_DFL);
    raise(signum);
    return;
  }
  signals_pending |= signum == SIGINT ? 1 : 2;
  if (signal_rt) uv_async_send(&signal_rt->sig_async); /* async-signal-safe */
}

static void on_signal_async(uv_async_t *h) {
  yolk_lua_rt_t *rt = h->data;
  /* take and clear the bits with the signals blocked, so none is lost */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &old);
  sig_atomic_t pending = signals_pending;
  signals_pending = 0;
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (pending & 1) dispatch_signal(rt, 0);
  if (pending & 2) dispatch_signal(rt, 1);
}

static void signals_install(yolk_lua_rt_t *rt) {
  uv_async_init(&rt->loop, &rt->sig_async, on_signal_async);
  rt->sig_async.data = rt;
  uv_unref((uv_handle_t *)&rt->sig_async); /* watching signals is no reason to keep running */
  uv_signal_init(&rt->loop, &rt->sig_hup);
  rt->sig_hup.data = rt;
  uv_signal_start(&rt->sig_hup, on_sighup, SIGHUP);
  uv_unref((uv_handle_t *)&rt->sig_hup);
  if (signal_rt) return; /* the first runtime of the process owns SIGINT/SIGTERM */
  signal_rt = rt;
  rt->owns_signals = 1;
  signals_pending = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = raw_signal_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &old_sigint);
  sigaction(SIGTERM, &sa, &old_sigterm);
}

static void signals_uninstall(yolk_lua_rt_t *rt) {
  if (rt->owns_signals) {
    sigaction(SIGINT, &old_sigint, NULL);
    sigaction(SIGTERM, &old_sigterm, NULL);
    signal_rt = NULL;
    rt->owns_signals = 0;
  }
  uv_close((uv_handle_t *)&rt->sig_async, NULL);
  uv_close((uv_handle_t *)&rt->sig_hup, NULL);
}

/* ---- yolk.core: runtime functions --------------------------------------------- */

static int parse_level(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tostring(L, idx);
    if (!strcmp(s, "debug")) return YOLK_LOG_DEBUG;
    if (!strcmp(s, "info")) return YOLK_LOG_INFO;
    if (!strcmp(s, "warn")) return YOLK_LOG_WARN;
    if (!strcmp(s, "error")) return YOLK_LOG_ERROR;
    return luaL_argerror(L, idx, "unknown log level");
  }
  return (int)luaL_checkinteger(L, idx);
}

/* core.log(level, component, msg) */
static int l_log(lua_State *L) {
  int level = parse_level(L, 1);
  if (level < yolk_log_get_level()) return 0;
  const char *component = luaL_optstring(L, 2, "app");
  const char *msg;
  if (lua_type(L, 3) == LUA_TSTRING || lua_type(L, 3) == LUA_TNUMBER) {
    msg = lua_tostring(L, 3);
  } else {
    lua_getglobal(L, "tostring");
    lua_pushvalue(L, 3);
    lua_call(L, 1, 1);
    msg = lua_tostring(L, -1);
  }
  yolk_log_write(level, component, msg ? msg : "");
  return 0;
}

static int l_set_log_level(lua_State *L) {
  yolk_log_set_level(parse_level(L, 1));
  return 0;
}

static int l_get_log_level(lua_State *L) {
  lua_pushinteger(L, yolk_log_get_level());
  return 1;
}

static void file_sink(int level, const char *line, size_t len, void *ud) {
  (void)level;
  FILE *f = ud;
  fwrite(line, 1, len, f);
  fflush(f);
}

/* core.set_log_file(path|nil) -> true | nil, err */
static int l_set_log_file(lua_State *L) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  const char *path = luaL_optstring(L, 1, NULL);
  FILE *f = NULL;
  if (path) {
    f = fopen(path, "a");
    if (!f) {
      lua_pushnil(L);
      lua_pushfstring(L, "%s: %s", path, strerror(errno));
      return 2;
    }
  }
  yolk_log_set_sink(f ? file_sink : NULL, f);
  if (rt->log_file) fclose(rt->log_file);
  rt->log_file = f;
  lua_pushboolean(L, 1);
  return 1;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_now(&yolk__lua_rt(L)->loop));
  return 1;
}

static int l_hrtime(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime());
  return 1;
}

/* core.count_lua_error(): the framework caught a bug in application code
 * (logged at ERROR with its traceback) */
static int l_count_lua_error(lua_State *L) {
  yolk__lua_rt(L)->lua_errors++;
  return 0;
}

/* core.count_reload(ok): a reload swapped new code in (ok), or failed */
static int l_count_reload(lua_State *L) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  if (lua_toboolean(L, 1)) rt->reloads++;
  else rt->reload_failures++;
  return 0;
}

void yolk__lua_rt_collect(yolk_metrics_writer_t *w, void *ud) {
  yolk_lua_rt_t *rt = ud;
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_lua_errors_total",
                      "Errors in Lua code that were not refusals: bugs in middleware, controllers, HTTP handlers, "
                      "hooks and callbacks, each logged at ERROR with its traceback");
  yolk_metrics_sample(w, NULL, NULL, (double)rt->lua_errors);
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_reloads_total",
                      "Reloads of the application's code that swapped new code in (yolk dev, SIGHUP)");
  yolk_metrics_sample(w, NULL, NULL, (double)rt->reloads);
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_reload_failures_total",
                      "Reloads that failed and kept the running code");
  yolk_metrics_sample(w, NULL, NULL, (double)rt->reload_failures);
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "yolk_lua_memory_bytes", "Bytes the Lua state holds (its heap)");
  double kb = rt->exiting ? 0 : (double)lua_gc(rt->L, LUA_GCCOUNT, 0);
  double b = rt->exiting ? 0 : (double)lua_gc(rt->L, LUA_GCCOUNTB, 0);
  yolk_metrics_sample(w, NULL, NULL, kb * 1024 + b);
}

static int l_stop(lua_State *L) {
  yolk__lua_rt_stop(yolk__lua_rt(L));
  return 0;
}

/* core.on_signal(name, fn|nil) */
static int l_on_signal(lua_State *L) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  const char *name = luaL_checkstring(L, 1);
  int idx = -1;
  for (int i = 0; i < 3; i++)
    if (!strcmp(name, signal_names[i])) idx = i;
  if (idx < 0) return luaL_argerror(L, 1, "expected \"SIGINT\", \"SIGTERM\" or \"SIGHUP\"");
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->sig_refs[idx]);
  rt->sig_refs[idx] = LUA_NOREF;
  if (!lua_isnoneornil(L, 2)) {
    lua_pushvalue(L, 2);
    rt->sig_refs[idx] = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

/* os.exit([code]): unwinds to the runtime instead of calling exit(), so the
 * loop's handles are closed properly and the exit code is kept. */
static int l_os_exit(lua_State *L) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  int code = 0;
  if (lua_isboolean(L, 1))
    code = lua_toboolean(L, 1) ? 0 : 1;
  else
    code = (int)luaL_optinteger(L, 1, 0);
  rt->exit_code = code;
  rt->exiting = 1;
  uv_stop(&rt->loop);
  lua_pushlightuserdata(L, (void *)&exit_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  return lua_error(L);
}

static int exit_sentinel_tostring(lua_State *L) {
  lua_pushliteral(L, "os.exit() called");
  return 1;
}

void yolk__lua_open_runtime(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"log", l_log},       {"set_log_level", l_set_log_level}, {"get_log_level", l_get_log_level},
      {"set_log_file", l_set_log_file}, {"now", l_now},         {"hrtime", l_hrtime},
      {"stop", l_stop},     {"on_signal", l_on_signal},         {"count_lua_error", l_count_lua_error},
      {"count_reload", l_count_reload}, {NULL, NULL},
  };
  luaL_register(L, NULL, fns);
  lua_pushstring(L, YOLK_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushinteger(L, YOLK_LOG_DEBUG);
  lua_setfield(L, -2, "DEBUG");
  lua_pushinteger(L, YOLK_LOG_INFO);
  lua_setfield(L, -2, "INFO");
  lua_pushinteger(L, YOLK_LOG_WARN);
  lua_setfield(L, -2, "WARN");
  lua_pushinteger(L, YOLK_LOG_ERROR);
  lua_setfield(L, -2, "ERROR");
}

/* ---- lifecycle ------------------------------------------------------------------ */

/* An error outside any pcall (only out-of-memory can get there: every call
 * into Lua code is protected) leaves no way back: say what happened. */
static int on_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "yolk: unprotected Lua error: %s\n", msg ? msg : "(no message)");
  abort();
  return 0;
}

yolk_lua_rt_t *yolk__lua_rt_new(void) {
  yolk_lua_rt_t *rt = yolk__calloc(1, sizeof(*rt));
  int rc = uv_loop_init(&rt->loop);
  if (rc) {
    fprintf(stderr, "yolk: uv_loop_init: %s\n", uv_strerror(rc));
    abort();
  }
  rt->exit_code = 0;
  yolk__list_init(&rt->resources);
  for (int i = 0; i < 3; i++) rt->sig_refs[i] = LUA_NOREF;

  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "yolk: cannot create the Lua state\n");
    abort();
  }
  rt->L = L;
  yolk__lua_mem_install(L, &rt->mem, YOLK_LUA_MEMORY_LIMIT);
  yolk__lua_watch_init(&rt->watch);
  lua_atpanic(L, on_panic);
  luaL_openlibs(L);

  lua_pushlightuserdata(L, (void *)&rt_key);
  lua_pushlightuserdata(L, rt);
  lua_rawset(L, LUA_REGISTRYINDEX);

  /* the os.exit sentinel: a table that prints as "os.exit() called" when a
   * coroutine scheduler reports it as an error */
  lua_pushlightuserdata(L, (void *)&exit_key);
  lua_newtable(L);
  lua_newtable(L);
  lua_pushcfunction(L, exit_sentinel_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);

  /* package.path: the framework first; the app's baseDir is not on it (the
   * framework loads app files itself) */
  const char *dir = yolk__lua_framework_dir();
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 1);
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, yolk__luaopen_core);
  lua_setfield(L, -2, "yolk.core");
  lua_pop(L, 2);

  lua_getglobal(L, "os");
  lua_pushcfunction(L, l_os_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);

  signals_install(rt);
  uv_timer_init(&rt->loop, &rt->stop_deadline);
  rt->stop_deadline.data = rt;
  uv_unref((uv_handle_t *)&rt->stop_deadline);
  return rt;
}

int yolk__lua_rt_run_file(yolk_lua_rt_t *rt, const char *file, int argc, char **argv) {
  lua_State *L = rt->L;
  lua_createtable(L, argc, 1);
  lua_pushstring(L, file);
  lua_rawseti(L, -2, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setglobal(L, "arg");

  if (luaL_loadfile(L, file)) {
    fprintf(stderr, "yolk: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 1;
  }
  for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
  if (pcall_traceback(L, argc, 0)) {
    if (is_exit_sentinel(L, -1)) {
      lua_pop(L, 1);
      return rt->exit_code;
    }
    fprintf(stderr, "yolk: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

int yolk__lua_rt_boot(yolk_lua_rt_t *rt, const yolk_lua_boot_t *boot) {
  lua_State *L = rt->L;
  lua_getglobal(L, "require");
  lua_pushstring(L, "yolk.boot");
  if (pcall_traceback(L, 1, 1)) {
    if (is_exit_sentinel(L, -1)) {
      lua_pop(L, 1);
      return rt->exit_code;
    }
    fprintf(stderr, "yolk: cannot load the framework (yolk.boot) from %s:\n%s\n", yolk__lua_framework_dir(),
            lua_tostring(L, -1));
    lua_pop(L, 1);
    return 1;
  }
  if (lua_istable(L, -1)) lua_getfield(L, -1, "main");
  else lua_pushnil(L);
  if (!lua_isfunction(L, -1)) {
    fprintf(stderr, "yolk: yolk.boot has no main function\n");
    lua_pop(L, 2);
    return 1;
  }
  lua_remove(L, -2);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, boot->command);
  lua_setfield(L, -2, "command");
  lua_pushstring(L, boot->base_dir);
  lua_setfield(L, -2, "baseDir");
  if (boot->port >= 0) {
    lua_pushinteger(L, boot->port);
    lua_setfield(L, -2, "port");
  }
  if (boot->env) {
    lua_pushstring(L, boot->env);
    lua_setfield(L, -2, "env");
  }
  lua_pushstring(L, yolk__lua_framework_dir());
  lua_setfield(L, -2, "framework_dir");
  if (boot->workers > 0) {
    lua_pushinteger(L, boot->workers);
    lua_setfield(L, -2, "workers");
  }
  if (boot->sticky) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "sticky");
  }
  if (boot->worker > 0) {
    lua_pushinteger(L, boot->worker);
    lua_setfield(L, -2, "worker");
  }
  if (pcall_traceback(L, 1, 0)) {
    if (is_exit_sentinel(L, -1)) {
      lua_pop(L, 1);
      return rt->exit_code;
    }
    fprintf(stderr, "yolk: %s failed:\n%s\n", boot->command, lua_tostring(L, -1));
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

int yolk__lua_rt_loop(yolk_lua_rt_t *rt) {
  if (!rt->exiting) uv_run(&rt->loop, UV_RUN_DEFAULT);
  return rt->exit_code;
}

static void on_walk_report(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) yolk__log(YOLK_LOG_WARN, "lua", "handle still open at exit: %s", uv_handle_type_name(h->type));
}

static void on_teardown_deadline(uv_timer_t *t) {
  yolk__log(YOLK_LOG_WARN, "lua", "handles did not close in time at exit");
  uv_stop(t->loop);
}

void yolk__lua_rt_free(yolk_lua_rt_t *rt) {
  if (!rt) return;
  lua_State *L = rt->L;
  rt->exiting = 1; /* from here on no Lua code runs; C objects only release their refs */
  yolk__lua_watch_free(&rt->watch);
  yolk__lua_close_all(rt);
  signals_uninstall(rt);
  /* A pending uv_stop (os.exit) makes the next uv_run return at once: the
   * NOWAIT pass consumes it. The deadline bounds a close that never ends. */
  uv_run(&rt->loop, UV_RUN_NOWAIT);
  uv_timer_start(&rt->stop_deadline, on_teardown_deadline, 2000, 0);
  uv_run(&rt->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&rt->stop_deadline, NULL);
  uv_run(&rt->loop, UV_RUN_NOWAIT);
  int busy = uv_loop_close(&rt->loop) == UV_EBUSY;
  if (busy) uv_walk(&rt->loop, on_walk_report, NULL);
  for (int i = 0; i < 3; i++) luaL_unref(L, LUA_REGISTRYINDEX, rt->sig_refs[i]);
  if (rt->log_file) {
    yolk_log_set_sink(NULL, NULL);
    fclose(rt->log_file);
    rt->log_file = NULL;
  }
  lua_close(L);
  yolk__sb_free(&rt->scratch);
  /* with handles still open their memory (inside rt) must outlive us */
  if (!busy) free(rt);
}
