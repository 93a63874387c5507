/* fuzz_ws.c - the WebSocket frame parser (yolk__ws_parser_feed).
 *
 * Input: byte 0 picks max_message_size, byte 1 seeds the chunking, the rest
 * is the byte stream a client sends after the 101. The stream is parsed
 * three times: in one feed, in chunks of pseudo-random sizes (1 byte to
 * 4 KiB), and by a whole-buffer reference parser written here from RFC 6455.
 * All three must deliver the same messages and end with the same close code.
 * Every delivered message is checked too: known opcode, size limits, text
 * and close reasons valid UTF-8, close codes allowed, nothing after a close.
 */
#include "fuzz.h"
#include "ws.h"

static const size_t max_sizes[] = {0, 1, 2, 7, 16, 125, 126, 1000, 65536};

typedef struct {
  size_t max;
  uint64_t hash;
  size_t count;
  int closed;
} record_t;

static int close_code_ok(int code) {
  /* RFC 6455 7.4.1/7.4.2 and the IANA registry: what a peer may put on the wire */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

static void record(record_t *r, int opcode, const char *data, size_t len) {
  unsigned char h[9];
  h[0] = (unsigned char)opcode;
  for (int i = 0; i < 8; i++) h[1 + i] = (unsigned char)((uint64_t)len >> (8 * i));
  r->hash = fuzz_hash(fuzz_hash(r->hash, h, sizeof(h)), data, len);
  r->count++;
}

/* on_message of the parser under test: what it delivers must make sense. */
static void on_message(void *ud, int opcode, const char *data, size_t len) {
  record_t *r = ud;
  FUZZ_CHECK(!r->closed); /* nothing after a close frame */
  FUZZ_CHECK(data != NULL || len == 0);
  switch (opcode) {
  case YOLK_WS_OP_TEXT:
    FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *)data, len, 0));
    FUZZ_CHECK(len <= r->max);
    break;
  case YOLK_WS_OP_BINARY: FUZZ_CHECK(len <= r->max); break;
  case YOLK_WS_OP_PING:
  case YOLK_WS_OP_PONG: FUZZ_CHECK(len <= 125); break;
  case YOLK_WS_OP_CLOSE:
    FUZZ_CHECK(len <= 125 && len != 1);
    if (len >= 2) {
      int code = ((unsigned char)data[0] << 8) | (unsigned char)data[1];
      FUZZ_CHECK(close_code_ok(code));
      FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *)data + 2, len - 2, 0));
    }
    r->closed = 1;
    break;
  default: FUZZ_FAIL("unexpected opcode %d delivered", opcode);
  }
  record(r, opcode, data, len);
}

/* The reference: the whole stream at once, frame by frame, in the order of
 * checks RFC 6455 section 5 implies (the two first header bytes, then the
 * length, then the payload as far as it goes). Text is checked as a prefix
 * while a message is incomplete, so an invalid byte fails as soon as it is
 * there, as a streaming parser must. Returns 0 or the close code. */
