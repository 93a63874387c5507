/* json_ref.h - a reference JSON reader for the fuzz targets, written from RFC
 * 8259 and json.h's stated rules (not from core/json.c), and a tree both
 * readers build, so that they can be compared value for value.
 *
 *   - strict grammar; whitespace is space, tab, LF, CR; at most max_depth
 *     nested containers;
 *   - strings: escapes decoded, a \uD8xx\uDCxx pair joined, any other
 *     surrogate escape U+FFFD, raw bytes decoded as the WHATWG UTF-8 decoder
 *     does (fuzz_utf8_repair);
 *   - numbers keep their text (and strtod's value);
 *   - objects keep every key as written, repeats included (json_ref_dedup
 *     applies JSON.parse's rule: the first position, the last value).
 *
 * Header-only, like fuzz.h.
 */
#ifndef YOLK_FUZZ_JSON_REF_H
#define YOLK_FUZZ_JSON_REF_H

#include <math.h>

#include "fuzz.h"
#include "json.h"

typedef struct jnode {
  char t;    /* 'z' null, 't' true, 'f' false, 'n' number, 's' string, 'a' array, 'o' object, 'b' binary */
  char *s;   /* string bytes / number text / binary bytes */
  size_t len;
  double num;
  struct jnode *kids; /* array elements, object values */
  char **keys;        /* object keys (key i for kids[i]) */
  size_t *klens;
  size_t n, cap;
} jnode_t;

static inline void jnode_free(jnode_t *j) {
  for (size_t i = 0; i < j->n; i++) {
    jnode_free(&j->kids[i]);
    if (j->keys) free(j->keys[i]);
  }
  free(j->kids);
  free(j->keys);
  free(j->klens);
  free(j->s);
  memset(j, 0, sizeof(*j));
}

static inline char *jdup(const char *s, size_t len) {
  char *d = malloc(len + 1);
  if (len) memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

/* j becomes a binary value holding data[0..len) (an attachment in place of
 * its placeholder). */
static inline void jnode_set_bin(jnode_t *j, const char *data, size_t len) {
  jnode_free(j);
  j->t = 'b';
  j->s = jdup(data, len);
  j->len = len;
}

/* Appends an empty child to j (an array or object); key for objects. */
static inline jnode_t *jnode_add(jnode_t *j, const char *key, size_t klen) {
  if (j->n == j->cap) {
    j->cap = j->cap ? 2 * j->cap : 4;
    j->kids = realloc(j->kids, j->cap * sizeof(*j->kids));
    if (j->t == 'o') {
      j->keys = realloc(j->keys, j->cap * sizeof(*j->keys));
      j->klens = realloc(j->klens, j->cap * sizeof(*j->klens));
    }
  }
  jnode_t *k = &j->kids[j->n];
  memset(k, 0, sizeof(*k));
  if (j->t == 'o') {
    j->keys[j->n] = jdup(key, klen);
    j->klens[j->n] = klen;
  }
  j->n++;
  return k;
}

/* ---- the reference reader --------------------------------------------------------------- */

typedef struct {
  const unsigned char *s;
  size_t len, pos;
  unsigned max_depth;
} jref_t;

static inline void jref_ws(jref_t *r) {
  while (r->pos < r->len && (r->s[r->pos] == ' ' || r->s[r->pos] == '\t' || r->s[r->pos] == '\n' || r->s[r->pos] == '\r'))
    r->pos++;
}

static inline int jref_hex4(const unsigned char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
          : p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

static inline void jref_put_cp(yolk_sb_t *sb, unsigned cp) {
  unsigned char u[4];
  size_t n;
  if (cp < 0x80) u[0] = (unsigned char)cp, n = 1;
  else if (cp < 0x800) u[0] = (unsigned char)(0xC0 | (cp >> 6)), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), n = 2;
  else if (cp < 0x10000)
    u[0] = (unsigned char)(0xE0 | (cp >> 12)), u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)),
    u[2] = (unsigned char)(0x80 | (cp & 0x3F)), n = 3;
  else
    u[0] = (unsigned char)(0xF0 | (cp >> 18)), u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F)),
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F)), n = 4;
  yolk__sb_append(sb, u, n);
}

