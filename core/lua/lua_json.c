/* lua_json.c - Lua values <-> JSON text, straight (no tree in between): the
 * null sentinel, the array/object markers, ordered objects, and Socket.IO
 * attachment placeholders.
 *
 * Everything that crosses between Lua and libyolk as JSON goes through the
 * two converters here: yolk__lua_push_json (text -> Lua, by the core's one
 * JSON reader, json.h; placeholders become buffers) and yolk__lua_write_json
 * (Lua -> text, by the core's JSON writer; buffers become placeholders).
 * core.json_encode / core.json_decode are the same converters.
 *
 * Why the special cases:
 *  - Lua has one table type; JSON has two. Decoded tables carry a marker
 *    metatable (__jsontype = "array" / "object") so `[]` and `{}` survive a
 *    round trip.
 *  - JSON objects have an order and Lua tables do not: a client that sends
 *    {"t":1,"s":0} must get {"t":1,"s":0} back from an echo, as from Node.
 *    A decoded object with two keys or more gets a *shape* metatable, which
 *    also holds its keys in order (__keys); objects of the same keys share
 *    one shape (a bounded cache), so steady traffic allocates nothing for
 *    it. The writer writes the shape's keys first, in order, then any key
 *    added in Lua.
 *  - Lua strings are bytes: ill-formed UTF-8 is written as U+FFFD so the
 *    output is always valid JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"
#include "lua_core.h"

const char yolk__lua_array_mt_key = 0;
const char yolk__lua_object_mt_key = 0;
const char yolk__lua_null_tag = 0;
static const char shapes_key = 0; /* registry: key record -> shape metatable */

/* JSON nesting deeper than this is refused when writing (it is also how a
 * table that contains itself is caught). */
enum { MAX_DEPTH = 1000 };
/* Shapes kept for reuse; objects of further key sets get a shape of their own. */
enum { MAX_SHAPES = 1024 };

void yolk__lua_bins_free(yolk__lua_bins_t *bins) {
  free(bins->v);
  bins->v = NULL;
  bins->n = bins->cap = 0;
}

static void bins_push(yolk__lua_bins_t *bins, const void *data, size_t len) {
  if (bins->n == bins->cap) {
    bins->cap = bins->cap ? bins->cap * 2 : 4;
    bins->v = yolk__realloc(bins->v, bins->cap * sizeof(*bins->v));
  }
  bins->v[bins->n].data = data;
  bins->v[bins->n].len = len;
  bins->n++;
}

/* Pushes the marker metatable behind key, creating it on first use (C code
 * may convert values before any script has required yolk.core). */