static int reference(const unsigned char *s, size_t len, size_t max, record_t *r) {
  unsigned char *msg = malloc(len + 1), ctl[125];
  size_t msg_len = 0, i = 0;
  int msg_op = 0, code = 0;
  while (i < len) {
    if (len - i < 2) break;
    unsigned b0 = s[i], b1 = s[i + 1];
    int fin = (b0 & 0x80) != 0, op = (int)(b0 & 0x0F);
    unsigned l7 = b1 & 0x7F;
    if ((b0 & 0x70) || !(b1 & 0x80)) { code = 1002; break; }
    if (op >= 8) {
      if ((op != 8 && op != 9 && op != 10) || !fin || l7 > 125) { code = 1002; break; }
    } else {
      if (op > 2 || (op == 0 && !msg_op) || (op != 0 && msg_op)) { code = 1002; break; }
    }
    size_t ext = l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
    if (len - i < 2 + ext + 4) break;
    uint64_t plen = l7;
    if (ext) {
      plen = 0;
      for (size_t k = 0; k < ext; k++) plen = (plen << 8) | s[i + 2 + k];
      if (plen >> 63) { code = 1002; break; }
    }
    const unsigned char *mask = s + i + 2 + ext;
    i += 2 + ext + 4;
    if (op < 8) {
      if (op != 0) msg_op = op, msg_len = 0;
      if (plen > max || msg_len + plen > max) { code = 1009; break; }
    }
    size_t avail = plen < len - i ? (size_t)plen : len - i;
    unsigned char *dst = op >= 8 ? ctl : msg + msg_len;
    for (size_t k = 0; k < avail; k++) dst[k] = s[i + k] ^ mask[k & 3];
    if (op < 8 && msg_op == 1 && !fuzz_utf8_ok(msg, msg_len + avail, 1)) { code = 1007; break; }
    if (avail < plen) break; /* the stream ends inside this frame */
    i += avail;
    if (op >= 8) {
      if (op == 8) {
        if (avail == 1) { code = 1002; break; }
        if (avail >= 2 && !close_code_ok((ctl[0] << 8) | ctl[1])) { code = 1002; break; }
        if (avail >= 2 && !fuzz_utf8_ok(ctl + 2, avail - 2, 0)) { code = 1007; break; }
      }
      record(r, op, (const char *)ctl, avail);
      if (op == 8) break; /* the peer is done: later bytes are ignored */
      continue;
    }
    msg_len += avail;
    if (!fin) continue;
    if (msg_op == 1 && !fuzz_utf8_ok(msg, msg_len, 0)) { code = 1007; break; }
    record(r, msg_op, (const char *)msg, msg_len);
    msg_op = 0;
    msg_len = 0;
  }
  free(msg);
  return code;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t max = max_sizes[data[0] % (sizeof(max_sizes) / sizeof(max_sizes[0]))];
  fuzz_rng_t rng;
  fuzz_rng_init(&rng, data[1]);
  const char *s = (const char *)data + 2;
  size_t len = size - 2;
  size_t eff_max = max ? max : 100u * 1024 * 1024;

  /* one feed */
  record_t whole = {eff_max, FUZZ_HASH_INIT, 0, 0};
  yolk_ws_parser_t p;
  yolk__ws_parser_init(&p, max, on_message, &whole);
  int code_whole = yolk__ws_parser_feed(&p, s, len);
  FUZZ_CHECK(code_whole == 0 || code_whole == 1002 || code_whole == 1007 || code_whole == 1009);
  FUZZ_CHECK((code_whole != 0) == (p.error != NULL));
  if (code_whole || whole.closed) {
    /* failed or closed: more input is ignored, the result stays */
    size_t before = whole.count;
    FUZZ_CHECK(yolk__ws_parser_feed(&p, s, len) == code_whole);
    FUZZ_CHECK(whole.count == before);
  }
  yolk__ws_parser_free(&p);

  /* in chunks, with empty feeds in between */
  record_t chunked = {eff_max, FUZZ_HASH_INIT, 0, 0};
  yolk__ws_parser_init(&p, max, on_message, &chunked);
  int code_chunked = 0;
  size_t off = 0;
  while (off < len) {
    size_t n = fuzz_chunk_len(&rng, len - off);
    int c = yolk__ws_parser_feed(&p, s + off, n);
    if (code_chunked) FUZZ_CHECK(c == code_chunked);
    code_chunked = c;
    if ((fuzz_rng_next(&rng) & 7) == 0) FUZZ_CHECK(yolk__ws_parser_feed(&p, s, 0) == code_chunked);
    off += n;
  }
  yolk__ws_parser_free(&p);

  record_t ref = {eff_max, FUZZ_HASH_INIT, 0, 0};
  int code_ref = reference((const unsigned char *)s, len, eff_max, &ref);

  if (code_chunked != code_whole || chunked.count != whole.count || chunked.hash != whole.hash)
    FUZZ_FAIL("chunked parse differs: code %d vs %d, %zu vs %zu messages", code_chunked, code_whole,
              chunked.count, whole.count);
  if (code_ref != code_whole || ref.count != whole.count || ref.hash != whole.hash)
    FUZZ_FAIL("reference parse differs: code %d vs %d, %zu vs %zu messages", code_ref, code_whole, ref.count,
              whole.count);
  return 0;
}
