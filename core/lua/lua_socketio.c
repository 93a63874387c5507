/* lua_socketio.c - server:socketio(), namespaces and sockets for Lua.
 *
 * One socket state: libyolk's yolk_sio_socket_t holds everything a socket is
 * (admission, rooms, acks, its handshake). The binding adds no state of its
 * own: when a socket connects it calls the namespace's `connect` handler
 * with the socket's handle (a box), and the value that handler returns is
 * *the* Lua object of the socket, created once; the C socket keeps a
 * registry reference to it (its data pointer) and every later callback
 * (event, disconnecting, close) gets that object. socket.data is read from
 * the object's `data` field when fetch_sockets describes the socket, so it
 * is always what the application last stored.
 *
 * Lifetimes:
 *  - sio: one per server; its box dies with the server (yolk__lua_sio_release).
 *  - namespace binding: created by the first sio:of(name) (and for "/" at
 *    once); holds the handler refs; lives as long as the server.
 *  - socket: the object's ref and the handle's box live from on_connect to
 *    on_close; on_close drops the ref and kills the box, so a handle kept
 *    past that is dead (its methods return false/nil). libyolk never frees a
 *    socket while one of its callbacks runs, so nothing here counts calls.
 *  - ack and fetch_sockets callbacks: a small record holding the function's
 *    ref until libyolk calls back, exactly once; then unref'd and freed.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lua_core.h"

#define SIO_MT "yolk.sio"
#define NSP_MT "yolk.nsp"
#define SOCKET_MT "yolk.socket"

struct yolk__lua_nsp_s {
  yolk__lua_server_t *s;
  yolk_sio_nsp_t *nsp;
  int box_ref;
  int connect_ref, object_ref, event_ref, disconnecting_ref, close_ref, server_event_ref;
  yolk__lua_nsp_t *next;
};

/* What a C socket's data pointer holds: the refs of its object and box. */
typedef struct {
  int obj_ref;
  int box_ref;
  yolk__lua_nsp_t *n;
} sock_refs_t;

static lua_State *nsp_L(yolk__lua_nsp_t *n) { return n->s->rt->L; }

static void unref(lua_State *L, int *ref) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* A Lua function called once from C later (fetch_sockets' result, an emit's ack). */
typedef struct {
  yolk_lua_rt_t *rt;
  int fn_ref;
} lua_callback_t;

/* Takes the function on top of the stack (popped) for one later call. */
static lua_callback_t *callback_new(lua_State *L) {
  lua_callback_t *cb = yolk__malloc(sizeof(*cb));
  cb->rt = yolk__lua_rt(L);
  cb->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return cb;
}

/* Pushes the callback's function (and frees the record). */
static lua_State *callback_take(lua_callback_t *cb) {
  lua_State *L = cb->rt->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, cb->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, cb->fn_ref);
  free(cb);
  return L;
}

/* ---- sockets: callbacks from libyolk ---------------------------------------------- */

/* The refs of a socket's handle (a new box, left pushed) and object. */
static sock_refs_t *refs_new(lua_State *L, yolk__lua_nsp_t *n, yolk_sio_socket_t *sock) {
  sock_refs_t *r = yolk__malloc(sizeof(*r));
  r->n = n;
  r->obj_ref = LUA_NOREF;
  r->box_ref = yolk__lua_box_new(L, sock, SOCKET_MT); /* pushed */
  yolk_sio_socket_set_data(sock, r);
  return r;
}

/* Pushes the socket's object. A socket admitted without a connect handler
 * has none until a callback (or nsp:socket, fetch_sockets) needs it: then
 * the `object` handler makes it from the handle, or the handle stands for
 * it. An idle socket of such a namespace costs Lua nothing. */
static void push_obj(lua_State *L, yolk__lua_nsp_t *n, yolk_sio_socket_t *sock) {
  sock_refs_t *r = yolk_sio_socket_get_data(sock);
  if (r) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->obj_ref);
    return;
  }
  r = refs_new(L, n, sock);
  if (n->object_ref != LUA_NOREF) {
    lua_pushvalue(L, -1);
    if (yolk__lua_call_ref(L, n->object_ref, 1, 1) != 0) lua_pushnil(L); /* logged */
    if (lua_isnil(L, -1)) lua_pop(L, 1); /* the handle stands for it */
    else lua_remove(L, -2);
  }
  lua_pushvalue(L, -1);
  r->obj_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void on_connect(yolk_sio_socket_t *sock, void *ud) {
  yolk__lua_nsp_t *n = ud;
  if (n->connect_ref == LUA_NOREF) {
    /* nothing to decide: admitted now, the object made when needed */
    yolk_sio_socket_admit(sock);
    return;
  }
  lua_State *L = nsp_L(n);
  sock_refs_t *r = refs_new(L, n, sock);
  if (yolk__lua_call_ref(L, n->connect_ref, 1, 1) != 0) {
    /* the handler failed before deciding (already logged): refuse rather
     * than leave the client waiting for connectTimeout */
    lua_pushnil(L);
    r->obj_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    yolk_sio_socket_refuse(sock, "Internal server error", NULL, 0);
    return;
  }
  if (lua_isnil(L, -1)) { /* no object of its own: the handle stands for it */
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->box_ref);
  }
  r->obj_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void on_event(yolk_sio_socket_t *sock, const yolk_sio_args_t *args, int64_t ack_id, void *ud) {
  yolk__lua_nsp_t *n = ud;
  if (n->event_ref == LUA_NOREF) return;
  lua_State *L = nsp_L(n);
  lua_rawgeti(L, LUA_REGISTRYINDEX, n->event_ref);
  push_obj(L, n, sock);
  if (yolk__lua_push_event(L, args->json, args->len, args->bins, args->nbins) != 0) {
    /* checked by libyolk: cannot happen but for a Lua stack exhausted */
    yolk__log(YOLK_LOG_WARN, "lua", "socket %s: event dropped: %s", yolk_sio_socket_id(sock), lua_tostring(L, -1));
    lua_pop(L, 3);
    return;
  }
  if (ack_id >= 0) lua_pushnumber(L, (lua_Number)ack_id);
  else lua_pushnil(L);
  yolk__lua_pcall(L, 4, 0);
}