static void push_marker_mt(lua_State *L, const char *key) {
  lua_pushlightuserdata(L, (void *)key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_isnil(L, -1)) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushstring(L, key == &yolk__lua_array_mt_key ? "array" : "object");
  lua_setfield(L, -2, "__jsontype");
  lua_pushlightuserdata(L, (void *)key);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

void yolk__lua_new_array(lua_State *L, int narr) {
  lua_createtable(L, narr, 0);
  push_marker_mt(L, &yolk__lua_array_mt_key);
  lua_setmetatable(L, -2);
}

void yolk__lua_new_object(lua_State *L, int nrec) {
  lua_createtable(L, 0, nrec);
  push_marker_mt(L, &yolk__lua_object_mt_key);
  lua_setmetatable(L, -2);
}

/* ---- JSON text -> Lua ------------------------------------------------------------------ */

typedef struct {
  char is_object;
  char event_taken; /* event mode, the top array: its first element went below it */
  int count;        /* array: elements so far */
  size_t keys_at;   /* object: where its key record starts in d->keys */
  int nkeys;        /* object: distinct keys so far */
} frame_t;

enum { SET_N = 1, EVENT = 2 }; /* dec_t.mode */

typedef struct {
  lua_State *L;
  const yolk_sio_bin_t *bins;
  size_t nbins;
  int mode;                /* 0, SET_N (the top array gets n) or EVENT (yolk__lua_push_event) */
  int amt, omt, shapes;    /* stack slots: the array and object markers, the shape cache */
  frame_t *frames;
  size_t depth, cap;
  frame_t small[16];
  /* the distinct keys of the open objects, each as <4-byte length><bytes>:
   * an object's record is its shape's cache key (on the C stack unless large) */
  char *keys;
  size_t keys_len, keys_cap;
  char keys_small[256];
} dec_t;

static void keys_put(dec_t *d, const void *p, size_t n) {
  if (d->keys_len + n > d->keys_cap) {
    size_t cap = d->keys_cap * 2;
    while (cap < d->keys_len + n) cap *= 2;
    char *k = yolk__malloc(cap);
    memcpy(k, d->keys, d->keys_len);
    if (d->keys != d->keys_small) free(d->keys);
    d->keys = k;
    d->keys_cap = cap;
  }
  memcpy(d->keys + d->keys_len, p, n);
  d->keys_len += n;
}

/* The value on top of the stack goes into its container (or stays: the top).
 * In event mode the top array's first element (the event name) goes below
 * the array instead, and the others are numbered from 1. */
static int place(dec_t *d) {
  if (d->depth == 0) return 0;
  frame_t *f = &d->frames[d->depth - 1];
  lua_State *L = d->L;
  if (f->is_object) {
    lua_rawset(L, -3); /* key at -2 */
  } else if (d->mode == EVENT && d->depth == 1 && !f->event_taken) {
    lua_insert(L, -2);
    f->event_taken = 1;
  } else {
    lua_rawseti(L, -2, ++f->count);
  }
  return 0;
}

static int dec_null(void *ud) {
  dec_t *d = ud;
  lua_pushlightuserdata(d->L, YOLK_LUA_NULL);
  return place(d);
}
static int dec_bool(void *ud, int v) {
  dec_t *d = ud;
  lua_pushboolean(d->L, v);
  return place(d);
}
static int dec_number(void *ud, double v, const char *text, size_t len) {
  (void)text;
  (void)len;
  dec_t *d = ud;
  lua_pushnumber(d->L, v);
  return place(d);
}
static int dec_string(void *ud, const char *s, size_t len) {
  dec_t *d = ud;
  lua_pushlstring(d->L, s, len);
  return place(d);
}

static int dec_key(void *ud, const char *s, size_t len) {
  dec_t *d = ud;
  lua_State *L = d->L;
  frame_t *f = &d->frames[d->depth - 1];
  lua_pushlstring(L, s, len);
  int repeat = 0;
  if (f->nkeys && f->nkeys <= 8) { /* a few keys so far: their records are compared */
    const char *k = d->keys + f->keys_at, *end = d->keys + d->keys_len;
    while (k < end && !repeat) {
      uint32_t kn;
      memcpy(&kn, k, sizeof(kn));
      repeat = kn == len && memcmp(k + sizeof(kn), s, len) == 0;
      k += sizeof(kn) + kn;
    }
  } else if (f->nkeys) { /* the first key cannot be a repeat */
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    repeat = !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  if (!repeat) { /* a repeated key keeps its first position (JSON.parse) */
    uint32_t n = (uint32_t)len;
    keys_put(d, &n, sizeof(n));
    keys_put(d, s, len);
    f->nkeys++;
  }
  return 0;
}

static int dec_open(dec_t *d, int is_object) {
  lua_State *L = d->L;
  if (!lua_checkstack(L, 6)) return 1;
  if (d->depth == d->cap) {
    size_t ncap = d->cap * 2;
    frame_t *n = yolk__malloc(ncap * sizeof(*n));
    memcpy(n, d->frames, d->depth * sizeof(*n));
    if (d->frames != d->small) free(d->frames);
    d->frames = n;
    d->cap = ncap;
  }
  frame_t *f = &d->frames[d->depth++];
  f->is_object = (char)is_object;
  f->event_taken = 0;
  f->count = 0;
  f->nkeys = 0;
  f->keys_at = d->keys_len;
  /* sized for small containers (most of what Socket.IO carries), so that
   * filling them does not resize: an array's part lives in the table's own
   * allocation at this size; the top array's n gets its slot */
  if (is_object) lua_createtable(L, 0, 4);
  else lua_createtable(L, 4, d->mode && d->depth == 1 ? 1 : 0);
  return 0;
}
static int dec_begin_array(void *ud) { return dec_open(ud, 0); }
static int dec_begin_object(void *ud) { return dec_open(ud, 1); }

static int dec_end_array(void *ud, size_t n) {
  (void)n;
  dec_t *d = ud;
  lua_State *L = d->L;
  frame_t *f = &d->frames[--d->depth];
  lua_pushvalue(L, d->amt);
  lua_setmetatable(L, -2);
  if (d->mode && d->depth == 0) {
    if (d->mode == EVENT && !f->event_taken) { /* [] : no event */
      lua_pushnil(L);
      lua_insert(L, -2);
    }
    lua_pushinteger(L, (lua_Integer)f->count);
    lua_setfield(L, -2, "n");
  }
  return place(d);
}

/* If the object on top is a placeholder with a valid num, replaces it with
 * that attachment as a buffer. */
static int dec_placeholder(dec_t *d) {
  lua_State *L = d->L;
  lua_pushliteral(L, "_placeholder");
  lua_rawget(L, -2);
  int ph = lua_toboolean(L, -1) && lua_isboolean(L, -1);
  lua_pop(L, 1);
  if (!ph) return 0;
  lua_pushliteral(L, "num");
  lua_rawget(L, -2);
  lua_Number i = lua_tonumber(L, -1);
  int ok = lua_type(L, -1) == LUA_TNUMBER && i >= 0 && i == floor(i) && i < (lua_Number)d->nbins;
  lua_pop(L, 1);
  if (!ok) return 0;
  lua_pop(L, 1);
  yolk__lua_push_buffer(L, d->bins[(size_t)i].data, d->bins[(size_t)i].len);
  return 1;
}

/* Pushes the shape cache (registry), creating it on first use. */
static void push_shapes(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&shapes_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, (void *)&shapes_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
}

/* The cached shape on top becomes the last one used (its record permitting). */
static void remember_shape(lua_State *L, yolk_lua_rt_t *rt, const char *keys, size_t len) {
  if (!rt || len > sizeof(rt->json_last_shape)) return;
  if (rt->json_last_shape_ref) luaL_unref(L, LUA_REGISTRYINDEX, rt->json_last_shape_ref);
  lua_pushvalue(L, -1);
  rt->json_last_shape_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  memcpy(rt->json_last_shape, keys, len);
  rt->json_last_shape_len = len;
}

/* Pushes the shape metatable of the object whose key record is
 * keys[0..len), nkeys keys: from the cache at stack slot `shapes`, or new
 * (and cached while there is room). */
static void push_shape(lua_State *L, int shapes, const char *keys, size_t len, int nkeys) {
  /* the same shape as the object before (steady traffic): no lookup */
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  if (rt && rt->json_last_shape_ref && rt->json_last_shape_len == len && !memcmp(rt->json_last_shape, keys, len)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->json_last_shape_ref);
    return;
  }
  lua_pushlstring(L, keys, len);
  lua_pushvalue(L, -1);
  lua_rawget(L, shapes);
  if (!lua_isnil(L, -1)) {
    lua_remove(L, -2);
    remember_shape(L, rt, keys, len);
    return;
  }
  lua_pop(L, 1);
  /* stack: record */
  lua_createtable(L, 0, 2);
  lua_pushliteral(L, "object");
  lua_setfield(L, -2, "__jsontype");
  lua_createtable(L, nkeys, 0);
  size_t at = 0;
  for (int k = 1; k <= nkeys; k++) {
    uint32_t n;
    memcpy(&n, keys + at, sizeof(n));
    lua_pushlstring(L, keys + at + sizeof(n), n);
    lua_rawseti(L, -2, k);
    at += sizeof(n) + n;
  }
  lua_setfield(L, -2, "__keys");
  /* stack: record, mt */
  if (rt && rt->shape_count < MAX_SHAPES) {
    rt->shape_count++;
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_rawset(L, shapes);
    lua_remove(L, -2);
    remember_shape(L, rt, keys, len);
    return;
  }
  lua_remove(L, -2);
}

static int dec_end_object(void *ud, size_t n) {
  (void)n;
  dec_t *d = ud;
  lua_State *L = d->L;
  frame_t *f = &d->frames[--d->depth];
  if (d->nbins && f->nkeys == 2 && dec_placeholder(d)) {
    d->keys_len = f->keys_at;
    return place(d);
  }
  if (f->nkeys >= 2) push_shape(L, d->shapes, d->keys + f->keys_at, d->keys_len - f->keys_at, f->nkeys);
  else lua_pushvalue(L, d->omt);
  lua_setmetatable(L, -2);
  d->keys_len = f->keys_at;
  return place(d);
}

static const yolk_json_handler_t dec_handler = {dec_null,         dec_bool,      dec_number,
                                                dec_string,       dec_key,       dec_begin_array,
                                                dec_end_array,    dec_begin_object, dec_end_object};

/* mode EVENT leaves two values (the first element, the others as an array
 * with n), the others one. */
static int push_json_mode(lua_State *L, const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins,
                          int mode) {
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) {
    lua_pushliteral(L, "JSON nested too deeply for the Lua stack");
    return -1;
  }
  dec_t d;
  d.L = L;
  d.bins = bins;
  d.nbins = nbins;
  d.mode = mode;
  d.frames = d.small;
  d.depth = 0;
  d.cap = sizeof(d.small) / sizeof(d.small[0]);
  d.keys = d.keys_small;
  d.keys_len = 0;
  d.keys_cap = sizeof(d.keys_small);
  /* what every container needs, pushed once below the result (found by
   * registry refs after the first time: cheaper than by address) */
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  if (rt && rt->json_dec_refs[0]) {
    for (int i = 0; i < 3; i++) lua_rawgeti(L, LUA_REGISTRYINDEX, rt->json_dec_refs[i]);
  } else {
    push_marker_mt(L, &yolk__lua_array_mt_key);
    push_marker_mt(L, &yolk__lua_object_mt_key);
    push_shapes(L);
    if (rt) {
      for (int i = 0; i < 3; i++) {
        lua_pushvalue(L, top + 1 + i);
        rt->json_dec_refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
      }
    }
  }
  d.amt = top + 1;
  d.omt = top + 2;
  d.shapes = top + 3;
  yolk_json_error_t err;
  int rc = yolk__json_read(json, len, YOLK_JSON_MAX_DEPTH, &dec_handler, &d, &err);
  if (d.frames != d.small) free(d.frames);
  if (d.keys != d.keys_small) free(d.keys);
  if (rc != 0) {
    lua_settop(L, top);
    if (!strcmp(err.what, "stopped")) lua_pushliteral(L, "JSON nested too deeply for the Lua stack");
    else lua_pushfstring(L, "invalid JSON at position %d (%s)", (int)err.pos, err.what);
    return -1;
  }
  if (mode == EVENT && lua_gettop(L) != top + 5) { /* not an array: (value, {n = 0}) as before */
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, "n");
  }
  for (int i = 0; i < 3; i++) lua_remove(L, top + 1);
  return 0;
}

