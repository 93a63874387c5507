/* test_lua_json.c - Lua <-> JSON conversions of yolk.core (core/lua/lua_json.c):
 * {} vs [], key order, nesting, unicode escapes, number formatting, null,
 * booleans, buffers <-> attachment placeholders, invalid input; and the pcall
 * wrapper. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_core.h"
#include "test.h"

static lua_State *L;

/* Runs `return <expr>` with `core` in scope; leaves one value on the stack. */
static void eval(const char *expr) {
  char code[4096];
  snprintf(code, sizeof(code), "local core = require('yolk.core'); return %s", expr);
  if (luaL_loadstring(L, code) || lua_pcall(L, 0, 1, 0)) {
    fprintf(stderr, "eval(%s): %s\n", expr, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* core.json_encode(<expr>) as a C string (static buffer). */
static const char *encode(const char *expr) {
  static char out[4096];
  char e[3000];
  snprintf(e, sizeof(e), "core.json_encode(%s)", expr);
  eval(e);
  const char *s = lua_tostring(L, -1);
  snprintf(out, sizeof(out), "%s", s ? s : "(error)");
  lua_pop(L, 1);
  return out;
}

/* decode then encode, through the C converters */
static const char *round_trip(const char *json) {
  static char out[4096];
  if (yolk__lua_push_json(L, json, strlen(json), NULL, 0, 0) != 0) {
    snprintf(out, sizeof(out), "(decode error %s)", lua_tostring(L, -1));
    lua_pop(L, 1);
    return out;
  }
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  if (yolk__lua_write_json(L, -1, &sb, NULL) != 0) {
    snprintf(out, sizeof(out), "(error %s)", lua_tostring(L, -1));
    lua_pop(L, 2);
    yolk__sb_free(&sb);
    return out;
  }
  lua_pop(L, 1);
  snprintf(out, sizeof(out), "%.*s", (int)sb.len, sb.data);
  yolk__sb_free(&sb);
  return out;
}

static int lua_true(const char *expr);

/* JSON equality regardless of object key order (tables made in Lua have none) */
static int json_same(const char *a, const char *b) {
  char expr[4096];
  snprintf(expr, sizeof(expr),
           "(function(x, y) local function same(p, q) "
           "if type(p) ~= type(q) then return false end "
           "if type(p) ~= 'table' then return p == q end "
           "for k, v in pairs(p) do if not same(v, q[k]) then return false end end "
           "for k in pairs(q) do if p[k] == nil then return false end end return true end "
           "return x ~= nil and same(x, y) end)(core.json_decode(%s), core.json_decode(%s))",
           "[==[" "%s" "]==]", "[==[" "%s" "]==]");
  char full[8192];
  snprintf(full, sizeof(full), expr, a, b);
  return lua_true(full);
}

static int lua_true(const char *expr) {
  eval(expr);
  int ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

static void test_kinds(void) {
  CHECK_STR(round_trip("{}"), "{}");
  CHECK_STR(round_trip("[]"), "[]");
  CHECK_STR(round_trip("[{}]"), "[{}]");
  CHECK_STR(round_trip("{\"a\":[]}"), "{\"a\":[]}");
  CHECK(json_same(round_trip("{\"a\":[1,{\"b\":[[],{}]}],\"c\":{\"d\":{\"e\":\"f\"}}}"),
                  "{\"a\":[1,{\"b\":[[],{}]}],\"c\":{\"d\":{\"e\":\"f\"}}}"));
  CHECK_STR(round_trip("[null,true,false]"), "[null,true,false]");
  CHECK_STR(round_trip("{\"1\":\"x\"}"), "{\"1\":\"x\"}"); /* marked object stays an object */
  /* unmarked tables */
  CHECK_STR(encode("{}"), "{}");
  CHECK_STR(encode("core.array{}"), "[]");
  CHECK_STR(encode("core.object{1, 2}"), "{\"1\":1,\"2\":2}");
  CHECK_STR(encode("{1, 2, 3}"), "[1,2,3]");
  CHECK(json_same(encode("{[1] = 'a', [3] = 'c'}"), "{\"1\":\"a\",\"3\":\"c\"}"));
  CHECK_STR(encode("{a = core.null}"), "{\"a\":null}");
  CHECK_STR(encode("core.array{n = 3, 1}"), "[1,null,null]");
  CHECK_STR(encode("true"), "true");
  CHECK_STR(encode("'x'"), "\"x\"");
  /* decoded values carry their markers */
  CHECK(lua_true("getmetatable(core.json_decode('[]')) == core.array_mt"));
  /* objects keep their key order; keys added in Lua come after */
  CHECK_STR(round_trip("{\"t\":1,\"s\":0,\"n\":5,\"p\":\"x\"}"), "{\"t\":1,\"s\":0,\"n\":5,\"p\":\"x\"}");
  CHECK_STR(round_trip("{\"z\":{\"b\":1,\"a\":[{\"y\":1,\"x\":2}]},\"a\":null}"),
            "{\"z\":{\"b\":1,\"a\":[{\"y\":1,\"x\":2}]},\"a\":null}");
  CHECK_STR(encode("(function() local o = core.json_decode('{\"b\":1,\"a\":2}'); o.c = 3; return o end)()"),
            "{\"b\":1,\"a\":2,\"c\":3}");
  CHECK(lua_true("getmetatable(core.json_decode('{}')) == core.object_mt"));
  CHECK(lua_true("core.is_array(core.json_decode('[1]')) and core.is_object(core.json_decode('{}'))"));
  CHECK(lua_true("core.json_decode('null') == core.null"));
  CHECK(lua_true("core.json_decode('[null]')[1] == core.null"));
  CHECK(lua_true("core.json_decode('{\"a\":false}').a == false"));
}

static void test_numbers(void) {
  CHECK_STR(encode("{1, -5, 2^40, 1.5, -0.25, 0}"), "[1,-5,1099511627776,1.5,-0.25,0]");
  CHECK_STR(encode("1e15"), "1000000000000000");
  CHECK_STR(encode("2^53"), "9007199254740992");
  CHECK_STR(encode("-2^53"), "-9007199254740992");
  CHECK_STR(encode("2^53 - 1"), "9007199254740991");
  CHECK_STR(encode("0.1"), "0.1");
  CHECK_STR(encode("0.1 + 0.2"), "0.30000000000000004");
  CHECK_STR(encode("-0.0"), "0");
  CHECK_STR(encode("1/0"), "null");
  CHECK_STR(encode("0/0"), "null");
  CHECK_STR(round_trip("[1,-5,1099511627776,1.5,123456789012]"), "[1,-5,1099511627776,1.5,123456789012]");
  CHECK(lua_true("core.json_decode('1099511627776') == 2^40"));
  CHECK(lua_true("core.json_decode('-5') == -5"));
  CHECK(lua_true("core.json_decode('1.5') == 1.5"));
  CHECK(lua_true("core.json_decode('1e2') == 100"));
  /* a double survives a round trip exactly */
  CHECK(lua_true("core.json_decode(core.json_encode(1/3)) == 1/3"));
  CHECK(lua_true("core.json_decode(core.json_encode(2^60 + 2^8)) == 2^60 + 2^8"));
}

static void test_strings(void) {
  /* \u escapes and surrogate pairs decode to UTF-8 */
  CHECK(lua_true("core.json_decode('\"\\\\u00e9\"') == '\\195\\169'"));
  CHECK(lua_true("core.json_decode('\"\\\\ud83d\\\\ude00\"') == '\\240\\159\\152\\128'"));
  CHECK(lua_true("core.json_decode('\"\\\\u20ac\"') == '\\226\\130\\172'"));
  CHECK(lua_true("core.json_decode('\"a\\\\nb\\\\t\\\\\"\\\\\\\\\"') == 'a\\nb\\t\"\\\\'"));
  /* UTF-8 passes through, control characters are escaped */
  CHECK_STR(encode("'\\195\\169\\240\\159\\152\\128'"), "\"\xc3\xa9\xf0\x9f\x98\x80\"");
  CHECK_STR(encode("'a\\1b\\31\"\\\\'"), "\"a\\u0001b\\u001f\\\"\\\\\"");
  CHECK_STR(encode("'a\\nb'"), "\"a\\nb\"");
  /* bytes that are not UTF-8 become U+FFFD; NUL is escaped */
  CHECK_STR(encode("'a\\255b'"), "\"a\xef\xbf\xbd" "b\"");
  CHECK_STR(encode("'\\192\\128'"), "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong NUL */
  CHECK_STR(encode("'\\237\\160\\128'"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
  CHECK_STR(encode("'a\\0b'"), "\"a\\u0000b\"");
  CHECK_STR(encode("{['k\\1'] = 'v'}"), "{\"k\\u0001\":\"v\"}");
  CHECK(json_same(encode("{[2] = 'x', y = 1}"), "{\"2\":\"x\",\"y\":1}"));
}

static void test_errors(void) {
  CHECK(lua_true("select(2, pcall(core.json_encode, core.buffer('x'))):find('buffer') ~= nil"));
  CHECK(lua_true("(function() local t = {}; t.t = t; return not pcall(core.json_encode, t) end)()"));
  CHECK(lua_true("not pcall(core.json_encode, {f = print})"));
  CHECK(lua_true("not pcall(core.json_encode, {[true] = 1})"));
  CHECK(lua_true("select(2, core.json_decode('[1,2] x')) ~= nil"));
  CHECK(lua_true("core.json_decode('[1,2]  \\n') ~= nil"));
  CHECK(lua_true("core.json_decode('') == nil"));
  CHECK(lua_true("core.json_decode('{\"a\":}') == nil"));
  CHECK(lua_true("core.json_decode('[1,2,') == nil"));
  CHECK(lua_true("core.json_decode(string.rep('[', 5000)) == nil"));
  CHECK(lua_true("select(2, core.json_decode(string.rep('[', 5000))):find('nested too deeply') ~= nil"));
}

static void test_buffers(void) {
  /* Lua -> JSON: buffers become placeholders, in order, with their bytes */
  eval("{'ev', core.buffer('ab\\0c'), {core.buffer(''), {y = {1, core.buffer('z')}}}, n = 3}");
  yolk__lua_bins_t bins = {0};
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  CHECK(yolk__lua_write_args(L, -1, &sb, &bins) == 0);
  CHECK_EQ_INT(bins.n, 3);
  if (bins.n == 3) {
    CHECK_STR(sb.data, "[\"ev\",{\"_placeholder\":true,\"num\":0},"
                       "[{\"_placeholder\":true,\"num\":1},{\"y\":[1,{\"_placeholder\":true,\"num\":2}]}]]");
    CHECK_EQ_INT(bins.v[0].len, 4);
    CHECK(memcmp(bins.v[0].data, "ab\0c", 4) == 0);
    CHECK_EQ_INT(bins.v[1].len, 0);
    CHECK_EQ_INT(bins.v[2].len, 1);
    CHECK(memcmp(bins.v[2].data, "z", 1) == 0);

    /* JSON -> Lua: placeholders back to buffers, args.n set */
    CHECK(yolk__lua_push_json(L, sb.data, sb.len, bins.v, bins.n, 1) == 0);
    lua_setglobal(L, "decoded");
    CHECK(lua_true("decoded.n == 3 and decoded[1] == 'ev'"));
    CHECK(lua_true("core.is_buffer(decoded[2]) and decoded[2]:tostring() == 'ab\\0c' and #decoded[2] == 4"));
    CHECK(lua_true("core.is_buffer(decoded[3][1]) and #decoded[3][1] == 0"));
    CHECK(lua_true("tostring(decoded[3][2].y[2]) == 'z'"));
    CHECK(lua_true("decoded[2] == core.buffer('ab\\0c')"));
    /* an event: the name apart, the arguments without it */
    CHECK(yolk__lua_push_event(L, sb.data, sb.len, bins.v, bins.n) == 0);
    lua_setglobal(L, "args");
    lua_setglobal(L, "event");
    CHECK(lua_true("event == 'ev' and args.n == 2 and core.is_buffer(args[1]) and args[3] == nil"));
  }
  yolk__sb_free(&sb);
  yolk__lua_bins_free(&bins);
  lua_pop(L, 1);

  /* holes in an argument list are nulls, n counts them */
  eval("{'ev', nil, 3, n = 4}");
  yolk__sb_init(&sb);
  CHECK(yolk__lua_write_args(L, -1, &sb, NULL) == 0);
  CHECK_STR(sb.data, "[\"ev\",null,3,null]");
  yolk__sb_free(&sb);
  lua_pop(L, 1);

  /* a placeholder whose num is out of range stays an object */
  const char *bad = "[{\"_placeholder\":true,\"num\":5}]";
  yolk_sio_bin_t one = {"q", 1};
  CHECK(yolk__lua_push_json(L, bad, strlen(bad), &one, 1, 0) == 0);
  lua_setglobal(L, "bad");
  CHECK(lua_true("type(bad[1]) == 'table' and bad[1].num == 5"));

  /* without bins a buffer is an error message, not a crash */
  eval("{core.buffer('x')}");
  yolk__sb_init(&sb);
  CHECK(yolk__lua_write_json(L, -1, &sb, NULL) == -1);
  CHECK(lua_isstring(L, -1));
  yolk__sb_free(&sb);
  lua_pop(L, 2);

  CHECK(lua_true("core.buffer('abc'):sub(2) == 'bc' and core.buffer('abc'):byte(3) == 99"));
  CHECK(lua_true("not core.is_buffer('abc') and not core.is_buffer({})"));
}

static int raise_error(lua_State *l) { return luaL_error(l, "expected failure from the test"); }

static void test_pcall_wrapper(void) {
  int top = lua_gettop(L);
  lua_pushcfunction(L, raise_error);
  lua_pushinteger(L, 1);
  CHECK(yolk__lua_pcall(L, 1, 1) != 0);
  CHECK_EQ_INT(lua_gettop(L), top);
  eval("function(a, b) return a + b end");
  lua_pushinteger(L, 2);
  lua_pushinteger(L, 3);
  CHECK(yolk__lua_pcall(L, 2, 1) == 0);
  CHECK_EQ_INT(lua_tointeger(L, -1), 5);
  lua_pop(L, 1);
  CHECK_EQ_INT(lua_gettop(L), top);
}

int main(void) {
  yolk_lua_rt_t *rt = yolk__lua_rt_new();
  L = yolk__lua_rt_state(rt);
  test_kinds();
  test_numbers();
  test_strings();
  test_errors();
  test_buffers();
  test_pcall_wrapper();
  yolk__lua_rt_free(rt);
  TEST_MAIN_END();
}
