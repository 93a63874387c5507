/* test_ws.c - the WebSocket frame parser, encoder, UTF-8 validator and
 * handshake key, without a network (test_http.c drives a real connection). */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ws.h"

/* ---- collected parser output ---------------------------------------------------- */

#define MAX_MSGS 16
typedef struct {
  int n;
  int op[MAX_MSGS];
  char *data[MAX_MSGS];
  size_t len[MAX_MSGS];
} collected_t;

static void collect(void *ud, int opcode, const char *data, size_t len) {
  collected_t *c = ud;
  if (c->n >= MAX_MSGS) return;
  c->op[c->n] = opcode;
  c->data[c->n] = malloc(len + 1);
  memcpy(c->data[c->n], data, len);
  c->data[c->n][len] = '\0';
  c->len[c->n] = len;
  c->n++;
}

static void collected_free(collected_t *c) {
  for (int i = 0; i < c->n; i++) free(c->data[i]);
  memset(c, 0, sizeof(*c));
}

/* ---- client frame builder ---------------------------------------------------------- */

/* Appends one frame. lenform: 0 minimal, 16 or 64 to force that length encoding. */
static void frame(yolk_sb_t *sb, int fin, int rsv, int opcode, int masked, const void *payload, size_t len,
                  int lenform) {
  unsigned char h[14];
  size_t hl = 0;
  h[hl++] = (unsigned char)((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xF));
  unsigned char mbit = masked ? 0x80 : 0;
  if (lenform == 0 && len < 126) {
    h[hl++] = (unsigned char)(mbit | len);
  } else if ((lenform == 0 && len <= 0xFFFF) || lenform == 16) {
    h[hl++] = mbit | 126;
    h[hl++] = (unsigned char)(len >> 8);
    h[hl++] = (unsigned char)len;
  } else {
    h[hl++] = mbit | 127;
    for (int i = 0; i < 8; i++) h[hl++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
  }
  static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) {
    memcpy(h + hl, key, 4);
    hl += 4;
  }
  yolk__sb_append(sb, h, hl);
  const unsigned char *p = payload;
  for (size_t i = 0; i < len; i++) yolk__sb_putc(sb, (char)(masked ? p[i] ^ key[i & 3] : p[i]));
}

/* Feeds all at once, or one byte at a time. Returns the parser's result. */
static int feed(const yolk_sb_t *sb, size_t max, collected_t *out, int bytewise, const char **err) {
  yolk_ws_parser_t p;
  yolk__ws_parser_init(&p, max, collect, out);
  int r = 0;
  if (bytewise) {
    for (size_t i = 0; i < sb->len && r == 0; i++) r = yolk__ws_parser_feed(&p, sb->data + i, 1);
  } else {
    r = yolk__ws_parser_feed(&p, sb->data, sb->len);
  }
  if (err) *err = p.error;
  yolk__ws_parser_free(&p);
  return r;
}

/* Runs one case both ways and checks the code and message count. */
static void expect(const yolk_sb_t *sb, size_t max, int code, int nmsgs, collected_t *out) {
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    collected_t c;
    memset(&c, 0, sizeof(c));
    const char *err = NULL;
    int r = feed(sb, max, &c, bytewise, &err);
    CHECK_EQ_INT(r, code);
    if (code) CHECK(err != NULL);
    CHECK_EQ_INT(c.n, nmsgs);
    if (bytewise && out) *out = c;
    else collected_free(&c);
  }
}

/* Runs one masked frame alone through expect(), for the many cases that
 * only check the parser's result and message count. */
static void expect_one(int fin, int opcode, const void *payload, size_t len, size_t max, int code, int nmsgs) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  frame(&sb, fin, 0, opcode, 1, payload, len, 0);
  expect(&sb, max, code, nmsgs, NULL);
  yolk__sb_free(&sb);
}

/* Runs hand-made bytes (a header frame() would not build) through expect();
 * they must fail with code before any message. */
