/* lua_buffer.c - core.buffer: immutable binary data for Socket.IO attachments.
 *
 * A buffer is a full userdata holding its bytes inline (no separate C
 * allocation, so the Lua GC alone owns it). Lua strings can hold binary too;
 * the distinct type exists because the JSON/attachment conversion must know
 * which values travel as binary attachments and which as JSON strings. */
#include <string.h>

#include "lua_core.h"

typedef struct {
  size_t len;
  char data[];
} buffer_t;

void yolk__lua_push_buffer(lua_State *L, const void *data, size_t len) {
  buffer_t *b = lua_newuserdata(L, sizeof(buffer_t) + len);
  b->len = len;
  if (len) memcpy(b->data, data, len);
  luaL_getmetatable(L, YOLK_LUA_BUFFER_MT);
  lua_setmetatable(L, -2);
}

const char *yolk__lua_to_buffer(lua_State *L, int idx, size_t *len) {
  if (lua_type(L, idx) != LUA_TUSERDATA) return NULL;
  buffer_t *b = lua_touserdata(L, idx);
  if (!lua_getmetatable(L, idx)) return NULL;
  luaL_getmetatable(L, YOLK_LUA_BUFFER_MT);
  int ok = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!ok) return NULL;
  *len = b->len;
  return b->data;
}

static buffer_t *check_buffer(lua_State *L, int idx) { return luaL_checkudata(L, idx, YOLK_LUA_BUFFER_MT); }

/* core.buffer(str | buffer) -> buffer */
static int l_buffer(lua_State *L) {
  size_t len;
  const char *p = yolk__lua_to_buffer(L, 1, &len);
  if (!p) p = luaL_checklstring(L, 1, &len);
  yolk__lua_push_buffer(L, p, len);
  return 1;
}

static int l_is_buffer(lua_State *L) {
  size_t len;
  lua_pushboolean(L, yolk__lua_to_buffer(L, 1, &len) != NULL);
  return 1;
}

static int b_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_buffer(L, 1)->len);
  return 1;
}

static int b_tostring(lua_State *L) {
  buffer_t *b = check_buffer(L, 1);
  lua_pushlstring(L, b->data, b->len);
  return 1;
}

static int b_eq(lua_State *L) {
  buffer_t *a = check_buffer(L, 1), *b = check_buffer(L, 2);
  lua_pushboolean(L, a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
  return 1;
}

/* b:sub(i, j) -> string, with string.sub's index rules */
static int b_sub(lua_State *L) {
  buffer_t *b = check_buffer(L, 1);
  lua_pushlstring(L, b->data, b->len);
  lua_replace(L, 1);
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "sub");
  lua_insert(L, 1);
  lua_pop(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* b:byte(i) -> number | nil */
static int b_byte(lua_State *L) {
  buffer_t *b = check_buffer(L, 1);
  lua_Integer i = luaL_optinteger(L, 2, 1);
  if (i < 0) i += (lua_Integer)b->len + 1;
  if (i < 1 || (size_t)i > b->len) return 0;
  lua_pushinteger(L, (unsigned char)b->data[i - 1]);
  return 1;
}

void yolk__lua_open_buffer(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"tostring", b_tostring}, {"sub", b_sub}, {"byte", b_byte}, {"len", b_len}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__len", b_len}, {"__tostring", b_tostring}, {"__eq", b_eq}, {NULL, NULL}};
  yolk__lua_new_class(L, YOLK_LUA_BUFFER_MT, methods, meta);

  lua_pushcfunction(L, l_buffer);
  lua_setfield(L, -2, "buffer");
  lua_pushcfunction(L, l_is_buffer);
  lua_setfield(L, -2, "is_buffer");
}