int yolk__lua_push_json(lua_State *L, const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins,
                        int set_n) {
  return push_json_mode(L, json, len, bins, nbins, set_n ? SET_N : 0);
}

/* ---- Lua -> JSON text ----------------------------------------------------------------------- */


/* The marker metatables' addresses: a table's kind is known by comparing its
 * metatable's (they live in the registry for the state's life). */
typedef struct {
  const void *amt, *omt;
  int keys_ref; /* registry ref of the string "__keys" (0: none) */
} mts_t;

static mts_t marker_mts(lua_State *L) {
  yolk_lua_rt_t *rt = yolk__lua_rt(L);
  mts_t m;
  if (rt && rt->json_mts[0]) {
    m.amt = rt->json_mts[0];
    m.omt = rt->json_mts[1];
    m.keys_ref = rt->json_keys_ref;
    return m;
  }
  push_marker_mt(L, &yolk__lua_array_mt_key);
  push_marker_mt(L, &yolk__lua_object_mt_key);
  m.amt = lua_topointer(L, -2);
  m.omt = lua_topointer(L, -1);
  lua_pop(L, 2);
  m.keys_ref = 0;
  if (rt) {
    rt->json_mts[0] = m.amt;
    rt->json_mts[1] = m.omt;
    lua_pushliteral(L, "__keys"); /* looked up in every ordered object's metatable */
    rt->json_keys_ref = m.keys_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return m;
}

typedef struct {
  lua_State *L;
  yolk_sb_t *sb;
  yolk__lua_bins_t *bins;
  mts_t mts;
  char err[200];
} enc_t;

static int enc_value(enc_t *e, int idx, int depth);

/* What the table at idx is: 1 array, 2 object, 3 ordered object (its
 * __keys table pushed), 0 unmarked. */
static int table_kind(lua_State *L, int idx, const mts_t *m) {
  if (!lua_getmetatable(L, idx)) return 0;
  const void *mt = lua_topointer(L, -1);
  if (mt == m->amt) {
    lua_pop(L, 1);
    return 1;
  }
  if (mt == m->omt) {
    lua_pop(L, 1);
    return 2;
  }
  if (m->keys_ref > 0) lua_rawgeti(L, LUA_REGISTRYINDEX, m->keys_ref);
  else lua_pushliteral(L, "__keys");
  lua_rawget(L, -2);
  if (lua_istable(L, -1)) {
    lua_remove(L, -2);
    return 3;
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "__jsontype");
  lua_rawget(L, -2);
  const char *t = lua_tostring(L, -1);
  int kind = t && !strcmp(t, "array") ? 1 : t && !strcmp(t, "object") ? 2 : 0;
  lua_pop(L, 2);
  return kind;
}

/* The length of the array table at idx: t.n when it is a number, else #t. */
static size_t array_len(lua_State *L, int idx) {
  lua_pushliteral(L, "n");
  lua_rawget(L, idx);
  size_t n;
  if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0) n = (size_t)lua_tonumber(L, -1);
  else n = lua_objlen(L, idx);
  lua_pop(L, 1);
  return n;
}

