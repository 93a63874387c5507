/* lua_http.c - core.server: the HTTP server and its requests, for Lua.
 *
 * A server binding (yolk__lua_server_t) is a runtime resource (lua_core.h):
 * it lives from core.server() until libyolk's close callback, and a graceful
 * stop (or the teardown) closes it. Its box dies in the close callback.
 *
 * Requests reach Lua as plain tables (fields are cheap to read and the
 * framework decorates them). The C request behind a table is found through a
 * registry map table -> request binding, so req:respond() can tell a pending
 * request from one already answered or aborted: the entry is removed the
 * moment either happens, and the binding freed, so nothing dangles. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../query.h"
#include "../static.h"
#include "lua_core.h"

#define LOG_COMPONENT "lua"
#define REQUEST_MT_KEY "yolk.http_request"

static const char req_map_key = 0;

typedef struct {
  yolk__lua_server_t *s;
  yolk_http_req_t *req;
  int table_ref;
  int in_static; /* handed to the static responder: not ours to answer meanwhile */
} lua_req_t;

/* ---- requests ------------------------------------------------------------------ */

static void push_req_map(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&req_map_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, (void *)&req_map_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
}

/* The pending request behind the table at idx, or NULL. */
static lua_req_t *req_lookup(lua_State *L, int idx) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  push_req_map(L);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  lua_req_t *r = lua_touserdata(L, -1);
  lua_pop(L, 2);
  return r;
}

/* Forgets the binding (map entry, table ref) and frees it. */
static void req_forget(lua_State *L, lua_req_t *r) {
  push_req_map(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->table_ref);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, r->table_ref);
  free(r);
}

static void on_req_abort(yolk_http_req_t *req, void *ud) {
  (void)req;
  lua_req_t *r = ud;
  lua_State *L = r->s->rt->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->table_ref);
  req_forget(L, r);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "aborted");
  lua_getfield(L, -1, "on_abort");
  if (lua_isfunction(L, -1)) {
    lua_insert(L, -2);
    yolk__lua_pcall(L, 1, 0);
  } else {
    lua_pop(L, 2);
  }
}

/* Header names are HTTP tokens; values must not end the header early. */
static int header_name_ok(const char *s, size_t n) {
  if (!n) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c)) return 0;
  }
  return 1;
}

static int header_value_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 0;
  return 1;
}

/* These the HTTP layer writes itself. */
static int header_reserved(const char *name) {
  return !strcasecmp(name, "content-length") || !strcasecmp(name, "connection") || !strcasecmp(name, "date") ||
         !strcasecmp(name, "transfer-encoding");
}

static void add_header_line(lua_State *L, yolk_sb_t *sb, const char *name, int vidx) {
  size_t vn;
  if (lua_type(L, vidx) != LUA_TSTRING && lua_type(L, vidx) != LUA_TNUMBER) {
    yolk__sb_free(sb);
    luaL_error(L, "header %s: value must be a string or a number", name);
  }
  const char *v = lua_tolstring(L, vidx, &vn);
  if (!header_value_ok(v, vn)) {
    yolk__sb_free(sb);
    luaL_error(L, "header %s: value contains CR, LF or NUL", name);
  }
  yolk__sb_printf(sb, "%s: ", name);
  yolk__sb_append(sb, v, vn);
  yolk__sb_puts(sb, "\r\n");
}

