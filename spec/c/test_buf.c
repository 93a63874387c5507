/* test_buf.c - refcounted buffers and the string builder. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "test.h"

int main(void) {
  yolk_buf_t *b = yolk__buf_copy("hello", 5);
  CHECK_EQ_INT(b->refs, 1);
  CHECK_EQ_INT(b->len, 5);
  CHECK_STR(b->data, "hello"); /* NUL after the end */
  CHECK(yolk__buf_ref(b) == b);
  CHECK_EQ_INT(b->refs, 2);
  yolk__buf_unref(b);
  CHECK_EQ_INT(b->refs, 1);
  yolk__buf_unref(b); /* freed; ASan would report a leak otherwise */
  yolk__buf_unref(NULL);

  yolk_buf_t *e = yolk__buf_new(0);
  CHECK_EQ_INT(e->len, 0);
  CHECK_EQ_INT(e->data[0], 0);
  yolk__buf_unref(e);

  yolk_sb_t sb;
  yolk__sb_init(&sb);
  CHECK(sb.data == NULL && sb.len == 0);
  yolk__sb_puts(&sb, "a");
  yolk__sb_putc(&sb, 'b');
  yolk__sb_append(&sb, "cd", 2);
  yolk__sb_printf(&sb, "%d-%s", 42, "x");
  CHECK_STR(sb.data, "abcd42-x");
  CHECK_EQ_INT(sb.len, 8);
  /* printf longer than its stack scratch buffer */
  char big[600];
  memset(big, 'z', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  yolk__sb_printf(&sb, "[%s]", big);
  CHECK_EQ_INT(sb.len, 8 + 2 + 599);
  CHECK(sb.data[sb.len] == '\0');
  CHECK(sb.data[sb.len - 1] == ']');
  /* growth keeps contents */
  for (int i = 0; i < 10000; i++) yolk__sb_putc(&sb, (char)('0' + i % 10));
  CHECK_EQ_INT(sb.len, 609 + 10000);
  CHECK(sb.data[609] == '0' && sb.data[609 + 9999] == '9');
  yolk_buf_t *m = yolk__sb_to_buf(&sb);
  CHECK(sb.data == NULL && sb.len == 0);
  CHECK_EQ_INT(m->len, 10609);
  CHECK(memcmp(m->data, "abcd42-x[", 9) == 0);
  yolk__buf_unref(m);

  /* decimal digits without printf */
  char dig[20];
  CHECK_EQ_INT(yolk__u64_dec(dig, 0), 1);
  CHECK(dig[0] == '0');
  CHECK_EQ_INT(yolk__u64_dec(dig, 18446744073709551615ull), 20);
  CHECK(memcmp(dig, "18446744073709551615", 20) == 0);
  yolk__sb_init(&sb);
  yolk__sb_puts(&sb, "n=");
  yolk__sb_put_u64(&sb, 1000);
  yolk__sb_put_u64(&sb, 7);
  CHECK_STR(sb.data, "n=10007");
  yolk__sb_free(&sb);

  char *d = yolk__strndup("abcdef", 3);
  CHECK_STR(d, "abc");
  free(d);
  TEST_MAIN_END();
}