static void call_reason(yolk__lua_nsp_t *n, int ref, yolk_sio_socket_t *sock, const char *reason) {
  if (ref == LUA_NOREF) return;
  lua_State *L = nsp_L(n);
  push_obj(L, n, sock);
  lua_pushstring(L, reason ? reason : "");
  yolk__lua_call_ref(L, ref, 2, 0);
}

static void on_disconnecting(yolk_sio_socket_t *sock, const char *reason, void *ud) {
  yolk__lua_nsp_t *n = ud;
  call_reason(n, n->disconnecting_ref, sock, reason);
}

static void on_close(yolk_sio_socket_t *sock, const char *reason, void *ud) {
  yolk__lua_nsp_t *n = ud;
  call_reason(n, n->close_ref, sock, reason);
  /* the C socket is freed after we return: the handle dies now */
  sock_refs_t *r = yolk_sio_socket_get_data(sock);
  yolk_sio_socket_set_data(sock, NULL);
  if (!r) return;
  lua_State *L = nsp_L(n);
  yolk__lua_box_kill(L, r->box_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, r->obj_ref);
  free(r);
}

/* socket.data, for fetch_sockets: the object's `data` field as JSON. */
static const char *data_json(yolk_sio_socket_t *sock, size_t *len, void *ud) {
  yolk__lua_nsp_t *n = ud;
  lua_State *L = nsp_L(n);
  int top = lua_gettop(L);
  push_obj(L, n, sock);
  if (!lua_istable(L, -1)) {
    lua_settop(L, top);
    return NULL;
  }
  lua_getfield(L, -1, "data"); /* (may be made on first use) */
  yolk_sb_t *sb = &n->s->data_sb;
  sb->len = 0;
  const char *out = NULL;
  if (!lua_isnil(L, -1)) {
    if (yolk__lua_write_json(L, -1, sb, NULL) == 0) {
      out = sb->data;
      *len = sb->len;
    } else {
      yolk__log(YOLK_LOG_WARN, "lua", "socket %s: socket.data cannot be sent as JSON (%s): reported as null",
                yolk_sio_socket_id(sock), lua_tostring(L, -1));
    }
  }
  lua_settop(L, top);
  return out;
}

static const yolk_sio_nsp_handler_t nsp_handler = {on_connect, on_event, on_disconnecting, on_close, data_json};

/* ---- namespaces ------------------------------------------------------------------------ */

static yolk__lua_nsp_t *nsp_binding(lua_State *L, yolk__lua_server_t *s, yolk_sio_nsp_t *nsp) {
  for (yolk__lua_nsp_t *n = s->nsps; n; n = n->next)
    if (n->nsp == nsp) return n;
  yolk__lua_nsp_t *n = yolk__calloc(1, sizeof(*n));
  n->s = s;
  n->nsp = nsp;
  n->connect_ref = n->object_ref = n->event_ref = n->disconnecting_ref = n->close_ref = n->server_event_ref =
      LUA_NOREF;
  n->box_ref = yolk__lua_box_new(L, n, NSP_MT);
  lua_pop(L, 1);
  n->next = s->nsps;
  s->nsps = n;
  yolk_sio_nsp_set_handler(nsp, &nsp_handler, n);
  return n;
}

void yolk__lua_sio_release(yolk__lua_server_t *s) {
  lua_State *L = s->rt->L;
  while (s->nsps) {
    yolk__lua_nsp_t *n = s->nsps;
    s->nsps = n->next;
    unref(L, &n->connect_ref);
    unref(L, &n->object_ref);
    unref(L, &n->event_ref);
    unref(L, &n->disconnecting_ref);
    unref(L, &n->close_ref);
    unref(L, &n->server_event_ref);
    yolk__lua_box_kill(L, n->box_ref);
    free(n);
  }
  yolk__lua_box_kill(L, s->sio_box_ref);
  s->sio_box_ref = LUA_NOREF;
  unref(L, &s->generate_id_ref);
  yolk__sb_free(&s->data_sb);
  s->sio = NULL;
}

/* generateId: gets the handshake as socket.handshake shows it. */
static int generate_id(const char *handshake_json, size_t hlen, char *out, size_t outlen, void *ud) {
  yolk__lua_server_t *s = ud;
  lua_State *L = s->rt->L;
  if (s->generate_id_ref == LUA_NOREF) return -1;
  if (yolk__lua_push_json(L, handshake_json, hlen, NULL, 0, 0) != 0) {
    lua_pop(L, 1);
    return -1;
  }
  if (yolk__lua_call_ref(L, s->generate_id_ref, 1, 1) != 0) return -1;
  int ok = -1;
  size_t len;
  const char *id = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
  if (id && len > 0 && len < outlen && !memchr(id, 0, len)) {
    memcpy(out, id, len + 1);
    ok = 0;
  } else if (!lua_isnil(L, -1)) {
    yolk__log(YOLK_LOG_WARN, "lua", "generateId must return a non-empty string shorter than %zu bytes", outlen);
  }
  lua_pop(L, 1);
  return ok;
}

/* ---- server:socketio(opts) -------------------------------------------------------------- */

static int opt_type(lua_State *L, int t, const char *key, int type) {
  lua_getfield(L, t, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_type(L, -1) != type) luaL_error(L, "socketio option %s must be a %s", key, lua_typename(L, type));
  return 1; /* the value stays on the stack */
}

