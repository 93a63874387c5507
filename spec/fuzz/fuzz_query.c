/* fuzz_query.c - the query-string decoder (core/query.c) and the query
 * objects built on it (core/sio_packet.c), against a reference written here
 * from the URL standard (application/x-www-form-urlencoded parsing: split on
 * '&', skip empty pieces, split at the first '=', '+' is a space, percent-
 * decode, then UTF-8 decode with replacement; fuzz_utf8_repair in fuzz.h).
 *
 * Input: byte 0 picks what is checked, byte 1 is a parameter, the rest is the
 * query string (or component):
 *   0  yolk__query_each: the pairs, in order; a callback that stops after
 *      pair <param> sees exactly those and makes it return 1
 *   1  yolk__percent_decode, '+' a space when param is odd, and
 *      yolk__query_decode
 *   2  yolk_query_get (the text before the first NUL, as a C string): for
 *      the name of pair <param> and a name no pair has, into buffers of
 *      param % 40 bytes: the first value, truncated, NUL-terminated, and the
 *      length as documented
 *   3  yolk__sio_query_object (valid JSON; names in first-appearance order,
 *      the last value of a repeated name) and yolk__sio_split_nsp_query
 */
#include "fuzz.h"
#include "json.h"
#include "query.h"
#include "sio_packet.h"

/* ---- the reference ---------------------------------------------------------------------- */

static int hexv(unsigned char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void ref_decode(yolk_sb_t *out, const char *s, size_t len, int plus) {
  yolk_sb_t raw;
  yolk__sb_init(&raw);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '+' && plus) c = ' ';
    else if (c == '%' && i + 2 < len && hexv((unsigned char)s[i + 1]) >= 0 &&
             hexv((unsigned char)s[i + 2]) >= 0) {
      c = (unsigned char)(hexv((unsigned char)s[i + 1]) * 16 + hexv((unsigned char)s[i + 2]));
      i += 2;
    }
    yolk__sb_putc(&raw, (char)c);
  }
  fuzz_utf8_repair(out, (const unsigned char *)(raw.data ? raw.data : ""), raw.len);
  yolk__sb_free(&raw);
}

typedef struct {
  char *name, *value;
  size_t nlen, vlen;
} pair_t;

typedef struct {
  pair_t *v;
  size_t n, cap;
  size_t stop_at; /* collect(): stop after this index; SIZE_MAX never */
} pairs_t;

static void pairs_add(pairs_t *l, const char *n, size_t nl, const char *v, size_t vl) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 8;
    l->v = realloc(l->v, l->cap * sizeof(*l->v));
  }
  pair_t *p = &l->v[l->n++];
  p->name = malloc(nl + 1);
  memcpy(p->name, n, nl);
  p->name[nl] = '\0';
  p->nlen = nl;
  p->value = malloc(vl + 1);
  memcpy(p->value, v, vl);
  p->value[vl] = '\0';
  p->vlen = vl;
}

static void pairs_free(pairs_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i].name), free(l->v[i].value);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

static void ref_piece(const char *s, size_t len, void *ud) {
  if (len == 0) return;
  const char *eq = memchr(s, '=', len);
  size_t nl = eq ? (size_t)(eq - s) : len;
  yolk_sb_t n, v;
  yolk__sb_init(&n);
  yolk__sb_init(&v);
  ref_decode(&n, s, nl, 1);
  if (eq) ref_decode(&v, eq + 1, len - nl - 1, 1);
  pairs_add(ud, n.data ? n.data : "", n.len, v.data ? v.data : "", v.len);
  yolk__sb_free(&n);
  yolk__sb_free(&v);
}

static void ref_pairs(pairs_t *out, const char *qs, size_t len) { fuzz_split(qs, len, "&", ref_piece, out); }

static int pair_eq(const pair_t *a, const pair_t *b) {
  return a->nlen == b->nlen && a->vlen == b->vlen && memcmp(a->name, b->name, a->nlen) == 0 &&
         memcmp(a->value, b->value, a->vlen) == 0;
}

/* ---- 0: yolk__query_each --------------------------------------------------------------------- */

static int collect(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  pairs_t *l = ud;
  FUZZ_CHECK(name != NULL && value != NULL);
  FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *)name, nlen, 0) && fuzz_utf8_ok((const unsigned char *)value, vlen, 0));
  pairs_add(l, name, nlen, value, vlen);
  return l->n - 1 == l->stop_at;
}