/* req:respond(status, headers|nil, body|nil) -> true | false */
static int l_req_respond(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int status = (int)luaL_checkinteger(L, 2);
  if (status < 100 || status > 999) return luaL_argerror(L, 2, "HTTP status out of range");
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  size_t blen = 0;
  const char *body = NULL;
  if (!lua_isnoneornil(L, 4)) {
    body = yolk__lua_to_buffer(L, 4, &blen);
    if (!body) body = luaL_checklstring(L, 4, &blen);
  }
  lua_req_t *r = req_lookup(L, 1);
  if (!r || r->in_static) {
    lua_pushboolean(L, 0);
    return 1;
  }
  /* Header errors are raised before the request is consumed, so the caller
   * can still answer it (with a 500). The builder is freed before raising. */
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      size_t nn;
      if (lua_type(L, -2) != LUA_TSTRING) {
        yolk__sb_free(&sb);
        return luaL_error(L, "header names must be strings");
      }
      const char *name = lua_tolstring(L, -2, &nn);
      if (!header_name_ok(name, nn)) {
        yolk__sb_free(&sb);
        return luaL_error(L, "invalid header name '%s'", name);
      }
      if (!header_reserved(name)) {
        if (lua_istable(L, -1)) {
          size_t n = lua_objlen(L, -1);
          for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, (int)i);
            add_header_line(L, &sb, name, lua_gettop(L));
            lua_pop(L, 1);
          }
        } else {
          add_header_line(L, &sb, name, lua_gettop(L));
        }
      }
      lua_pop(L, 1);
    }
  }
  yolk_http_req_t *req = r->req;
  req_forget(L, r);
  yolk_http_respond(req, status, sb.len ? sb.data : NULL, body, blen);
  yolk__sb_free(&sb);
  lua_pushboolean(L, 1);
  return 1;
}

static void push_request_table(lua_State *L, yolk_http_req_t *req) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, yolk_http_req_method(req));
  lua_setfield(L, -2, "method");
  lua_pushstring(L, yolk_http_req_url(req));
  lua_setfield(L, -2, "url");
  lua_pushstring(L, yolk_http_req_path(req));
  lua_setfield(L, -2, "path");
  const char *q = yolk_http_req_query(req);
  lua_pushstring(L, q ? q : "");
  lua_setfield(L, -2, "query");
  lua_newtable(L);
  const char *name, *value;
  for (size_t i = 0; yolk_http_req_header_at(req, i, &name, &value); i++) {
    /* repeated headers are joined as Node does ("; " for cookies) */
    lua_getfield(L, -1, name);
    if (lua_isstring(L, -1)) {
      lua_pushstring(L, strcmp(name, "cookie") ? ", " : "; ");
      lua_pushstring(L, value);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushstring(L, value);
    }
    lua_setfield(L, -2, name);
  }
  lua_setfield(L, -2, "headers");
  size_t blen = 0;
  const char *body = yolk_http_req_body(req, &blen);
  if (body && blen) {
    lua_pushlstring(L, body, blen);
    lua_setfield(L, -2, "body");
  }
  const char *addr = yolk_http_req_remote_addr(req);
  lua_pushstring(L, addr ? addr : "");
  lua_setfield(L, -2, "remote_addr");
  luaL_getmetatable(L, REQUEST_MT_KEY);
  lua_setmetatable(L, -2);
}

static void on_http_request(yolk_http_req_t *req, void *ud) {
  yolk__lua_server_t *s = ud;
  yolk_lua_rt_t *rt = s->rt;
  lua_State *L = rt->L;
  if (rt->exiting || s->request_ref == LUA_NOREF) {
    static const char msg[] = "Not Found";
    yolk_http_respond(req, 404, "Content-Type: text/plain\r\n", msg, sizeof(msg) - 1);
    return;
  }
  push_request_table(L, req);
  lua_req_t *r = yolk__calloc(1, sizeof(*r));
  r->s = s;
  r->req = req;
  lua_pushvalue(L, -1);
  r->table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  push_req_map(L);
  lua_pushvalue(L, -2);
  lua_pushlightuserdata(L, r);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  yolk_http_req_on_abort(req, on_req_abort, r);

  lua_pushvalue(L, -1); /* keep the table to check it was answered */
  int rc = yolk__lua_call_ref(L, s->request_ref, 1, 0);
  if (rc != 0) {
    /* the handler raised (already logged): do not leave the client waiting */
    lua_req_t *pending = req_lookup(L, -1);
    if (pending && !pending->in_static) {
      yolk_http_req_t *preq = pending->req;
      req_forget(L, pending);
      static const char msg[] = "Internal Server Error";
      yolk_http_respond(preq, 500, "Content-Type: text/plain\r\n", msg, sizeof(msg) - 1);
    }
  }
  lua_pop(L, 1);
}