/* At the opening quote; the decoded string into out (reset). */
static inline int jref_string(jref_t *r, yolk_sb_t *out) {
  yolk_sb_t raw; /* raw bytes not yet decoded (between escapes) */
  yolk__sb_init(&raw);
  out->len = 0;
  r->pos++;
  int ok = 0;
  for (;;) {
    if (r->pos >= r->len) break;
    unsigned c = r->s[r->pos];
    if (c < 0x20) break;
    if (c == '"' || c == '\\') {
      fuzz_utf8_repair(out, (const unsigned char *)(raw.data ? raw.data : ""), raw.len);
      raw.len = 0;
    }
    if (c == '"') {
      r->pos++;
      ok = 1;
      break;
    }
    if (c != '\\') {
      yolk__sb_putc(&raw, (char)c);
      r->pos++;
      continue;
    }
    if (r->pos + 1 >= r->len) break;
    unsigned e = r->s[r->pos + 1];
    r->pos += 2;
    const char *simple = e == '"' ? "\"" : e == '\\' ? "\\" : e == '/' ? "/" : e == 'b' ? "\b" : e == 'f' ? "\f"
                       : e == 'n' ? "\n" : e == 'r' ? "\r" : e == 't' ? "\t" : NULL;
    if (simple) {
      yolk__sb_putc(out, simple[0]);
      continue;
    }
    if (e != 'u') break;
    unsigned cp, lo;
    if (r->pos + 4 > r->len || jref_hex4(r->s + r->pos, &cp) != 0) break;
    r->pos += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && r->pos + 6 <= r->len && r->s[r->pos] == '\\' && r->s[r->pos + 1] == 'u' &&
        jref_hex4(r->s + r->pos + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
      r->pos += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;
    }
    jref_put_cp(out, cp);
  }
  yolk__sb_free(&raw);
  return ok ? 0 : -1;
}

static inline int jref_digit(jref_t *r) { return r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9'; }

static inline int jref_value(jref_t *r, jnode_t *j, unsigned depth) {
  jref_ws(r);
  if (r->pos >= r->len) return -1;
  unsigned c = r->s[r->pos];
  if (c == '[' || c == '{') {
    if (depth >= r->max_depth) return -1;
    j->t = c == '[' ? 'a' : 'o';
    r->pos++;
    jref_ws(r);
    if (r->pos < r->len && r->s[r->pos] == (c == '[' ? ']' : '}')) {
      r->pos++;
      return 0;
    }
    yolk_sb_t key;
    yolk__sb_init(&key);
    for (;;) {
      jnode_t *k;
      if (c == '{') {
        jref_ws(r);
        if (r->pos >= r->len || r->s[r->pos] != '"' || jref_string(r, &key) != 0) break;
        jref_ws(r);
        if (r->pos >= r->len || r->s[r->pos] != ':') break;
        r->pos++;
        k = jnode_add(j, key.data ? key.data : "", key.len);
      } else {
        k = jnode_add(j, NULL, 0);
      }
      if (jref_value(r, k, depth + 1) != 0) break;
      jref_ws(r);
      if (r->pos >= r->len) break;
      if (r->s[r->pos] == ',') {
        r->pos++;
        continue;
      }
      if (r->s[r->pos] == (c == '[' ? ']' : '}')) {
        r->pos++;
        yolk__sb_free(&key);
        return 0;
      }
      break;
    }
    yolk__sb_free(&key);
    return -1;
  }
  if (c == '"') {
    yolk_sb_t s;
    yolk__sb_init(&s);
    int rc = jref_string(r, &s);
    j->t = 's';
    j->s = jdup(s.data ? s.data : "", s.len);
    j->len = s.len;
    yolk__sb_free(&s);
    return rc;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    size_t start = r->pos;
    if (c == '-') r->pos++;
    if (!jref_digit(r)) return -1;
    if (r->s[r->pos] == '0') r->pos++;
    else while (jref_digit(r)) r->pos++;
    if (r->pos < r->len && r->s[r->pos] == '.') {
      r->pos++;
      if (!jref_digit(r)) return -1;
      while (jref_digit(r)) r->pos++;
    }
    if (r->pos < r->len && (r->s[r->pos] == 'e' || r->s[r->pos] == 'E')) {
      r->pos++;
      if (r->pos < r->len && (r->s[r->pos] == '+' || r->s[r->pos] == '-')) r->pos++;
      if (!jref_digit(r)) return -1;
      while (jref_digit(r)) r->pos++;
    }
    j->t = 'n';
    j->s = jdup((const char *)r->s + start, r->pos - start);
    j->len = r->pos - start;
    j->num = strtod(j->s, NULL);
    return 0;
  }
  static const char *const lits[] = {"true", "false", "null"};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(lits[i]);
    if (r->len - r->pos >= n && memcmp(r->s + r->pos, lits[i], n) == 0) {
      r->pos += n;
      j->t = "tfz"[i];
      return 0;
    }
  }
  return -1;
}