static int enc_array(enc_t *e, int idx, size_t n, int depth) {
  lua_State *L = e->L;
  yolk__sb_putc(e->sb, '[');
  for (size_t i = 1; i <= n; i++) {
    if (i > 1) yolk__sb_putc(e->sb, ',');
    lua_rawgeti(L, idx, (int)i);
    int rc = enc_value(e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
    if (rc) return rc;
  }
  yolk__sb_putc(e->sb, ']');
  return 0;
}

/* The key at -2 (of a lua_next pair) as a JSON key. */
static int enc_key(enc_t *e, int first) {
  lua_State *L = e->L;
  if (!first) yolk__sb_putc(e->sb, ',');
  int kt = lua_type(L, -2);
  if (kt == LUA_TSTRING) {
    size_t n;
    const char *k = lua_tolstring(L, -2, &n);
    yolk__json_write_string(e->sb, k, n);
  } else if (kt == LUA_TNUMBER) {
    /* lua_tolstring would turn the key itself into a string: copy first */
    double v = lua_tonumber(L, -2);
    yolk_sb_t num;
    yolk__sb_init(&num);
    yolk__json_write_number(&num, v);
    yolk__json_write_string(e->sb, num.data, num.len);
    yolk__sb_free(&num);
  } else {
    snprintf(e->err, sizeof(e->err), "cannot encode a table key of type %s", lua_typename(L, kt));
    return -1;
  }
  yolk__sb_putc(e->sb, ':');
  return 0;
}

/* An object; keys_idx: its shape's key list (0: none). */
static int enc_object(enc_t *e, int idx, int keys_idx, int depth) {
  lua_State *L = e->L;
  yolk__sb_putc(e->sb, '{');
  int first = 1;
  size_t written = 0, nshape = 0;
  if (keys_idx) {
    nshape = lua_objlen(L, keys_idx);
    for (size_t k = 1; k <= nshape; k++) {
      lua_rawgeti(L, keys_idx, (int)k); /* key */
      lua_pushvalue(L, -1);
      lua_rawget(L, idx); /* value */
      if (lua_isnil(L, -1)) {
        lua_pop(L, 2);
        continue;
      }
      if (enc_key(e, first) || enc_value(e, lua_gettop(L), depth + 1)) {
        lua_pop(L, 2);
        return -1;
      }
      first = 0;
      written++;
      lua_pop(L, 2);
    }
  }
  /* the keys not in the shape (all of them without one), in table order */
  size_t total = 0;
  if (keys_idx) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      total++;
    }
  }
  if (!keys_idx || total > written) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      if (keys_idx && lua_type(L, -2) == LUA_TSTRING) {
        int in_shape = 0;
        for (size_t k = 1; k <= nshape && !in_shape; k++) {
          lua_rawgeti(L, keys_idx, (int)k);
          in_shape = lua_rawequal(L, -1, -3);
          lua_pop(L, 1);
        }
        if (in_shape) {
          lua_pop(L, 1);
          continue;
        }
      }
      if (enc_key(e, first) || enc_value(e, lua_gettop(L), depth + 1)) {
        lua_pop(L, 2);
        return -1;
      }
      first = 0;
      lua_pop(L, 1);
    }
  }
  yolk__sb_putc(e->sb, '}');
  return 0;
}