static unsigned opt_ms(lua_State *L, int t, const char *key, unsigned def) {
  if (!opt_type(L, t, key, LUA_TNUMBER)) return def;
  lua_Number v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (v < 0 || v > 4e9) luaL_error(L, "socketio option %s out of range", key);
  return (unsigned)v;
}

static int opt_bool(lua_State *L, int t, const char *key, int def) {
  lua_getfield(L, t, key);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

int yolk__lua_server_socketio(lua_State *L) {
  yolk__lua_server_t *s = yolk__lua_res_check(L, 1, YOLK_LUA_SERVER_MT);
  if (!s) return luaL_error(L, "server is closed");
  if (s->sio) {
    yolk__lua_box_push(L, s->sio_box_ref);
    return 1;
  }
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  yolk_sio_options_t o;
  yolk_sio_options_init(&o);
  yolk_sb_t cors;
  yolk__sb_init(&cors);

  /* Lua strings read below stay on the stack (above index 2) until attach
   * has copied them. */
  if (opt_type(L, 2, "path", LUA_TSTRING)) o.eio.path = lua_tostring(L, -1);
  o.eio.ping_interval_ms = opt_ms(L, 2, "pingInterval", o.eio.ping_interval_ms);
  o.eio.ping_timeout_ms = opt_ms(L, 2, "pingTimeout", o.eio.ping_timeout_ms);
  o.eio.upgrade_timeout_ms = opt_ms(L, 2, "upgradeTimeout", o.eio.upgrade_timeout_ms);
  lua_getfield(L, 2, "maxHttpBufferSize");
  if (!lua_isnil(L, -1)) {
    double v = yolk__lua_parse_size(L, -1);
    if (v < 0) return luaL_error(L, "socketio option maxHttpBufferSize must be a size (a number or \"1mb\")");
    o.eio.max_http_buffer_size = (size_t)v;
  }
  lua_pop(L, 1);
  lua_getfield(L, 2, "maxBufferedBytes");
  if (!lua_isnil(L, -1)) {
    double v = yolk__lua_parse_size(L, -1);
    if (v < 0) return luaL_error(L, "socketio option maxBufferedBytes must be a size (a number or \"8mb\")");
    o.eio.max_buffered_bytes = (size_t)v;
  }
  lua_pop(L, 1);
  o.connect_timeout_ms = opt_ms(L, 2, "connectTimeout", o.connect_timeout_ms);
  o.max_attachments = opt_ms(L, 2, "maxAttachments", o.max_attachments);
  o.max_json_depth = opt_ms(L, 2, "maxJsonDepth", o.max_json_depth);
  o.max_namespaces = opt_ms(L, 2, "maxNamespaces", o.max_namespaces);
  o.eio.max_clients_per_address = opt_ms(L, 2, "maxClientsPerAddress", 0);
  o.eio.max_handshakes_per_second = opt_ms(L, 2, "maxHandshakesPerSecond", 0);
  o.eio.allow_eio3 = opt_bool(L, 2, "allowEIO3", o.eio.allow_eio3);
  o.eio.allow_upgrades = opt_bool(L, 2, "allowUpgrades", o.eio.allow_upgrades);
  if (opt_type(L, 2, "sidPrefix", LUA_TSTRING)) o.eio.sid_prefix = lua_tostring(L, -1);
  if (opt_type(L, 2, "transports", LUA_TTABLE)) {
    unsigned t = 0;
    size_t n = lua_objlen(L, -1);
    for (size_t i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, (int)i);
      const char *name = lua_tostring(L, -1);
      if (name && !strcmp(name, "polling")) t |= YOLK_TRANSPORT_POLLING;
      else if (name && !strcmp(name, "websocket")) t |= YOLK_TRANSPORT_WEBSOCKET;
      else return luaL_error(L, "socketio option transports: unknown transport %s", name ? name : "?");
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (!t) return luaL_error(L, "socketio option transports is empty");
    o.eio.transports = t;
  }
  if (opt_type(L, 2, "clientDistDir", LUA_TSTRING)) o.client_dist_dir = lua_tostring(L, -1);
  lua_getfield(L, 2, "cors");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "origin");
    if (lua_type(L, -1) == LUA_TSTRING) {
      yolk__sb_puts(&cors, lua_tostring(L, -1));
    } else if (lua_istable(L, -1)) {
      size_t n = lua_objlen(L, -1);
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (int)i);
        const char *origin = lua_tostring(L, -1);
        if (origin) {
          if (cors.len) yolk__sb_putc(&cors, ',');
          yolk__sb_puts(&cors, origin);
        }
        lua_pop(L, 1);
      }
    } else if (lua_toboolean(L, -1)) {
      yolk__sb_puts(&cors, "reflect");
    }
    lua_pop(L, 1);
    o.eio.cors_credentials = opt_bool(L, -1, "credentials", 0);
  } else if (lua_toboolean(L, -1)) {
    yolk__sb_puts(&cors, "*");
  }
  lua_pop(L, 1);
  if (cors.len) o.eio.cors_origin = cors.data;
  if (opt_type(L, 2, "connectionStateRecovery", LUA_TTABLE)) {
    /* socket.io's option; skipMiddlewares is the Lua runtime's */
    int t = lua_gettop(L);
    o.recovery_ms = opt_ms(L, t, "maxDisconnectionDuration", 120000);
    if (o.recovery_ms == 0) return luaL_error(L, "socketio option connectionStateRecovery.maxDisconnectionDuration must be > 0");
    o.recovery_max_packets = opt_ms(L, t, "maxPackets", 0);
    lua_getfield(L, t, "maxBytes");
    if (!lua_isnil(L, -1)) {
      double v = yolk__lua_parse_size(L, -1);
      if (v < 0) return luaL_error(L, "socketio option connectionStateRecovery.maxBytes must be a size");
      o.recovery_max_bytes = (size_t)v;
    }
    lua_pop(L, 2);
  }
  if (opt_type(L, 2, "generateId", LUA_TFUNCTION)) {
    s->generate_id_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    o.generate_id = generate_id;
    o.ud = s;
  }

  if (opt_type(L, 2, "redis", LUA_TTABLE)) {
    /* a Redis adapter: the strings stay on the stack until the bus copied
     * them. adapter = "streams" picks the Redis Streams one, "classic" (or
     * none) the pub/sub one. */
    int t = lua_gettop(L);
    yolk_sio_redis_options_t ro;
    memset(&ro, 0, sizeof(ro));
    int streams = 0;
    if (opt_type(L, t, "adapter", LUA_TSTRING)) {
      const char *kind = lua_tostring(L, -1);
      if (!strcmp(kind, "streams")) streams = 1;
      else if (strcmp(kind, "classic")) {
        yolk__sb_free(&cors);
        return luaL_error(L, "socketio option redis.adapter: 'classic' or 'streams', not '%s'", kind);
      }
    }
    if (opt_type(L, t, "url", LUA_TSTRING)) ro.url = lua_tostring(L, -1);
    if (opt_type(L, t, "host", LUA_TSTRING)) ro.host = lua_tostring(L, -1);
    if (opt_type(L, t, "username", LUA_TSTRING)) ro.username = lua_tostring(L, -1);
    if (opt_type(L, t, "password", LUA_TSTRING)) ro.password = lua_tostring(L, -1);
    if (opt_type(L, t, "key", LUA_TSTRING)) ro.key = lua_tostring(L, -1);
    if (opt_type(L, t, "streamName", LUA_TSTRING)) ro.stream_name = lua_tostring(L, -1);
    if (opt_type(L, t, "channelPrefix", LUA_TSTRING)) ro.channel_prefix = lua_tostring(L, -1);
    if (opt_type(L, t, "sessionKeyPrefix", LUA_TSTRING)) ro.session_key_prefix = lua_tostring(L, -1);
    ro.port = (int)opt_ms(L, t, "port", 0);
    ro.db = (int)opt_ms(L, t, "db", 0);
    ro.requests_timeout_ms = opt_ms(L, t, "requestsTimeout", 0);
    ro.connect_timeout_ms = opt_ms(L, t, "connectTimeout", 0);
    ro.max_len = opt_ms(L, t, "maxLen", 0);
    ro.read_count = opt_ms(L, t, "readCount", 0);
    ro.block_time_ms = opt_ms(L, t, "blockTimeInMs", 0);
    const char *err = NULL;
    if (streams) {
      s->sio_redis_streams = yolk_sio_redis_streams_new(yolk_server_loop(s->srv), &ro, &err);
      o.adapter = yolk_sio_redis_streams_adapter;
      o.adapter_ud = s->sio_redis_streams;
    } else {
      s->sio_redis = yolk_sio_redis_new(yolk_server_loop(s->srv), &ro, &err);
      o.adapter = yolk_sio_redis_adapter;
      o.adapter_ud = s->sio_redis;
    }
    if (!o.adapter_ud) {
      yolk__sb_free(&cors);
      return luaL_error(L, "socketio option redis: %s", err ? err : "invalid");
    }
  }

  s->sio = yolk_sio_attach(s->srv, &o);
  yolk__sb_free(&cors);
  s->sio_box_ref = yolk__lua_box_new(L, s, SIO_MT);
  /* "/" exists from the start: bind it now so its sockets are admitted even
   * before the framework sets a handler */
  nsp_binding(L, s, yolk_sio_of(s->sio, "/"));
  return 1;
}

