/* fuzz_json.c - the core's JSON reader and writer (core/json.c) and the
 * JSON <-> Lua converters (core/lua/lua_json.c).
 *
 * Input: byte 0 picks what is checked, byte 1 is a parameter, the rest is the
 * text:
 *   0  yolk__json_read against the reference reader of json_ref.h: the same
 *      verdict (at a nesting limit of 1..16 or 1000, from param), the same
 *      values (strings decoded alike, keys in order, number texts, the value
 *      of each number that of strtod), well-formed events (end counts, keys
 *      only in objects, strings well-formed UTF-8); yolk__json_valid agrees;
 *      a handler that stops at event <param> makes the read fail
 *   1  the writer: what was read, written back with yolk__json_write_string
 *      and yolk__json_write_number, reads back as the same values (numbers
 *      as the same doubles); the input itself written as one string reads
 *      back as its bytes with ill-formed UTF-8 replaced (fuzz_utf8_repair);
 *      8 input bytes as a double: written as JSON that reads back as it
 *   2  JSON -> Lua -> JSON (yolk__lua_push_json, yolk__lua_write_json) in a
 *      yolk Lua runtime: valid JSON converts (unless nested too deeply for
 *      the Lua stack), and comes back as JSON that the reader accepts, with
 *      the values JSON.parse + JSON.stringify would give (a repeated key at
 *      its first position with its last value; numbers as yolk writes them);
 *      converting that output again gives it byte for byte
 *   3  the same with two attachments: placeholders {"_placeholder":true,
 *      "num":0|1} become buffers, and buffers placeholders numbered again in
 *      document order
 */
#include <signal.h>

#include "fuzz.h"
#include "json.h"
#include "json_ref.h"
#include "lua/lua_core.h"

static unsigned depth_limit(unsigned param) { return param < 128 ? 1000 : 1 + (param & 15); }

/* ---- 0: the reader against the reference --------------------------------------------------------- */

static void check_utf8_strings(const jnode_t *j) {
  if (j->t == 's') FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *)j->s, j->len, 0));
  for (size_t i = 0; i < j->n; i++) {
    if (j->t == 'o') FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *)j->keys[i], j->klens[i], 0));
    check_utf8_strings(&j->kids[i]);
  }
}

static void check_number_values(const jnode_t *j) {
  if (j->t == 'n') {
    double want = strtod(j->s, NULL);
    if (memcmp(&want, &j->num, sizeof(want)) != 0)
      FUZZ_FAIL("number %s read as %.17g, strtod says %.17g", j->s, j->num, want);
  }
  for (size_t i = 0; i < j->n; i++) check_number_values(&j->kids[i]);
}

static void fuzz_reader(unsigned param, const char *s, size_t len) {
  unsigned max_depth = depth_limit(param);
  jnode_t ref;
  int ref_ok = json_ref_read(s, len, max_depth, &ref) == 0;
  jbuild_t b;
  jbuild_init(&b);
  yolk_json_error_t err = {0, NULL};
  int rc = yolk__json_read(s, len, max_depth, &jbuild_handler, &b, &err);
  if ((rc == 0) != ref_ok)
    FUZZ_FAIL("yolk__json_read says %s (%s at %zu), the reference %s (depth limit %u)", rc == 0 ? "valid" : "invalid",
              rc ? err.what : "-", rc ? err.pos : 0, ref_ok ? "valid" : "invalid", max_depth);
  FUZZ_CHECK(yolk__json_valid(s, len, max_depth) == ref_ok);
  if (rc != 0) {
    FUZZ_CHECK(err.what != NULL && err.pos <= len);
  } else {
    FUZZ_CHECK(!b.bad && b.depth == 0 && b.key == NULL);
    check_utf8_strings(&b.root);
    check_number_values(&b.root);
    if (!jnode_same(&b.root, &ref)) jnode_fail_diff("yolk__json_read and the reference read different values", &b.root, &ref);
    /* a handler that stops: the read fails, "stopped" */
    jbuild_t st;
    jbuild_init(&st);
    st.stop_after = (int)(param % (unsigned)b.events);
    FUZZ_CHECK(yolk__json_read(s, len, max_depth, &jbuild_handler, &st, &err) == -1);
    FUZZ_CHECK(strcmp(err.what, "stopped") == 0 && st.events == st.stop_after + 1);
    jbuild_free(&st);
    /* no handler at all */
    FUZZ_CHECK(yolk__json_read(s, len, max_depth, NULL, NULL, NULL) == 0);
    jnode_free(&ref);
  }
  jbuild_free(&b);
}