static void expect_raw(const unsigned char *bytes, size_t n, int code) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_append(&sb, bytes, n);
  expect(&sb, 0, code, 0, NULL);
  yolk__sb_free(&sb);
}

static void test_basic_frames(void) {
  yolk_sb_t sb;
  collected_t c;
  /* masked text, 7-bit length */
  yolk__sb_init(&sb);
  frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 1, "Hello", 5, 0);
  expect(&sb, 0, 0, 1, &c);
  CHECK_EQ_INT(c.op[0], YOLK_WS_OP_TEXT);
  CHECK_STR(c.data[0], "Hello");
  collected_free(&c);
  yolk__sb_free(&sb);

  /* unmasked -> 1002 */
  yolk__sb_init(&sb);
  frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 0, "Hello", 5, 0);
  expect(&sb, 0, 1002, 0, NULL);
  yolk__sb_free(&sb);

  /* empty text and binary messages */
  yolk__sb_init(&sb);
  frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 1, "", 0, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_BINARY, 1, "", 0, 0);
  expect(&sb, 0, 0, 2, &c);
  CHECK_EQ_INT(c.len[0], 0);
  CHECK_EQ_INT(c.op[1], YOLK_WS_OP_BINARY);
  collected_free(&c);
  yolk__sb_free(&sb);

  /* 16-bit and 64-bit lengths (binary with every byte value) */
  size_t sizes[] = {125, 126, 200, 65535, 65536, 70000};
  for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    size_t n = sizes[k];
    unsigned char *pl = malloc(n);
    for (size_t i = 0; i < n; i++) pl[i] = (unsigned char)(i * 7 + 3);
    yolk__sb_init(&sb);
    frame(&sb, 1, 0, YOLK_WS_OP_BINARY, 1, pl, n, 0);
    expect(&sb, 0, 0, 1, &c);
    CHECK_EQ_INT(c.len[0], n);
    CHECK(c.n == 1 && memcmp(c.data[0], pl, n) == 0);
    collected_free(&c);
    yolk__sb_free(&sb);
    free(pl);
  }

  /* non-minimal length encodings are accepted */
  yolk__sb_init(&sb);
  frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 1, "abc", 3, 16);
  frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 1, "defg", 4, 64);
  expect(&sb, 0, 0, 2, &c);
  CHECK_STR(c.data[0], "abc");
  CHECK_STR(c.data[1], "defg");
  collected_free(&c);
  yolk__sb_free(&sb);

  /* 64-bit length with the top bit set -> 1002 */
  {
    static const unsigned char h[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    expect_raw(h, sizeof(h), 1002);
  }
}

static void test_fragments(void) {
  yolk_sb_t sb;
  collected_t c;
  /* text in three fragments with a ping and a pong between them */
  yolk__sb_init(&sb);
  frame(&sb, 0, 0, YOLK_WS_OP_TEXT, 1, "Hel", 3, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_PING, 1, "p1", 2, 0);
  frame(&sb, 0, 0, YOLK_WS_OP_CONT, 1, "lo ", 3, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_PONG, 1, "", 0, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_CONT, 1, "world", 5, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_BINARY, 1, "\x00\x01", 2, 0);
  expect(&sb, 0, 0, 4, &c);
  CHECK_EQ_INT(c.op[0], YOLK_WS_OP_PING);
  CHECK_STR(c.data[0], "p1");
  CHECK_EQ_INT(c.op[1], YOLK_WS_OP_PONG);
  CHECK_EQ_INT(c.op[2], YOLK_WS_OP_TEXT);
  CHECK_STR(c.data[2], "Hello world");
  CHECK_EQ_INT(c.op[3], YOLK_WS_OP_BINARY);
  CHECK_EQ_INT(c.len[3], 2);
  collected_free(&c);
  yolk__sb_free(&sb);

  /* a UTF-8 character split across fragments is fine ("é" = C3 A9) */
  yolk__sb_init(&sb);
  frame(&sb, 0, 0, YOLK_WS_OP_TEXT, 1, "caf\xC3", 4, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_CONT, 1, "\xA9", 1, 0);
  expect(&sb, 0, 0, 1, &c);
  CHECK_STR(c.data[0], "caf\xC3\xA9");
  collected_free(&c);
  yolk__sb_free(&sb);

  /* continuation without a start -> 1002 */
  expect_one(1, YOLK_WS_OP_CONT, "x", 1, 0, 1002, 0);

  /* a new data frame while a fragmented message is in progress -> 1002 */
  yolk__sb_init(&sb);
  frame(&sb, 0, 0, YOLK_WS_OP_TEXT, 1, "a", 1, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 1, "b", 1, 0);
  expect(&sb, 0, 1002, 0, NULL);
  yolk__sb_free(&sb);
}