/* ---- sio and nsp methods ------------------------------------------------------------------ */

static yolk__lua_server_t *check_sio(lua_State *L) {
  yolk__lua_server_t *s = yolk__lua_box_get(L, 1, SIO_MT);
  return s && s->sio && !s->res.closing ? s : NULL;
}

static int sio_of(lua_State *L) {
  yolk__lua_server_t *s = check_sio(L);
  const char *name = luaL_optstring(L, 2, "/");
  if (!s) return 0;
  if (name[0] != '/') return luaL_argerror(L, 2, "a namespace name starts with '/'");
  yolk__lua_nsp_t *n = nsp_binding(L, s, yolk_sio_of(s->sio, name));
  yolk__lua_box_push(L, n->box_ref);
  return 1;
}

static int sio_close(lua_State *L) {
  yolk__lua_server_t *s = check_sio(L);
  if (s) yolk_sio_close(s->sio);
  lua_pushboolean(L, s != NULL);
  return 1;
}

static yolk__lua_nsp_t *check_nsp(lua_State *L) {
  yolk__lua_nsp_t *n = yolk__lua_box_get(L, 1, NSP_MT);
  return n && !n->s->res.closing ? n : NULL;
}

static int nsp_name(lua_State *L) {
  yolk__lua_nsp_t *n = yolk__lua_box_get(L, 1, NSP_MT);
  if (!n) return 0;
  lua_pushstring(L, yolk_sio_nsp_name(n->nsp));
  return 1;
}

static void set_ref_field(lua_State *L, int t, const char *key, int *ref) {
  lua_getfield(L, t, key);
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "handler %s must be a function", key);
  unref(L, ref);
  if (lua_isfunction(L, -1)) *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else lua_pop(L, 1);
}

static int nsp_set_handler(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!n) return 0;
  set_ref_field(L, 2, "connect", &n->connect_ref);
  set_ref_field(L, 2, "object", &n->object_ref);
  set_ref_field(L, 2, "event", &n->event_ref);
  set_ref_field(L, 2, "disconnecting", &n->disconnecting_ref);
  set_ref_field(L, 2, "close", &n->close_ref);
  return 0;
}