/* ---- 1: the writer ------------------------------------------------------------------------------------ */

static void write_tree(yolk_sb_t *sb, const jnode_t *j) {
  switch (j->t) {
  case 'z': yolk__sb_puts(sb, "null"); break;
  case 't': yolk__sb_puts(sb, "true"); break;
  case 'f': yolk__sb_puts(sb, "false"); break;
  case 'n': yolk__json_write_number(sb, j->num); break;
  case 's': yolk__json_write_string(sb, j->s, j->len); break;
  default:
    yolk__sb_putc(sb, j->t == 'a' ? '[' : '{');
    for (size_t i = 0; i < j->n; i++) {
      if (i) yolk__sb_putc(sb, ',');
      if (j->t == 'o') {
        yolk__json_write_string(sb, j->keys[i], j->klens[i]);
        yolk__sb_putc(sb, ':');
      }
      write_tree(sb, &j->kids[i]);
    }
    yolk__sb_putc(sb, j->t == 'a' ? ']' : '}');
  }
}

/* b was read from what write_tree made of a: the same numbers (as doubles;
 * -0 may come back as 0, non-finite ones as null). */
static void check_same_numbers(const jnode_t *a, const jnode_t *b) {
  if (a->t == 'n') {
    if (!isfinite(a->num)) {
      FUZZ_CHECK(b->t == 'z');
    } else {
      FUZZ_CHECK(b->t == 'n');
      if (!(a->num == b->num)) FUZZ_FAIL("%.17g was written as %s", a->num, b->s);
    }
  }
  for (size_t i = 0; i < a->n && i < b->n; i++) check_same_numbers(&a->kids[i], &b->kids[i]);
}

static void check_number_text(double v) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__json_write_number(&sb, v);
  if (!isfinite(v)) {
    FUZZ_CHECK(sb.len == 4 && memcmp(sb.data, "null", 4) == 0);
  } else {
    jnode_t j;
    if (json_ref_read(sb.data, sb.len, 1, &j) != 0 || j.t != 'n') FUZZ_FAIL("%.17g written as \"%s\": not a JSON number", v, sb.data);
    if (!(j.num == v)) FUZZ_FAIL("%.17g written as \"%s\"", v, sb.data);
    if (v == floor(v) && fabs(v) <= 9007199254740992.0) FUZZ_CHECK(!strpbrk(sb.data, ".eE")); /* plain digits */
    FUZZ_CHECK(sb.len <= 24);
    jnode_free(&j);
  }
  yolk__sb_free(&sb);
}

static void fuzz_writer(unsigned param, const char *s, size_t len) {
  /* any bytes as one string */
  yolk_sb_t w, want;
  yolk__sb_init(&w);
  yolk__sb_init(&want);
  yolk__json_write_string(&w, s, len);
  fuzz_utf8_repair(&want, (const unsigned char *)s, len);
  jnode_t j;
  if (json_ref_read(w.data, w.len, 1, &j) != 0 || j.t != 's') FUZZ_FAIL("a written string is not a JSON string");
  if (j.len != want.len || memcmp(j.s, want.data ? want.data : "", want.len) != 0)
    FUZZ_FAIL("a written string does not read back as its bytes (ill-formed UTF-8 replaced)");
  for (size_t i = 0; i < w.len; i++) FUZZ_CHECK((unsigned char)w.data[i] >= 0x20); /* control characters escaped */
  jnode_free(&j);
  w.len = 0;
  yolk__json_write_cstr(&w, "a\"b");
  FUZZ_CHECK(w.len == 6 && memcmp(w.data, "\"a\\\"b\"", 6) == 0);

  /* 8 bytes as a double */
  if (len >= 8) {
    double v;
    memcpy(&v, s, 8);
    check_number_text(v);
  }

  /* what reads as JSON, written back */
  jnode_t ref;
  if (json_ref_read(s, len, depth_limit(param), &ref) == 0) {
    if (ref.t == 'n') check_number_text(ref.num);
    w.len = 0;
    write_tree(&w, &ref);
    jbuild_t b;
    jbuild_init(&b);
    if (yolk__json_read(w.data, w.len, depth_limit(param), &jbuild_handler, &b, NULL) != 0)
      FUZZ_FAIL("what the writer wrote does not read: %.400s", w.data);
    check_same_numbers(&ref, &b.root);
    json_ref_numbers(&ref);
    if (!jnode_same(&b.root, &ref)) jnode_fail_diff("written and read back, the values differ", &b.root, &ref);
    jbuild_free(&b);
    jnode_free(&ref);
  }
  yolk__sb_free(&w);
  yolk__sb_free(&want);
}