/* ---- static files -------------------------------------------------------------------- */

/* One responder (static.h) per directory and Cache-Control, made on first use. */
typedef struct lua_static_s {
  struct lua_static_s *next;
  char *root;
  char *cache_control;
  yolk_static_t *st;
} lua_static_t;

static yolk_static_t *static_for(yolk__lua_server_t *s, const char *root, const char *cache_control) {
  for (lua_static_t *l = s->statics; l; l = l->next)
    if (!strcmp(l->root, root) && !strcmp(l->cache_control, cache_control)) return l->st;
  lua_static_t *l = yolk__calloc(1, sizeof(*l));
  l->root = yolk__strndup(root, strlen(root));
  l->cache_control = yolk__strndup(cache_control, strlen(cache_control));
  yolk_static_opts_t o = {l->cache_control, 0, 0};
  l->st = yolk__static_new(&s->rt->loop, root, &o);
  l->next = s->statics;
  s->statics = l;
  return l->st;
}

static void statics_free(yolk__lua_server_t *s) {
  while (s->statics) {
    lua_static_t *l = s->statics;
    s->statics = l->next;
    yolk__static_free(l->st);
    free(l->root);
    free(l->cache_control);
    free(l);
  }
}

typedef struct {
  lua_req_t *r;
  int fn_ref;
} send_file_t;

static void on_static_done(yolk_http_req_t *req, int outcome, void *ud) {
  send_file_t *job = ud;
  lua_req_t *r = job->r;
  lua_State *L = r->s->rt->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, job->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, job->fn_ref);
  free(job);
  if (outcome == YOLK_STATIC_MISSING) {
    /* not there: the request is the application's again */
    r->in_static = 0;
    yolk_http_req_on_abort(req, on_req_abort, r);
    lua_pushboolean(L, 0);
  } else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->table_ref);
    req_forget(L, r);
    if (outcome == YOLK_STATIC_ABORTED) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "aborted");
    }
    lua_pop(L, 1);
    if (outcome == YOLK_STATIC_SENT) lua_pushboolean(L, 1);
    else lua_pushnil(L);
  }
  yolk__lua_pcall(L, 1, 0);
}

/* req:send_file(root, rel, cache_control, fn(sent)): answers with the file
 * rel under root through the static responder (static.h: async reads,
 * cache, ETag/304, HEAD). fn(true) once sent, fn(false) when there is no
 * such file (the request is still to be answered), fn(nil) if the client
 * went away. Returns false when the request was already answered. */
static int l_req_send_file(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *root = luaL_checkstring(L, 2);
  size_t rel_len;
  const char *rel = luaL_checklstring(L, 3, &rel_len);
  const char *cc = luaL_optstring(L, 4, "no-cache");
  luaL_checktype(L, 5, LUA_TFUNCTION);
  lua_req_t *r = req_lookup(L, 1);
  if (!r || r->in_static || r->s->res.closing) {
    lua_pushboolean(L, 0);
    return 1;
  }
  yolk_static_t *st = static_for(r->s, root, cc);
  send_file_t *job = yolk__malloc(sizeof(*job));
  job->r = r;
  lua_pushvalue(L, 5);
  job->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  r->in_static = 1;
  yolk_http_req_on_abort(r->req, NULL, NULL); /* the responder hooks it now */
  yolk__static_serve(st, r->req, rel, rel_len, NULL, on_static_done, job);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- query strings ------------------------------------------------------------------ */

/* Lua stack: 1 the query string, 2 the first-value table, 3 the all-values table. */
static int query_pair(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  lua_State *L = ud;
  lua_pushlstring(L, name, nlen);
  lua_pushvalue(L, -1);
  lua_rawget(L, 3);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1); /* name */
    lua_pushlstring(L, value, vlen);
    lua_rawset(L, 2); /* the first value */
    lua_newtable(L);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 3); /* queries[name] = {} */
  }
  lua_pushlstring(L, value, vlen);
  lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
  lua_pop(L, 2);
  return 0;
}