/* Room lists from Lua: a string or an array of strings. The pointer array
 * is a userdata left on the stack (so a raise never leaks it) and the
 * strings stay referenced by the argument, on the stack below, during the
 * call. */
typedef struct {
  const char **v;
  size_t n;
} str_list_t;

static void str_list_read(lua_State *L, int idx, str_list_t *out, const char *what) {
  out->v = NULL;
  out->n = 0;
  if (lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) == LUA_TSTRING) {
    out->v = lua_newuserdata(L, sizeof(char *));
    out->v[0] = lua_tostring(L, idx);
    out->n = 1;
    return;
  }
  if (!lua_istable(L, idx)) luaL_error(L, "%s must be a string or an array of strings", what);
  size_t n = lua_objlen(L, idx);
  out->v = lua_newuserdata(L, (n ? n : 1) * sizeof(char *));
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, (int)i);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s must be a string or an array of strings", what);
    out->v[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  out->n = n;
}

/* Reads the target table at idx (nil: every socket). Leaves a few values on
 * the stack that keep what tg points to alive. */
static void target_read(lua_State *L, int idx, yolk_sio_target_t *tg) {
  memset(tg, 0, sizeof(*tg));
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  str_list_t rooms, except;
  lua_getfield(L, idx, "rooms");
  str_list_read(L, lua_gettop(L), &rooms, "target.rooms");
  lua_getfield(L, idx, "except");
  str_list_read(L, lua_gettop(L), &except, "target.except");
  tg->rooms = rooms.v;
  tg->nrooms = rooms.n;
  tg->except = except.v;
  tg->nexcept = except.n;
  if (opt_bool(L, idx, "volatile", 0)) tg->flags |= YOLK_SIO_VOLATILE;
  if (opt_bool(L, idx, "local", 0)) tg->flags |= YOLK_SIO_LOCAL;
}

/* The stack values first..last as an argument list in the runtime's scratch
 * buffer (raises on values JSON cannot hold; buffers become attachments,
 * which point into the buffers on the stack). */
static void args_from_stack(lua_State *L, int first, int last, yolk_sio_args_t *args, yolk__lua_bins_t *bins) {
  yolk_sb_t *sb = yolk__lua_scratch(L);
  if (yolk__lua_write_values(L, first, last, sb, bins) != 0) {
    yolk__lua_bins_free(bins);
    lua_error(L);
  }
  args->json = sb->data;
  args->len = sb->len;
  args->bins = bins->v;
  args->nbins = bins->n;
}

static void args_done(lua_State *L, yolk__lua_bins_t *bins) {
  yolk__lua_bins_free(bins);
  yolk__lua_scratch_done(L);
}

/* nsp:broadcast(target, event, ...) -> true | false */
static int nsp_broadcast(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  int last = lua_gettop(L);
  luaL_checkany(L, 3);
  yolk_sio_target_t tg;
  target_read(L, 2, &tg); /* may raise: before anything is allocated */
  yolk__lua_bins_t bins = {0};
  yolk_sio_args_t args;
  args_from_stack(L, 3, last, &args, &bins);
  int rc = n ? yolk_sio_broadcast(n->nsp, &tg, &args) : -1;
  args_done(L, &bins);
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* fn(err, value) for a JSON result (fetch_sockets' list, all_rooms' names). */
static void on_json_result(void *ud, const char *err, const char *json, size_t len) {
  lua_State *L = callback_take(ud);
  if (err) {
    lua_pushstring(L, err);
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
    if (yolk__lua_push_json(L, json, len, NULL, 0, 0) != 0) {
      lua_remove(L, -2);
      lua_pushnil(L); /* err, nil */
    }
  }
  yolk__lua_pcall(L, 2, 0);
}

/* nsp:fetch_sockets(target, fn(err, list)) -> true | false */
static int nsp_fetch_sockets(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (!n) {
    lua_pushboolean(L, 0);
    return 1;
  }
  yolk_sio_target_t tg;
  target_read(L, 2, &tg);
  lua_pushvalue(L, 3);
  lua_callback_t *cb = callback_new(L);
  yolk_sio_fetch_sockets(n->nsp, &tg, on_json_result, cb);
  lua_pushboolean(L, 1);
  return 1;
}

static int nsp_rooms_op(lua_State *L, int join) {
  yolk__lua_nsp_t *n = check_nsp(L);
  if (!n) return 0;
  yolk_sio_target_t tg;
  target_read(L, 2, &tg);
  str_list_t rooms;
  str_list_read(L, 3, &rooms, "rooms");
  if (join) yolk_sio_sockets_join(n->nsp, &tg, rooms.v, rooms.n);
  else yolk_sio_sockets_leave(n->nsp, &tg, rooms.v, rooms.n);
  return 0;
}

static int nsp_sockets_join(lua_State *L) { return nsp_rooms_op(L, 1); }
static int nsp_sockets_leave(lua_State *L) { return nsp_rooms_op(L, 0); }

static int nsp_disconnect_sockets(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  if (!n) return 0;
  yolk_sio_target_t tg;
  target_read(L, 2, &tg);
  yolk_sio_disconnect_sockets(n->nsp, &tg, lua_toboolean(L, 3));
  return 0;
}

/* nsp:socket(id) -> the socket's object, or nil */
static int nsp_socket(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  const char *id = luaL_checkstring(L, 2);
  if (!n) return 0;
  yolk_sio_socket_t *sock = yolk_sio_nsp_socket(n->nsp, id);
  if (!sock) return 0;
  push_obj(L, n, sock);
  return 1;
}

/* nsp:server_side_emit(event, ...) -> true | false */
static int nsp_server_side_emit(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  luaL_checkany(L, 2);
  yolk__lua_bins_t bins = {0};
  yolk_sio_args_t args;
  args_from_stack(L, 2, lua_gettop(L), &args, &bins);
  int rc = n ? yolk_sio_server_side_emit(n->nsp, &args) : -1;
  args_done(L, &bins);
  lua_pushboolean(L, rc == 0);
  return 1;
}

static void on_server_event(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args, const char *reply_to, void *ud) {
  (void)nsp;
  yolk__lua_nsp_t *n = ud;
  if (n->server_event_ref == LUA_NOREF) return;
  lua_State *L = nsp_L(n);
  if (yolk__lua_push_event(L, args->json, args->len, args->bins, args->nbins) != 0) {
    lua_pop(L, 1);
    return;
  }
  if (reply_to) lua_pushstring(L, reply_to);
  else lua_pushnil(L);
  yolk__lua_call_ref(L, n->server_event_ref, 3, 0);
}

static int push_false(lua_State *L) {
  lua_pushboolean(L, 0);
  return 1;
}

/* ---- many answers: broadcasts with acks, server-side emits with acks ------------------------ */

/* The Lua side of a gather: the callback and the list of answers so far
 * (each answer's first argument, as socket.io keeps them). */
typedef struct {
  yolk_lua_rt_t *rt;
  int fn_ref, list_ref;
  int n;
} lua_gather_t;

static lua_gather_t *lua_gather_new(lua_State *L, int fn_idx) {
  lua_gather_t *g = yolk__malloc(sizeof(*g));
  g->rt = yolk__lua_rt(L);
  lua_pushvalue(L, fn_idx);
  g->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  yolk__lua_new_array(L, 0);
  g->list_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  g->n = 0;
  return g;
}

static void lua_gather_free(lua_State *L, lua_gather_t *g) {
  luaL_unref(L, LUA_REGISTRYINDEX, g->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, g->list_ref);
  free(g);
}

static void on_gather_answer(void *ud, const yolk_sio_args_t *args) {
  lua_gather_t *g = ud;
  lua_State *L = g->rt->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->list_ref);
  if (yolk__lua_push_json(L, args->json, args->len, args->bins, args->nbins, 0) != 0) {
    YOLK_LOG_WARN_("lua", "an answer was dropped: %s", lua_tostring(L, -1));
    lua_pop(L, 2);
    return;
  }
  lua_rawgeti(L, -1, 1); /* the first argument (nil: null in the list) */
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushlightuserdata(L, YOLK_LUA_NULL);
  }
  lua_rawseti(L, -3, ++g->n);
  lua_pop(L, 2);
}