static void test_errors(void) {
  yolk_sb_t sb;
  collected_t c;
  /* reserved bits */
  for (int rsv = 1; rsv < 8; rsv <<= 1) {
    yolk__sb_init(&sb);
    frame(&sb, 1, rsv, YOLK_WS_OP_TEXT, 1, "x", 1, 0);
    expect(&sb, 0, 1002, 0, NULL);
    yolk__sb_free(&sb);
  }
  /* reserved opcodes, data (3-7) and control (0xB-0xF) */
  int ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
  for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
    expect_one(1, ops[i], "", 0, 0, 1002, 0);
  }
  /* fragmented control frame */
  expect_one(0, YOLK_WS_OP_PING, "x", 1, 0, 1002, 0);
  /* control frame over 125 bytes */
  {
    char big[126];
    memset(big, 'a', sizeof(big));
    expect_one(1, YOLK_WS_OP_PING, big, sizeof(big), 0, 1002, 0);
    /* 125 is fine */
    expect_one(1, YOLK_WS_OP_PING, big, 125, 0, 0, 1);
  }
  /* invalid UTF-8 in a text message -> 1007; in binary it is fine */
  const char *bad[] = {"\xFF", "\xC0\xAF", "\xED\xA0\x80" /* surrogate */, "\xF4\x90\x80\x80" /* > U+10FFFF */,
                       "\xE0\x80\xAF" /* overlong */, "ab\x80"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    expect_one(1, YOLK_WS_OP_TEXT, bad[i], strlen(bad[i]), 0, 1007, 0);
    expect_one(1, YOLK_WS_OP_BINARY, bad[i], strlen(bad[i]), 0, 0, 1);
  }
  /* a text message ending inside a character -> 1007 */
  expect_one(1, YOLK_WS_OP_TEXT, "caf\xC3", 4, 0, 1007, 0);
  /* invalid UTF-8 in a first fragment fails before the message ends */
  expect_one(0, YOLK_WS_OP_TEXT, "\xFF", 1, 0, 1007, 0);

  /* message size: one frame over the limit, and fragments adding up over it */
  expect_one(1, YOLK_WS_OP_BINARY, "0123456789a", 11, 10, 1009, 0);
  expect_one(1, YOLK_WS_OP_BINARY, "0123456789", 10, 10, 0, 1);
  yolk__sb_init(&sb);
  frame(&sb, 0, 0, YOLK_WS_OP_TEXT, 1, "012345", 6, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_CONT, 1, "6789a", 5, 0);
  expect(&sb, 10, 1009, 0, NULL);
  yolk__sb_free(&sb);
  /* an announced huge length fails on the header alone */
  {
    static const unsigned char h[] = {0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_raw(h, sizeof(h), 1009);
  }

  /* close frames */
  yolk__sb_init(&sb);
  frame(&sb, 1, 0, YOLK_WS_OP_CLOSE, 1, "\x03\xe8" "bye", 5, 0);
  frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 1, "ignored after close", 19, 0);
  expect(&sb, 0, 0, 1, &c);
  CHECK_EQ_INT(c.op[0], YOLK_WS_OP_CLOSE);
  CHECK_EQ_INT(c.len[0], 5);
  CHECK(c.n == 1 && memcmp(c.data[0], "\x03\xe8" "bye", 5) == 0);
  collected_free(&c);
  yolk__sb_free(&sb);
  expect_one(1, YOLK_WS_OP_CLOSE, "", 0, 0, 0, 1);
  expect_one(1, YOLK_WS_OP_CLOSE, "\x03", 1, 0, 1002, 0); /* 1-byte payload */
  int bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
    unsigned char pl[2] = {(unsigned char)(bad_codes[i] >> 8), (unsigned char)bad_codes[i]};
    expect_one(1, YOLK_WS_OP_CLOSE, pl, 2, 0, 1002, 0);
  }
  int good_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999};
  for (size_t i = 0; i < sizeof(good_codes) / sizeof(good_codes[0]); i++) {
    unsigned char pl[2] = {(unsigned char)(good_codes[i] >> 8), (unsigned char)good_codes[i]};
    expect_one(1, YOLK_WS_OP_CLOSE, pl, 2, 0, 0, 1);
  }
  expect_one(1, YOLK_WS_OP_CLOSE, "\x03\xe8\xFF", 3, 0, 1007, 0); /* reason not UTF-8 */

  /* after an error nothing more is parsed, and the code sticks */
  {
    yolk_ws_parser_t p;
    memset(&c, 0, sizeof(c));
    yolk__ws_parser_init(&p, 0, collect, &c);
    yolk__sb_init(&sb);
    frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 0, "x", 1, 0);
    CHECK_EQ_INT(yolk__ws_parser_feed(&p, sb.data, sb.len), 1002);
    yolk__sb_free(&sb);
    yolk__sb_init(&sb);
    frame(&sb, 1, 0, YOLK_WS_OP_TEXT, 1, "x", 1, 0);
    CHECK_EQ_INT(yolk__ws_parser_feed(&p, sb.data, sb.len), 1002);
    CHECK_EQ_INT(c.n, 0);
    yolk__sb_free(&sb);
    yolk__ws_parser_free(&p);
  }
}