static void fuzz_each(unsigned param, const char *s, size_t len) {
  pairs_t ref = {0}, got = {.stop_at = SIZE_MAX};
  ref_pairs(&ref, s, len);
  FUZZ_CHECK(yolk__query_each(s, len, collect, &got) == 0);
  if (got.n != ref.n) FUZZ_FAIL("%zu pairs, the reference %zu", got.n, ref.n);
  for (size_t i = 0; i < ref.n; i++)
    if (!pair_eq(&got.v[i], &ref.v[i])) FUZZ_FAIL("pair %zu differs from the reference", i);
  if (ref.n) {
    pairs_t part = {.stop_at = param % ref.n};
    FUZZ_CHECK(yolk__query_each(s, len, collect, &part) == 1);
    FUZZ_CHECK(part.n == part.stop_at + 1);
    pairs_free(&part);
  }
  pairs_free(&ref);
  pairs_free(&got);
}

/* ---- 1: percent decoding ------------------------------------------------------------------------ */

static void fuzz_percent(unsigned param, const char *s, size_t len) {
  int plus = param & 1;
  yolk_sb_t got, ref;
  yolk__sb_init(&got);
  yolk__sb_init(&ref);
  yolk__sb_puts(&got, "pre");
  yolk__percent_decode(&got, s, len, plus);
  ref_decode(&ref, s, len, plus);
  FUZZ_CHECK(got.len >= 3 && memcmp(got.data, "pre", 3) == 0); /* appends */
  if (got.len - 3 != ref.len || memcmp(got.data + 3, ref.data ? ref.data : "", ref.len) != 0)
    FUZZ_FAIL("percent decoding (plus %d) differs from the reference", plus);
  got.len = 0;
  yolk__query_decode(&got, s, len);
  ref.len = 0;
  ref_decode(&ref, s, len, 1);
  FUZZ_CHECK(got.len == ref.len && (ref.len == 0 || memcmp(got.data, ref.data, ref.len) == 0));
  yolk__sb_free(&got);
  yolk__sb_free(&ref);
}

/* ---- 2: yolk_query_get ------------------------------------------------------------------------ */

static void check_get(const char *qs, const pairs_t *ref, const char *name, size_t outlen) {
  char out[48];
  memset(out, 'X', sizeof(out));
  int rc = yolk_query_get(qs, name, out, outlen);
  const pair_t *first = NULL;
  size_t nl = strlen(name);
  for (size_t i = 0; i < ref->n && !first; i++)
    if (ref->v[i].nlen == nl && memcmp(ref->v[i].name, name, nl) == 0) first = &ref->v[i];
  if (!first || outlen == 0) {
    FUZZ_CHECK(rc == -1);
    if (outlen == 0) FUZZ_CHECK(out[0] == 'X');
    return;
  }
  size_t want = first->vlen < outlen ? first->vlen : outlen - 1;
  if (rc != (int)want) FUZZ_FAIL("yolk_query_get returned %d, expected %zu", rc, want);
  FUZZ_CHECK(memcmp(out, first->value, want) == 0 && out[want] == '\0');
  for (size_t i = outlen; i < sizeof(out); i++) FUZZ_CHECK(out[i] == 'X'); /* nothing past outlen */
}

static void fuzz_get(unsigned param, const char *s, size_t len) {
  size_t qlen = strnlen(s, len);
  char *qs = malloc(qlen + 1);
  memcpy(qs, s, qlen);
  qs[qlen] = '\0';
  pairs_t ref = {0};
  ref_pairs(&ref, qs, qlen);
  size_t outlen = param % 40;
  if (ref.n) {
    const pair_t *p = &ref.v[param % ref.n];
    if (strlen(p->name) == p->nlen) check_get(qs, &ref, p->name, outlen); /* names with NUL cannot be asked for */
  }
  check_get(qs, &ref, "sid", outlen);
  check_get(qs, &ref, "\xEF\xBF\xBD", outlen);
  check_get(qs, &ref, "", outlen);
  FUZZ_CHECK(yolk_query_get(NULL, "a", NULL, 0) == -1);
  pairs_free(&ref);
  free(qs);
}

/* ---- 3: query objects --------------------------------------------------------------------------- */

/* Reads the object yolk__sio_query_object wrote back into pairs. */
typedef struct {
  pairs_t *l;
  char *key;
  size_t klen;
  int depth, bad;
} obj_reader_t;

