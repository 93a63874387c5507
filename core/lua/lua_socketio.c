/* lua_socketio.c - server:socketio(), namespaces and sockets for Lua.
 *
 * Bindings and their lifetimes:
 *  - sio: one per server; its box points at the server binding and dies with
 *    the server (yolk__lua_sio_release).
 *  - namespace (yolk__lua_nsp_t): created by the first sio:of(name) (and for
 *    "/" at once); holds the Lua handler refs; lives as long as the server,
 *    like libyolk's namespace. sio:of(name) returns the same box every time.
 *  - socket (lua_sock_t): created in on_connect, stored as the C socket's
 *    data, freed after on_close. Its box dies in on_close, so a Lua reference
 *    kept past that sees a dead socket whose methods return false/nil. If the
 *    C socket closes while one of our callbacks for it is still running (a
 *    handler that stops the server, say), the binding is only marked and the
 *    outer callback frees it when it unwinds (the `busy` count).
 *  - ack and fetch_sockets callbacks: a small record holding the function's
 *    ref until libyolk calls back, exactly once; then unref'd and freed.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "lua_core.h"

#define SIO_MT "yolk.sio"
#define NSP_MT "yolk.nsp"
#define SOCKET_MT "yolk.socket"

typedef struct lua_sock_s lua_sock_t;

struct yolk__lua_nsp_s {
  yolk__lua_server_t *s;
  yolk_sio_nsp_t *nsp;
  int box_ref;
  int connect_ref, event_ref, disconnecting_ref, close_ref, server_event_ref;
  lua_sock_t *socks;
  yolk__lua_nsp_t *next;
};

struct lua_sock_s {
  yolk__lua_nsp_t *n;
  yolk_sio_socket_t *sock;
  int box_ref;
  int busy;   /* our callbacks for it on the C stack */
  int closed; /* on_close ran: free when busy drops to 0 */
  lua_sock_t *prev, *next;
};

/* A Lua function called once from C later (fetch_sockets' result, an emit's ack). */
typedef struct {
  yolk_lua_rt_t *rt;
  int fn_ref;
} lua_callback_t;

/* Takes the function on top of the stack (popped) for one later call. */
static lua_callback_t *callback_new(lua_State *L, yolk_lua_rt_t *rt) {
  lua_callback_t *cb = yolk__malloc(sizeof(*cb));
  cb->rt = rt;
  cb->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return cb;
}

/* Calls it as fn(err, nil) or fn(nil, value) (value NULL: an empty array) and
 * frees cb; set_n as for yolk__lua_push_cjson. */
static void callback_call(lua_callback_t *cb, const char *err, const cJSON *value, const yolk_sio_bin_t *bins,
                          size_t nbins, int set_n) {
  lua_State *L = cb->rt->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, cb->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, cb->fn_ref);
  free(cb);
  if (err) {
    lua_pushstring(L, err);
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
    if (value) yolk__lua_push_cjson(L, value, bins, nbins, set_n);
    else yolk__lua_new_array(L, 0);
  }
  yolk__lua_pcall(L, 2, 0);
}

static lua_State *nsp_L(yolk__lua_nsp_t *n) { return n->s->rt->L; }

static void unref(lua_State *L, int *ref) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* ---- sockets: callbacks from libyolk ---------------------------------------------- */

static void sock_unlink(lua_sock_t *ls) {
  if (ls->prev) ls->prev->next = ls->next;
  else ls->n->socks = ls->next;
  if (ls->next) ls->next->prev = ls->prev;
  ls->prev = ls->next = NULL;
}

/* After one of our callbacks returns: free the binding if the socket closed
 * meanwhile. Returns 1 if it is gone. */
static int sock_release(lua_sock_t *ls) {
  ls->busy--;
  if (ls->closed && ls->busy == 0) {
    free(ls);
    return 1;
  }
  return ls->closed;
}