/* ---- 2, 3: JSON -> Lua -> JSON ---------------------------------------------------------------------- */

static lua_State *L;
static const yolk_sio_bin_t in_bins[2] = {{"AB", 2}, {"\0\xff\x01", 3}};

static void lua_init(void) {
  /* the runtime installs SIGINT/SIGTERM handlers: libFuzzer's stay */
  struct sigaction old_int, old_term;
  sigaction(SIGINT, NULL, &old_int);
  sigaction(SIGTERM, NULL, &old_term);
  yolk_lua_rt_t *rt = yolk__lua_rt_new(); /* lives as long as the process */
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  L = yolk__lua_rt_state(rt);
  if (luaL_dostring(L, "require('yolk.core')") != 0) FUZZ_FAIL("require('yolk.core'): %s", lua_tostring(L, -1));
  lua_settop(L, 0);
}

/* Placeholders as the Lua converter reads them (an object of exactly the
 * two keys, "_placeholder" true and "num" an integer indexing the
 * attachments) become binary nodes, in place; the rest unchanged. */
static int lua_is_placeholder(const jnode_t *j, size_t nbins) {
  if (j->t != 'o' || j->n != 2) return 0;
  const jnode_t *ph = NULL, *num = NULL;
  for (size_t i = 0; i < 2; i++) {
    if (j->klens[i] == 12 && memcmp(j->keys[i], "_placeholder", 12) == 0) ph = &j->kids[i];
    if (j->klens[i] == 3 && memcmp(j->keys[i], "num", 3) == 0) num = &j->kids[i];
  }
  return ph && num && ph->t == 't' && num->t == 'n' && num->num >= 0 && num->num == floor(num->num) &&
         num->num < (double)nbins;
}

/* 1 when some object of j would be taken for a placeholder with nbins attachments. */
static int any_placeholder(const jnode_t *j, size_t nbins) {
  if (lua_is_placeholder(j, nbins)) return 1;
  for (size_t i = 0; i < j->n; i++)
    if (any_placeholder(&j->kids[i], nbins)) return 1;
  return 0;
}

static void lua_placeholders(jnode_t *j, size_t nbins) {
  if (lua_is_placeholder(j, nbins)) {
    const jnode_t *num = j->klens[0] == 3 ? &j->kids[0] : &j->kids[1];
    const yolk_sio_bin_t *b = &in_bins[(size_t)num->num];
    jnode_set_bin(j, b->data, b->len);
    return;
  }
  for (size_t i = 0; i < j->n; i++) lua_placeholders(&j->kids[i], nbins);
}

/* Converts json to Lua and back into out (reset); the value stays on the
 * stack. 0, 1 when too deep for the Lua stack, -1 on a decoding error. */
static int lua_round(const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins, int set_n, yolk_sb_t *out,
                     yolk__lua_bins_t *outbins) {
  if (yolk__lua_push_json(L, json, len, bins, nbins, set_n) != 0) {
    const char *msg = lua_tostring(L, -1);
    FUZZ_CHECK(msg != NULL);
    int deep = strstr(msg, "for the Lua stack") != NULL;
    lua_pop(L, 1);
    return deep ? 1 : -1;
  }
  out->len = 0;
  if (yolk__lua_write_json(L, -1, out, outbins) != 0) FUZZ_FAIL("a decoded value does not encode: %s", lua_tostring(L, -1));
  return 0;
}

