/* buf.h - reference-counted byte buffers and a growable string builder.
 *
 * A yolk_buf_t is immutable once shared. It is how one encoded frame is
 * written to many connections: every queued write holds one reference and
 * releases it in its write callback; the last release frees the memory.
 * The loop is single-threaded, so the count is a plain integer.
 */
#ifndef YOLK_BUF_H
#define YOLK_BUF_H

#include <stddef.h>
#include <stdarg.h>
#include <string.h>

typedef struct yolk_buf_s {
  unsigned refs;
  size_t len;
  char data[]; /* len bytes, followed by one NUL so text can be used as a C string */
} yolk_buf_t;

/* A new buffer of len bytes (uninitialised, NUL after the end), refs = 1. Aborts on OOM. */
yolk_buf_t *yolk__buf_new(size_t len);
/* A new buffer holding a copy of p[0..len), refs = 1. */
yolk_buf_t *yolk__buf_copy(const void *p, size_t len);

static inline yolk_buf_t *yolk__buf_ref(yolk_buf_t *b) {
  b->refs++;
  return b;
}
/* Drops one reference; frees at zero. NULL is ignored. */
void yolk__buf_unref(yolk_buf_t *b);

/* Growable byte string, owned by whoever declared it. data is always
 * NUL-terminated (when non-NULL) so it can be used as a C string. */
typedef struct {
  char *data;
  size_t len;
  size_t cap;
} yolk_sb_t;

void yolk__sb_init(yolk_sb_t *sb);
void yolk__sb_free(yolk_sb_t *sb);
/* Grows sb so that extra more bytes (and the NUL) fit: reserve's slow path. */
void yolk__sb_grow(yolk_sb_t *sb, size_t extra);
/* The builder is on every packet's path (JSON in and out, frames): the
 * common case, room already there, is inline. */
static inline void yolk__sb_reserve(yolk_sb_t *sb, size_t extra) {
  if (sb->len + extra + 1 > sb->cap) yolk__sb_grow(sb, extra);
}
static inline void yolk__sb_append(yolk_sb_t *sb, const void *p, size_t len) {
  yolk__sb_reserve(sb, len);
  if (len) memcpy(sb->data + sb->len, p, len);
  sb->len += len;
  sb->data[sb->len] = '\0';
}
static inline void yolk__sb_putc(yolk_sb_t *sb, char c) {
  yolk__sb_reserve(sb, 1);
  sb->data[sb->len++] = c;
  sb->data[sb->len] = '\0';
}
void yolk__sb_puts(yolk_sb_t *sb, const char *s);
void yolk__sb_printf(yolk_sb_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The decimal digits of v, written to out (room for 20, no NUL); returns
 * how many. For the hot paths that would otherwise call printf for a number. */
size_t yolk__u64_dec(char *out, unsigned long long v);
/* Appends the decimal digits of v. */
static inline void yolk__sb_put_u64(yolk_sb_t *sb, unsigned long long v) {
  yolk__sb_reserve(sb, 20);
  sb->len += yolk__u64_dec(sb->data + sb->len, v);
  sb->data[sb->len] = '\0';
}
/* Moves the contents into a new shared buffer (one copy) and resets sb. */
yolk_buf_t *yolk__sb_to_buf(yolk_sb_t *sb);

/* Allocation helpers that abort with a message on OOM: callers never check. */
void *yolk__malloc(size_t n);
void *yolk__calloc(size_t n, size_t m);
void *yolk__realloc(void *p, size_t n);
char *yolk__strndup(const char *s, size_t n);

#endif