/* core.parse_query(qs) -> query, queries: egg's ctx.query (the first value
 * of each name) and ctx.queries (every value, in order), decoded by the one
 * decoder (query.h). */
static int l_parse_query(lua_State *L) {
  size_t len = 0;
  const char *qs = lua_isnoneornil(L, 1) ? "" : luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  lua_newtable(L);
  lua_newtable(L);
  yolk__query_each(qs, len, query_pair, L);
  return 2;
}

/* core.decode_uri_component(s) -> s: a URL path segment percent-decoded ('+'
 * stays '+'), ill-formed UTF-8 made U+FFFD. */
static int l_decode_uri_component(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  if (!memchr(s, '%', len)) return 1; /* nothing to decode: the same string */
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__percent_decode(&sb, s, len, 0);
  lua_pushlstring(L, sb.data ? sb.data : "", sb.len);
  yolk__sb_free(&sb);
  return 1;
}

/* ---- servers ------------------------------------------------------------------------- */

static void on_server_closed(void *arg) {
  yolk__lua_server_t *s = arg;
  lua_State *L = s->rt->L;
  yolk__lua_sio_release(s);
  yolk_sio_redis_free(s->sio_redis); /* once its adapters are gone */
  s->sio_redis = NULL;
  yolk_sio_redis_streams_free(s->sio_redis_streams);
  s->sio_redis_streams = NULL;
  statics_free(s);
  luaL_unref(L, LUA_REGISTRYINDEX, s->request_ref);
  yolk__lua_res_release(&s->res);
  free(s);
}

/* The class close: Socket.IO clients first (they get their close packets),
 * then the listener; the binding goes in libyolk's close callback. */
static void server_close(yolk__lua_res_t *r) {
  yolk__lua_server_t *s = (yolk__lua_server_t *)r;
  if (s->sio) yolk_sio_close(s->sio);
  /* may call on_server_closed before it returns */
  yolk_server_close(s->srv, on_server_closed, s);
}

static const yolk__lua_res_class_t server_class = {YOLK_LUA_SERVER_MT, server_close};

/* A byte size: a number, or a string with a unit as egg's configs write
 * them ("100kb", "1mb", "1.5 gb"; 1kb = 1024). Returns -1 if it is neither. */
double yolk__lua_parse_size(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) return lua_tonumber(L, idx);
  if (lua_type(L, idx) != LUA_TSTRING) return -1;
  const char *s = lua_tostring(L, idx);
  char *end;
  double v = strtod(s, &end);
  if (end == s) return -1;
  while (*end == ' ') end++;
  double unit = 1;
  if (!strcasecmp(end, "") || !strcasecmp(end, "b")) unit = 1;
  else if (!strcasecmp(end, "kb")) unit = 1024;
  else if (!strcasecmp(end, "mb")) unit = 1024.0 * 1024;
  else if (!strcasecmp(end, "gb")) unit = 1024.0 * 1024 * 1024;
  else return -1;
  return v * unit;
}

static lua_Number opt_number(lua_State *L, int t, const char *key, lua_Number def, int is_size) {
  lua_getfield(L, t, key);
  lua_Number v = def;
  if (!lua_isnil(L, -1)) {
    if (is_size) {
      v = yolk__lua_parse_size(L, -1);
      if (v < 0) luaL_error(L, "option %s must be a size (a number, or a string such as \"100kb\")", key);
    } else {
      if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "option %s must be a number", key);
      v = lua_tonumber(L, -1);
      if (v < 0) luaL_error(L, "option %s must not be negative", key);
    }
  }
  lua_pop(L, 1);
  return v;
}

