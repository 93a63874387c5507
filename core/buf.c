/* buf.c - see buf.h */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n) {
  fprintf(stderr, "yolk: out of memory allocating %zu bytes\n", n);
  abort();
}

void *yolk__malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *yolk__calloc(size_t n, size_t m) {
  void *p = calloc(n ? n : 1, m ? m : 1);
  if (!p) oom(n * m);
  return p;
}

void *yolk__realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *yolk__strndup(const char *s, size_t n) {
  char *d = yolk__malloc(n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

yolk_buf_t *yolk__buf_new(size_t len) {
  yolk_buf_t *b = yolk__malloc(sizeof(*b) + len + 1);
  b->refs = 1;
  b->len = len;
  b->data[len] = '\0';
  return b;
}

yolk_buf_t *yolk__buf_copy(const void *p, size_t len) {
  yolk_buf_t *b = yolk__buf_new(len);
  if (len) memcpy(b->data, p, len);
  return b;
}

void yolk__buf_unref(yolk_buf_t *b) {
  if (b && --b->refs == 0) free(b);
}

void yolk__sb_init(yolk_sb_t *sb) {
  sb->data = NULL;
  sb->len = sb->cap = 0;
}

void yolk__sb_free(yolk_sb_t *sb) {
  free(sb->data);
  yolk__sb_init(sb);
}

void yolk__sb_grow(yolk_sb_t *sb, size_t extra) {
  size_t need = sb->len + extra + 1;
  if (need <= sb->cap) return;
  size_t cap = sb->cap ? sb->cap : 64;
  while (cap < need) cap *= 2;
  sb->data = yolk__realloc(sb->data, cap);
  sb->cap = cap;
}

void yolk__sb_puts(yolk_sb_t *sb, const char *s) { yolk__sb_append(sb, s, strlen(s)); }

size_t yolk__u64_dec(char *out, unsigned long long v) {
  char tmp[20];
  size_t k = 0, n = 0;
  do {
    tmp[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (k) out[n++] = tmp[--k];
  return n;
}

void yolk__sb_printf(yolk_sb_t *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[256];
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof(tmp)) {
    yolk__sb_append(sb, tmp, (size_t)n);
    return;
  }
  yolk__sb_reserve(sb, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
}

yolk_buf_t *yolk__sb_to_buf(yolk_sb_t *sb) {
  yolk_buf_t *b = yolk__buf_copy(sb->data, sb->len);
  yolk__sb_free(sb);
  return b;
}
