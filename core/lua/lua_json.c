/* lua_json.c - Lua values <-> JSON (cJSON trees), the null sentinel, the
 * array/object markers, and Socket.IO attachment placeholders.
 *
 * Everything that crosses between Lua and libyolk as JSON goes through the
 * two converters here: yolk__lua_to_cjson (Lua -> cJSON, buffers become
 * placeholders) and yolk__lua_push_cjson (cJSON -> Lua, placeholders become
 * buffers). core.json_encode / core.json_decode are the same converters with
 * cJSON's printer and parser at the ends.
 *
 * Why the special cases:
 *  - Lua has one table type; JSON has two. Decoded tables carry
 *    core.array_mt / core.object_mt so `[]` and `{}` survive a round trip.
 *  - cJSON prints integral doubles of 16 digits with an exponent ("1e+15"),
 *    which a JavaScript peer reads back fine but humans and ids do not like:
 *    integral values with |x| < 2^53 are handed to cJSON as raw text.
 *  - cJSON strings are C strings and cJSON copies bytes through unchecked:
 *    a Lua string with bytes that are not UTF-8 is repaired (U+FFFD) so the
 *    output is valid JSON, and one with NUL bytes is escaped by hand.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "lua_core.h"

const char yolk__lua_array_mt_key = 0;
const char yolk__lua_object_mt_key = 0;
const char yolk__lua_null_tag = 0;

/* JSON nesting deeper than this is refused (it is also how a table that
 * contains itself is caught). cJSON's parser has the same default limit. */
enum { MAX_DEPTH = 1000 };

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

/* ---- strings ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned min;
  unsigned cp;
  if ((c & 0xE0) == 0xC0) len = 2, min = 0x80, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000, cp = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/* Copies s into sb, replacing each invalid byte with U+FFFD. */
static void utf8_repair(yolk_sb_t *sb, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    size_t k = utf8_seq(p + i, n - i);
    if (k) {
      yolk__sb_append(sb, p + i, k);
      i += k;
    } else {
      yolk__sb_append(sb, "\xEF\xBF\xBD", 3);
      i++;
    }
  }
}

static cJSON *string_item(const char *s, size_t n) {
  int valid = 1, has_nul = 0;
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    if (p[i] == 0) has_nul = 1;
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = utf8_seq(p + i, n - i);
    if (!k) {
      valid = 0;
      break;
    }
    i += k;
  }
  if (!has_nul && memchr(s, 0, n)) has_nul = 1;
  if (valid && !has_nul) return cJSON_CreateString(s);

  yolk_sb_t fixed;
  yolk__sb_init(&fixed);
  if (valid) yolk__sb_append(&fixed, s, n);
  else utf8_repair(&fixed, s, n);
  cJSON *item;
  if (!has_nul) {
    item = cJSON_CreateString(fixed.data);
  } else {
    /* cJSON cannot hold a NUL inside a string: write the JSON text here */
    yolk_sb_t raw;
    yolk__sb_init(&raw);
    yolk__sb_putc(&raw, '"');
    for (size_t i = 0; i < fixed.len; i++) {
      unsigned char c = (unsigned char)fixed.data[i];
      if (c == '"' || c == '\\') {
        yolk__sb_putc(&raw, '\\');
        yolk__sb_putc(&raw, (char)c);
      } else if (c < 0x20) {
        yolk__sb_printf(&raw, "\\u%04x", c);
      } else {
        yolk__sb_putc(&raw, (char)c);
      }
    }
    yolk__sb_putc(&raw, '"');
    item = cJSON_CreateRaw(raw.data);
    yolk__sb_free(&raw);
  }
  yolk__sb_free(&fixed);
  return item;
}

/* ---- numbers -------------------------------------------------------------------- */

/* Integral values up to 2^53 (every integer a double holds exactly) as digits. */
static int format_integral(char *out, size_t outlen, double x) {
  if (isfinite(x) && x == floor(x) && fabs(x) <= 9007199254740992.0) {
    snprintf(out, outlen, "%lld", (long long)x);
    return 1;
  }
  return 0;
}

