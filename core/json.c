/* json.c - see json.h.
 *
 * The reader is a loop over an explicit stack of open containers (no
 * recursion: the depth limit, not the C stack, bounds nesting). Strings
 * without escapes or non-ASCII bytes, which are most of what Socket.IO
 * carries, are handed over as pointers into the input; the others are
 * decoded into a scratch buffer owned by the call.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

typedef struct {
  char is_object;
  size_t count; /* values (arrays) or keys (objects) so far */
} frame_t;

typedef struct {
  const char *s;
  size_t len, pos;
  const yolk_json_handler_t *h;
  void *ud;
  yolk_sb_t scratch; /* decoded strings */
  const char *what;  /* error */
} reader_t;

#define EMIT(r, fn, ...) ((r)->h && (r)->h->fn ? (r)->h->fn((r)->ud, ##__VA_ARGS__) : 0)

static void skip_ws(reader_t *r) {
  while (r->pos < r->len) {
    char c = r->s[r->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    r->pos++;
  }
}

static int fail(reader_t *r, const char *what) {
  r->what = what;
  return -1;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Reads the string starting at the opening quote; on success *out / *n hold
 * the decoded text (in the input or in r->scratch) and pos is past the
 * closing quote. */
static int read_string(reader_t *r, const char **out, size_t *n) {
  const unsigned char *s = (const unsigned char *)r->s;
  size_t p = r->pos + 1, start = p;
  while (p < r->len && s[p] != '"' && s[p] != '\\' && s[p] >= 0x20 && s[p] < 0x80) p++;
  if (p < r->len && s[p] == '"') {
    *out = r->s + start;
    *n = p - start;
    r->pos = p + 1;
    return 0;
  }
  yolk_sb_t *sb = &r->scratch;
  sb->len = 0;
  yolk__sb_append(sb, s + start, p - start);
  for (;;) {
    if (p >= r->len) {
      r->pos = p;
      return fail(r, "unterminated string");
    }
    unsigned c = s[p];
    if (c == '"') break;
    if (c < 0x20) {
      r->pos = p;
      return fail(r, "control character in a string");
    }
    if (c == '\\') {
      if (p + 1 >= r->len) {
        r->pos = p;
        return fail(r, "unterminated string");
      }
      char e = (char)s[p + 1];
      p += 2;
      switch (e) {
      case '"': yolk__sb_putc(sb, '"'); break;
      case '\\': yolk__sb_putc(sb, '\\'); break;
      case '/': yolk__sb_putc(sb, '/'); break;
      case 'b': yolk__sb_putc(sb, '\b'); break;
      case 'f': yolk__sb_putc(sb, '\f'); break;
      case 'n': yolk__sb_putc(sb, '\n'); break;
      case 'r': yolk__sb_putc(sb, '\r'); break;
      case 't': yolk__sb_putc(sb, '\t'); break;
      case 'u': {
        unsigned cp, lo;
        if (p + 4 > r->len || hex4(r->s + p, &cp) != 0) {
          r->pos = p;
          return fail(r, "bad \\u escape");
        }
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && p + 6 <= r->len && s[p] == '\\' && s[p + 1] == 'u' &&
            hex4(r->s + p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
          cp = 0xFFFD; /* a lone surrogate: what a UTF-8 encoder makes of it */
        }
        yolk__utf8_put(sb, cp);
        break;
      }
      default:
        r->pos = p - 1;
        return fail(r, "bad escape");
      }
      continue;
    }
    if (c >= 0x80) {
      uint32_t cp;
      size_t bad = 0, k = yolk__utf8_decode(s + p, r->len - p, &cp, &bad);
      if (k) {
        yolk__sb_append(sb, s + p, k);
        p += k;
      } else {
        yolk__sb_append(sb, "\xEF\xBF\xBD", 3);
        p += bad;
      }
      continue;
    }
    size_t run = p;
    while (p < r->len && s[p] != '"' && s[p] != '\\' && s[p] >= 0x20 && s[p] < 0x80) p++;
    yolk__sb_append(sb, s + run, p - run);
  }
  *out = sb->data ? sb->data : "";
  *n = sb->len;
  r->pos = p + 1;
  return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int read_number(reader_t *r) {
  const char *s = r->s;
  size_t p = r->pos, start = p;
  int neg = 0, simple = 1;
  if (s[p] == '-') {
    neg = 1;
    p++;
  }
  if (p >= r->len || !is_digit(s[p])) return fail(r, "bad number");
  if (s[p] == '0') {
    p++;
  } else {
    while (p < r->len && is_digit(s[p])) p++;
  }
  size_t int_digits = p - start - (size_t)neg;
  if (p < r->len && s[p] == '.') {
    simple = 0;
    p++;
    if (p >= r->len || !is_digit(s[p])) return fail(r, "bad number");
    while (p < r->len && is_digit(s[p])) p++;
  }
  if (p < r->len && (s[p] == 'e' || s[p] == 'E')) {
    simple = 0;
    p++;
    if (p < r->len && (s[p] == '+' || s[p] == '-')) p++;
    if (p >= r->len || !is_digit(s[p])) return fail(r, "bad number");
    while (p < r->len && is_digit(s[p])) p++;
  }
  double v;
  if (simple && int_digits <= 15) {
    /* exact in a double: no strtod */
    int64_t x = 0;
    for (size_t i = start + (size_t)neg; i < p; i++) x = x * 10 + (s[i] - '0');
    v = neg ? -(double)x : (double)x;
  } else {
    char small[64];
    size_t n = p - start;
    char *copy = n < sizeof(small) ? small : yolk__malloc(n + 1);
    memcpy(copy, s + start, n);
    copy[n] = '\0';
    v = strtod(copy, NULL);
    if (copy != small) free(copy);
  }
  r->pos = p;
  return EMIT(r, number, v, s + start, p - start) ? fail(r, "stopped") : 0;
}

static int read_literal(reader_t *r) {
  const char *s = r->s + r->pos;
  size_t left = r->len - r->pos;
  int rc;
  if (left >= 4 && memcmp(s, "true", 4) == 0) {
    r->pos += 4;
    rc = EMIT(r, boolean, 1);
  } else if (left >= 5 && memcmp(s, "false", 5) == 0) {
    r->pos += 5;
    rc = EMIT(r, boolean, 0);
  } else if (left >= 4 && memcmp(s, "null", 4) == 0) {
    r->pos += 4;
    rc = EMIT(r, null_value);
  } else {
    return fail(r, "unexpected character");
  }
  return rc ? fail(r, "stopped") : 0;
}

int yolk__json_read(const char *s, size_t len, unsigned max_depth, const yolk_json_handler_t *h, void *ud,
                    yolk_json_error_t *err) {
  reader_t r = {s, len, 0, h, ud, {NULL, 0, 0}, NULL};
  frame_t small[32];
  frame_t *stack = small;
  size_t cap = sizeof(small) / sizeof(small[0]), depth = 0;
  int rc = -1;

  skip_ws(&r);
  for (;;) {
    /* a value */
    if (r.pos >= len) {
      fail(&r, depth ? "unterminated container" : "no value");
      goto out;
    }
    char c = s[r.pos];
    if (c == '{' || c == '[') {
      if (depth >= max_depth) {
        fail(&r, "nested too deeply");
        goto out;
      }
      if (depth == cap) {
        size_t ncap = cap * 2;
        frame_t *ns = yolk__malloc(ncap * sizeof(*ns));
        memcpy(ns, stack, depth * sizeof(*ns));
        if (stack != small) free(stack);
        stack = ns;
        cap = ncap;
      }
      int is_object = c == '{';
      stack[depth].is_object = (char)is_object;
      stack[depth].count = 0;
      depth++;
      r.pos++;
      if (is_object ? EMIT(&r, begin_object) : EMIT(&r, begin_array)) {
        fail(&r, "stopped");
        goto out;
      }
      skip_ws(&r);
      if (r.pos < len && s[r.pos] == (is_object ? '}' : ']')) {
        r.pos++;
        depth--;
        if (is_object ? EMIT(&r, end_object, 0) : EMIT(&r, end_array, 0)) {
          fail(&r, "stopped");
          goto out;
        }
        goto after_value;
      }
      if (!is_object) continue; /* the first element */
      goto key;
    } else if (c == '"') {
      const char *str;
      size_t n;
      if (read_string(&r, &str, &n) != 0) goto out;
      if (EMIT(&r, string, str, n)) {
        fail(&r, "stopped");
        goto out;
      }
    } else if (c == '-' || is_digit(c)) {
      if (read_number(&r) != 0) goto out;
    } else {
      if (read_literal(&r) != 0) goto out;
    }

  after_value:
    skip_ws(&r);
    if (depth == 0) {
      if (r.pos != len) {
        fail(&r, "unexpected data after the value");
        goto out;
      }
      rc = 0;
      goto out;
    }
    {
      frame_t *f = &stack[depth - 1];
      f->count++;
      if (r.pos >= len) {
        fail(&r, "unterminated container");
        goto out;
      }
      char d = s[r.pos];
      if (d == ',') {
        r.pos++;
        skip_ws(&r);
        if (!f->is_object) continue;
        goto key;
      }
      if (d == (f->is_object ? '}' : ']')) {
        r.pos++;
        depth--;
        if (f->is_object ? EMIT(&r, end_object, f->count) : EMIT(&r, end_array, f->count)) {
          fail(&r, "stopped");
          goto out;
        }
        goto after_value;
      }
      fail(&r, f->is_object ? "expected ',' or '}'" : "expected ',' or ']'");
      goto out;
    }

  key:
    if (r.pos >= len || s[r.pos] != '"') {
      fail(&r, "expected a key");
      goto out;
    }
    {
      const char *k;
      size_t kn;
      if (read_string(&r, &k, &kn) != 0) goto out;
      if (EMIT(&r, key, k, kn)) {
        fail(&r, "stopped");
        goto out;
      }
    }
    skip_ws(&r);
    if (r.pos >= len || s[r.pos] != ':') {
      fail(&r, "expected ':'");
      goto out;
    }
    r.pos++;
    skip_ws(&r);
  }

out:
  if (stack != small) free(stack);
  yolk__sb_free(&r.scratch);
  if (rc != 0 && err) {
    err->pos = r.pos;
    err->what = r.what ? r.what : "invalid JSON";
  }
  return rc;
}

int yolk__json_valid(const char *s, size_t len, unsigned max_depth) {
  return yolk__json_read(s, len, max_depth, NULL, NULL, NULL) == 0;
}

/* ---- writing ------------------------------------------------------------------ */

void yolk__json_write_string(yolk_sb_t *sb, const char *s, size_t len) {
  if (len == 0) { /* s may be NULL then (msgpack-c's empty strings): no pointer arithmetic on it */
    yolk__sb_append(sb, "\"\"", 2);
    return;
  }
  /* the common case, printable ASCII without '"' or '\\' (keys, names, most
   * values): written as it is, without the UTF-8 check or the escape loop */
  {
    const unsigned char *q = (const unsigned char *)s;
    size_t i = 0;
    while (i < len && q[i] >= 0x20 && q[i] < 0x80 && q[i] != '"' && q[i] != '\\') i++;
    if (i == len) {
      yolk__sb_reserve(sb, len + 2);
      char *w = sb->data + sb->len;
      w[0] = '"';
      memcpy(w + 1, s, len);
      w[len + 1] = '"';
      sb->len += len + 2;
      sb->data[sb->len] = '\0';
      return;
    }
  }
  if (!yolk__utf8_valid(s, len)) {
    /* rare (Lua strings are bytes): repaired first, then written */
    yolk_sb_t fixed;
    yolk__sb_init(&fixed);
    yolk__utf8_repair(&fixed, s, len);
    yolk__json_write_string(sb, fixed.data, fixed.len);
    yolk__sb_free(&fixed);
    return;
  }
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  yolk__sb_reserve(sb, len + 2);
  yolk__sb_putc(sb, '"');
  size_t run = 0; /* p[run..i) needs no escape and is not yet copied */
  for (size_t i = 0; i < len; i++) {
    unsigned c = p[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue; /* UTF-8 bytes included: the string is well-formed */
    yolk__sb_append(sb, p + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t en = 2;
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      en = 6;
      break;
    }
    yolk__sb_append(sb, esc, en);
  }
  yolk__sb_append(sb, p + run, len - run);
  yolk__sb_putc(sb, '"');
}

void yolk__json_write_cstr(yolk_sb_t *sb, const char *s) { yolk__json_write_string(sb, s, strlen(s)); }

void yolk__json_write_number(yolk_sb_t *sb, double x) {
  char buf[40];
  int n;
  if (!isfinite(x)) {
    yolk__sb_append(sb, "null", 4);
    return;
  }
  if (x == floor(x) && fabs(x) <= 9007199254740992.0) {
    /* digits by hand: the common case (ids, counters) without printf */
    long long v = (long long)x; /* -0 prints 0 */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    n = 0;
    if (v < 0) buf[n++] = '-';
    n += (int)yolk__u64_dec(buf + n, u);
  } else {
    n = 0;
    for (int prec = 15; prec <= 17; prec++) {
      n = snprintf(buf, sizeof(buf), "%.*g", prec, x);
      if (strtod(buf, NULL) == x) break;
    }
  }
  yolk__sb_append(sb, buf, (size_t)n);
}
