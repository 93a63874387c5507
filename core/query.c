/* query.c - see query.h */
#include "query.h"

#include <string.h>

#include "utf8.h"
#include "yolk.h"

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void yolk__query_decode(yolk_sb_t *out, const char *s, size_t len) { yolk__percent_decode(out, s, len, 1); }

void yolk__percent_decode(yolk_sb_t *out, const char *s, size_t len, int plus_is_space) {
  /* bytes first (escapes can build multi-byte characters), then UTF-8 */
  char small[256];
  yolk_sb_t raw;
  yolk__sb_init(&raw);
  char *dst = len <= sizeof(small) ? small : (yolk__sb_reserve(&raw, len), raw.data);
  size_t n = 0;
  int plain = 1; /* nothing but ASCII: no UTF-8 check needed */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '+' && plus_is_space) {
      c = ' ';
    } else if (c == '%' && i + 2 < len) {
      int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
      if (h >= 0 && l >= 0) {
        c = (unsigned char)(h * 16 + l);
        i += 2;
      }
    }
    if (c >= 0x80) plain = 0;
    dst[n++] = (char)c;
  }
  if (plain) yolk__sb_append(out, dst, n);
  else yolk__utf8_repair(out, dst, n);
  yolk__sb_free(&raw);
}

/* Whether s[0..len) decodes to itself: no escape, no '+', ASCII only (so
 * valid UTF-8). Most query strings are, and are then handed over in place. */
static int plain_component(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%' || c == '+' || c >= 0x80) return 0;
  }
  return 1;
}

/* One component decoded into sb, or in place when it is plain. */
static const char *component(yolk_sb_t *sb, const char *s, size_t len, size_t *out_len) {
  if (plain_component(s, len)) {
    *out_len = len;
    return s;
  }
  sb->len = 0;
  yolk__query_decode(sb, s, len);
  *out_len = sb->len;
  return sb->data ? sb->data : "";
}

/* The pairs of qs, or with want only those whose name decodes to want (a
 * plain name that differs is passed over before its value is looked at). */
static int query_scan(const char *qs, size_t len, const char *want, size_t want_len, yolk_query_cb cb, void *ud) {
  yolk_sb_t name, value;
  yolk__sb_init(&name);
  yolk__sb_init(&value);
  int stopped = 0;
  size_t i = 0;
  while (i < len && !stopped) {
    const char *p = qs + i;
    const char *amp = memchr(p, '&', len - i);
    size_t seg = amp ? (size_t)(amp - p) : len - i;
    if (seg) {
      const char *eq = memchr(p, '=', seg);
      size_t nl = eq ? (size_t)(eq - p) : seg, vl = 0;
      if (want && plain_component(p, nl) && (nl != want_len || memcmp(p, want, nl) != 0)) {
        i += seg + 1;
        continue;
      }
      const char *n = component(&name, p, nl, &nl);
      const char *v = eq ? component(&value, eq + 1, seg - (size_t)(eq + 1 - p), &vl) : "";
      stopped = cb(ud, n, nl, v, vl) != 0;
    }
    i += seg + 1;
  }
  yolk__sb_free(&name);
  yolk__sb_free(&value);
  return stopped;
}

int yolk__query_each(const char *qs, size_t len, yolk_query_cb cb, void *ud) {
  return query_scan(qs, len, NULL, 0, cb, ud);
}

typedef struct {
  const char *name;
  size_t nlen;
  char *out;
  size_t outlen;
  int found;
} get_t;

static int get_one(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  get_t *g = ud;
  if (nlen != g->nlen || memcmp(name, g->name, nlen) != 0) return 0;
  size_t n = vlen < g->outlen ? vlen : g->outlen - 1;
  memcpy(g->out, value, n);
  g->out[n] = '\0';
  g->found = (int)vlen;
  return 1;
}

int yolk_query_get(const char *query, const char *name, char *out, size_t outlen) {
  get_t g = {name, strlen(name), out, outlen, -1};
  if (!query || !outlen) return -1;
  query_scan(query, strlen(query), name, g.nlen, get_one, &g);
  return g.found < 0 ? -1 : (g.found < (int)outlen ? g.found : (int)outlen - 1);
}
