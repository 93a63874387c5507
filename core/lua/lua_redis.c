/* lua_redis.c - core.redis(opts) -> conn: a Redis command connection
 * (core/redis.h) for Lua; the framework's client (lua/yolk/redis.lua, what
 * app.redis is) wraps it in coroutines.
 *
 *   core.redis{ url, host, port, username, password, db, connectTimeout (ms),
 *               name (log lines), connectionName (CLIENT SETNAME) }
 *       -> conn, or nil, err when the options are invalid (a bad url)
 *   conn:command(fn, name, args...) -> true | nil, err
 *       Arguments are strings, numbers or buffers (raises on anything else).
 *       true: fn(reply, err) runs exactly once, later, from the loop. nil, err:
 *       it could not be sent (Redis is down, the connection is closed); fn is
 *       never called. Replies: strings (bulk and status, binary-safe), numbers
 *       (integers), arrays (tables marked as JSON arrays; a nil inside is
 *       core.null, an error inside is { err = message }), nil for a nil. An
 *       error reply, or a command that got no reply (connection lost, closed),
 *       calls fn(nil, message).
 *   conn:status() -> 'connecting' | 'ready' | 'down' | 'closed'; conn:name()
 *   conn:close() -> true if it was open. Pending commands get
 *       (nil, 'redis: connection closed') during the call.
 *
 * Lifetime: a runtime resource (lua_core.h). A graceful stop or the runtime's
 * teardown closes it; then, or after conn:close(), the box is dead (status()
 * says 'closed', command() returns nil, err). Each pending command holds a
 * registry ref to its fn, released when fn is called (or, at teardown, when
 * Lua no longer runs, just released). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../redis.h"
#include "lua_core.h"

#define REDIS_MT "yolk.redis"

typedef struct {
  yolk__lua_res_t res; /* first: the box points here */
  yolk_redis_t *r;
} lua_redis_t;

typedef struct {
  yolk_lua_rt_t *rt;
  int fn_ref;
} lua_redis_cmd_t;

static void redis_close(yolk__lua_res_t *res) {
  lua_redis_t *c = (lua_redis_t *)res;
  yolk_redis_t *r = c->r;
  yolk__lua_res_release(res);
  free(c);
  /* pending commands' fns run now, seeing a dead box */
  yolk__redis_close(r);
}

static const yolk__lua_res_class_t redis_class = {REDIS_MT, redis_close};

/* ---- replies ------------------------------------------------------------------ */

static void push_reply(lua_State *L, const redisReply *rep, int top) {
  luaL_checkstack(L, 4, "redis reply nested too deeply");
  switch (rep->type) {
  case REDIS_REPLY_STRING:
  case REDIS_REPLY_STATUS: lua_pushlstring(L, rep->str, rep->len); break;
  case REDIS_REPLY_INTEGER: lua_pushnumber(L, (lua_Number)rep->integer); break;
  case REDIS_REPLY_ARRAY:
    yolk__lua_new_array(L, (int)rep->elements);
    for (size_t i = 0; i < rep->elements; i++) {
      push_reply(L, rep->element[i], 0);
      lua_rawseti(L, -2, (int)i + 1);
    }
    break;
  case REDIS_REPLY_ERROR:
    /* at the top the caller turns it into (nil, message) */
    lua_createtable(L, 0, 1);
    lua_pushlstring(L, rep->str, rep->len);
    lua_setfield(L, -2, "err");
    break;
  default: /* REDIS_REPLY_NIL */
    if (top) lua_pushnil(L);
    else lua_pushlightuserdata(L, YOLK_LUA_NULL);
    break;
  }
}

static void on_reply(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  lua_redis_cmd_t *cmd = ud;
  yolk_lua_rt_t *rt = cmd->rt;
  lua_State *L = rt->L;
  int ref = cmd->fn_ref;
  free(cmd);
  if (rt->exiting) { /* the teardown: no Lua code runs any more */
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  if (err) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    yolk__lua_pcall(L, 2, 0);
  } else if (reply->type == REDIS_REPLY_ERROR) {
    lua_pushnil(L);
    lua_pushlstring(L, reply->str, reply->len);
    yolk__lua_pcall(L, 2, 0);
  } else {
    push_reply(L, reply, 1);
    yolk__lua_pcall(L, 1, 0);
  }
}

/* ---- core.redis ---------------------------------------------------------------- */

static const char *opt_string(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  const char *s = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1); /* stays valid: the table holds it */
  else if (!lua_isnil(L, -1)) luaL_error(L, "core.redis: %s must be a string", key);
  lua_pop(L, 1);
  return s;
}

static lua_Number opt_number(lua_State *L, int idx, const char *key, lua_Number min, lua_Number max) {
  lua_getfield(L, idx, key);
  lua_Number v = 0;
  if (lua_isnumber(L, -1)) { /* numbers and numeric strings (values from the environment) */
    v = lua_tonumber(L, -1);
    if (!(v >= min && v <= max) || v != floor(v))
      luaL_error(L, "core.redis: %s must be a whole number from %d to %d", key, (int)min, (int)max);
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "core.redis: %s must be a number", key);
  }
  lua_pop(L, 1);
  return v;
}