static void fuzz_lua(unsigned param, const char *s, size_t len, size_t nbins) {
  if (!L) lua_init();
  lua_settop(L, 0);
  int set_n = param & 1;
  jnode_t ref;
  int valid = json_ref_read(s, len, YOLK_JSON_MAX_DEPTH, &ref) == 0;
  yolk_sb_t out, out2;
  yolk__sb_init(&out);
  yolk__sb_init(&out2);
  yolk__lua_bins_t ob = {0}, ob2 = {0};
  int rc = lua_round(s, len, in_bins, nbins, set_n, &out, nbins ? &ob : NULL);
  if (rc == -1 && valid) FUZZ_FAIL("valid JSON does not convert to Lua");
  if (rc == 0 && !valid) FUZZ_FAIL("invalid JSON converted to Lua");
  if (rc == 0) {
    jnode_t back;
    if (json_ref_read(out.data, out.len, YOLK_JSON_MAX_DEPTH + 1, &back) != 0)
      FUZZ_FAIL("the Lua value encodes as invalid JSON: %.400s", out.data);
    /* the values JSON.parse + JSON.stringify give */
    json_ref_dedup(&ref);
    json_ref_numbers(&ref);
    if (nbins) lua_placeholders(&ref, nbins);
    /* objects left that look like placeholders would be taken for ones when
     * converting with the new attachments: then it is no fixed point */
    int literal_placeholders = any_placeholder(&ref, SIZE_MAX);
    yolk_sb_t order;
    yolk__sb_init(&order);
    size_t count = 0;
    json_ref_number_placeholders(&ref, &order, &count);
    if (!jnode_same(&back, &ref)) jnode_fail_diff("JSON -> Lua -> JSON changed the value", &back, &ref);
    /* the attachments: those of the placeholders, in document order */
    FUZZ_CHECK(ob.n == count);
    yolk_sb_t got;
    yolk__sb_init(&got);
    for (size_t i = 0; i < ob.n; i++) {
      yolk__sb_append(&got, ob.v[i].data, ob.v[i].len);
      yolk__sb_putc(&got, '|');
    }
    FUZZ_CHECK(got.len == order.len && (got.len == 0 || memcmp(got.data, order.data, got.len) == 0));
    yolk__sb_free(&got);
    yolk__sb_free(&order);
    jnode_free(&back);
    /* a fixed point: the output converts to itself */
    if (!(nbins && literal_placeholders)) {
      int rc2 = lua_round(out.data, out.len, ob.v, ob.n, set_n, &out2, nbins ? &ob2 : NULL);
      FUZZ_CHECK(rc2 == 0);
      if (out2.len != out.len || memcmp(out2.data, out.data, out.len) != 0)
        FUZZ_FAIL("converting the output again changed it:\n  %.400s\n  %.400s", out.data, out2.data);
      FUZZ_CHECK(ob2.n == ob.n);
      for (size_t i = 0; i < ob.n; i++)
        FUZZ_CHECK(ob2.v[i].len == ob.v[i].len && memcmp(ob2.v[i].data, ob.v[i].data, ob.v[i].len) == 0);
    }
  }
  if (valid) jnode_free(&ref);
  yolk__lua_bins_free(&ob);
  yolk__lua_bins_free(&ob2);
  yolk__sb_free(&out);
  yolk__sb_free(&out2);
  lua_settop(L, 0);
  /* a little garbage collection per input keeps the heap (and the time per input) flat */
  lua_gc(L, LUA_GCSTEP, 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  unsigned mode = data[0] % 4, param = data[1];
  const char *s = (const char *)data + 2;
  size_t len = size - 2;
  switch (mode) {
  case 0: fuzz_reader(param, s, len); break;
  case 1: fuzz_writer(param, s, len); break;
  case 2: fuzz_lua(param, s, len, 0); break;
  default: fuzz_lua(param, s, len, 2); break;
  }
  return 0;
}