static int enc_table(enc_t *e, int idx, int depth) {
  lua_State *L = e->L;
  int kind = table_kind(L, idx, &e->mts);
  if (kind == 1) return enc_array(e, idx, array_len(L, idx), depth);
  if (kind == 2) return enc_object(e, idx, 0, depth);
  if (kind == 3) {
    int rc = enc_object(e, idx, lua_gettop(L), depth);
    lua_pop(L, 1);
    return rc;
  }
  /* unmarked: an array when the keys are exactly 1..n, n >= 1 */
  size_t count = 0;
  double max = 0;
  int only_ints = 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
    if (only_ints) {
      if (lua_type(L, -1) != LUA_TNUMBER) {
        only_ints = 0;
      } else {
        double k = lua_tonumber(L, -1);
        if (k < 1 || k != floor(k)) only_ints = 0;
        else if (k > max) max = k;
      }
    }
  }
  if (only_ints && count >= 1 && (double)count == max) return enc_array(e, idx, count, depth);
  return enc_object(e, idx, 0, depth);
}

static int enc_value(enc_t *e, int idx, int depth) {
  lua_State *L = e->L;
  if (depth > MAX_DEPTH) {
    snprintf(e->err, sizeof(e->err), "cannot encode: nested too deeply (or a table contains itself)");
    return -1;
  }
  if (!lua_checkstack(L, 8)) {
    snprintf(e->err, sizeof(e->err), "cannot encode: Lua stack exhausted");
    return -1;
  }
  switch (lua_type(L, idx)) {
  case LUA_TNIL: yolk__sb_append(e->sb, "null", 4); return 0;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx)) yolk__sb_append(e->sb, "true", 4);
    else yolk__sb_append(e->sb, "false", 5);
    return 0;
  case LUA_TNUMBER: yolk__json_write_number(e->sb, lua_tonumber(L, idx)); return 0;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    yolk__json_write_string(e->sb, s, n);
    return 0;
  }
  case LUA_TTABLE: return enc_table(e, idx, depth);
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == YOLK_LUA_NULL) {
      yolk__sb_append(e->sb, "null", 4);
      return 0;
    }
    break;
  case LUA_TUSERDATA: {
    size_t len;
    const char *data = yolk__lua_to_buffer(L, idx, &len);
    if (!data) break;
    if (!e->bins) {
      snprintf(e->err, sizeof(e->err), "cannot encode a buffer as JSON");
      return -1;
    }
    yolk__sb_printf(e->sb, "{\"_placeholder\":true,\"num\":%zu}", e->bins->n);
    bins_push(e->bins, data, len);
    return 0;
  }
  default: break;
  }
  snprintf(e->err, sizeof(e->err), "cannot encode a value of type %s", luaL_typename(L, idx));
  return -1;
}

