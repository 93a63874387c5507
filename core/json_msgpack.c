/* json_msgpack.c - see json_msgpack.h.
 *
 * JSON -> MessagePack reads the text twice with the JSON reader: MessagePack
 * writes the size of a map or an array before its elements, so the first
 * pass counts the elements of every container (in document order) and finds
 * the placeholders; the second packs. */
#include "json_msgpack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- JSON -> MessagePack ------------------------------------------------------------ */

typedef struct {
  /* per container, in the order they open: its element count ('a', 'o') or
   * the attachment of a placeholder ('p') */
  size_t *counts;
  char *kinds;
  size_t n, cap;
  /* the open containers: their index, and for objects the placeholder watch */
  struct open {
    size_t idx;
    char ph, num_ok, next;
    size_t num;
  } *stack;
  size_t depth, scap;
  size_t nbins;
} count_t;

static void count_value(count_t *c, char kind, int is_true, double num) {
  if (!c->depth) return;
  struct open *o = &c->stack[c->depth - 1];
  if (c->kinds[o->idx] == 'a') c->counts[o->idx]++;
  if (o->next == 'p') o->ph = kind == 'b' && is_true;
  if (o->next == 'n') {
    o->num_ok = kind == 'n' && num >= 0 && num == floor(num) && num < (double)c->nbins;
    o->num = o->num_ok ? (size_t)num : 0; /* converting -7 or 1e300 to size_t is undefined (fuzz_msgpack) */
  }
  o->next = 0;
}

static int cnt_null(void *ud) {
  count_value(ud, 'z', 0, 0);
  return 0;
}
static int cnt_bool(void *ud, int v) {
  count_value(ud, 'b', v, 0);
  return 0;
}
static int cnt_number(void *ud, double v, const char *t, size_t l) {
  (void)t;
  (void)l;
  count_value(ud, 'n', 0, v);
  return 0;
}
static int cnt_string(void *ud, const char *s, size_t l) {
  (void)s;
  (void)l;
  count_value(ud, 's', 0, 0);
  return 0;
}
static int cnt_key(void *ud, const char *s, size_t len) {
  count_t *c = ud;
  struct open *o = &c->stack[c->depth - 1];
  c->counts[o->idx]++;
  o->next = len == 12 && !memcmp(s, "_placeholder", 12) ? 'p' : len == 3 && !memcmp(s, "num", 3) ? 'n' : 0;
  return 0;
}
static int cnt_open(count_t *c, char kind) {
  count_value(c, kind, 0, 0);
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 16;
    c->counts = yolk__realloc(c->counts, c->cap * sizeof(*c->counts));
    c->kinds = yolk__realloc(c->kinds, c->cap);
  }
  if (c->depth == c->scap) {
    c->scap = c->scap ? c->scap * 2 : 16;
    c->stack = yolk__realloc(c->stack, c->scap * sizeof(*c->stack));
  }
  c->counts[c->n] = 0;
  c->kinds[c->n] = kind;
  struct open *o = &c->stack[c->depth++];
  memset(o, 0, sizeof(*o));
  o->idx = c->n++;
  return 0;
}
static int cnt_begin_array(void *ud) { return cnt_open(ud, 'a'); }
static int cnt_begin_object(void *ud) { return cnt_open(ud, 'o'); }
static int cnt_end(void *ud, size_t n) {
  (void)n;
  count_t *c = ud;
  struct open *o = &c->stack[--c->depth];
  if (c->kinds[o->idx] == 'o' && c->nbins && o->ph && o->num_ok) {
    c->kinds[o->idx] = 'p';
    c->counts[o->idx] = o->num;
  }
  return 0;
}

static const yolk_json_handler_t count_handler = {cnt_null, cnt_bool, cnt_number, cnt_string, cnt_key,
                                                  cnt_begin_array, cnt_end, cnt_begin_object, cnt_end};

typedef struct {
  msgpack_packer *pk;
  const count_t *c;
  size_t next; /* the next container's index */
  int skip;    /* > 0: inside a placeholder (already packed as bin) */
  const yolk_sio_bin_t *bins;
} pack_t;