static void test_encoder(void) {
  size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 100000};
  size_t hdr[] = {2, 2, 2, 4, 4, 10, 10};
  for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    size_t n = sizes[k];
    char *pl = malloc(n + 1);
    for (size_t i = 0; i < n; i++) pl[i] = (char)('a' + i % 26);
    yolk_buf_t *f = yolk__ws_frame_new(YOLK_WS_OP_TEXT, pl, n);
    CHECK_EQ_INT(f->len, hdr[k] + n);
    CHECK_EQ_INT(f->refs, 1);
    unsigned char *h = (unsigned char *)f->data;
    CHECK_EQ_INT(h[0], 0x81);
    CHECK((h[1] & 0x80) == 0); /* server frames are never masked */
    if (hdr[k] == 2) CHECK_EQ_INT(h[1], n);
    if (hdr[k] == 4) {
      CHECK_EQ_INT(h[1], 126);
      CHECK_EQ_INT((h[2] << 8) | h[3], n);
    }
    if (hdr[k] == 10) {
      CHECK_EQ_INT(h[1], 127);
      uint64_t l = 0;
      for (int i = 0; i < 8; i++) l = (l << 8) | h[2 + i];
      CHECK_EQ_INT(l, n);
    }
    CHECK(n == 0 || memcmp(f->data + hdr[k], pl, n) == 0);
    yolk__buf_unref(f);

    size_t off = 0;
    yolk_buf_t *a = yolk__ws_frame_alloc(YOLK_WS_OP_BINARY, n, &off);
    CHECK_EQ_INT(off, hdr[k]);
    CHECK_EQ_INT(a->len, hdr[k] + n);
    CHECK_EQ_INT((unsigned char)a->data[0], 0x82);
    yolk__buf_unref(a);
    free(pl);
  }
}