/* The shortest %g form (15 to 17 digits) that reads back as exactly x. */
static void format_double(char *out, size_t outlen, double x) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, outlen, "%.*g", prec, x);
    if (strtod(out, NULL) == x) return;
  }
}

/* cJSON 1.7 prints with "%1.15g" and accepts the result when it reads back
 * *approximately* equal, which loses the last digits (2^53 comes out as
 * 9.00719925474099e+15) and puts exponents on 16-digit integers. Such numbers
 * go into the tree as raw JSON text instead; every other number (the usual
 * case) stays a plain cJSON number. */
static cJSON *number_item(double x) {
  if (!isfinite(x)) return cJSON_CreateNull();
  if (x == 0) x = 0; /* -0 is written as 0, as JSON.stringify does */
  char buf[40];
  if (x == floor(x) && fabs(x) <= 2147483647.0) return cJSON_CreateNumber(x); /* cJSON's %d path */
  if (!format_integral(buf, sizeof(buf), x)) {
    snprintf(buf, sizeof(buf), "%1.15g", x);
    if (strtod(buf, NULL) == x) return cJSON_CreateNumber(x);
    format_double(buf, sizeof(buf), x);
  } else {
    char g[40];
    snprintf(g, sizeof(g), "%1.15g", x);
    if (!strcmp(g, buf)) return cJSON_CreateNumber(x);
  }
  return cJSON_CreateRaw(buf);
}

/* ---- Lua -> cJSON ----------------------------------------------------------------- */

typedef struct {
  lua_State *L;
  yolk__lua_bins_t *bins;
  char err[200];
} enc_t;

static cJSON *enc_value(enc_t *e, int idx, int depth);

static int marker_of(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  int kind = 0;
  push_marker_mt(L, &yolk__lua_array_mt_key);
  if (lua_rawequal(L, -1, -2)) kind = 1;
  lua_pop(L, 1);
  if (!kind) {
    push_marker_mt(L, &yolk__lua_object_mt_key);
    if (lua_rawequal(L, -1, -2)) kind = 2;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return kind;
}

/* The length of the array table at idx: t.n when it is a number, else #t. */
static size_t array_len(lua_State *L, int idx) {
  lua_getfield(L, idx, "n");
  size_t n;
  if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0)
    n = (size_t)lua_tonumber(L, -1);
  else
    n = lua_objlen(L, idx);
  lua_pop(L, 1);
  return n;
}

static cJSON *enc_array(enc_t *e, int idx, size_t n, int depth) {
  lua_State *L = e->L;
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, (int)i);
    cJSON *item = enc_value(e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
    if (!item) {
      cJSON_Delete(arr);
      return NULL;
    }
    cJSON_AddItemToArray(arr, item);
  }
  return arr;
}

static cJSON *enc_object(enc_t *e, int idx, int depth) {
  lua_State *L = e->L;
  cJSON *obj = cJSON_CreateObject();
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    char numkey[40];
    const char *key;
    int kt = lua_type(L, -2);
    if (kt == LUA_TSTRING) {
      key = lua_tostring(L, -2);
    } else if (kt == LUA_TNUMBER) {
      double d = lua_tonumber(L, -2);
      if (!format_integral(numkey, sizeof(numkey), d)) snprintf(numkey, sizeof(numkey), "%.17g", d);
      key = numkey;
    } else {
      snprintf(e->err, sizeof(e->err), "cannot encode a table key of type %s", lua_typename(L, kt));
      lua_pop(L, 2);
      cJSON_Delete(obj);
      return NULL;
    }
    cJSON *item = enc_value(e, lua_gettop(L), depth + 1);
    if (!item) {
      lua_pop(L, 2);
      cJSON_Delete(obj);
      return NULL;
    }
    cJSON_AddItemToObject(obj, key, item);
    lua_pop(L, 1);
  }
  return obj;
}