static void on_connect(yolk_sio_socket_t *sock, void *ud) {
  yolk__lua_nsp_t *n = ud;
  lua_State *L = nsp_L(n);
  lua_sock_t *ls = yolk__calloc(1, sizeof(*ls));
  ls->n = n;
  ls->sock = sock;
  ls->next = n->socks;
  if (n->socks) n->socks->prev = ls;
  n->socks = ls;
  yolk_sio_socket_set_data(sock, ls);
  ls->box_ref = yolk__lua_box_new(L, ls, SOCKET_MT);
  if (n->connect_ref == LUA_NOREF) {
    lua_pop(L, 1);
    yolk_sio_socket_admit(sock);
    return;
  }
  ls->busy++;
  int rc = yolk__lua_call_ref(L, n->connect_ref, 1, 0);
  if (sock_release(ls)) return;
  if (rc != 0) {
    /* the handler failed before deciding: refuse rather than leave the
     * client waiting for connectTimeout (a no-op if it was admitted) */
    cJSON *err = cJSON_CreateObject();
    cJSON_AddStringToObject(err, "message", "Internal server error");
    yolk_sio_socket_refuse(sock, err);
    cJSON_Delete(err);
  }
}

static void on_event(yolk_sio_socket_t *sock, const cJSON *args, const yolk_sio_bin_t *bins, size_t nbins,
                     int64_t ack_id, void *ud) {
  yolk__lua_nsp_t *n = ud;
  lua_sock_t *ls = yolk_sio_socket_get_data(sock);
  if (!ls || ls->closed || n->event_ref == LUA_NOREF) return;
  lua_State *L = nsp_L(n);
  yolk__lua_box_push(L, ls->box_ref);
  yolk__lua_push_cjson(L, args, bins, nbins, 1);
  if (ack_id >= 0) lua_pushnumber(L, (lua_Number)ack_id);
  else lua_pushnil(L);
  ls->busy++;
  yolk__lua_call_ref(L, n->event_ref, 3, 0);
  sock_release(ls);
}

static void on_disconnecting(yolk_sio_socket_t *sock, const char *reason, void *ud) {
  yolk__lua_nsp_t *n = ud;
  lua_sock_t *ls = yolk_sio_socket_get_data(sock);
  if (!ls || ls->closed || n->disconnecting_ref == LUA_NOREF) return;
  lua_State *L = nsp_L(n);
  yolk__lua_box_push(L, ls->box_ref);
  lua_pushstring(L, reason ? reason : "");
  ls->busy++;
  yolk__lua_call_ref(L, n->disconnecting_ref, 2, 0);
  sock_release(ls);
}

static void on_close(yolk_sio_socket_t *sock, const char *reason, void *ud) {
  yolk__lua_nsp_t *n = ud;
  lua_sock_t *ls = yolk_sio_socket_get_data(sock);
  if (!ls || ls->closed) return;
  lua_State *L = nsp_L(n);
  if (n->close_ref != LUA_NOREF) {
    yolk__lua_box_push(L, ls->box_ref);
    lua_pushstring(L, reason ? reason : "");
    ls->busy++;
    yolk__lua_call_ref(L, n->close_ref, 2, 0);
    ls->busy--;
  }
  /* the C socket is freed right after we return */
  yolk_sio_socket_set_data(sock, NULL);
  sock_unlink(ls);
  yolk__lua_box_kill(L, ls->box_ref);
  ls->sock = NULL;
  ls->closed = 1;
  if (ls->busy == 0) free(ls);
}

static const yolk_sio_nsp_handler_t nsp_handler = {on_connect, on_event, on_disconnecting, on_close};

/* ---- namespaces ------------------------------------------------------------------------ */

static yolk__lua_nsp_t *nsp_binding(lua_State *L, yolk__lua_server_t *s, yolk_sio_nsp_t *nsp) {
  for (yolk__lua_nsp_t *n = s->nsps; n; n = n->next)
    if (n->nsp == nsp) return n;
  yolk__lua_nsp_t *n = yolk__calloc(1, sizeof(*n));
  n->s = s;
  n->nsp = nsp;
  n->connect_ref = n->event_ref = n->disconnecting_ref = n->close_ref = n->server_event_ref = LUA_NOREF;
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
    /* every socket got on_close before the server went; this only guards
     * against a binding outliving its C socket */
    while (n->socks) {
      lua_sock_t *ls = n->socks;
      sock_unlink(ls);
      yolk__lua_box_kill(L, ls->box_ref);
      ls->closed = 1;
      if (ls->busy == 0) free(ls);
    }
    unref(L, &n->connect_ref);
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
  s->sio = NULL;
}

