/* sio_packet.c - see sio_packet.h */
#include "sio_packet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "json.h"
#include "query.h"

static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

int yolk__sio_is_reserved_event(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(reserved_events) / sizeof(reserved_events[0]); i++)
    if (strlen(reserved_events[i]) == len && memcmp(name, reserved_events[i], len) == 0) return 1;
  return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* ---- checking a payload in one pass of the JSON reader ------------------------------------------
 *
 * What is checked: the top-level shape for the packet type, the event name
 * (the first element of an EVENT array), and every placeholder: an object
 * whose key "_placeholder" is true must have an integer "num" indexing one
 * of the attachments (socket.io-parser throws "illegal attachments"
 * otherwise). Objects are tracked on a small stack of per-object flags. */

struct ph {
  char ph, has_num, num_ok;
  char next; /* the next value belongs to 'p': "_placeholder", 'n': "num", 0: another key */
};

typedef struct {
  int need_event; /* the first element of the top array must be an event name */
  size_t nbins;
  const char *why;
  int depth;
  char top_kind; /* the top-level value: 'a' array, 'o' object, ... */
  size_t top_count; /* elements of the top-level array so far */
  struct ph *objs;  /* one per open object, innermost last */
  size_t nobjs, cap;
  struct ph small[16];
} check_t;

/* A value starts (a scalar, or a container before it opens). */
static int value_seen(check_t *c, char kind, int boolean_true, double num, int num_integral) {
  if (c->depth == 0) c->top_kind = kind;
  if (c->depth == 1 && c->top_kind == 'a' && c->top_count++ == 0 && c->need_event && kind != 's' && kind != 'n') {
    c->why = "EVENT name is not a string or a number";
    return 1;
  }
  /* the value right after a watched key is that key's value, whatever its depth */
  struct ph *o = c->nobjs ? &c->objs[c->nobjs - 1] : NULL;
  if (o && o->next == 'p') o->ph = kind == 'b' && boolean_true;
  if (o && o->next == 'n') {
    o->has_num = 1;
    o->num_ok = kind == 'n' && num_integral && num >= 0 && num < (double)c->nbins;
  }
  if (o) o->next = 0;
  return 0;
}

static int ck_null(void *ud) { return value_seen(ud, 'z', 0, 0, 0); }
static int ck_bool(void *ud, int v) { return value_seen(ud, 'b', v, 0, 0); }
static int ck_number(void *ud, double v, const char *text, size_t len) {
  (void)text;
  (void)len;
  return value_seen(ud, 'n', 0, v, floor(v) == v);
}
static int ck_string(void *ud, const char *s, size_t len) {
  check_t *c = ud;
  if (c->depth == 1 && c->top_kind == 'a' && c->top_count == 0 && c->need_event &&
      yolk__sio_is_reserved_event(s, len)) {
    c->why = "EVENT name is reserved";
    return 1;
  }
  return value_seen(c, 's', 0, 0, 0);
}
/* keys only come inside objects: the innermost open object is theirs */
static int ck_key(void *ud, const char *s, size_t len) {
  check_t *c = ud;
  struct ph *o = &c->objs[c->nobjs - 1];
  o->next = len == 12 && memcmp(s, "_placeholder", 12) == 0 ? 'p' : len == 3 && memcmp(s, "num", 3) == 0 ? 'n' : 0;
  return 0;
}
static int ck_begin_array(void *ud) {
  check_t *c = ud;
  if (value_seen(c, 'a', 0, 0, 0)) return 1;
  c->depth++;
  return 0;
}
static int ck_begin_object(void *ud) {
  check_t *c = ud;
  if (value_seen(c, 'o', 0, 0, 0)) return 1;
  c->depth++;
  if (c->nobjs == c->cap) {
    size_t ncap = c->cap * 2;
    struct ph *n = yolk__malloc(ncap * sizeof(*n));
    memcpy(n, c->objs, c->nobjs * sizeof(*n));
    if (c->objs != c->small) free(c->objs);
    c->objs = n;
    c->cap = ncap;
  }
  memset(&c->objs[c->nobjs++], 0, sizeof(struct ph));
  return 0;
}
static int ck_end_array(void *ud, size_t n) {
  (void)n;
  ((check_t *)ud)->depth--;
  return 0;
}
static int ck_end_object(void *ud, size_t n) {
  (void)n;
  check_t *c = ud;
  struct ph o = c->objs[--c->nobjs];
  c->depth--;
  if (o.ph && !(o.has_num && o.num_ok)) {
    c->why = c->nbins ? "placeholder with an invalid attachment index" : "placeholder in a packet without attachments";
    return 1;
  }
  return 0;
}

