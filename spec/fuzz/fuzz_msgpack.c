/* fuzz_msgpack.c - JSON (with attachments) <-> MessagePack (core/json_msgpack.c),
 * what the Redis adapter reads from and writes for other nodes.
 *
 * Input: byte 0 picks what is checked, byte 1 is a parameter, the rest is the
 * data:
 *   0  MessagePack from another node: every object msgpack-c unpacks from the
 *      bytes goes through yolk__msgpack_to_json, with attachments (bin ->
 *      placeholder) and without (bin -> null); the JSON must be valid, and
 *      convert back (yolk__json_to_msgpack with those attachments) to
 *      MessagePack that unpacks to the same JSON and attachments (when the
 *      only placeholders in it are the ones made for bins); the lookups
 *      yolk__msgpack_get / _str / _num agree with the object
 *   1  JSON text: yolk__json_to_msgpack (with <param % 4> attachments)
 *      succeeds exactly for valid JSON, writes one MessagePack object that
 *      msgpack-c unpacks (nesting allowing, see below) and that converts back
 *      to the same values: keys in order, repeats kept, integers up to 2^53
 *      as integers, other numbers as float64 (non-finite: null),
 *      placeholders as socket.io-parser reads them ("_placeholder" true and
 *      an integer "num" indexing the attachments, other keys ignored) as
 *      bins, numbered again in document order.
 *
 * Inputs whose containers declare more elements than the bytes could hold
 * are skipped (fuzz_msgpack_sane: msgpack-c would allocate them first).
 * msgpack-c (4.0, Debian 12) unpacks at most MSGPACK_EMBED_STACK_SIZE (32)
 * nested containers: deeper MessagePack is refused by msgpack_unpack_next,
 * so mode 1 only requires unpacking for JSON nested less than that.
 */
#include <math.h>
#include <msgpack.h>

#include "fuzz.h"
#include "json.h"
#include "json_msgpack.h"
#include "json_ref.h"

#define MSGPACK_MAX_NESTING 32

static size_t tree_depth(const jnode_t *j) {
  size_t d = 0;
  for (size_t i = 0; i < j->n; i++) {
    size_t k = tree_depth(&j->kids[i]);
    if (k > d) d = k;
  }
  return (j->t == 'a' || j->t == 'o') ? d + 1 : 0;
}

static size_t count_substr(const char *s, size_t len, const char *needle) {
  size_t n = 0, nl = strlen(needle);
  for (size_t i = 0; i + nl <= len; i++)
    if (memcmp(s + i, needle, nl) == 0) n++;
  return n;
}

/* JSON text -> MessagePack -> the one object (u keeps it); -1 if it does not
 * convert or unpack. */
static int to_msgpack_and_back(const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins,
                               msgpack_sbuffer *sbuf, msgpack_unpacked *u) {
  msgpack_packer pk;
  msgpack_sbuffer_clear(sbuf);
  msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
  if (yolk__json_to_msgpack(&pk, json, len, bins, nbins) != 0) return -1;
  size_t off = 0;
  if (msgpack_unpack_next(u, sbuf->data, sbuf->size, &off) != MSGPACK_UNPACK_SUCCESS) return -2;
  if (off != sbuf->size) FUZZ_FAIL("yolk__json_to_msgpack wrote more than one object");
  return 0;
}

/* ---- 0: MessagePack -> JSON ---------------------------------------------------------------------- */