static cJSON *enc_table(enc_t *e, int idx, int depth) {
  lua_State *L = e->L;
  int kind = marker_of(L, idx);
  if (kind == 1) return enc_array(e, idx, array_len(L, idx), depth);
  if (kind == 2) return enc_object(e, idx, depth);
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
  return enc_object(e, idx, depth);
}

static cJSON *enc_value(enc_t *e, int idx, int depth) {
  lua_State *L = e->L;
  if (depth > MAX_DEPTH) {
    snprintf(e->err, sizeof(e->err), "cannot encode: nested too deeply (or a table contains itself)");
    return NULL;
  }
  if (!lua_checkstack(L, 8)) {
    snprintf(e->err, sizeof(e->err), "cannot encode: Lua stack exhausted");
    return NULL;
  }
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return cJSON_CreateNull();
  case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
  case LUA_TNUMBER: return number_item(lua_tonumber(L, idx));
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return string_item(s, n);
  }
  case LUA_TTABLE: return enc_table(e, idx, depth);
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == YOLK_LUA_NULL) return cJSON_CreateNull();
    break;
  case LUA_TUSERDATA: {
    size_t len;
    const char *data = yolk__lua_to_buffer(L, idx, &len);
    if (!data) break;
    if (!e->bins) {
      snprintf(e->err, sizeof(e->err), "cannot encode a buffer as JSON");
      return NULL;
    }
    cJSON *ph = cJSON_CreateObject();
    cJSON_AddTrueToObject(ph, "_placeholder");
    cJSON_AddNumberToObject(ph, "num", (double)e->bins->n);
    bins_push(e->bins, data, len);
    return ph;
  }
  default: break;
  }
  snprintf(e->err, sizeof(e->err), "cannot encode a value of type %s", luaL_typename(L, idx));
  return NULL;
}

cJSON *yolk__lua_to_cjson(lua_State *L, int idx, yolk__lua_bins_t *bins) {
  enc_t e = {L, bins, {0}};
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  cJSON *v = enc_value(&e, idx, 0);
  if (!v) lua_pushstring(L, e.err);
  return v;
}

cJSON *yolk__lua_args_to_cjson(lua_State *L, int idx, yolk__lua_bins_t *bins) {
  enc_t e = {L, bins, {0}};
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  if (lua_isnoneornil(L, idx)) return cJSON_CreateArray();
  if (!lua_istable(L, idx)) {
    lua_pushfstring(L, "expected an argument table, got %s", luaL_typename(L, idx));
    return NULL;
  }
  cJSON *v = enc_array(&e, idx, array_len(L, idx), 0);
  if (!v) lua_pushstring(L, e.err);
  return v;
}

/* ---- cJSON -> Lua ------------------------------------------------------------------ */

typedef struct {
  lua_State *L;
  const yolk_sio_bin_t *bins;
  size_t nbins;
} dec_t;

static void dec_value(dec_t *d, const cJSON *v, int set_n);

/* If v is {"_placeholder":true,"num":i} with a valid i, pushes that buffer. */
static int dec_placeholder(dec_t *d, const cJSON *v) {
  if (!d->nbins) return 0;
  const cJSON *ph = cJSON_GetObjectItemCaseSensitive(v, "_placeholder");
  const cJSON *num = cJSON_GetObjectItemCaseSensitive(v, "num");
  if (!cJSON_IsTrue(ph) || !cJSON_IsNumber(num)) return 0;
  double i = num->valuedouble;
  if (i < 0 || i != floor(i) || i >= (double)d->nbins) return 0;
  yolk__lua_push_buffer(d->L, d->bins[(size_t)i].data, d->bins[(size_t)i].len);
  return 1;
}