/* core.server(opts) -> server */
static int l_server(lua_State *L) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  yolk_server_options_t o;
  yolk_server_options_init(&o);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    o.max_body_size = (size_t)opt_number(L, 1, "max_body_size", (lua_Number)o.max_body_size, 1);
    o.max_header_size = (size_t)opt_number(L, 1, "max_header_size", (lua_Number)o.max_header_size, 1);
    o.header_timeout_ms = (unsigned)opt_number(L, 1, "header_timeout_ms", o.header_timeout_ms, 0);
    o.keepalive_timeout_ms = (unsigned)opt_number(L, 1, "keepalive_timeout_ms", o.keepalive_timeout_ms, 0);
  }
  yolk_server_t *srv = NULL;
  int rc = yolk_server_new(&rt->loop, &o, &srv);
  if (rc || !srv) {
    lua_pushnil(L);
    lua_pushstring(L, uv_strerror(rc ? rc : UV_ENOMEM));
    return 2;
  }
  yolk__lua_server_t *s = yolk__calloc(1, sizeof(*s));
  s->rt = rt;
  s->srv = srv;
  s->request_ref = s->sio_box_ref = s->generate_id_ref = LUA_NOREF;
  yolk_server_set_handler(srv, on_http_request, s);
  yolk__lua_res_open(L, &s->res, &server_class);
  return 1;
}

static yolk__lua_server_t *check_open(lua_State *L) { return yolk__lua_res_check(L, 1, YOLK_LUA_SERVER_MT); }

/* server:listen(host, port) -> true | nil, err */
static int s_listen(lua_State *L) {
  yolk__lua_server_t *s = check_open(L);
  const char *host = luaL_optstring(L, 2, "127.0.0.1");
  lua_Integer port = luaL_optinteger(L, 3, 0);
  if (!s) {
    lua_pushnil(L);
    lua_pushstring(L, "server is closed");
    return 2;
  }
  if (port < 0 || port > 65535) return luaL_argerror(L, 3, "port out of range");
  int rc = yolk_server_listen(s->srv, host, (int)port);
  if (rc) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s (%s:%d)", uv_err_name(rc), uv_strerror(rc), host, (int)port);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int s_port(lua_State *L) {
  yolk__lua_server_t *s = check_open(L);
  if (!s) return 0;
  lua_pushinteger(L, yolk_server_port(s->srv));
  return 1;
}

static int s_close(lua_State *L) {
  yolk__lua_server_t *s = check_open(L);
  if (!s) {
    lua_pushboolean(L, 0);
    return 1;
  }
  yolk__lua_res_close(&s->res);
  lua_pushboolean(L, 1);
  return 1;
}

static int s_on_request(lua_State *L) {
  yolk__lua_server_t *s = check_open(L);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!s) return 0;
  luaL_unref(L, LUA_REGISTRYINDEX, s->request_ref);
  s->request_ref = LUA_NOREF;
  if (!lua_isnoneornil(L, 2)) {
    lua_pushvalue(L, 2);
    s->request_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

/* server:serve_metrics(path) -> true | nil, err : GET/HEAD of path answer
 * the metrics (yolk_server_serve_metrics), the runtime's among them */
static int s_serve_metrics(lua_State *L) {
  yolk__lua_server_t *s = check_open(L);
  const char *path = luaL_optstring(L, 2, "/metrics");
  if (path[0] != '/') return luaL_argerror(L, 2, "a path starts with '/'");
  if (!s || yolk_server_serve_metrics(s->srv, path) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, s ? "metrics are served already" : "server is closed");
    return 2;
  }
  yolk_metrics_add_collector(yolk_server_metrics(s->srv), yolk__lua_rt_collect, s->rt);
  lua_pushboolean(L, 1);
  return 1;
}

void yolk__lua_open_http(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"listen", s_listen},     {"port", s_port}, {"close", s_close}, {"on_request", s_on_request},
      {"socketio", yolk__lua_server_socketio}, {"serve_metrics", s_serve_metrics}, {NULL, NULL},
  };
  yolk__lua_new_class(L, YOLK_LUA_SERVER_MT, methods, NULL);

  static const luaL_Reg req_methods[] = {{"respond", l_req_respond}, {"send_file", l_req_send_file}, {NULL, NULL}};
  yolk__lua_new_class(L, REQUEST_MT_KEY, req_methods, NULL);

  static const luaL_Reg fns[] = {
      {"server", l_server}, {"parse_query", l_parse_query}, {"decode_uri_component", l_decode_uri_component},
      {NULL, NULL},
  };
  luaL_register(L, NULL, fns);
}
