/* test_json.c - the JSON reader and writer (core/json.c): what JSON.parse
 * accepts and refuses, the events it reports, the strings and numbers the
 * writer produces, and a round trip of random documents. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "test.h"

/* A handler that writes the events back as compact JSON, so a document read
 * and echoed can be compared as text. */
typedef struct {
  yolk_sb_t out;
  int need_comma[1100];
  int depth;
  int stop_at; /* stop on the n-th event (0: never) */
  int events;
} echo_t;

static int tick(echo_t *e) { return e->stop_at && ++e->events >= e->stop_at; }

static void sep(echo_t *e) {
  if (e->depth && e->need_comma[e->depth]) yolk__sb_putc(&e->out, ',');
  if (e->depth) e->need_comma[e->depth] = 1;
}

static int on_null(void *ud) {
  echo_t *e = ud;
  sep(e);
  yolk__sb_puts(&e->out, "null");
  return tick(e);
}
static int on_bool(void *ud, int v) {
  echo_t *e = ud;
  sep(e);
  yolk__sb_puts(&e->out, v ? "true" : "false");
  return tick(e);
}
static int on_number(void *ud, double v, const char *text, size_t len) {
  (void)text;
  (void)len;
  echo_t *e = ud;
  sep(e);
  yolk__json_write_number(&e->out, v);
  return tick(e);
}
static int on_string(void *ud, const char *s, size_t len) {
  echo_t *e = ud;
  sep(e);
  yolk__json_write_string(&e->out, s, len);
  return tick(e);
}
static int on_key(void *ud, const char *s, size_t len) {
  echo_t *e = ud;
  sep(e);
  yolk__json_write_string(&e->out, s, len);
  yolk__sb_putc(&e->out, ':');
  e->need_comma[e->depth] = 0; /* the value follows without a comma */
  return tick(e);
}
static int on_begin(echo_t *e, char c) {
  sep(e);
  yolk__sb_putc(&e->out, c);
  e->depth++;
  e->need_comma[e->depth] = 0;
  return tick(e);
}
static int on_begin_array(void *ud) { return on_begin(ud, '['); }
static int on_begin_object(void *ud) { return on_begin(ud, '{'); }
static int on_end(echo_t *e, char c) {
  e->depth--;
  yolk__sb_putc(&e->out, c);
  if (e->depth) e->need_comma[e->depth] = 1;
  return tick(e);
}
static int on_end_array(void *ud, size_t n) {
  (void)n;
  return on_end(ud, ']');
}
static int on_end_object(void *ud, size_t n) {
  (void)n;
  return on_end(ud, '}');
}

static const yolk_json_handler_t echo_handler = {on_null,         on_bool,       on_number,       on_string,
                                                 on_key,          on_begin_array, on_end_array,   on_begin_object,
                                                 on_end_object};

/* Reads s (len bytes) and returns its echo, or "ERR <what>@<pos>". */
static const char *echo_n(const char *s, size_t len) {
  static char result[4096];
  echo_t *e = calloc(1, sizeof(*e));
  yolk_json_error_t err;
  if (yolk__json_read(s, len, YOLK_JSON_MAX_DEPTH, &echo_handler, e, &err) == 0)
    snprintf(result, sizeof(result), "%.*s", (int)e->out.len, e->out.data ? e->out.data : "");
  else
    snprintf(result, sizeof(result), "ERR %s@%zu", err.what, err.pos);
  yolk__sb_free(&e->out);
  free(e);
  return result;
}
static const char *echo(const char *s) { return echo_n(s, strlen(s)); }

static void test_accepts(void) {
  CHECK_STR(echo("[]"), "[]");
  CHECK_STR(echo("{}"), "{}");
  CHECK_STR(echo(" \t\n\r[ 1 , 2 ]\n"), "[1,2]");
  CHECK_STR(echo("\"hi\""), "\"hi\"");
  CHECK_STR(echo("0"), "0");
  CHECK_STR(echo("-0"), "0");
  CHECK_STR(echo("true"), "true");
  CHECK_STR(echo("null"), "null");
  CHECK_STR(echo("[\"a\",{\"b\":[null,false,1.5,-2e3]}]"), "[\"a\",{\"b\":[null,false,1.5,-2000]}]");
  CHECK_STR(echo("{\"a\":1,\"a\":2}"), "{\"a\":1,\"a\":2}"); /* repeats reported as written */
  CHECK_STR(echo("[1e400]"), "[null]");                    /* Infinity, written back as null */
  CHECK_STR(echo("[123456789012345678901234567890]"), "[1.2345678901234568e+29]");
  CHECK_STR(echo("[9007199254740993]"), "[9007199254740992]");
  CHECK_STR(echo("[0.1,1E2,1e-7,-0.0]"), "[0.1,100,1e-07,0]");
  CHECK_STR(echo("[[[[[]]]]]"), "[[[[[]]]]]");
}