int yolk__lua_write_json(lua_State *L, int idx, yolk_sb_t *sb, yolk__lua_bins_t *bins) {
  enc_t e = {L, sb, bins, marker_mts(L), {0}};
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  if (enc_value(&e, idx, 0) == 0) return 0;
  lua_pushstring(L, e.err);
  return -1;
}

int yolk__lua_write_args(lua_State *L, int idx, yolk_sb_t *sb, yolk__lua_bins_t *bins) {
  enc_t e = {L, sb, bins, marker_mts(L), {0}};
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  if (lua_isnoneornil(L, idx)) {
    yolk__sb_append(sb, "[]", 2);
    return 0;
  }
  if (!lua_istable(L, idx)) {
    lua_pushfstring(L, "expected an argument table, got %s", luaL_typename(L, idx));
    return -1;
  }
  if (enc_array(&e, idx, array_len(L, idx), 0) == 0) return 0;
  lua_pushstring(L, e.err);
  return -1;
}

int yolk__lua_write_values(lua_State *L, int first, int last, yolk_sb_t *sb, yolk__lua_bins_t *bins) {
  enc_t e = {L, sb, bins, marker_mts(L), {0}};
  yolk__sb_putc(sb, '[');
  for (int i = first; i <= last; i++) {
    if (i > first) yolk__sb_putc(sb, ',');
    if (enc_value(&e, i, 1) != 0) {
      lua_pushstring(L, e.err);
      return -1;
    }
  }
  yolk__sb_putc(sb, ']');
  return 0;
}