/* fn(err, answers, got, expected): err nil, "timeout" or the failure */
static void on_gather_done(void *ud, const char *err, size_t got, size_t expected) {
  lua_gather_t *g = ud;
  lua_State *L = g->rt->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->fn_ref);
  if (err) lua_pushstring(L, err);
  else lua_pushnil(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->list_ref);
  lua_pushinteger(L, (lua_Integer)got);
  lua_pushinteger(L, (lua_Integer)expected);
  lua_gather_free(L, g);
  yolk__lua_pcall(L, 4, 0);
}

static unsigned opt_timeout(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TNUMBER || lua_tonumber(L, idx) <= 0) return 0;
  lua_Number t = lua_tonumber(L, idx);
  return t >= (lua_Number)UINT_MAX ? UINT_MAX : (unsigned)ceil(t);
}

/* nsp:broadcast_with_ack(target, timeout_ms, fn(err, answers, got,
 * expected), event, ...) -> true | false (then fn is never called) */
static int nsp_broadcast_with_ack(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  int last = lua_gettop(L);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  luaL_checkany(L, 5);
  yolk_sio_target_t tg;
  target_read(L, 2, &tg);
  unsigned timeout = opt_timeout(L, 3);
  if (!n) return push_false(L);
  yolk__lua_bins_t bins = {0};
  yolk_sio_args_t args;
  args_from_stack(L, 5, last, &args, &bins);
  lua_gather_t *g = lua_gather_new(L, 4);
  int rc = yolk_sio_broadcast_with_ack(n->nsp, &tg, &args, timeout, on_gather_answer, on_gather_done, g);
  args_done(L, &bins);
  if (rc != 0) lua_gather_free(L, g);
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* nsp:server_side_emit_with_ack(timeout_ms | nil, fn(err, answers,
 * got, expected), event, ...) -> true | false (then fn is never called) */
static int nsp_server_side_emit_with_ack(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  int last = lua_gettop(L);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  luaL_checkany(L, 4);
  unsigned timeout = opt_timeout(L, 2);
  if (!n) return push_false(L);
  yolk__lua_bins_t bins = {0};
  yolk_sio_args_t args;
  args_from_stack(L, 4, last, &args, &bins);
  lua_gather_t *g = lua_gather_new(L, 3);
  int rc = yolk_sio_server_side_emit_with_ack(n->nsp, &args, timeout, on_gather_answer, on_gather_done, g);
  args_done(L, &bins);
  /* rc != 0: fn is still called (with the error) */
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* nsp:server_side_reply(token, ...): the answer to a server-side event */
static int nsp_server_side_reply(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  const char *token = luaL_checkstring(L, 2);
  if (!n) return 0;
  yolk__lua_bins_t bins = {0};
  yolk_sio_args_t args;
  args_from_stack(L, 3, lua_gettop(L), &args, &bins);
  yolk_sio_server_side_reply(n->nsp, token, &args);
  args_done(L, &bins);
  return 0;
}


/* nsp:all_rooms(fn(err, names)) */
static int nsp_all_rooms(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!n) return push_false(L);
  lua_pushvalue(L, 2);
  yolk_sio_all_rooms(n->nsp, on_json_result, callback_new(L));
  lua_pushboolean(L, 1);
  return 1;
}

/* nsp:on_server_event(fn(event, args, reply_token | nil) | nil) */
static int nsp_on_server_event(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!n) return 0;
  unref(L, &n->server_event_ref);
  if (!lua_isnoneornil(L, 2)) {
    lua_pushvalue(L, 2);
    n->server_event_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    yolk_sio_nsp_on_server_event(n->nsp, on_server_event, n);
  } else {
    yolk_sio_nsp_on_server_event(n->nsp, NULL, NULL);
  }
  return 0;
}