/* ---- handshake for generateId (before a Socket.IO socket exists) ------------------------ */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Pushes the URL-decoded s[0..n) ('+' is a space). */
static void push_decoded(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+') {
      luaL_addchar(&b, ' ');
    } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      luaL_addchar(&b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
      i += 2;
    } else {
      luaL_addchar(&b, s[i]);
    }
  }
  luaL_pushresult(&b);
}

/* Pushes the query string parsed into an object; a repeated key becomes an
 * array of its values (as Node's querystring does). */
static void push_query(lua_State *L, const char *q) {
  yolk__lua_new_object(L, 4);
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    if (len) {
      const char *eq = memchr(q, '=', len);
      size_t klen = eq ? (size_t)(eq - q) : len;
      push_decoded(L, q, klen);
      if (eq) push_decoded(L, eq + 1, len - klen - 1);
      else lua_pushliteral(L, "");
      lua_pushvalue(L, -2);
      lua_rawget(L, -4);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_rawset(L, -3);
      } else if (lua_istable(L, -1)) {
        lua_insert(L, -2);
        lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
        lua_pop(L, 2);
      } else {
        yolk__lua_new_array(L, 2);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 2);
        lua_rawset(L, -3);
      }
    }
    q = amp ? amp + 1 : NULL;
  }
}