static void test_refuses(void) {
  const char *bad[] = {
      "",       " ",        "[",           "]",        "[1,]",     "{\"a\":1,}", "{a:1}",      "{'a':1}",
      "[01]",   "[1.]",     "[.5]",        "[1e]",     "[+1]",     "[-]",        "tru",        "nul",
      "[1 2]",  "{\"a\" 1}", "{\"a\":}",   "[\"\\x\"]", "[\"\\u12\"]", "\"a",      "[1] x",      "/*c*/1",
      "[NaN]",  "[\"\t\"]", "{\"a\":1]",   "[1}",      "\"\\\"",   "[\"\\uZZZZ\"]",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const char *r = echo(bad[i]);
    if (strncmp(r, "ERR ", 4) != 0) fprintf(stderr, "accepted: %s -> %s\n", bad[i], r);
    CHECK(strncmp(r, "ERR ", 4) == 0);
  }
  CHECK_STR(echo("[1] x"), "ERR unexpected data after the value@4");
  CHECK_STR(echo("[1,]"), "ERR unexpected character@3");
  /* a raw NUL byte in a string is a control character */
  CHECK(strncmp(echo_n("[\"a\0b\"]", 7), "ERR control", 11) == 0);
}

static void test_strings(void) {
  CHECK_STR(echo("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
  CHECK_STR(echo("\"\\u00e9\\u20AC\""), "\"\xC3\xA9\xE2\x82\xAC\"");
  CHECK_STR(echo("\"\\ud83d\\ude00\""), "\"\xF0\x9F\x98\x80\"");     /* a pair */
  CHECK_STR(echo("\"a\\ud83d\""), "\"a\xEF\xBF\xBD\"");               /* lone high */
  CHECK_STR(echo("\"\\ude00b\""), "\"\xEF\xBF\xBD" "b\"");            /* lone low */
  CHECK_STR(echo("\"\\ud83d\\u0041\""), "\"\xEF\xBF\xBD" "A\"");      /* high then not a low */
  CHECK_STR(echo("\"\\u0000\""), "\"\\u0000\"");                      /* NUL survives */
  CHECK_STR(echo("\"\\u001f\\u007f\""), "\"\\u001f\x7f\"");
  CHECK_STR(echo("\"caf\xC3\xA9\""), "\"caf\xC3\xA9\"");                 /* raw UTF-8 */
  CHECK_STR(echo("\"\xFF" "a\xE2\x82\""), "\"\xEF\xBF\xBD" "a\xEF\xBF\xBD\""); /* ill-formed -> U+FFFD */
  CHECK_STR(echo("{\"k\\n\":1}"), "{\"k\\n\":1}");
}

static void test_depth(void) {
  char deep[2100];
  for (int i = 0; i < 1000; i++) deep[i] = '[';
  for (int i = 0; i < 1000; i++) deep[1000 + i] = ']';
  deep[2000] = '\0';
  CHECK(yolk__json_valid(deep, 2000, YOLK_JSON_MAX_DEPTH));
  char deeper[2100];
  for (int i = 0; i < 1001; i++) deeper[i] = '[';
  for (int i = 0; i < 1001; i++) deeper[1001 + i] = ']';
  yolk_json_error_t err;
  CHECK(yolk__json_read(deeper, 2002, YOLK_JSON_MAX_DEPTH, NULL, NULL, &err) == -1);
  CHECK_STR(err.what, "nested too deeply");
  CHECK(!yolk__json_valid("[[[1]]]", 7, 2));
  CHECK(yolk__json_valid("[[[1]]]", 7, 3));
}

static void test_stop(void) {
  echo_t *e = calloc(1, sizeof(*e));
  e->stop_at = 3;
  yolk_json_error_t err;
  CHECK(yolk__json_read("[1,2,3,4]", 9, 10, &echo_handler, e, &err) == -1);
  CHECK_STR(err.what, "stopped");
  yolk__sb_free(&e->out);
  free(e);
}

static const char *num(double v) {
  static char out[64];
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__json_write_number(&sb, v);
  snprintf(out, sizeof(out), "%s", sb.data);
  yolk__sb_free(&sb);
  return out;
}

static void test_numbers(void) {
  CHECK_STR(num(0), "0");
  CHECK_STR(num(-0.0), "0");
  CHECK_STR(num(42), "42");
  CHECK_STR(num(-7), "-7");
  CHECK_STR(num(9007199254740992.0), "9007199254740992");
  CHECK_STR(num(1e15), "1000000000000000");
  CHECK_STR(num(0.1), "0.1");
  CHECK_STR(num(1.5), "1.5");
  CHECK_STR(num(1.0 / 3), "0.3333333333333333");
  CHECK_STR(num(NAN), "null");
  CHECK_STR(num(INFINITY), "null");
  CHECK_STR(num(-INFINITY), "null");
  /* every double read back as itself */
  srand(7);
  for (int i = 0; i < 20000; i++) {
    uint64_t bits = ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^ (uint64_t)rand();
    double v;
    memcpy(&v, &bits, sizeof(v));
    if (!isfinite(v)) continue;
    const char *t = num(v);
    CHECK(strtod(t, NULL) == v || (v == 0 && strtod(t, NULL) == 0));
  }
}

static const char *str(const char *s, size_t n) {
  static char out[256];
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__json_write_string(&sb, s, n);
  snprintf(out, sizeof(out), "%.*s", (int)sb.len, sb.data);
  yolk__sb_free(&sb);
  return out;
}

static void test_write_strings(void) {
  CHECK_STR(str("", 0), "\"\"");
  CHECK_STR(str(NULL, 0), "\"\""); /* msgpack-c's empty strings have no pointer */
  CHECK_STR(str("plain", 5), "\"plain\"");
  CHECK_STR(str("q\"b\\s", 5), "\"q\\\"b\\\\s\"");
  CHECK_STR(str("a\0b", 3), "\"a\\u0000b\"");
  CHECK_STR(str("\x01\x1f\b\f\n\r\t", 7), "\"\\u0001\\u001f\\b\\f\\n\\r\\t\"");
  CHECK_STR(str("/", 1), "\"/\"");
  CHECK_STR(str("\xE2\x80\xA8", 3), "\"\xE2\x80\xA8\""); /* U+2028 as JSON.stringify leaves it */
  CHECK_STR(str("\xFF\xC3", 2), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

/* Random documents: written, read, echoed, the same text. */
static void gen(yolk_sb_t *sb, int depth) {
  int kind = depth > 4 ? rand() % 4 : rand() % 6;
  switch (kind) {
  case 0: yolk__sb_puts(sb, "null"); break;
  case 1: yolk__sb_puts(sb, rand() % 2 ? "true" : "false"); break;
  case 2: yolk__json_write_number(sb, (rand() % 2 ? -1 : 1) * (double)rand() / (rand() % 1000 + 1)); break;
  case 3: {
    char s[16];
    size_t n = (size_t)(rand() % 16);
    for (size_t i = 0; i < n; i++) s[i] = (char)(rand() % 256);
    yolk__json_write_string(sb, s, n);
    break;
  }
  case 4: {
    int n = rand() % 5;
    yolk__sb_putc(sb, '[');
    for (int i = 0; i < n; i++) {
      if (i) yolk__sb_putc(sb, ',');
      gen(sb, depth + 1);
    }
    yolk__sb_putc(sb, ']');
    break;
  }
  default: {
    int n = rand() % 5;
    yolk__sb_putc(sb, '{');
    for (int i = 0; i < n; i++) {
      if (i) yolk__sb_putc(sb, ',');
      char k[4] = {(char)('a' + rand() % 26), (char)('a' + rand() % 26), 0, 0};
      yolk__json_write_cstr(sb, k);
      yolk__sb_putc(sb, ':');
      gen(sb, depth + 1);
    }
    yolk__sb_putc(sb, '}');
    break;
  }
  }
}

static void test_round_trip(void) {
  srand(42);
  for (int i = 0; i < 3000; i++) {
    yolk_sb_t sb;
    yolk__sb_init(&sb);
    gen(&sb, 0);
    const char *back = echo_n(sb.data, sb.len);
    CHECK(strlen(back) == sb.len && memcmp(back, sb.data, sb.len) == 0);
    yolk__sb_free(&sb);
  }
}

int main(void) {
  test_accepts();
  test_refuses();
  test_strings();
  test_depth();
  test_stop();
  test_numbers();
  test_write_strings();
  test_round_trip();
  TEST_MAIN_END();
}