/* 0 and the tree in *out (free it), or -1 (out freed). */
static inline int json_ref_read(const char *s, size_t len, unsigned max_depth, jnode_t *out) {
  jref_t r = {(const unsigned char *)s, len, 0, max_depth};
  memset(out, 0, sizeof(*out));
  int rc = jref_value(&r, out, 0);
  jref_ws(&r);
  if (rc == 0 && r.pos != len) rc = -1;
  if (rc != 0) jnode_free(out);
  return rc;
}

/* ---- the same tree from yolk__json_read's events -------------------------------------------- */

typedef struct {
  jnode_t root;
  jnode_t **stack; /* the open containers */
  size_t depth, cap;
  char *key; /* the key of the next object member */
  size_t klen;
  int bad;          /* an event out of place */
  int stop_after;   /* stop (return 1) at this event number; -1 never */
  int events;
} jbuild_t;

static inline void jbuild_init(jbuild_t *b) {
  memset(b, 0, sizeof(*b));
  b->stop_after = -1;
}

static inline void jbuild_free(jbuild_t *b) {
  jnode_free(&b->root);
  free(b->stack);
  free(b->key);
}

static inline jnode_t *jb_slot(jbuild_t *b) {
  if (b->depth == 0) {
    if (b->root.t) b->bad = 1; /* a second top-level value */
    return &b->root;
  }
  jnode_t *top = b->stack[b->depth - 1];
  if (top->t == 'o') {
    if (!b->key) {
      b->bad = 1;
      return jnode_add(top, "", 0);
    }
    jnode_t *k = jnode_add(top, b->key, b->klen);
    free(b->key);
    b->key = NULL;
    return k;
  }
  return jnode_add(top, NULL, 0);
}

static inline int jb_tick(jbuild_t *b) { return b->events++ == b->stop_after; }

static inline int jb_null(void *ud) {
  jbuild_t *b = ud;
  jb_slot(b)->t = 'z';
  return jb_tick(b);
}
static inline int jb_bool(void *ud, int v) {
  jbuild_t *b = ud;
  jb_slot(b)->t = v ? 't' : 'f';
  return jb_tick(b);
}
static inline int jb_number(void *ud, double v, const char *text, size_t len) {
  jbuild_t *b = ud;
  jnode_t *j = jb_slot(b);
  j->t = 'n';
  j->s = jdup(text, len);
  j->len = len;
  j->num = v;
  return jb_tick(b);
}
static inline int jb_string(void *ud, const char *s, size_t len) {
  jbuild_t *b = ud;
  jnode_t *j = jb_slot(b);
  j->t = 's';
  j->s = jdup(s, len);
  j->len = len;
  return jb_tick(b);
}
static inline int jb_key(void *ud, const char *s, size_t len) {
  jbuild_t *b = ud;
  if (b->key || !b->depth || b->stack[b->depth - 1]->t != 'o') b->bad = 1;
  free(b->key);
  b->key = jdup(s, len);
  b->klen = len;
  return jb_tick(b);
}
static inline int jb_begin(jbuild_t *b, char t) {
  jnode_t *j = jb_slot(b);
  j->t = t;
  if (b->depth == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 16;
    b->stack = realloc(b->stack, b->cap * sizeof(*b->stack));
  }
  b->stack[b->depth++] = j;
  return jb_tick(b);
}
static inline int jb_begin_array(void *ud) { return jb_begin(ud, 'a'); }
static inline int jb_begin_object(void *ud) { return jb_begin(ud, 'o'); }
static inline int jb_end(jbuild_t *b, char t, size_t count) {
  if (!b->depth || b->stack[b->depth - 1]->t != t || b->stack[b->depth - 1]->n != count || b->key) b->bad = 1;
  if (b->depth) b->depth--;
  return jb_tick(b);
}
static inline int jb_end_array(void *ud, size_t n) { return jb_end(ud, 'a', n); }
static inline int jb_end_object(void *ud, size_t n) { return jb_end(ud, 'o', n); }

static const yolk_json_handler_t jbuild_handler = {jb_null,        jb_bool,      jb_number,
                                                   jb_string,      jb_key,       jb_begin_array,
                                                   jb_end_array,   jb_begin_object, jb_end_object};

/* ---- comparing and normalising ---------------------------------------------------------------- */

