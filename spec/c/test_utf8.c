/* test_utf8.c - the one UTF-8 decoder (core/utf8.c): validation, decoding
 * with the WHATWG replacement of maximal ill-formed subparts, repair,
 * UTF-16 lengths. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "utf8.h"

static void test_utf8(void) {
  const char *good = "plain ASCII, caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x98\x80, \xEF\xBF\xBF, \xF4\x8F\xBF\xBF";
  CHECK_EQ_INT(yolk__utf8_validate(0, (const unsigned char *)good, strlen(good)), YOLK_UTF8_ACCEPT);
  /* incremental: byte by byte reaches the same verdict */
  uint32_t st = 0;
  for (size_t i = 0; i < strlen(good); i++) st = yolk__utf8_validate(st, (const unsigned char *)good + i, 1);
  CHECK_EQ_INT(st, YOLK_UTF8_ACCEPT);
  /* mid-character is neither accept nor reject */
  st = yolk__utf8_validate(0, (const unsigned char *)"\xE2\x82", 2);
  CHECK(st != YOLK_UTF8_ACCEPT && st != YOLK_UTF8_REJECT);
  CHECK_EQ_INT(yolk__utf8_validate(st, (const unsigned char *)"\xAC", 1), YOLK_UTF8_ACCEPT);
  const char *bad[] = {"\x80", "\xC1\xBF", "\xF5\x80\x80\x80", ("\xE2\x82" "a"), "\xF0\x8F\xBF\xBF", "\xED\xBF\xBF"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    CHECK_EQ_INT(yolk__utf8_validate(0, (const unsigned char *)bad[i], strlen(bad[i])), YOLK_UTF8_REJECT);
  /* reject is sticky */
  CHECK_EQ_INT(yolk__utf8_validate(YOLK_UTF8_REJECT, (const unsigned char *)"a", 1), YOLK_UTF8_REJECT);
}

/* Multi-byte characters at every offset around the 8-byte ASCII fast path. */
static void test_utf8_offsets(void) {
  for (int k = 0; k < 24; k++) {
    for (int m = 0; m < 10; m++) {
      char buf[64];
      memset(buf, 'a', sizeof(buf));
      memcpy(buf + k, "\xE2\x82\xAC", 3);
      size_t len = (size_t)k + 3 + (size_t)m;
      CHECK_EQ_INT(yolk__utf8_validate(0, (unsigned char *)buf, len), YOLK_UTF8_ACCEPT);
      buf[k + 1] = 'x'; /* broken sequence */
      CHECK_EQ_INT(yolk__utf8_validate(0, (unsigned char *)buf, len), YOLK_UTF8_REJECT);
      buf[k + 1] = (char)0x82;
      buf[k + 2 + m] = (char)0xFF; /* bad byte later in the ASCII run */
      if (m) CHECK_EQ_INT(yolk__utf8_validate(0, (unsigned char *)buf, len), YOLK_UTF8_REJECT);
    }
  }
}

/* Every maximal ill-formed subpart is one U+FFFD, as TextDecoder and
 * Buffer#toString read it (the values below are what Node prints). */
static void check_repair(const char *in, size_t n, const char *want) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__utf8_repair(&sb, in, n);
  CHECK_EQ_INT(sb.len, strlen(want));
  CHECK(sb.len == strlen(want) && memcmp(sb.data ? sb.data : "", want, sb.len) == 0);
  CHECK(yolk__utf8_valid(sb.data ? sb.data : "", sb.len));
  yolk__sb_free(&sb);
}

#define R "\xEF\xBF\xBD"

static void test_repair(void) {
  check_repair("", 0, "");
  check_repair("abc", 3, "abc");
  check_repair("caf\xC3\xA9", 5, "caf\xC3\xA9");
  check_repair("\xFF", 1, R);
  check_repair("a\xE2\x82", 3, "a" R);                    /* truncated: one */
  check_repair("\xE2\x82" "a", 3, R "a");
  check_repair("\xED\xA0\x80", 3, R R R);                /* a surrogate: ED, then two strays */
  check_repair("\xF0\x9F\x98", 3, R);                   /* truncated 4-byte: one */
  check_repair("\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80");
  check_repair("\xC0\xAF", 2, R R);                      /* overlong lead: two */
  check_repair("\xF4\x90\x80\x80", 4, R R R R);        /* past U+10FFFF */
  check_repair("x\x80y\xBFz", 5, "x" R "y" R "z");
}

static void test_decode(void) {
  uint32_t cp = 0;
  size_t bad = 0;
  CHECK_EQ_INT(yolk__utf8_decode((const unsigned char *)"A", 1, &cp, &bad), 1);
  CHECK_EQ_INT(cp, 'A');
  CHECK_EQ_INT(yolk__utf8_decode((const unsigned char *)"\xE2\x82\xAC", 3, &cp, &bad), 3);
  CHECK_EQ_INT(cp, 0x20AC);
  CHECK_EQ_INT(yolk__utf8_decode((const unsigned char *)"\xF0\x9F\x98\x80", 4, &cp, &bad), 4);
  CHECK_EQ_INT(cp, 0x1F600);
  CHECK_EQ_INT(yolk__utf8_decode((const unsigned char *)"\xE2\x82", 2, &cp, &bad), 0);
  CHECK_EQ_INT(bad, 2);
  CHECK_EQ_INT(yolk__utf8_decode((const unsigned char *)"\xE2" "a", 2, &cp, &bad), 0);
  CHECK_EQ_INT(bad, 1);
  /* encoding round trip over the whole range (surrogates excluded) */
  for (uint32_t c = 0; c <= 0x10FFFF; c += (c < 0x800 ? 1 : 97)) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    yolk_sb_t sb;
    yolk__sb_init(&sb);
    yolk__utf8_put(&sb, c);
    uint32_t got = 0;
    CHECK_EQ_INT(yolk__utf8_decode((const unsigned char *)sb.data, sb.len, &got, &bad), sb.len);
    CHECK_EQ_INT(got, c);
    yolk__sb_free(&sb);
  }
}

int main(void) {
  test_utf8();
  test_utf8_offsets();
  test_repair();
  test_decode();
  TEST_MAIN_END();
}