static const yolk_json_handler_t check_handler = {ck_null,        ck_bool,         ck_number,
                                                  ck_string,      ck_key,          ck_begin_array,
                                                  ck_end_array,   ck_begin_object, ck_end_object};

/* Reads json once: valid JSON (within max_depth), event name, placeholders. */
static int check_json(const char *json, size_t len, unsigned max_depth, int need_event, size_t nbins,
                      const char **why) {
  check_t c;
  memset(&c, 0, sizeof(c));
  c.need_event = need_event;
  c.nbins = nbins;
  c.objs = c.small;
  c.cap = sizeof(c.small) / sizeof(c.small[0]);
  yolk_json_error_t err;
  int rc = yolk__json_read(json, len, max_depth, &check_handler, &c, &err);
  if (rc != 0) {
    *why = c.why ? c.why
         : strcmp(err.what, "nested too deeply") == 0 ? "payload nested too deeply"
                                                      : "payload is not valid JSON";
  } else if (need_event && c.top_kind == 'a' && c.top_count == 0) {
    *why = "EVENT payload is an empty array";
    rc = -1;
  }
  if (c.objs != c.small) free(c.objs);
  return rc;
}

/* The first non-space character of the payload (its top-level kind). */
static char first_char(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return s[i];
  return 0;
}

int yolk__sio_decode(const char *s, size_t len, unsigned max_attachments, unsigned max_depth, yolk_sio_decoded_t *p,
                     const char **why) {
  memset(p, 0, sizeof(*p));
  p->id = -1;
  *why = NULL;
  if (len == 0) {
    *why = "empty packet";
    return -1;
  }
  if (s[0] < '0' || s[0] > '6') {
    *why = "unknown packet type";
    return -1;
  }
  int type = s[0] - '0';
  size_t i = 1;

  unsigned attachments = 0;
  if (type == YOLK_SIO_PKT_BINARY_EVENT || type == YOLK_SIO_PKT_BINARY_ACK) {
    size_t start = i;
    uint64_t n = 0;
    while (i < len && is_digit(s[i])) {
      if (n <= 1000000) n = n * 10 + (uint64_t)(s[i] - '0'); /* saturates; refused below */
      i++;
    }
    if (i == start || i >= len || s[i] != '-') {
      *why = "illegal attachments count";
      return -1;
    }
    if (n > max_attachments) {
      *why = "too many attachments";
      return -1;
    }
    attachments = (unsigned)n;
    i++; /* '-' */
  }

  const char *nsp = "/";
  size_t nsp_len = 1;
  if (i < len && s[i] == '/') {
    size_t start = i;
    while (i < len && s[i] != ',') i++;
    nsp = s + start;
    nsp_len = i - start;
    if (i < len) i++; /* ',' */
  }

  int64_t id = -1;
  if (i < len && is_digit(s[i])) {
    int64_t n = 0;
    while (i < len && is_digit(s[i])) {
      n = n * 10 + (s[i] - '0');
      if (n > YOLK_SIO_MAX_ACK_ID) {
        *why = "ack id too large";
        return -1;
      }
      i++;
    }
    id = n;
  }

  const char *data = i < len ? s + i : NULL;
  size_t data_len = i < len ? len - i : 0;
  char top = data ? first_char(data, data_len) : 0;
  const char *bad = NULL;
  if (data && !strchr("{[\"-0123456789tfn", top ? top : 'x')) bad = "payload is not valid JSON";
  int need_event = 0;
  switch (bad ? -1 : type) {
  case YOLK_SIO_PKT_CONNECT: /* absent is fine (auth defaults to {}) */
    if (data && top != '{') bad = "CONNECT payload is not an object";
    break;
  case YOLK_SIO_PKT_DISCONNECT:
    if (data) bad = "DISCONNECT has a payload";
    break;
  case YOLK_SIO_PKT_CONNECT_ERROR:
    if (!data || (top != '"' && top != '{')) bad = "CONNECT_ERROR payload is not a string or an object";
    break;
  case YOLK_SIO_PKT_EVENT:
  case YOLK_SIO_PKT_BINARY_EVENT:
    if (!data) bad = "EVENT without payload";
    else if (top != '[') bad = "EVENT payload is not an array";
    need_event = 1;
    break;
  case YOLK_SIO_PKT_ACK:
  case YOLK_SIO_PKT_BINARY_ACK:
    if (!data) bad = "ACK without payload";
    else if (top != '[') bad = "ACK payload is not an array";
    break;
  }
  if (!bad && data && check_json(data, data_len, max_depth, need_event, attachments, &bad) != 0 && !bad)
    bad = "payload is not valid JSON";
  if (bad) {
    *why = bad;
    return -1;
  }
  p->type = type;
  p->nsp = nsp;
  p->nsp_len = nsp_len;
  p->id = id;
  p->attachments = attachments;
  p->data = data;
  p->data_len = data_len;
  return 0;
}