/* [event, a, b] -> event, {a, b, n = 2}: decoded so, nothing shifted */
int yolk__lua_push_event(lua_State *L, const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins) {
  return push_json_mode(L, json, len, bins, nbins, EVENT);
}

/* ---- yolk.core functions ---------------------------------------------------------------- */

/* core.json_encode(v) -> string (raises on values JSON cannot hold) */
static int l_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  yolk_sb_t *sb = yolk__lua_scratch(L);
  if (yolk__lua_write_json(L, 1, sb, NULL) != 0) return lua_error(L);
  lua_pushlstring(L, sb->data ? sb->data : "", sb->len);
  yolk__lua_scratch_done(L);
  return 1;
}

/* core.json_decode(s) -> v | nil, err */
static int l_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  /* config.lua.memoryLimit refuses after the decode, not midway: the
   * error's jump would lose the reader's C buffers (lua_mem.c) */
  unsigned held = yolk__lua_mem_hold(L);
  int rc = yolk__lua_push_json(L, s, len, NULL, 0, 0);
  yolk__lua_mem_release(L, held);
  if (rc != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  return 1;
}

static int set_marker(lua_State *L, const char *key) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  push_marker_mt(L, key);
  lua_setmetatable(L, 1);
  return 1;
}

static int l_array(lua_State *L) { return set_marker(L, &yolk__lua_array_mt_key); }
static int l_object(lua_State *L) { return set_marker(L, &yolk__lua_object_mt_key); }

/* core.is_array(v) / core.is_object(v): the marker, for tables that have one */
static int l_is_array(lua_State *L) {
  mts_t m = marker_mts(L);
  int k = lua_istable(L, 1) ? table_kind(L, 1, &m) : 0;
  if (k == 3) lua_pop(L, 1);
  lua_pushboolean(L, k == 1);
  return 1;
}
static int l_is_object(lua_State *L) {
  mts_t m = marker_mts(L);
  int k = lua_istable(L, 1) ? table_kind(L, 1, &m) : 0;
  if (k == 3) lua_pop(L, 1);
  lua_pushboolean(L, k == 2 || k == 3);
  return 1;
}

/* core.json_keys(t) -> the keys of a decoded object in their JSON order
 * (then the keys added in Lua), or nil for other tables. */
static int l_json_keys(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  mts_t m = marker_mts(L);
  if (table_kind(L, 1, &m) != 3) return 0;
  lua_newtable(L); /* 3: result */
  int n = 0;
  size_t nshape = lua_objlen(L, 2);
  for (size_t k = 1; k <= nshape; k++) {
    lua_rawgeti(L, 2, (int)k);
    lua_pushvalue(L, -1);
    lua_rawget(L, 1);
    int present = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (present) lua_rawseti(L, 3, ++n);
    else lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    int in_shape = 0;
    for (size_t k = 1; k <= nshape && !in_shape; k++) {
      lua_rawgeti(L, 2, (int)k);
      in_shape = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
    }
    if (!in_shape) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, 3, ++n);
    }
  }
  return 1;
}

void yolk__lua_open_json(lua_State *L) {
  /* the marker metatables and the shape cache: reachable from Lua too */
  push_marker_mt(L, &yolk__lua_array_mt_key);
  lua_setfield(L, -2, "array_mt");
  push_marker_mt(L, &yolk__lua_object_mt_key);
  lua_setfield(L, -2, "object_mt");
  lua_pushlightuserdata(L, YOLK_LUA_NULL);
  lua_setfield(L, -2, "null");
  static const luaL_Reg fns[] = {
      {"json_encode", l_json_encode}, {"json_decode", l_json_decode}, {"array", l_array},
      {"object", l_object},           {"is_array", l_is_array},       {"is_object", l_is_object},
      {"json_keys", l_json_keys},     {NULL, NULL},
  };
  luaL_register(L, NULL, fns);
}