static void push_eio_handshake(lua_State *L, const yolk_eio_handshake_t *hs) {
  yolk__lua_new_object(L, 8);
  yolk__lua_new_object(L, (int)hs->nheaders);
  int xdomain = 0;
  for (size_t i = 0; i < hs->nheaders; i++) {
    lua_pushstring(L, hs->header_values[i]);
    lua_setfield(L, -2, hs->header_names[i]);
    if (!strcmp(hs->header_names[i], "origin")) xdomain = 1;
  }
  lua_setfield(L, -2, "headers");
  push_query(L, hs->query);
  lua_setfield(L, -2, "query");
  char when[96];
  time_t secs = (time_t)(hs->time_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(when, sizeof(when), "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
  lua_pushstring(L, when);
  lua_setfield(L, -2, "time");
  lua_pushnumber(L, (lua_Number)hs->time_ms);
  lua_setfield(L, -2, "issued");
  lua_pushstring(L, hs->remote_addr ? hs->remote_addr : "");
  lua_setfield(L, -2, "address");
  lua_pushstring(L, hs->url ? hs->url : "");
  lua_setfield(L, -2, "url");
  lua_pushboolean(L, xdomain);
  lua_setfield(L, -2, "xdomain");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "secure");
  yolk__lua_new_object(L, 0);
  lua_setfield(L, -2, "auth");
}

static int generate_id(const yolk_eio_handshake_t *hs, char *out, size_t outlen, void *ud) {
  yolk__lua_server_t *s = ud;
  lua_State *L = s->rt->L;
  if (s->generate_id_ref == LUA_NOREF) return -1;
  push_eio_handshake(L, hs);
  if (yolk__lua_call_ref(L, s->generate_id_ref, 1, 1) != 0) return -1;
  int ok = -1;
  size_t len;
  const char *id = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
  if (id && len > 0 && len < outlen && !memchr(id, 0, len)) {
    memcpy(out, id, len + 1);
    ok = 0;
  } else {
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
  yolk__lua_server_t *s = yolk__lua_box_get(L, 1, YOLK_LUA_SERVER_MT);
  if (!s || s->res.closing) return luaL_error(L, "server is closed");
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
  o.connect_timeout_ms = opt_ms(L, 2, "connectTimeout", o.connect_timeout_ms);
  o.max_attachments = opt_ms(L, 2, "maxAttachments", o.max_attachments);
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
  if (opt_type(L, 2, "generateId", LUA_TFUNCTION)) {
    s->generate_id_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    o.generate_id = generate_id;
    o.ud = s;
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

/* Converts the argument list at idx or raises (nothing allocated is left). */
static cJSON *check_args(lua_State *L, int idx, yolk__lua_bins_t *bins) {
  cJSON *args = yolk__lua_args_to_cjson(L, idx, bins);
  if (!args) {
    if (bins) yolk__lua_bins_free(bins);
    lua_error(L);
  }
  return args;
}

static int nsp_broadcast(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  yolk_sio_target_t tg;
  target_read(L, 2, &tg); /* may raise: before anything is allocated */
  yolk__lua_bins_t bins = {0};
  cJSON *args = check_args(L, 3, &bins);
  int rc = n ? yolk_sio_broadcast(n->nsp, &tg, args, bins.v, bins.n) : -1;
  cJSON_Delete(args);
  yolk__lua_bins_free(&bins);
  lua_pushboolean(L, rc == 0);
  return 1;
}

static void on_fetched(void *ud, const char *err, const cJSON *sockets) { callback_call(ud, err, sockets, NULL, 0, 0); }

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
  lua_callback_t *cb = callback_new(L, n->s->rt);
  yolk_sio_fetch_sockets(n->nsp, &tg, on_fetched, cb);
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

static int nsp_socket(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  const char *id = luaL_checkstring(L, 2);
  if (!n) return 0;
  yolk_sio_socket_t *sock = yolk_sio_nsp_socket(n->nsp, id);
  lua_sock_t *ls = sock ? yolk_sio_socket_get_data(sock) : NULL;
  if (!ls || ls->closed) return 0;
  yolk__lua_box_push(L, ls->box_ref);
  return 1;
}

static int nsp_server_side_emit(lua_State *L) {
  yolk__lua_nsp_t *n = check_nsp(L);
  cJSON *args = check_args(L, 2, NULL);
  int rc = n ? yolk_sio_server_side_emit(n->nsp, args) : -1;
  cJSON_Delete(args);
  lua_pushboolean(L, rc == 0);
  return 1;
}

static void on_server_event(yolk_sio_nsp_t *nsp, const cJSON *args, void *ud) {
  (void)nsp;
  yolk__lua_nsp_t *n = ud;
  if (n->server_event_ref == LUA_NOREF) return;
  lua_State *L = nsp_L(n);
  yolk__lua_push_cjson(L, args, NULL, 0, 1);
  yolk__lua_call_ref(L, n->server_event_ref, 1, 0);
}

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

/* ---- socket methods ------------------------------------------------------------------------ */

static lua_sock_t *check_sock(lua_State *L) { return yolk__lua_box_get(L, 1, SOCKET_MT); }

#define SOCK_OR_FALSE(ls)        \
  lua_sock_t *ls = check_sock(L); \
  if (!ls) {                      \
    lua_pushboolean(L, 0);        \
    return 1;                     \
  }

static int sock_id(lua_State *L) {
  lua_sock_t *ls = check_sock(L);
  if (!ls) return 0;
  lua_pushstring(L, yolk_sio_socket_id(ls->sock));
  return 1;
}

static int sock_nsp(lua_State *L) {
  lua_sock_t *ls = check_sock(L);
  if (!ls) return 0;
  yolk__lua_box_push(L, ls->n->box_ref);
  return 1;
}

static int sock_protocol(lua_State *L) {
  lua_sock_t *ls = check_sock(L);
  if (!ls) return 0;
  lua_pushinteger(L, yolk_sio_socket_protocol(ls->sock));
  return 1;
}

static int sock_connected(lua_State *L) {
  lua_sock_t *ls = check_sock(L);
  lua_pushboolean(L, ls && yolk_sio_socket_connected(ls->sock));
  return 1;
}

static int sock_alive(lua_State *L) {
  lua_pushboolean(L, check_sock(L) != NULL);
  return 1;
}

static int sock_handshake(lua_State *L) {
  lua_sock_t *ls = check_sock(L);
  if (!ls) return 0;
  cJSON *hs = yolk_sio_socket_handshake(ls->sock);
  yolk__lua_push_cjson(L, hs, NULL, 0, 0);
  cJSON_Delete(hs);
  return 1;
}

static int sock_admit(lua_State *L) {
  SOCK_OR_FALSE(ls);
  yolk_sio_socket_admit(ls->sock);
  lua_pushboolean(L, 1);
  return 1;
}

static int sock_refuse(lua_State *L) {
  SOCK_OR_FALSE(ls);
  cJSON *err;
  if (lua_istable(L, 2)) {
    err = yolk__lua_to_cjson(L, 2, NULL);
    if (!err) return lua_error(L);
  } else {
    err = cJSON_CreateObject();
    cJSON_AddStringToObject(err, "message", lua_isstring(L, 2) ? lua_tostring(L, 2) : "Not authorized");
  }
  yolk_sio_socket_refuse(ls->sock, err);
  cJSON_Delete(err);
  lua_pushboolean(L, 1);
  return 1;
}

static void on_ack(void *ud, const char *err, const cJSON *args, const yolk_sio_bin_t *bins, size_t nbins) {
  callback_call(ud, err, args, bins, nbins, 1);
}

/* sock:emit(args, opts) -> true | false */
static int sock_emit(lua_State *L) {
  lua_sock_t *ls = check_sock(L);
  int flags = 0;
  unsigned timeout = 0;
  int has_ack = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (opt_bool(L, 3, "volatile", 0)) flags |= YOLK_SIO_VOLATILE;
    lua_getfield(L, 3, "ack");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) return luaL_error(L, "opts.ack must be a function");
    has_ack = lua_isfunction(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 3, "timeout");
    if (lua_isnumber(L, -1) && lua_tonumber(L, -1) > 0) {
      /* the value may come from a client (timeout(tonumber(arg))): inf or
       * 1e300 would be an undefined conversion, so clamp to the longest */
      lua_Number t = lua_tonumber(L, -1);
      timeout = t >= (lua_Number)UINT_MAX ? UINT_MAX : (unsigned)ceil(t);
    }
    lua_pop(L, 1);
  }
  yolk__lua_bins_t bins = {0};
  cJSON *args = check_args(L, 2, &bins);
  if (!ls) {
    cJSON_Delete(args);
    yolk__lua_bins_free(&bins);
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_callback_t *cb = NULL;
  if (has_ack) {
    lua_getfield(L, 3, "ack");
    cb = callback_new(L, ls->n->s->rt);
  }
  int rc = yolk_sio_socket_emit(ls->sock, args, bins.v, bins.n, flags, cb ? on_ack : NULL, cb, timeout);
  cJSON_Delete(args);
  yolk__lua_bins_free(&bins);
  if (rc != 0 && cb) {
    luaL_unref(L, LUA_REGISTRYINDEX, cb->fn_ref);
    free(cb);
  }
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* sock:ack(ack_id, args) -> true | false */
static int sock_ack(lua_State *L) {
  lua_sock_t *ls = check_sock(L);
  lua_Number id = luaL_checknumber(L, 2);
  yolk__lua_bins_t bins = {0};
  cJSON *args = check_args(L, 3, &bins);
  int rc = ls ? yolk_sio_socket_ack(ls->sock, (int64_t)id, args, bins.v, bins.n) : -1;
  cJSON_Delete(args);
  yolk__lua_bins_free(&bins);
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int sock_room_op(lua_State *L, int join) {
  SOCK_OR_FALSE(ls);
  str_list_t rooms;
  str_list_read(L, 2, &rooms, "room");
  yolk_sio_socket_t *sock = ls->sock;
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
  lua_sock_t *ls = check_sock(L);
  yolk__lua_new_array(L, 2);
  if (ls) yolk_sio_socket_rooms(ls->sock, add_room, L);
  return 1;
}

static int sock_disconnect(lua_State *L) {
  SOCK_OR_FALSE(ls);
  yolk_sio_socket_disconnect(ls->sock, lua_toboolean(L, 2));
  lua_pushboolean(L, 1);
  return 1;
}

/* sock:set_data(v): socket.data as reported by fetch_sockets */
static int sock_set_data(lua_State *L) {
  SOCK_OR_FALSE(ls);
  cJSON *data = NULL;
  if (!lua_isnoneornil(L, 2)) {
    data = yolk__lua_to_cjson(L, 2, NULL);
    if (!data) return lua_error(L);
  }
  yolk_sio_socket_set_data_json(ls->sock, data);
  cJSON_Delete(data);
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
      {NULL, NULL},
  };
  static const luaL_Reg sock_methods[] = {
      {"id", sock_id},           {"nsp", sock_nsp},         {"protocol", sock_protocol},
      {"connected", sock_connected}, {"alive", sock_alive}, {"handshake", sock_handshake},
      {"admit", sock_admit},     {"refuse", sock_refuse},   {"emit", sock_emit},
      {"ack", sock_ack},         {"join", sock_join},       {"leave", sock_leave},
      {"rooms", sock_rooms},     {"disconnect", sock_disconnect}, {"set_data", sock_set_data},
      {NULL, NULL},
  };
  yolk__lua_new_class(L, SIO_MT, sio_methods, NULL);
  yolk__lua_new_class(L, NSP_MT, nsp_methods, NULL);
  yolk__lua_new_class(L, SOCKET_MT, sock_methods, NULL);
}