static int pk_null(void *ud) {
  pack_t *p = ud;
  if (!p->skip) msgpack_pack_nil(p->pk);
  return 0;
}
static int pk_bool(void *ud, int v) {
  pack_t *p = ud;
  if (!p->skip) {
    if (v) msgpack_pack_true(p->pk);
    else msgpack_pack_false(p->pk);
  }
  return 0;
}
static int pk_number(void *ud, double v, const char *t, size_t l) {
  (void)t;
  (void)l;
  pack_t *p = ud;
  if (p->skip) return 0;
  /* as JavaScript's encoders: integers as integers, other numbers as float64 */
  if (v == floor(v) && fabs(v) <= 9007199254740992.0) msgpack_pack_int64(p->pk, (int64_t)v);
  else msgpack_pack_double(p->pk, v);
  return 0;
}
static int pk_string(void *ud, const char *s, size_t l) {
  pack_t *p = ud;
  if (p->skip) return 0;
  msgpack_pack_str(p->pk, l);
  msgpack_pack_str_body(p->pk, s, l);
  return 0;
}
static int pk_begin(pack_t *p, int is_object) {
  size_t i = p->next++;
  if (p->skip) {
    p->skip++;
    return 0;
  }
  char kind = p->c->kinds[i];
  if (kind == 'p') {
    const yolk_sio_bin_t *b = &p->bins[p->c->counts[i]];
    msgpack_pack_bin(p->pk, b->len);
    msgpack_pack_bin_body(p->pk, b->data, b->len);
    p->skip = 1;
  } else if (is_object) {
    msgpack_pack_map(p->pk, p->c->counts[i]);
  } else {
    msgpack_pack_array(p->pk, p->c->counts[i]);
  }
  return 0;
}
static int pk_begin_array(void *ud) { return pk_begin(ud, 0); }
static int pk_begin_object(void *ud) { return pk_begin(ud, 1); }
static int pk_end(void *ud, size_t n) {
  (void)n;
  pack_t *p = ud;
  if (p->skip) p->skip--;
  return 0;
}

static const yolk_json_handler_t pack_handler = {pk_null, pk_bool, pk_number, pk_string, pk_string,
                                                 pk_begin_array, pk_end, pk_begin_object, pk_end};

int yolk__json_to_msgpack(msgpack_packer *pk, const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins) {
  count_t c;
  memset(&c, 0, sizeof(c));
  c.nbins = bins ? nbins : 0;
  int rc = yolk__json_read(json, len, YOLK_JSON_MAX_DEPTH, &count_handler, &c, NULL);
  if (rc == 0) {
    pack_t p = {pk, &c, 0, 0, bins};
    rc = yolk__json_read(json, len, YOLK_JSON_MAX_DEPTH, &pack_handler, &p, NULL);
  }
  free(c.counts);
  free(c.kinds);
  free(c.stack);
  return rc;
}

/* ---- MessagePack -> JSON ---------------------------------------------------------------- */

void yolk__bins_free(yolk_bins_t *b) {
  free(b->v);
  b->v = NULL;
  b->n = b->cap = 0;
}


static int is_undefined(const msgpack_object *o) { return o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == 0; }

/* A map key that is not a string, as the property name JavaScript makes of
 * it (notepack decodes maps into objects: String(key)): numbers (as yolk
 * writes them), booleans and null as their text, an array its elements
 * joined with ',' (null and undefined as nothing), a map "[object Object]",
 * bytes as text, undefined "undefined", other extensions "null". The text is
 * at most a few times as long as the MessagePack: nothing is quoted again at
 * every level, as writing a nested key's JSON text did (keys within keys, a
 * few dozen bytes, asked for gigabytes that way; found by fuzz_msgpack). */
static void key_text(yolk_sb_t *out, const msgpack_object *o, int depth) {
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: yolk__sb_puts(out, "null"); break;
  case MSGPACK_OBJECT_BOOLEAN: yolk__sb_puts(out, o->via.boolean ? "true" : "false"); break;
  case MSGPACK_OBJECT_POSITIVE_INTEGER: yolk__json_write_number(out, (double)o->via.u64); break;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: yolk__json_write_number(out, (double)o->via.i64); break;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    if (isnan(o->via.f64)) yolk__sb_puts(out, "NaN");
    else if (isinf(o->via.f64)) yolk__sb_puts(out, o->via.f64 > 0 ? "Infinity" : "-Infinity");
    else yolk__json_write_number(out, o->via.f64);
    break;
  case MSGPACK_OBJECT_STR: /* (empty ones have no pointer) */
    if (o->via.str.size) yolk__sb_append(out, o->via.str.ptr, o->via.str.size);
    break;
  case MSGPACK_OBJECT_BIN:
    if (o->via.bin.size) yolk__sb_append(out, o->via.bin.ptr, o->via.bin.size);
    break;
  case MSGPACK_OBJECT_ARRAY:
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      const msgpack_object *e = &o->via.array.ptr[i];
      if (i) yolk__sb_putc(out, ',');
      if (e->type != MSGPACK_OBJECT_NIL && !is_undefined(e) && depth < YOLK_JSON_MAX_DEPTH) key_text(out, e, depth + 1);
    }
    break;
  case MSGPACK_OBJECT_MAP: yolk__sb_puts(out, "[object Object]"); break;
  default: yolk__sb_puts(out, is_undefined(o) ? "undefined" : "null"); break;
  }
}

