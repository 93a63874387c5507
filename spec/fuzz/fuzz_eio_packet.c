/* fuzz_eio_packet.c - the Engine.IO codec (core/eio_packet.c).
 *
 * Input: byte 0 picks what is decoded, byte 1 is a parameter, the rest is
 * the data:
 *   0-3  one packet: protocol 3 or 4, from a text or a binary WebSocket frame
 *   4-6  a polling payload: v4 (0x1e), v3 text ("<utf16 length>:"), v3 binary
 *   7    a JSONP POST body (yolk__eio_jsonp_body), and JSONP wrapping
 *   8    base64 (yolk__eio_b64_decode), against a decoder written here
 * What decodes is encoded again and must decode to the same packets (in every
 * payload format that can carry them); text that did not need base64 must
 * come back byte for byte.
 */
#include "eio_packet.h"
#include "fuzz.h"

typedef struct {
  int type, binary;
  char *data;
  size_t len;
} pkt_t;

typedef struct {
  pkt_t *v;
  size_t n, cap;
  size_t stop_at; /* the callback stops after this index; SIZE_MAX never */
} list_t;

static void check_packet(const yolk_eio_packet_t *p) {
  FUZZ_CHECK(p->type >= YOLK_EIO_OPEN && p->type <= YOLK_EIO_NOOP);
  FUZZ_CHECK(!p->binary || p->type == YOLK_EIO_MESSAGE); /* only messages carry binary */
  FUZZ_CHECK(p->data != NULL || p->len == 0);
}

static int collect(void *ud, const yolk_eio_packet_t *p) {
  list_t *l = ud;
  check_packet(p);
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 8;
    l->v = realloc(l->v, l->cap * sizeof(*l->v));
  }
  pkt_t *k = &l->v[l->n++];
  k->type = p->type;
  k->binary = p->binary;
  k->len = p->len;
  k->data = malloc(p->len + 1);
  if (p->len) memcpy(k->data, p->data, p->len);
  return l->n - 1 == l->stop_at;
}

static void list_free(list_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i].data);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