/* Same shape, strings, keys (in order) and number texts. */
static inline int jnode_same(const jnode_t *a, const jnode_t *b) {
  if (a->t != b->t || a->n != b->n) return 0;
  if (a->t == 's' || a->t == 'n' || a->t == 'b')
    if (a->len != b->len || memcmp(a->s, b->s, a->len) != 0) return 0;
  for (size_t i = 0; i < a->n; i++) {
    if (a->t == 'o' && (a->klens[i] != b->klens[i] || memcmp(a->keys[i], b->keys[i], a->klens[i]) != 0)) return 0;
    if (!jnode_same(&a->kids[i], &b->kids[i])) return 0;
  }
  return 1;
}

/* JSON.parse's objects: a repeated key keeps its first position and takes
 * the last value. */
static inline void json_ref_dedup(jnode_t *j) {
  for (size_t i = 0; i < j->n; i++) json_ref_dedup(&j->kids[i]);
  if (j->t != 'o') return;
  size_t w = 0;
  for (size_t i = 0; i < j->n; i++) {
    size_t k = 0;
    while (k < w && !(j->klens[k] == j->klens[i] && memcmp(j->keys[k], j->keys[i], j->klens[i]) == 0)) k++;
    if (k < w) { /* repeat: the value moves to the first position */
      jnode_free(&j->kids[k]);
      j->kids[k] = j->kids[i];
      free(j->keys[i]);
      continue;
    }
    j->kids[w] = j->kids[i];
    j->keys[w] = j->keys[i];
    j->klens[w] = j->klens[i];
    w++;
  }
  j->n = w;
}

/* Numbers as yolk writes them: the text of yolk__json_write_number(value)
 * (non-finite values become null). */
static inline void json_ref_numbers(jnode_t *j) {
  for (size_t i = 0; i < j->n; i++) json_ref_numbers(&j->kids[i]);
  if (j->t != 'n') return;
  if (!isfinite(j->num)) {
    free(j->s);
    j->s = NULL;
    j->len = 0;
    j->t = 'z';
    return;
  }
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__json_write_number(&sb, j->num);
  free(j->s);
  j->s = jdup(sb.data, sb.len);
  j->len = sb.len;
  yolk__sb_free(&sb);
}

/* What a writer makes of binary nodes: placeholders {"_placeholder":true,
 * "num":i} numbered in document order; the bytes of each appended to *order,
 * followed by '|'. */
static inline void json_ref_number_placeholders(jnode_t *j, yolk_sb_t *order, size_t *count) {
  if (j->t == 'b') {
    yolk__sb_append(order, j->s, j->len);
    yolk__sb_putc(order, '|');
    char num[24];
    int nl = snprintf(num, sizeof(num), "%zu", (*count)++);
    jnode_free(j);
    j->t = 'o';
    jnode_t *k = jnode_add(j, "_placeholder", 12);
    k->t = 't';
    k = jnode_add(j, "num", 3);
    k->t = 'n';
    k->s = jdup(num, (size_t)nl);
    k->len = (size_t)nl;
    return;
  }
  for (size_t i = 0; i < j->n; i++) json_ref_number_placeholders(&j->kids[i], order, count);
}

/* A canonical text of a tree, for messages and hashing (not JSON: binary
 * values as <hex>). */
static inline void jnode_dump(yolk_sb_t *sb, const jnode_t *j) {
  switch (j->t) {
  case 'z': yolk__sb_puts(sb, "null"); break;
  case 't': yolk__sb_puts(sb, "true"); break;
  case 'f': yolk__sb_puts(sb, "false"); break;
  case 'n': yolk__sb_append(sb, j->s, j->len); break;
  case 's': yolk__json_write_string(sb, j->s, j->len); break;
  case 'b':
    yolk__sb_putc(sb, '<');
    for (size_t i = 0; i < j->len; i++) yolk__sb_printf(sb, "%02x", (unsigned char)j->s[i]);
    yolk__sb_putc(sb, '>');
    break;
  default:
    yolk__sb_putc(sb, j->t == 'a' ? '[' : '{');
    for (size_t i = 0; i < j->n; i++) {
      if (i) yolk__sb_putc(sb, ',');
      if (j->t == 'o') {
        yolk__json_write_string(sb, j->keys[i], j->klens[i]);
        yolk__sb_putc(sb, ':');
      }
      jnode_dump(sb, &j->kids[i]);
    }
    yolk__sb_putc(sb, j->t == 'a' ? ']' : '}');
  }
}

static inline void jnode_fail_diff(const char *what, const jnode_t *a, const jnode_t *b) {
  yolk_sb_t x, y;
  yolk__sb_init(&x);
  yolk__sb_init(&y);
  jnode_dump(&x, a);
  jnode_dump(&y, b);
  FUZZ_FAIL("%s:\n  %.600s\nvs\n  %.600s", what, x.data, y.data);
}

#endif