/* core.redis(opts) -> conn | nil, err */
static int l_redis(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  else if (lua_type(L, 1) == LUA_TSTRING) { /* core.redis('redis://...') */
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "url");
    lua_replace(L, 1);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  yolk_redis_opts_t o;
  memset(&o, 0, sizeof(o));
  o.url = opt_string(L, 1, "url");
  o.host = opt_string(L, 1, "host");
  o.port = (int)opt_number(L, 1, "port", 1, 65535);
  o.username = opt_string(L, 1, "username");
  o.password = opt_string(L, 1, "password");
  o.db = (int)opt_number(L, 1, "db", 0, 1e8);
  o.connect_timeout_ms = (unsigned)opt_number(L, 1, "connectTimeout", 0, 3.6e6);
  o.name = opt_string(L, 1, "name");
  o.client_name = opt_string(L, 1, "connectionName");
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  if (rt->stopping) {
    lua_pushnil(L);
    lua_pushliteral(L, "the runtime is stopping");
    return 2;
  }
  const char *err = NULL;
  yolk_redis_t *r = yolk__redis_new(&rt->loop, &o, &err);
  if (!r) {
    lua_pushnil(L);
    lua_pushfstring(L, "redis: %s", err);
    return 2;
  }
  yolk__redis_start(r);
  lua_redis_t *c = yolk__calloc(1, sizeof(*c));
  c->r = r;
  yolk__lua_res_open(L, &c->res, &redis_class);
  return 1;
}

/* ---- conn methods ---------------------------------------------------------------- */

enum { ARGS_ON_STACK = 16, NUM_LEN = 32 };

/* conn:command(fn, name, args...) -> true | nil, err */
static int c_command(lua_State *L) {
  lua_redis_t *c = yolk__lua_res_check(L, 1, REDIS_MT);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_checktype(L, 3, LUA_TSTRING);
  int top = lua_gettop(L);
  int argc = top - 2;
  /* check every argument before allocating: a raise must not leak */
  for (int i = 4; i <= top; i++) {
    int t = lua_type(L, i);
    size_t len;
    if (t != LUA_TSTRING && t != LUA_TNUMBER && !yolk__lua_to_buffer(L, i, &len))
      return luaL_error(L, "redis: argument #%d to %s is a %s (expected a string, number or buffer)", i - 3,
                        lua_tostring(L, 3), luaL_typename(L, i));
  }
  if (!c) {
    lua_pushnil(L);
    lua_pushliteral(L, "redis: connection closed");
    return 2;
  }
  const char *argv_s[ARGS_ON_STACK];
  size_t lens_s[ARGS_ON_STACK];
  char nums_s[ARGS_ON_STACK][NUM_LEN];
  const char **argv = argv_s;
  size_t *lens = lens_s;
  char(*nums)[NUM_LEN] = nums_s;
  if (argc > ARGS_ON_STACK) {
    argv = yolk__malloc(sizeof(*argv) * (size_t)argc);
    lens = yolk__malloc(sizeof(*lens) * (size_t)argc);
    nums = yolk__malloc(sizeof(*nums) * (size_t)argc);
  }
  for (int i = 0; i < argc; i++) {
    int idx = i + 3;
    if (lua_type(L, idx) == LUA_TNUMBER) {
      /* integers as integers ("60", not "6e+01"); lua_tolstring would
       * change the value on the stack */
      lua_Number d = lua_tonumber(L, idx);
      int n;
      if (d == floor(d) && fabs(d) < 9.2e18) n = snprintf(nums[i], NUM_LEN, "%lld", (long long)d);
      else n = snprintf(nums[i], NUM_LEN, "%.17g", d);
      argv[i] = nums[i];
      lens[i] = (size_t)n;
    } else if (lua_type(L, idx) == LUA_TSTRING) {
      argv[i] = lua_tolstring(L, idx, &lens[i]);
    } else {
      argv[i] = yolk__lua_to_buffer(L, idx, &lens[i]);
    }
  }
  lua_redis_cmd_t *cmd = yolk__malloc(sizeof(*cmd));
  cmd->rt = c->res.rt;
  lua_pushvalue(L, 2);
  cmd->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  const char *err = NULL;
  int rc = yolk__redis_command(c->r, argc, argv, lens, on_reply, cmd, &err);
  if (argv != argv_s) {
    free(argv);
    free(lens);
    free(nums);
  }
  if (rc < 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, cmd->fn_ref);
    free(cmd);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int c_status(lua_State *L) {
  lua_redis_t *c = yolk__lua_res_check(L, 1, REDIS_MT);
  lua_pushstring(L, c ? yolk__redis_status(c->r) : "closed");
  return 1;
}

static int c_name(lua_State *L) {
  lua_redis_t *c = yolk__lua_res_check(L, 1, REDIS_MT);
  if (!c) return 0;
  lua_pushstring(L, yolk__redis_name(c->r));
  return 1;
}

static int c_close(lua_State *L) {
  lua_redis_t *c = yolk__lua_res_check(L, 1, REDIS_MT);
  if (c) yolk__lua_res_close(&c->res);
  lua_pushboolean(L, c != NULL);
  return 1;
}

void yolk__lua_open_redis(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"command", c_command}, {"status", c_status}, {"name", c_name}, {"close", c_close}, {NULL, NULL}};
  yolk__lua_new_class(L, REDIS_MT, methods, NULL);
  lua_pushcfunction(L, l_redis);
  lua_setfield(L, -2, "redis");
}
