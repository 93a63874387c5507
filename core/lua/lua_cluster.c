/* lua_cluster.c - core.cluster_master and core.cluster_worker: the cluster of
 * core/cluster.h for the Lua framework (lua/yolk/cluster.lua runs the master,
 * lua/yolk/boot.lua a worker).
 *
 * Both are runtime resources (lua_core.h): a graceful stop (SIGTERM, SIGINT)
 * closes them like the servers. Closing the master stops its workers and
 * waits for them; the process's exit status becomes 1 when one did not stop
 * cleanly, or when the master could not go on (a worker that fails to start,
 * no worker left). A worker whose master goes away stops the runtime. */
#include <stdlib.h>
#include <string.h>

#include "../cluster.h"
#include "lua_core.h"

#define MASTER_MT "yolk.cluster_master"
#define WORKER_MT "yolk.cluster_worker"

/* ---- the master --------------------------------------------------------------- */

typedef struct {
  yolk__lua_res_t res; /* first: the box points here */
  yolk_cluster_master_t *m;
} lua_master_t;

static void master_stopped(void *arg, int status) {
  lua_master_t *lm = arg;
  yolk_lua_rt_t *rt = lm->res.rt;
  if (status && !rt->exit_code) rt->exit_code = status;
  yolk__lua_res_release(&lm->res);
  free(lm);
}

static void master_close(yolk__lua_res_t *r) {
  lua_master_t *lm = (lua_master_t *)r;
  yolk__cluster_master_stop(lm->m, master_stopped, lm);
}

static const yolk__lua_res_class_t master_class = {MASTER_MT, master_close};

static void master_fatal(void *ud) {
  lua_master_t *lm = ud;
  yolk_lua_rt_t *rt = lm->res.rt;
  if (!rt->exit_code) rt->exit_code = 1;
  yolk__lua_rt_stop(rt);
}

/* core.cluster_master{ workers, sticky, host, port, path, max_body_size,
 *   max_payload, blocked_restart (ms; 0 or nil: never), metrics_path, args = {
 *   'start', '--baseDir', dir, ... } } -> master | nil, err */