static int pkt_eq(const pkt_t *a, const pkt_t *b) {
  return a->type == b->type && a->binary == b->binary && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static int same_packet(const yolk_eio_packet_t *a, const yolk_eio_packet_t *b) {
  return a->type == b->type && a->binary == b->binary && a->len == b->len &&
         (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* ---- one packet ---------------------------------------------------------------------- */

static void fuzz_packet(int protocol, int binary, const char *s, size_t len) {
  yolk_sb_t scratch, scratch2, enc;
  yolk__sb_init(&scratch);
  yolk__sb_init(&scratch2);
  yolk__sb_init(&enc);
  yolk_eio_packet_t p, q;
  const char *err = NULL;
  if (yolk__eio_packet_decode(protocol, binary, s, len, &scratch, &p, &err) != 0) {
    FUZZ_CHECK(err != NULL);
    goto out;
  }
  check_packet(&p);
  int base64 = !binary && s[0] == 'b';
  /* the text form */
  yolk__eio_packet_encode_text(&enc, protocol, &p);
  if (!binary && !base64) FUZZ_CHECK(enc.len == len && memcmp(enc.data, s, len) == 0);
  FUZZ_CHECK(yolk__eio_packet_decode(protocol, 0, enc.data, enc.len, &scratch2, &q, &err) == 0);
  FUZZ_CHECK(same_packet(&p, &q));
  /* the WebSocket form */
  size_t n = yolk__eio_packet_ws_size(protocol, &p);
  char *ws = malloc(n + 1);
  yolk__eio_packet_ws_write(ws, protocol, &p);
  if (!base64) FUZZ_CHECK(n == len && memcmp(ws, s, len) == 0);
  FUZZ_CHECK(yolk__eio_packet_decode(protocol, p.binary, ws, n, &scratch2, &q, &err) == 0);
  FUZZ_CHECK(same_packet(&p, &q));
  free(ws);
out:
  yolk__sb_free(&scratch);
  yolk__sb_free(&scratch2);
  yolk__sb_free(&enc);
}

/* ---- payloads -------------------------------------------------------------------------- */

static void encode_list(yolk_sb_t *out, int format, const list_t *l) {
  for (size_t i = 0; i < l->n; i++) {
    yolk_eio_packet_t p = {l->v[i].type, l->v[i].binary, l->v[i].data, l->v[i].len};
    yolk__eio_payload_append(out, format, &p, i == 0);
  }
}

static void fuzz_payload(int format, unsigned param, const char *s, size_t len) {
  list_t all = {.stop_at = SIZE_MAX};
  const char *err = NULL;
  int rc = yolk__eio_payload_decode(format, s, len, collect, &all, &err);
  FUZZ_CHECK(rc == 0 || rc == -1);
  FUZZ_CHECK((rc == -1) == (err != NULL));

  if (all.n) {
    /* a callback that stops: exactly the packets up to it, and 1 */
    list_t part = {.stop_at = param % all.n};
    FUZZ_CHECK(yolk__eio_payload_decode(format, s, len, collect, &part, &err) == 1);
    FUZZ_CHECK(part.n == part.stop_at + 1);
    for (size_t i = 0; i < part.n; i++) FUZZ_CHECK(pkt_eq(&part.v[i], &all.v[i]));
    list_free(&part);
  }

  if (rc == 0 && all.n) {
    int v4_ok = 1, any_binary = 0;
    for (size_t i = 0; i < all.n; i++) {
      any_binary |= all.v[i].binary;
      if (!all.v[i].binary && memchr(all.v[i].data, '\x1e', all.v[i].len)) v4_ok = 0; /* not representable */
    }
    for (int f = YOLK_EIO_PAYLOAD_V4; f <= YOLK_EIO_PAYLOAD_V3_BINARY; f++) {
      if (f == YOLK_EIO_PAYLOAD_V4 && !v4_ok) continue;
      yolk_sb_t enc;
      yolk__sb_init(&enc);
      encode_list(&enc, f, &all);
      if (f == format && f == YOLK_EIO_PAYLOAD_V4 && !any_binary)
        FUZZ_CHECK(enc.len == len && memcmp(enc.data, s, len) == 0);
      list_t again = {.stop_at = SIZE_MAX};
      rc = yolk__eio_payload_decode(f, enc.data, enc.len, collect, &again, &err);
      if (rc != 0) FUZZ_FAIL("payload re-encoded in format %d does not decode: %s", f, err);
      FUZZ_CHECK(again.n == all.n);
      for (size_t i = 0; i < all.n; i++)
        if (!pkt_eq(&again.v[i], &all.v[i])) FUZZ_FAIL("packet %zu differs after re-encoding in format %d", i, f);
      list_free(&again);
      yolk__sb_free(&enc);
    }
  }
  list_free(&all);
}

/* ---- JSONP ------------------------------------------------------------------------------ */

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

/* The wrapped form must be ___eio[<digits>]("<string>"); with a string that
 * JavaScript reads back as exactly the payload's bytes. */
static void check_jsonp_wrap(unsigned index, const char *payload, size_t len) {
  char idx[16];
  snprintf(idx, sizeof(idx), "%u", index);
  yolk_sb_t w;
  yolk__sb_init(&w);
  yolk__eio_jsonp_wrap(&w, idx, payload, len);
  char head[40];
  int hl = snprintf(head, sizeof(head), "___eio[%s](\"", idx);
  FUZZ_CHECK(w.len >= (size_t)hl + 3 && memcmp(w.data, head, (size_t)hl) == 0);
  FUZZ_CHECK(memcmp(w.data + w.len - 3, "\");", 3) == 0);
  const unsigned char *p = (const unsigned char *)w.data + hl, *end = (const unsigned char *)w.data + w.len - 3;
  yolk_sb_t back;
  yolk__sb_init(&back);
  while (p < end) {
    unsigned c = *p++;
    if (c == '"') FUZZ_FAIL("unescaped quote in the JSONP string");
    if (c < 0x20) FUZZ_FAIL("raw control byte 0x%02x in the JSONP string", c);
    if (c == 0xE2 && end - p >= 2 && p[0] == 0x80 && (p[1] == 0xA8 || p[1] == 0xA9))
      FUZZ_FAIL("raw U+2028/U+2029 in the JSONP string");
    if (c != '\\') {
      yolk__sb_putc(&back, (char)c);
      continue;
    }
    FUZZ_CHECK(p < end);
    c = *p++;
    unsigned u;
    switch (c) {
    case '"': case '\\': case '/': yolk__sb_putc(&back, (char)c); break;
    case 'b': yolk__sb_putc(&back, '\b'); break;
    case 'f': yolk__sb_putc(&back, '\f'); break;
    case 'n': yolk__sb_putc(&back, '\n'); break;
    case 'r': yolk__sb_putc(&back, '\r'); break;
    case 't': yolk__sb_putc(&back, '\t'); break;
    case 'u':
      FUZZ_CHECK(end - p >= 4 && hex4((const char *)p, &u) == 0);
      p += 4;
      if (u < 0x20) yolk__sb_putc(&back, (char)u);
      else if (u == 0x2028 || u == 0x2029) yolk__sb_append(&back, u == 0x2028 ? "\xE2\x80\xA8" : "\xE2\x80\xA9", 3);
      else FUZZ_FAIL("unexpected escape \\u%04x", u);
      break;
    default: FUZZ_FAIL("invalid escape \\%c", (char)c);
    }
  }
  if (back.len != len || (len && memcmp(back.data, payload, len) != 0))
    FUZZ_FAIL("the JSONP string does not read back as the payload");
  yolk__sb_free(&back);
  yolk__sb_free(&w);
}

static void fuzz_jsonp(unsigned param, const char *s, size_t len) {
  yolk_sb_t out;
  yolk__sb_init(&out);
  yolk__sb_puts(&out, "kept");
  int rc = yolk__eio_jsonp_body(s, len, &out);
  FUZZ_CHECK(rc == 0 || rc == -1);
  FUZZ_CHECK(out.len >= 4 && memcmp(out.data, "kept", 4) == 0); /* appends */
  if (rc == 0) {
    FUZZ_CHECK(out.len - 4 + 2 <= len); /* decoding only shrinks, and "d=" is gone */
    FUZZ_CHECK(out.data[out.len] == '\0');
    check_jsonp_wrap(param, out.data + 4, out.len - 4);
  } else {
    FUZZ_CHECK(out.len == 4);
  }
  check_jsonp_wrap(param * 7919u, s, len);
  yolk__sb_free(&out);
}

/* ---- base64 -------------------------------------------------------------------------------- */

/* Standard alphabet; padding optional, but if present the length is a
 * multiple of 4; leftover bits of the last character are ignored. */
static int ref_b64_decode(const char *s, size_t len, unsigned char *out, size_t *outlen) {
  size_t pad = 0;
  while (pad < 2 && len > pad && s[len - 1 - pad] == '=') pad++;
  size_t body = len - pad;
  if ((pad && len % 4) || body % 4 == 1) return -1;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < body; i++) {
    char c = s[i];
    int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
          : c == '+' ? 62 : c == '/' ? 63 : -1;
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  *outlen = o;
  return 0;
}

static void fuzz_b64(const char *s, size_t len) {
  unsigned char *ref = malloc(len + 1);
  size_t ref_len = 0;
  int ref_rc = ref_b64_decode(s, len, ref, &ref_len);
  yolk_sb_t out;
  yolk__sb_init(&out);
  yolk__sb_puts(&out, "pre");
  int rc = yolk__eio_b64_decode(&out, s, len);
  if (rc != ref_rc) FUZZ_FAIL("base64 decode returned %d, the reference %d", rc, ref_rc);
  if (rc == 0) {
    FUZZ_CHECK(out.len == 3 + ref_len && memcmp(out.data, "pre", 3) == 0);
    FUZZ_CHECK(memcmp(out.data + 3, ref, ref_len) == 0);
    /* encode what was decoded: padded, and it decodes to the same bytes */
    yolk_sb_t enc, dec;
    yolk__sb_init(&enc);
    yolk__sb_init(&dec);
    yolk__eio_b64_encode(&enc, ref, ref_len);
    FUZZ_CHECK(enc.len == 4 * ((ref_len + 2) / 3));
    FUZZ_CHECK(yolk__eio_b64_decode(&dec, enc.data, enc.len) == 0);
    FUZZ_CHECK(dec.len == ref_len && (ref_len == 0 || memcmp(dec.data, ref, ref_len) == 0));
    yolk__sb_free(&enc);
    yolk__sb_free(&dec);
  } else {
    FUZZ_CHECK(out.len == 3 && strcmp(out.data, "pre") == 0); /* unchanged on error */
  }
  yolk__sb_free(&out);
  free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  unsigned mode = data[0] % 9, param = data[1];
  const char *s = (const char *)data + 2;
  size_t len = size - 2;
  switch (mode) {
  case 0: case 1: case 2: case 3: fuzz_packet(mode & 1 ? 4 : 3, mode >= 2, s, len); break;
  case 4: fuzz_payload(YOLK_EIO_PAYLOAD_V4, param, s, len); break;
  case 5: fuzz_payload(YOLK_EIO_PAYLOAD_V3_TEXT, param, s, len); break;
  case 6: fuzz_payload(YOLK_EIO_PAYLOAD_V3_BINARY, param, s, len); break;
  case 7: fuzz_jsonp(param, s, len); break;
  default: fuzz_b64(s, len); break;
  }
  return 0;
}