static void dec_value(dec_t *d, const cJSON *v, int set_n) {
  lua_State *L = d->L;
  luaL_checkstack(L, 4, "JSON nested too deeply");
  if (cJSON_IsNull(v)) {
    lua_pushlightuserdata(L, YOLK_LUA_NULL);
  } else if (cJSON_IsBool(v)) {
    lua_pushboolean(L, cJSON_IsTrue(v));
  } else if (cJSON_IsNumber(v)) {
    lua_pushnumber(L, v->valuedouble);
  } else if (cJSON_IsString(v)) {
    lua_pushstring(L, v->valuestring ? v->valuestring : "");
  } else if (cJSON_IsArray(v)) {
    int n = cJSON_GetArraySize(v);
    yolk__lua_new_array(L, n);
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
      dec_value(d, c, 0);
      lua_rawseti(L, -2, ++i);
    }
    if (set_n) {
      lua_pushinteger(L, i);
      lua_setfield(L, -2, "n");
    }
  } else if (cJSON_IsObject(v)) {
    if (dec_placeholder(d, v)) return;
    yolk__lua_new_object(L, 0);
    for (const cJSON *c = v->child; c; c = c->next) {
      if (!c->string) continue;
      lua_pushstring(L, c->string);
      dec_value(d, c, 0);
      lua_rawset(L, -3);
    }
  } else if (cJSON_IsRaw(v) && v->valuestring) {
    /* only our own trees hold raw items: numbers and hand-escaped strings */
    cJSON *parsed = cJSON_Parse(v->valuestring);
    if (parsed) {
      dec_value(d, parsed, 0);
      cJSON_Delete(parsed);
    } else {
      lua_pushstring(L, v->valuestring);
    }
  } else {
    lua_pushlightuserdata(L, YOLK_LUA_NULL);
  }
}

void yolk__lua_push_cjson(lua_State *L, const cJSON *v, const yolk_sio_bin_t *bins, size_t nbins, int set_n) {
  dec_t d = {L, bins, nbins};
  if (!v) {
    lua_pushlightuserdata(L, YOLK_LUA_NULL);
    return;
  }
  dec_value(&d, v, set_n);
}

/* ---- yolk.core functions ---------------------------------------------------------------- */

/* core.json_encode(v [, pretty]) -> string (raises on values JSON cannot hold) */
static int l_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  int pretty = lua_toboolean(L, 2);
  lua_settop(L, 1);
  cJSON *v = yolk__lua_to_cjson(L, 1, NULL);
  if (!v) return lua_error(L);
  char *s = pretty ? cJSON_Print(v) : cJSON_PrintUnformatted(v);
  cJSON_Delete(v);
  if (!s) return luaL_error(L, "cannot encode: out of memory");
  lua_pushstring(L, s);
  cJSON_free(s);
  return 1;
}

/* core.json_decode(s) -> v | nil, err */
static int l_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  size_t pos = 0;
  cJSON *v = yolk__json_parse(s, len, &pos);
  if (!v) {
    lua_pushnil(L);
    lua_pushfstring(L, "invalid JSON at position %d", (int)pos);
    return 2;
  }
  yolk__lua_push_cjson(L, v, NULL, 0, 0);
  cJSON_Delete(v);
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
  lua_pushboolean(L, lua_istable(L, 1) && marker_of(L, 1) == 1);
  return 1;
}
static int l_is_object(lua_State *L) {
  lua_pushboolean(L, lua_istable(L, 1) && marker_of(L, 1) == 2);
  return 1;
}

void yolk__lua_open_json(lua_State *L) {
  /* the marker metatables: plain tables, also reachable from Lua */
  push_marker_mt(L, &yolk__lua_array_mt_key);
  lua_setfield(L, -2, "array_mt");
  push_marker_mt(L, &yolk__lua_object_mt_key);
  lua_setfield(L, -2, "object_mt");
  lua_pushlightuserdata(L, YOLK_LUA_NULL);
  lua_setfield(L, -2, "null");
  static const luaL_Reg fns[] = {
      {"json_encode", l_json_encode}, {"json_decode", l_json_decode}, {"array", l_array},
      {"object", l_object},           {"is_array", l_is_array},       {"is_object", l_is_object},
      {NULL, NULL},
  };
  luaL_register(L, NULL, fns);
}