static void check_lookups(const msgpack_object *o) {
  static const char *const keys[] = {"type", "data", "nsp", "uid", "requestId", "rooms", ""};
  for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
    const msgpack_object *v = yolk__msgpack_get(o, keys[k]);
    if (o->type != MSGPACK_OBJECT_MAP) {
      FUZZ_CHECK(v == NULL);
      continue;
    }
    /* the first entry with that string key */
    const msgpack_object *want = NULL;
    size_t kl = strlen(keys[k]);
    for (uint32_t i = 0; i < o->via.map.size && !want; i++) {
      const msgpack_object *key = &o->via.map.ptr[i].key;
      if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == kl && (kl == 0 || memcmp(key->via.str.ptr, keys[k], kl) == 0))
        want = &o->via.map.ptr[i].val;
    }
    FUZZ_CHECK(v == want);
  }
  size_t len = 99;
  const char *s = yolk__msgpack_str(o, &len);
  if (o->type == MSGPACK_OBJECT_STR) FUZZ_CHECK(s != NULL && len == o->via.str.size && (len == 0 || s == o->via.str.ptr));
  else FUZZ_CHECK(s == NULL && len == 0);
  double d = yolk__msgpack_num(o, -7.5);
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) FUZZ_CHECK(d == (double)o->via.u64);
  else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) FUZZ_CHECK(d == (double)o->via.i64);
  else if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
    FUZZ_CHECK(d == o->via.f64 || (isnan(d) && isnan(o->via.f64)));
  else FUZZ_CHECK(d == -7.5);
  FUZZ_CHECK(yolk__msgpack_get(NULL, "x") == NULL && yolk__msgpack_num(NULL, 3) == 3);
}

static void check_json(const char *what, const yolk_sb_t *j) {
  if (!j->data || !yolk__json_valid(j->data, j->len, YOLK_JSON_MAX_DEPTH))
    FUZZ_FAIL("%s: not valid JSON: %.400s", what, j->data ? j->data : "(nothing)");
}

static void from_msgpack(const msgpack_object *o, msgpack_sbuffer *sbuf) {
  check_lookups(o);
  yolk_sb_t j1, j0, j2;
  yolk__sb_init(&j1);
  yolk__sb_init(&j0);
  yolk__sb_init(&j2);
  yolk_bins_t b1 = {0}, b2 = {0};
  yolk__msgpack_to_json(&j1, o, &b1);
  check_json("MessagePack -> JSON (attachments)", &j1);
  yolk__msgpack_to_json(&j0, o, NULL);
  check_json("MessagePack -> JSON (no attachments)", &j0);
  if (b1.n == 0) FUZZ_CHECK(j0.len == j1.len && memcmp(j0.data, j1.data, j1.len) == 0);
  FUZZ_CHECK(count_substr(j1.data, j1.len, "_placeholder") >= b1.n);

  /* and back */
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = to_msgpack_and_back(j1.data, j1.len, b1.v, b1.n, sbuf, &u);
  if (rc == -1) FUZZ_FAIL("the JSON made from MessagePack does not convert back: %.400s", j1.data);
  if (rc == 0) {
    yolk__msgpack_to_json(&j2, &u.data, &b2);
    check_json("MessagePack -> JSON -> MessagePack -> JSON", &j2);
    if (count_substr(j1.data, j1.len, "_placeholder") == b1.n) {
      /* no literal placeholders: a round trip */
      if (j2.len != j1.len || memcmp(j2.data, j1.data, j1.len) != 0)
        FUZZ_FAIL("JSON -> MessagePack -> JSON changed the text:\n  %.400s\n  %.400s", j1.data, j2.data);
      FUZZ_CHECK(b2.n == b1.n);
      for (size_t i = 0; i < b1.n; i++)
        FUZZ_CHECK(b2.v[i].len == b1.v[i].len && (b1.v[i].len == 0 || memcmp(b2.v[i].data, b1.v[i].data, b1.v[i].len) == 0));
    }
  }
  msgpack_unpacked_destroy(&u);
  yolk__bins_free(&b1);
  yolk__bins_free(&b2);
  yolk__sb_free(&j0);
  yolk__sb_free(&j1);
  yolk__sb_free(&j2);
}

static void fuzz_from_msgpack(const char *s, size_t len) {
  if (!fuzz_msgpack_sane(s, len, 8)) return;
  msgpack_sbuffer sbuf;
  msgpack_sbuffer_init(&sbuf);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  for (int n = 0; n < 8 && off < len; n++) {
    size_t before = off;
    msgpack_unpack_return r = msgpack_unpack_next(&u, s, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS) break;
    FUZZ_CHECK(off > before && off <= len);
    from_msgpack(&u.data, &sbuf);
  }
  msgpack_unpacked_destroy(&u);
  msgpack_sbuffer_destroy(&sbuf);
}