/* Large payloads fed in uneven chunks: the word-at-a-time unmasking must
 * agree with the mask position left by the previous chunk. */
static void test_unmask_chunks(void) {
  size_t n = 1000;
  unsigned char *pl = malloc(n);
  for (size_t i = 0; i < n; i++) pl[i] = (unsigned char)(i * 31 + 7);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  frame(&sb, 1, 0, YOLK_WS_OP_BINARY, 1, pl, n, 0);
  size_t chunks[] = {1, 3, 17, 29, 5, 64, 2, 100, 33};
  for (size_t start = 0; start < 9; start++) {
    collected_t c;
    memset(&c, 0, sizeof(c));
    yolk_ws_parser_t p;
    yolk__ws_parser_init(&p, 0, collect, &c);
    size_t off = 0, ci = start;
    while (off < sb.len) {
      size_t k = chunks[ci++ % 9];
      if (k > sb.len - off) k = sb.len - off;
      CHECK_EQ_INT(yolk__ws_parser_feed(&p, sb.data + off, k), 0);
      off += k;
    }
    CHECK_EQ_INT(c.n, 1);
    CHECK(c.n == 1 && c.len[0] == n && memcmp(c.data[0], pl, n) == 0);
    collected_free(&c);
    yolk__ws_parser_free(&p);
  }
  yolk__sb_free(&sb);
  free(pl);
}

static void test_accept_key(void) {
  char out[32];
  CHECK_EQ_INT(yolk__ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
  CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(yolk__ws_close_code_valid(1000));
  CHECK(!yolk__ws_close_code_valid(1005));
}

/* Random frames in random pieces: the parser never crashes or reads out of
 * bounds (ASan), and any failure is one of the three close codes. */
static void fuzz_cb(void *ud, int opcode, const char *data, size_t len) {
  (void)ud;
  (void)data;
  (void)len;
  CHECK(opcode == 1 || opcode == 2 || opcode == 8 || opcode == 9 || opcode == 10);
}

static void test_fuzz(void) {
  unsigned seed = 4242;
  for (int round = 0; round < 3000; round++) {
    yolk_sb_t sb;
    yolk__sb_init(&sb);
    int nframes = 1 + rand_r(&seed) % 5;
    for (int f = 0; f < nframes; f++) {
      char pl[300];
      size_t n = (size_t)(rand_r(&seed) % (round % 3 ? 20 : 300));
      for (size_t i = 0; i < n; i++) pl[i] = (char)(round % 4 ? 'a' + rand_r(&seed) % 26 : rand_r(&seed));
      int op = rand_r(&seed) % 16;
      if (rand_r(&seed) % 2) op = rand_r(&seed) % 3;
      frame(&sb, rand_r(&seed) % 4 != 0, rand_r(&seed) % 20 == 0, op, rand_r(&seed) % 30 != 0, pl, n,
            rand_r(&seed) % 10 == 0 ? 64 : 0);
    }
    if (round % 5 == 0 && sb.len) sb.data[rand_r(&seed) % sb.len] = (char)rand_r(&seed); /* flip a byte */
    yolk_ws_parser_t p;
    yolk__ws_parser_init(&p, 256, fuzz_cb, NULL);
    size_t off = 0;
    int r = 0;
    while (off < sb.len && r == 0) {
      size_t k = 1 + (size_t)(rand_r(&seed) % 40);
      if (k > sb.len - off) k = sb.len - off;
      r = yolk__ws_parser_feed(&p, sb.data + off, k);
      off += k;
    }
    CHECK(r == 0 || r == 1002 || r == 1007 || r == 1009);
    yolk__ws_parser_free(&p);
    yolk__sb_free(&sb);
  }
}

int main(void) {
  test_fuzz();
  test_basic_frames();
  test_fragments();
  test_errors();
  test_encoder();
  test_unmask_chunks();
  test_accept_key();
  TEST_MAIN_END();
}