/* ---- socket handle methods ------------------------------------------------------------------- */

static yolk_sio_socket_t *check_sock(lua_State *L) { return yolk__lua_box_get(L, 1, SOCKET_MT); }


static int sock_id(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  if (!sock) return 0;
  lua_pushstring(L, yolk_sio_socket_id(sock));
  return 1;
}

static int sock_nsp(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  sock_refs_t *r = sock ? yolk_sio_socket_get_data(sock) : NULL;
  if (!r) return 0;
  yolk__lua_box_push(L, r->n->box_ref);
  return 1;
}

/* sock:object() -> the socket's object (what the connect handler returned) */
static int sock_object(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  sock_refs_t *r = sock ? yolk_sio_socket_get_data(sock) : NULL;
  if (!r) return 0;
  push_obj(L, r->n, sock);
  return 1;
}

static int sock_protocol(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  if (!sock) return 0;
  lua_pushinteger(L, yolk_sio_socket_protocol(sock));
  return 1;
}

static int sock_connected(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  lua_pushboolean(L, sock && yolk_sio_socket_connected(sock));
  return 1;
}

static int sock_admitted(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  lua_pushboolean(L, sock && yolk_sio_socket_admitted(sock));
  return 1;
}

static int sock_recovered(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  lua_pushboolean(L, sock && yolk_sio_socket_recovered(sock));
  return 1;
}