/* ---- 1: JSON -> MessagePack ---------------------------------------------------------------------- */

static const yolk_sio_bin_t in_bins[3] = {{"", 0}, {"\xc1\x00", 2}, {"bin", 3}};

/* socket.io-parser's reading: the last "_placeholder" is true and the last
 * "num" an integer indexing the attachments (other keys ignored); the
 * outermost such object wins. */
static void js_placeholders(jnode_t *j, size_t nbins) {
  if (j->t == 'o' && nbins) {
    const jnode_t *ph = NULL, *num = NULL;
    for (size_t i = 0; i < j->n; i++) {
      if (j->klens[i] == 12 && memcmp(j->keys[i], "_placeholder", 12) == 0) ph = &j->kids[i];
      if (j->klens[i] == 3 && memcmp(j->keys[i], "num", 3) == 0) num = &j->kids[i];
    }
    if (ph && num && ph->t == 't' && num->t == 'n' && num->num >= 0 && num->num == floor(num->num) &&
        num->num < (double)nbins) {
      const yolk_sio_bin_t *b = &in_bins[(size_t)num->num];
      jnode_set_bin(j, b->data, b->len);
      return;
    }
  }
  for (size_t i = 0; i < j->n; i++) js_placeholders(&j->kids[i], nbins);
}

static void fuzz_to_msgpack(unsigned param, const char *s, size_t len) {
  size_t nbins = param % 4;
  jnode_t ref;
  int valid = json_ref_read(s, len, YOLK_JSON_MAX_DEPTH, &ref) == 0;
  msgpack_sbuffer sbuf;
  msgpack_sbuffer_init(&sbuf);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = to_msgpack_and_back(s, len, nbins ? in_bins : NULL, nbins, &sbuf, &u);
  if ((rc != -1) != valid) FUZZ_FAIL("yolk__json_to_msgpack %s %s JSON", rc != -1 ? "took" : "refused", valid ? "valid" : "invalid");
  if (valid && rc == -2) {
    if (tree_depth(&ref) < MSGPACK_MAX_NESTING)
      FUZZ_FAIL("MessagePack of JSON nested %zu deep does not unpack", tree_depth(&ref));
  } else if (valid) {
    yolk_sb_t j;
    yolk__sb_init(&j);
    yolk_bins_t bins = {0};
    yolk__msgpack_to_json(&j, &u.data, &bins);
    jnode_t back;
    if (json_ref_read(j.data, j.len, YOLK_JSON_MAX_DEPTH, &back) != 0) FUZZ_FAIL("not valid JSON: %.400s", j.data);
    json_ref_numbers(&ref);
    js_placeholders(&ref, nbins);
    yolk_sb_t order, got;
    yolk__sb_init(&order);
    yolk__sb_init(&got);
    size_t count = 0;
    json_ref_number_placeholders(&ref, &order, &count);
    if (!jnode_same(&back, &ref)) jnode_fail_diff("JSON -> MessagePack -> JSON changed the value", &back, &ref);
    FUZZ_CHECK(bins.n == count);
    for (size_t i = 0; i < bins.n; i++) {
      yolk__sb_append(&got, bins.v[i].data, bins.v[i].len);
      yolk__sb_putc(&got, '|');
    }
    FUZZ_CHECK(got.len == order.len && (got.len == 0 || memcmp(got.data, order.data, got.len) == 0));
    jnode_free(&back);
    yolk__sb_free(&order);
    yolk__sb_free(&got);
    yolk__bins_free(&bins);
    yolk__sb_free(&j);
  }
  if (valid) jnode_free(&ref);
  msgpack_unpacked_destroy(&u);
  msgpack_sbuffer_destroy(&sbuf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  unsigned mode = data[0] % 2, param = data[1];
  const char *s = (const char *)data + 2;
  size_t len = size - 2;
  if (mode == 0) fuzz_from_msgpack(s, len);
  else fuzz_to_msgpack(param, s, len);
  return 0;
}