static int or_key(void *ud, const char *s, size_t len) {
  obj_reader_t *r = ud;
  free(r->key);
  r->key = malloc(len + 1);
  memcpy(r->key, s, len);
  r->klen = len;
  return 0;
}
static int or_string(void *ud, const char *s, size_t len) {
  obj_reader_t *r = ud;
  if (r->depth != 1 || !r->key) r->bad = 1;
  else pairs_add(r->l, r->key, r->klen, s, len);
  return 0;
}
static int or_begin(void *ud) {
  obj_reader_t *r = ud;
  if (r->depth++ != 0) r->bad = 1;
  return 0;
}
static int or_other(void *ud) {
  ((obj_reader_t *)ud)->bad = 1;
  return 0;
}
static int or_bool(void *ud, int v) { return or_other(ud); }
static int or_num(void *ud, double v, const char *t, size_t l) { return or_other(ud); }
static int or_end(void *ud, size_t n) {
  ((obj_reader_t *)ud)->depth--;
  return 0;
}
static const yolk_json_handler_t obj_handler = {or_other, or_bool, or_num, or_string, or_key,
                                                or_other, or_end,  or_begin, or_end};

static void check_query_object(const char *json, size_t jlen, const char *qs, size_t len) {
  pairs_t ref = {0}, want = {0}, got = {0};
  ref_pairs(&ref, qs, len);
  /* Object.fromEntries: first position, last value */
  for (size_t i = 0; i < ref.n; i++) {
    size_t k = 0;
    while (k < want.n && !(want.v[k].nlen == ref.v[i].nlen && memcmp(want.v[k].name, ref.v[i].name, ref.v[i].nlen) == 0))
      k++;
    if (k == want.n) {
      pairs_add(&want, ref.v[i].name, ref.v[i].nlen, ref.v[i].value, ref.v[i].vlen);
    } else {
      free(want.v[k].value);
      want.v[k].value = malloc(ref.v[i].vlen + 1);
      memcpy(want.v[k].value, ref.v[i].value, ref.v[i].vlen);
      want.v[k].vlen = ref.v[i].vlen;
    }
  }
  obj_reader_t r = {&got, NULL, 0, 0, 0};
  if (yolk__json_read(json, jlen, 4, &obj_handler, &r, NULL) != 0) FUZZ_FAIL("the query object is not valid JSON");
  FUZZ_CHECK(!r.bad && jlen >= 2 && json[0] == '{');
  if (got.n != want.n) FUZZ_FAIL("the query object has %zu names, expected %zu", got.n, want.n);
  for (size_t i = 0; i < want.n; i++)
    if (!pair_eq(&got.v[i], &want.v[i])) FUZZ_FAIL("entry %zu of the query object differs", i);
  free(r.key);
  pairs_free(&ref);
  pairs_free(&want);
  pairs_free(&got);
}

static void fuzz_object(const char *s, size_t len) {
  yolk_sb_t out;
  yolk__sb_init(&out);
  yolk__sb_puts(&out, "pre");
  yolk__sio_query_object(&out, s, len);
  FUZZ_CHECK(memcmp(out.data, "pre", 3) == 0);
  check_query_object(out.data + 3, out.len - 3, s, len);

  /* a v4 namespace: path (fragment dropped), '?', query (until '#') */
  yolk_sb_t qj;
  yolk__sb_init(&qj);
  char *path = yolk__sio_split_nsp_query(s, len, &qj);
  const char *q = memchr(s, '?', len), *h = memchr(s, '#', len);
  if (q && h && h < q) q = NULL;
  size_t plen = q ? (size_t)(q - s) : len;
  const char *ph = memchr(s, '#', plen);
  size_t want_plen = ph ? (size_t)(ph - s) : plen;
  FUZZ_CHECK(strlen(path) <= want_plen && memcmp(path, s, strlen(path)) == 0);
  if (!memchr(s, '\0', want_plen)) FUZZ_CHECK(strlen(path) == want_plen);
  const char *qs = q ? q + 1 : s + len;
  const char *end = memchr(qs, '#', (size_t)(s + len - qs));
  if (!end) end = s + len;
  check_query_object(qj.data, qj.len, qs, (size_t)(end - qs));
  free(path);
  yolk__sb_free(&qj);
  yolk__sb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  unsigned mode = data[0] % 4, param = data[1];
  const char *s = (const char *)data + 2;
  size_t len = size - 2;
  switch (mode) {
  case 0: fuzz_each(param, s, len); break;
  case 1: fuzz_percent(param, s, len); break;
  case 2: fuzz_get(param, s, len); break;
  default: fuzz_object(s, len); break;
  }
  return 0;
}
