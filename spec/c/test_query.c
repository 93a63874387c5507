/* test_query.c - the one query-string decoder (core/query.c): decoding as
 * URLSearchParams does, pair order, the public yolk_query_get. */
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "test.h"
#include "yolk.h"

static void test_get(void) {
  char out[32];
  CHECK_EQ_INT(yolk_query_get("EIO=4&transport=polling&t=abc", "transport", out, sizeof(out)), 7);
  CHECK_STR(out, "polling");
  CHECK_EQ_INT(yolk_query_get("EIO=4&transport=polling", "EIO", out, sizeof(out)), 1);
  CHECK_STR(out, "4");
  CHECK_EQ_INT(yolk_query_get("EIO=4&transport=polling", "sid", out, sizeof(out)), -1);
  CHECK_EQ_INT(yolk_query_get("", "sid", out, sizeof(out)), -1);
  CHECK_EQ_INT(yolk_query_get(NULL, "sid", out, sizeof(out)), -1);
  CHECK_EQ_INT(yolk_query_get("a=%41%2f+b%zz%", "a", out, sizeof(out)), 8);
  CHECK_STR(out, "A/ b%zz%");
  CHECK_EQ_INT(yolk_query_get("flag&x=1", "flag", out, sizeof(out)), 0);
  CHECK_STR(out, "");
  CHECK_EQ_INT(yolk_query_get("x=1&sid=", "sid", out, sizeof(out)), 0);
  CHECK_EQ_INT(yolk_query_get("xsid=1&sid=2", "sid", out, sizeof(out)), 1);
  CHECK_STR(out, "2");
  /* names are compared decoded; the first value wins */
  CHECK_EQ_INT(yolk_query_get("a%5Fb=1&a_b=2", "a_b", out, sizeof(out)), 1);
  CHECK_STR(out, "1");
  /* truncated to the buffer */
  CHECK_EQ_INT(yolk_query_get("a=0123456789", "a", out, 5), 4);
  CHECK_STR(out, "0123");
}

typedef struct {
  char text[512];
} collect_t;

static int collect(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  collect_t *c = ud;
  size_t at = strlen(c->text);
  snprintf(c->text + at, sizeof(c->text) - at, "[%.*s=%.*s]", (int)nlen, name, (int)vlen, value);
  return 0;
}

static const char *each(const char *qs) {
  static collect_t c;
  c.text[0] = '\0';
  yolk__query_each(qs, strlen(qs), collect, &c);
  return c.text;
}

/* What `[...new URLSearchParams(qs)]` gives in Node, pair by pair. */
static void test_each(void) {
  CHECK_STR(each("a=1&a=2&b"), "[a=1][a=2][b=]");
  CHECK_STR(each("&&a=1&&"), "[a=1]");
  CHECK_STR(each("=x&y="), "[=x][y=]");
  CHECK_STR(each("a=b=c"), "[a=b=c]");
  CHECK_STR(each("x=a+b%20c"), "[x=a b c]");
  CHECK_STR(each("x=%zz&y=%4&z=%"), "[x=%zz][y=%4][z=%]");
  CHECK_STR(each("e=%E2%82%AC"), "[e=\xE2\x82\xAC]");
  CHECK_STR(each("bad=%FF&t=%E2%82"), "[bad=\xEF\xBF\xBD][t=\xEF\xBF\xBD]");
  CHECK_STR(each("raw=caf\xC3\xA9"), "[raw=caf\xC3\xA9]");
  CHECK_STR(each("%3D=%26"), "[\x3D=&]");
}

static int stop_at_b(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  (void)value;
  (void)vlen;
  int *n = ud;
  (*n)++;
  return nlen == 1 && name[0] == 'b';
}

static void test_stop_and_nul(void) {
  int n = 0;
  CHECK_EQ_INT(yolk__query_each("a=1&b=2&c=3", 11, stop_at_b, &n), 1);
  CHECK_EQ_INT(n, 2);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__query_decode(&sb, "a%00b", 5);
  CHECK_EQ_INT(sb.len, 3);
  CHECK(sb.len == 3 && memcmp(sb.data, "a\0b", 3) == 0);
  yolk__sb_free(&sb);
}

int main(void) {
  test_get();
  test_each();
  test_stop_and_nul();
  TEST_MAIN_END();
}