/* sock:restored_data() -> the socket.data a recovered socket had, or nil */
static int sock_restored_data(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  size_t len;
  const char *json = sock ? yolk_sio_socket_restored_data(sock, &len) : NULL;
  if (!json) return 0;
  if (yolk__lua_push_json(L, json, len, NULL, 0, 0) != 0) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

static int sock_alive(lua_State *L) {
  lua_pushboolean(L, check_sock(L) != NULL);
  return 1;
}

/* sock:handshake() -> socket.handshake as a table (decoded from the one
 * description libyolk makes; the query keeps its order) */
static int sock_handshake(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  if (!sock) return 0;
  size_t len;
  char *hs = yolk_sio_socket_handshake(sock, &len);
  int rc = yolk__lua_push_json(L, hs, len, NULL, 0, 0);
  free(hs);
  if (rc != 0) return lua_error(L);
  return 1;
}

static int sock_admit(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  if (!sock) return push_false(L);
  yolk_sio_socket_admit(sock);
  lua_pushboolean(L, 1);
  return 1;
}

/* sock:refuse(message [, data]): CONNECT_ERROR {message, data} */
static int sock_refuse(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  const char *message = lua_isstring(L, 2) ? lua_tostring(L, 2) : "Not authorized";
  if (!sock) return push_false(L);
  const char *data = NULL;
  size_t dlen = 0;
  yolk_sb_t *sb = NULL;
  if (!lua_isnoneornil(L, 3)) {
    sb = yolk__lua_scratch(L);
    if (yolk__lua_write_json(L, 3, sb, NULL) != 0) return lua_error(L);
    data = sb->data;
    dlen = sb->len;
  }
  yolk_sio_socket_refuse(sock, message, data, dlen);
  if (sb) yolk__lua_scratch_done(L);
  lua_pushboolean(L, 1);
  return 1;
}

static void on_ack(void *ud, const char *err, const yolk_sio_args_t *args) {
  lua_State *L = callback_take(ud);
  if (err) {
    lua_pushstring(L, err);
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
    if (yolk__lua_push_json(L, args->json, args->len, args->bins, args->nbins, 1) != 0) {
      lua_remove(L, -2);
      lua_pushnil(L);
    }
  }
  yolk__lua_pcall(L, 2, 0);
}

enum { EMIT_VOLATILE = 1 };

/* sock:emit(flags, timeout, ack, event, ...) -> true | false
 * flags: 1 volatile; timeout: ms or nil; ack: fn(err, args) or nil, called
 * exactly once: (nil, args) on the answer, or ("timeout"|"socket
 * disconnected", nil). If emit returns false, ack is never called. */
static int sock_emit(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  int flags = (int)luaL_optinteger(L, 2, 0);
  unsigned timeout = 0;
  if (lua_type(L, 3) == LUA_TNUMBER && lua_tonumber(L, 3) > 0) {
    /* the value may come from a client (timeout(tonumber(arg))): inf or
     * 1e300 would be an undefined conversion, so clamp to the longest */
    lua_Number t = lua_tonumber(L, 3);
    timeout = t >= (lua_Number)UINT_MAX ? UINT_MAX : (unsigned)ceil(t);
  }
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TFUNCTION);
  luaL_checkany(L, 5);
  if (!sock) return push_false(L);
  yolk__lua_bins_t bins = {0};
  yolk_sio_args_t args;
  args_from_stack(L, 5, lua_gettop(L), &args, &bins);
  lua_callback_t *cb = NULL;
  if (lua_isfunction(L, 4)) {
    lua_pushvalue(L, 4);
    cb = callback_new(L);
  }
  int rc = yolk_sio_socket_emit(sock, &args, (flags & EMIT_VOLATILE) ? YOLK_SIO_VOLATILE : 0, cb ? on_ack : NULL, cb,
                                timeout);
  args_done(L, &bins);
  if (rc != 0 && cb) {
    luaL_unref(L, LUA_REGISTRYINDEX, cb->fn_ref);
    free(cb);
  }
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* Answers ack id with the values at first..top: true | false. */
static int ack_values(lua_State *L, yolk_sio_socket_t *sock, lua_Number id, int first) {
  if (!sock) return push_false(L);
  yolk__lua_bins_t bins = {0};
  yolk_sio_args_t args;
  args_from_stack(L, first, lua_gettop(L), &args, &bins);
  int rc = yolk_sio_socket_ack(sock, (int64_t)id, &args);
  args_done(L, &bins);
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* sock:ack(ack_id, ...) -> true | false */
static int sock_ack(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  lua_Number id = luaL_checknumber(L, 2);
  return ack_values(L, sock, id, 3);
}

/* The function sock:acker() makes: the first call is sock:ack(ack_id, ...),
 * later ones return false. Upvalues: the handle, the ack id, called yet. */
static int ack_once(lua_State *L) {
  if (lua_toboolean(L, lua_upvalueindex(3))) return push_false(L);
  lua_pushboolean(L, 1);
  lua_replace(L, lua_upvalueindex(3));
  yolk_sio_socket_t *sock = yolk__lua_box_get(L, lua_upvalueindex(1), SOCKET_MT);
  return ack_values(L, sock, lua_tonumber(L, lua_upvalueindex(2)), 1);
}

/* sock:acker(ack_id) -> the ack function of an EVENT that asked for one
 * (ctx.ack): one allocation, where a Lua closure over the handle, the id and
 * a flag takes four (itself and its three upvalues). */
static int sock_acker(lua_State *L) {
  luaL_checkudata(L, 1, SOCKET_MT);
  luaL_checknumber(L, 2);
  lua_settop(L, 2);
  lua_pushboolean(L, 0);
  lua_pushcclosure(L, ack_once, 3);
  return 1;
}

/* sock:broadcast(target, event, ...): to the target minus this socket */
static int sock_broadcast(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  int last = lua_gettop(L);
  luaL_checkany(L, 3);
  yolk_sio_target_t tg;
  target_read(L, 2, &tg);
  if (!sock) return push_false(L);
  yolk__lua_bins_t bins = {0};
  yolk_sio_args_t args;
  args_from_stack(L, 3, last, &args, &bins);
  int rc = yolk_sio_socket_broadcast(sock, &tg, &args);
  args_done(L, &bins);
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int sock_room_op(lua_State *L, int join) {
  yolk_sio_socket_t *sock = check_sock(L);
  if (!sock) return push_false(L);
  str_list_t rooms;
  str_list_read(L, 2, &rooms, "room");
  for (size_t i = 0; i < rooms.n; i++) {
    if (join) yolk_sio_socket_join(sock, rooms.v[i]);
    else yolk_sio_socket_leave(sock, rooms.v[i]);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int sock_join(lua_State *L) { return sock_room_op(L, 1); }
static int sock_leave(lua_State *L) { return sock_room_op(L, 0); }

static void add_room(const char *room, void *ud) {
  lua_State *L = ud;
  lua_pushstring(L, room);
  lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
}

static int sock_rooms(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  yolk__lua_new_array(L, 2);
  if (sock) yolk_sio_socket_rooms(sock, add_room, L);
  return 1;
}

static int sock_disconnect(lua_State *L) {
  yolk_sio_socket_t *sock = check_sock(L);
  if (!sock) return push_false(L);
  yolk_sio_socket_disconnect(sock, lua_toboolean(L, 2));
  lua_pushboolean(L, 1);
  return 1;
}

void yolk__lua_open_socketio(lua_State *L) {
  static const luaL_Reg sio_methods[] = {{"of", sio_of}, {"close", sio_close}, {NULL, NULL}};
  static const luaL_Reg nsp_methods[] = {
      {"name", nsp_name},
      {"set_handler", nsp_set_handler},
      {"broadcast", nsp_broadcast},
      {"fetch_sockets", nsp_fetch_sockets},
      {"sockets_join", nsp_sockets_join},
      {"sockets_leave", nsp_sockets_leave},
      {"disconnect_sockets", nsp_disconnect_sockets},
      {"socket", nsp_socket},
      {"server_side_emit", nsp_server_side_emit},
      {"on_server_event", nsp_on_server_event},
      {"broadcast_with_ack", nsp_broadcast_with_ack},
      {"server_side_emit_with_ack", nsp_server_side_emit_with_ack},
      {"server_side_reply", nsp_server_side_reply},
      {"all_rooms", nsp_all_rooms},
      {NULL, NULL},
  };
  static const luaL_Reg sock_methods[] = {
      {"id", sock_id},           {"nsp", sock_nsp},         {"object", sock_object},
      {"protocol", sock_protocol}, {"connected", sock_connected}, {"admitted", sock_admitted},
      {"alive", sock_alive},     {"recovered", sock_recovered}, {"restored_data", sock_restored_data},
      {"handshake", sock_handshake}, {"admit", sock_admit}, {"refuse", sock_refuse},
      {"emit", sock_emit},       {"ack", sock_ack},         {"acker", sock_acker},
      {"broadcast", sock_broadcast},
      {"join", sock_join},       {"leave", sock_leave},     {"rooms", sock_rooms},
      {"disconnect", sock_disconnect}, {NULL, NULL},
  };
  yolk__lua_new_class(L, SIO_MT, sio_methods, NULL);
  yolk__lua_new_class(L, NSP_MT, nsp_methods, NULL);
  yolk__lua_new_class(L, SOCKET_MT, sock_methods, NULL);
  lua_pushinteger(L, EMIT_VOLATILE);
  lua_setfield(L, -2, "VOLATILE");
}