static void to_json(yolk_sb_t *out, const msgpack_object *o, yolk_bins_t *bins, int depth) {
  if (depth > YOLK_JSON_MAX_DEPTH) {
    yolk__sb_puts(out, "null");
    return;
  }
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: yolk__sb_puts(out, "null"); break;
  case MSGPACK_OBJECT_BOOLEAN: yolk__sb_puts(out, o->via.boolean ? "true" : "false"); break;
  case MSGPACK_OBJECT_POSITIVE_INTEGER: yolk__json_write_number(out, (double)o->via.u64); break;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: yolk__json_write_number(out, (double)o->via.i64); break;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: yolk__json_write_number(out, o->via.f64); break;
  case MSGPACK_OBJECT_STR: yolk__json_write_string(out, o->via.str.ptr, o->via.str.size); break;
  case MSGPACK_OBJECT_BIN:
    if (!bins) {
      yolk__sb_puts(out, "null");
      break;
    }
    yolk__sb_printf(out, "{\"_placeholder\":true,\"num\":%zu}", bins->n);
    if (bins->n == bins->cap) {
      bins->cap = bins->cap ? bins->cap * 2 : 4;
      bins->v = yolk__realloc(bins->v, bins->cap * sizeof(*bins->v));
    }
    bins->v[bins->n].data = o->via.bin.ptr;
    bins->v[bins->n].len = o->via.bin.size;
    bins->n++;
    break;
  case MSGPACK_OBJECT_ARRAY:
    yolk__sb_putc(out, '[');
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      if (i) yolk__sb_putc(out, ',');
      const msgpack_object *e = &o->via.array.ptr[i];
      if (is_undefined(e)) yolk__sb_puts(out, "null");
      else to_json(out, e, bins, depth + 1);
    }
    yolk__sb_putc(out, ']');
    break;
  case MSGPACK_OBJECT_MAP: {
    yolk__sb_putc(out, '{');
    int first = 1;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
      const msgpack_object_kv *kv = &o->via.map.ptr[i];
      if (is_undefined(&kv->val)) continue; /* JSON.stringify leaves it out */
      if (!first) yolk__sb_putc(out, ',');
      first = 0;
      if (kv->key.type == MSGPACK_OBJECT_STR) {
        yolk__json_write_string(out, kv->key.via.str.ptr, kv->key.via.str.size);
      } else {
        yolk_sb_t k;
        yolk__sb_init(&k);
        key_text(&k, &kv->key, depth + 1);
        yolk__json_write_string(out, k.data, k.len);
        yolk__sb_free(&k);
      }
      yolk__sb_putc(out, ':');
      to_json(out, &kv->val, bins, depth + 1);
    }
    yolk__sb_putc(out, '}');
    break;
  }
  default: yolk__sb_puts(out, "null"); break; /* extensions: nothing JSON can say */
  }
}

void yolk__msgpack_to_json(yolk_sb_t *out, const msgpack_object *o, yolk_bins_t *bins) {
  if (is_undefined(o)) yolk__sb_puts(out, "null");
  else to_json(out, o, bins, 0);
}

const msgpack_object *yolk__msgpack_get(const msgpack_object *o, const char *key) {
  if (!o || o->type != MSGPACK_OBJECT_MAP) return NULL;
  size_t kl = strlen(key);
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == kl &&
        (kl == 0 || !memcmp(kv->key.via.str.ptr, key, kl))) /* an empty key has no pointer */
      return &kv->val;
  }
  return NULL;
}

const char *yolk__msgpack_str(const msgpack_object *o, size_t *len) {
  if (!o || o->type != MSGPACK_OBJECT_STR) {
    *len = 0;
    return NULL;
  }
  *len = o->via.str.size;
  /* msgpack-c leaves ptr NULL for an empty string: "" is still a string
   * (a broadcast to the room "" must not become one to everyone) */
  return o->via.str.ptr ? o->via.str.ptr : "";
}

double yolk__msgpack_num(const msgpack_object *o, double def) {
  if (!o) return def;
  switch (o->type) {
  case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
  default: return def;
  }
}