/* Whether "_placeholder" occurs in s: glibc's memmem sets up a two-way
 * search per call, several times the cost of scanning a packet's few dozen
 * bytes for '_' (every emit asks). */
static int has_placeholder_text(const char *s, size_t len) {
  static const char pat[] = "_placeholder";
  const size_t n = sizeof(pat) - 1;
  const char *p = s, *end = s + len;
  while ((size_t)(end - p) >= n && (p = memchr(p, '_', (size_t)(end - p) - n + 1)) != NULL) {
    if (memcmp(p + 1, pat + 1, n - 1) == 0) return 1;
    p++;
  }
  return 0;
}

int yolk__sio_check_args(const char *json, size_t len, size_t nbins, int need_event, const char **why) {
  if (first_char(json, len) != '[') {
    *why = "the arguments are not a JSON array";
    return -1;
  }
  /* The common case (no binary, the name a plain string) is checked without
   * reading the whole text. */
  if (nbins == 0 && !has_placeholder_text(json, len)) {
    if (!need_event) return 0;
    const char *p = memchr(json, '[', len);
    size_t i = (size_t)(p - json) + 1;
    while (i < len && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r')) i++;
    if (i < len && json[i] == '"') {
      size_t start = ++i;
      while (i < len && json[i] != '"' && json[i] != '\\') i++;
      if (i < len && json[i] == '"') {
        if (yolk__sio_is_reserved_event(json + start, i - start)) {
          *why = "the event name is reserved";
          return -1;
        }
        return 0;
      }
    } else if (i < len && (json[i] == '-' || is_digit(json[i]))) {
      return 0;
    } else if (i < len && json[i] != '\\') {
      *why = i < len && json[i] == ']' ? "no event name" : "the first element is not an event name";
      return -1;
    }
  }
  if (check_json(json, len, YOLK_JSON_MAX_DEPTH, need_event, nbins, why) != 0) return -1;
  return 0;
}

size_t yolk__sio_encode_head(char *out, int type, const char *nsp, int64_t id, size_t attachments) {
  size_t n = 0;
  out[n++] = (char)('0' + type);
  if (type == YOLK_SIO_PKT_BINARY_EVENT || type == YOLK_SIO_PKT_BINARY_ACK) {
    n += yolk__u64_dec(out + n, attachments);
    out[n++] = '-';
  }
  if (nsp && (nsp[0] != '/' || nsp[1] != '\0')) {
    size_t l = strlen(nsp);
    memcpy(out + n, nsp, l);
    n += l;
    out[n++] = ',';
  }
  if (id >= 0) n += yolk__u64_dec(out + n, (uint64_t)id);
  return n;
}

/* ---- query objects ------------------------------------------------------------------------------ */

typedef struct {
  yolk_sb_t names, values; /* JSON-encoded names and values, back to back */
  struct pair {
    size_t name_at, name_len, value_at, value_len;
  } *pairs;
  size_t n, cap;
  yolk_smap_t first; /* JSON-encoded name -> index + 1 of its entry */
} qobj_t;

static int qobj_pair(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  qobj_t *q = ud;
  size_t name_at = q->names.len;
  yolk__json_write_string(&q->names, name, nlen);
  size_t value_at = q->values.len;
  yolk__json_write_string(&q->values, value, vlen);
  /* the encoded name is a C string (NUL escaped as \u0000): a map key */
  char *key = yolk__strndup(q->names.data + name_at, q->names.len - name_at);
  size_t idx = (size_t)(uintptr_t)yolk__smap_get(&q->first, key);
  if (idx) {
    /* Object.fromEntries: the last value, at the first position */
    q->pairs[idx - 1].value_at = value_at;
    q->pairs[idx - 1].value_len = q->values.len - value_at;
    q->names.len = name_at;
  } else {
    if (q->n == q->cap) {
      q->cap = q->cap ? q->cap * 2 : 8;
      q->pairs = yolk__realloc(q->pairs, q->cap * sizeof(*q->pairs));
    }
    q->pairs[q->n] = (struct pair){name_at, q->names.len - name_at, value_at, q->values.len - value_at};
    q->n++;
    yolk__smap_put(&q->first, key, (void *)(uintptr_t)q->n);
  }
  free(key);
  return 0;
}

void yolk__sio_query_object(yolk_sb_t *out, const char *qs, size_t len) {
  qobj_t q;
  memset(&q, 0, sizeof(q));
  yolk__smap_init(&q.first);
  yolk__query_each(qs, len, qobj_pair, &q);
  yolk__sb_putc(out, '{');
  for (size_t i = 0; i < q.n; i++) {
    if (i) yolk__sb_putc(out, ',');
    yolk__sb_append(out, q.names.data + q.pairs[i].name_at, q.pairs[i].name_len);
    yolk__sb_putc(out, ':');
    yolk__sb_append(out, q.values.data + q.pairs[i].value_at, q.pairs[i].value_len);
  }
  yolk__sb_putc(out, '}');
  yolk__smap_free(&q.first);
  free(q.pairs);
  yolk__sb_free(&q.names);
  yolk__sb_free(&q.values);
}

char *yolk__sio_split_nsp_query(const char *nsp, size_t len, yolk_sb_t *query_json) {
  const char *q = memchr(nsp, '?', len);
  const char *h = memchr(nsp, '#', len);
  if (q && h && h < q) q = NULL; /* a '?' inside the fragment */
  size_t path_len = q ? (size_t)(q - nsp) : len;
  /* Like new URL(nsp, base).pathname: a fragment is dropped too. */
  const char *hash = memchr(nsp, '#', path_len);
  char *path = yolk__strndup(nsp, hash ? (size_t)(hash - nsp) : path_len);
  const char *qs = q ? q + 1 : nsp + len;
  const char *end = nsp + len;
  const char *frag = memchr(qs, '#', (size_t)(end - qs));
  if (frag) end = frag;
  yolk__sio_query_object(query_json, qs, (size_t)(end - qs));
  return path;
}