static int l_cluster_master(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  yolk_cluster_options_t o;
  memset(&o, 0, sizeof(o));
  lua_getfield(L, 1, "workers");
  o.workers = (unsigned)luaL_checkinteger(L, -1);
  lua_getfield(L, 1, "sticky");
  o.sticky = lua_toboolean(L, -1);
  lua_getfield(L, 1, "host");
  o.host = luaL_optstring(L, -1, "127.0.0.1");
  lua_getfield(L, 1, "port");
  o.port = (int)luaL_checkinteger(L, -1);
  if (o.port < 0 || o.port > 65535) return luaL_argerror(L, 1, "port out of range");
  lua_getfield(L, 1, "path");
  o.eio_path = luaL_optstring(L, -1, "/socket.io/");
  lua_getfield(L, 1, "blocked_restart");
  lua_Number blocked = luaL_optnumber(L, -1, 0);
  if (!(blocked >= 0 && blocked < 4e9)) return luaL_argerror(L, 1, "blocked_restart: milliseconds");
  o.blocked_restart_ms = (unsigned)blocked;
  lua_getfield(L, 1, "metrics_path");
  o.metrics_path = luaL_optstring(L, -1, NULL);
  /* the workers' body limit: the larger of their two (as yolk_server_t takes it) */
  static const char *const limits[] = {"max_body_size", "max_payload"};
  for (size_t i = 0; i < 2; i++) {
    lua_getfield(L, 1, limits[i]);
    if (lua_isnil(L, -1)) continue;
    double v = yolk__lua_parse_size(L, -1);
    if (v < 0) return luaL_argerror(L, 1, "max_body_size and max_payload must be sizes");
    if ((size_t)v > o.max_body_size) o.max_body_size = (size_t)v;
  }
  lua_getfield(L, 1, "args");
  luaL_checktype(L, -1, LUA_TTABLE);
  int args_idx = lua_gettop(L);
  size_t nargs = lua_objlen(L, args_idx);
  const char **args = yolk__calloc(nargs + 1, sizeof(char *));
  for (size_t i = 0; i < nargs; i++) {
    lua_rawgeti(L, args_idx, (int)i + 1);
    args[i] = lua_tostring(L, -1); /* stays on the stack until the master has copied it */
    if (!args[i]) {
      free(args);
      return luaL_argerror(L, 1, "args must be strings");
    }
  }
  o.worker_args = args;
  lua_master_t *lm = yolk__calloc(1, sizeof(*lm));
  o.on_fatal = master_fatal;
  o.ud = lm;
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  char err[512];
  int rc = yolk__cluster_master_start(&rt->loop, &o, &lm->m, err, sizeof(err));
  free(args);
  if (rc < 0) {
    free(lm);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  yolk__lua_res_open(L, &lm->res, &master_class);
  return 1;
}

/* master:reload() : each worker reloads its code in turn (SIGHUP) */
static int m_reload(lua_State *L) {
  lua_master_t *lm = yolk__lua_res_check(L, 1, MASTER_MT);
  if (lm) yolk__cluster_master_reload(lm->m);
  lua_pushboolean(L, lm != NULL);
  return 1;
}

static int m_close(lua_State *L) {
  lua_master_t *lm = yolk__lua_res_check(L, 1, MASTER_MT);
  if (lm) yolk__lua_res_close(&lm->res);
  lua_pushboolean(L, lm != NULL);
  return 1;
}

/* ---- a worker ----------------------------------------------------------------------- */

typedef struct {
  yolk__lua_res_t res;
  yolk_cluster_worker_t *w;
} lua_worker_t;

static void worker_closed(void *arg) {
  lua_worker_t *lw = arg;
  yolk__lua_res_release(&lw->res);
  free(lw);
}

static void worker_close(yolk__lua_res_t *r) {
  lua_worker_t *lw = (lua_worker_t *)r;
  yolk__cluster_worker_close(lw->w, worker_closed, lw);
}

static const yolk__lua_res_class_t worker_class = {WORKER_MT, worker_close};

static void master_gone(void *ud) {
  lua_worker_t *lw = ud;
  yolk__lua_rt_stop(lw->res.rt);
}

/* core.cluster_worker(id, sticky) -> worker | nil, err (the process must have
 * been started by a master: its pipe on fd 3, its socket on fd 4) */
static int l_cluster_worker(lua_State *L) {
  lua_Integer id = luaL_checkinteger(L, 1);
  int sticky = lua_toboolean(L, 2);
  if (id < 1 || id > YOLK_CLUSTER_MAX_WORKERS) return luaL_argerror(L, 1, "worker number out of range");
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  lua_worker_t *lw = yolk__calloc(1, sizeof(*lw));
  char err[256];
  if (yolk__cluster_worker_new(&rt->loop, (unsigned)id, sticky, master_gone, lw, &lw->w, err, sizeof(err)) < 0) {
    if (lw->w) yolk__cluster_worker_close(lw->w, free, lw);
    else free(lw);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  yolk__lua_res_open(L, &lw->res, &worker_class);
  return 1;
}

static lua_worker_t *check_worker(lua_State *L) { return yolk__lua_res_check(L, 1, WORKER_MT); }

static int w_sid_prefix(lua_State *L) {
  lua_worker_t *lw = check_worker(L);
  if (!lw) return 0;
  lua_pushstring(L, yolk__cluster_worker_sid_prefix(lw->w));
  return 1;
}

/* worker:serve(server) -> true | nil, err : serve the master's socket and
 * tell the master this worker is ready */
static int w_serve(lua_State *L) {
  lua_worker_t *lw = check_worker(L);
  yolk__lua_server_t *s = yolk__lua_res_check(L, 2, YOLK_LUA_SERVER_MT);
  if (!lw || !s) {
    lua_pushnil(L);
    lua_pushstring(L, lw ? "server is closed" : "worker is closed");
    return 2;
  }
  int rc = yolk__cluster_worker_serve(lw->w, s->srv, s->sio ? yolk_sio_engine(s->sio) : NULL);
  if (rc < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot serve the master's socket: %s", uv_strerror(rc));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* worker:reloaded(ok) : a SIGHUP reload is done */
static int w_reloaded(lua_State *L) {
  lua_worker_t *lw = check_worker(L);
  if (lw) yolk__cluster_worker_reloaded(lw->w, lua_toboolean(L, 2));
  return 0;
}

void yolk__lua_open_cluster(lua_State *L) {
  static const luaL_Reg master_methods[] = {{"reload", m_reload}, {"close", m_close}, {NULL, NULL}};
  yolk__lua_new_class(L, MASTER_MT, master_methods, NULL);
  static const luaL_Reg worker_methods[] = {
      {"sid_prefix", w_sid_prefix}, {"serve", w_serve}, {"reloaded", w_reloaded}, {NULL, NULL}};
  yolk__lua_new_class(L, WORKER_MT, worker_methods, NULL);
  lua_pushcfunction(L, l_cluster_master);
  lua_setfield(L, -2, "cluster_master");
  lua_pushcfunction(L, l_cluster_worker);
  lua_setfield(L, -2, "cluster_worker");
}
