/* test_eio_packet.c - the Engine.IO codec: packets, v4 and v3 payloads, base64, JSONP. */
#include <stdint.h>
#include <stdlib.h>

#include "eio_packet.h"
#include "test.h"

/* len bytes at a equal blen bytes at b */
#define CHECK_MEM(a, alen, b, blen) CHECK((size_t)(alen) == (size_t)(blen) && memcmp((a), (b), (blen)) == 0)

/* ---- helpers ---------------------------------------------------------------- */

#define MAXP 16
typedef struct {
  int n;
  int type[MAXP];
  int binary[MAXP];
  char *data[MAXP];
  size_t len[MAXP];
  int stop_after; /* stop when this many were seen (0: never) */
} collected_t;

static int collect(void *ud, const yolk_eio_packet_t *p) {
  collected_t *c = ud;
  if (c->n < MAXP) {
    c->type[c->n] = p->type;
    c->binary[c->n] = p->binary;
    c->data[c->n] = malloc(p->len + 1);
    if (p->len) memcpy(c->data[c->n], p->data, p->len);
    c->data[c->n][p->len] = '\0';
    c->len[c->n] = p->len;
  }
  c->n++;
  return c->stop_after && c->n >= c->stop_after;
}

static void collected_free(collected_t *c) {
  for (int i = 0; i < c->n && i < MAXP; i++) free(c->data[i]);
  memset(c, 0, sizeof(*c));
}

static int decode(int format, const char *s, size_t len, collected_t *c) {
  const char *err = NULL;
  memset(c, 0, sizeof(*c));
  int rc = yolk__eio_payload_decode(format, s, len, collect, c, &err);
  if (rc < 0) CHECK(err != NULL);
  return rc;
}

static yolk_eio_packet_t text(int type, const char *s) {
  yolk_eio_packet_t p = {type, 0, s, s ? strlen(s) : 0};
  return p;
}

static yolk_eio_packet_t bin(const char *s, size_t len) {
  yolk_eio_packet_t p = {YOLK_EIO_MESSAGE, 1, s, len};
  return p;
}

/* ---- base64 ---------------------------------------------------------------- */

static void test_base64(void) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__eio_b64_encode(&sb, "\x01\x02\x03\x04", 4);
  CHECK_STR(sb.data, "AQIDBA==");
  sb.len = 0;
  yolk__eio_b64_encode(&sb, "", 0);
  CHECK(sb.len == 0 && sb.data && sb.data[0] == '\0');
  sb.len = 0;
  yolk__eio_b64_encode(&sb, "hello", 5);
  CHECK_STR(sb.data, "aGVsbG8=");

  sb.len = 0;
  CHECK(yolk__eio_b64_decode(&sb, "AQIDBA==", 8) == 0);
  CHECK_MEM(sb.data, sb.len, "\x01\x02\x03\x04", 4);
  sb.len = 0;
  CHECK(yolk__eio_b64_decode(&sb, "AQIDBA", 6) == 0); /* unpadded, as Node accepts */
  CHECK_MEM(sb.data, sb.len, "\x01\x02\x03\x04", 4);
  sb.len = 0;
  CHECK(yolk__eio_b64_decode(&sb, "aGVsbG8=", 8) == 0);
  CHECK_MEM(sb.data, sb.len, "hello", 5);
  sb.len = 0;
  CHECK(yolk__eio_b64_decode(&sb, "aGVsbG8", 7) == 0);
  CHECK_MEM(sb.data, sb.len, "hello", 5);
  sb.len = 0;
  CHECK(yolk__eio_b64_decode(&sb, "", 0) == 0 && sb.len == 0);

  /* malformed */
  CHECK(yolk__eio_b64_decode(&sb, "AQ!DBA==", 8) == -1);
  CHECK(yolk__eio_b64_decode(&sb, "A", 1) == -1);
  CHECK(yolk__eio_b64_decode(&sb, "AQ=DBA==", 8) == -1);
  CHECK(yolk__eio_b64_decode(&sb, "AQIDBA=", 7) == -1);
  CHECK(yolk__eio_b64_decode(&sb, " AQIDBA==", 9) == -1);
  CHECK(yolk__eio_b64_decode(&sb, "AQIDBA===", 9) == -1);
  CHECK(sb.len == 0);

  /* round trip over all byte values and lengths */
  unsigned char raw[300];
  for (int i = 0; i < 300; i++) raw[i] = (unsigned char)(i * 7 + 3);
  int ok = 1;
  for (size_t n = 0; n < 300; n += 7) {
    yolk_sb_t enc, dec;
    yolk__sb_init(&enc);
    yolk__sb_init(&dec);
    yolk__eio_b64_encode(&enc, raw, n);
    if (yolk__eio_b64_decode(&dec, enc.data, enc.len) != 0 || dec.len != n || (n && memcmp(dec.data, raw, n))) ok = 0;
    yolk__sb_free(&enc);
    yolk__sb_free(&dec);
  }
  CHECK(ok);
  yolk__sb_free(&sb);
}

/* ---- single packets ---------------------------------------------------------- */

static void test_packet_text_encoding(void) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  const char *expect[] = {"0", "1", "2", "3", "4", "5", "6"};
  for (int t = 0; t <= 6; t++) {
    yolk_eio_packet_t p = text(t, NULL);
    sb.len = 0;
    yolk__eio_packet_encode_text(&sb, 4, &p);
    CHECK_MEM(sb.data, sb.len, expect[t], 1);
  }
  yolk_eio_packet_t p = text(YOLK_EIO_MESSAGE, "hello");
  sb.len = 0;
  yolk__eio_packet_encode_text(&sb, 4, &p);
  CHECK_STR(sb.data, "4hello");
  p = text(YOLK_EIO_PING, "probe");
  sb.len = 0;
  yolk__eio_packet_encode_text(&sb, 3, &p);
  CHECK_STR(sb.data, "2probe");
  p = bin("\x01\x02\x03\x04", 4);
  sb.len = 0;
  yolk__eio_packet_encode_text(&sb, 4, &p);
  CHECK_STR(sb.data, "bAQIDBA==");
  sb.len = 0;
  yolk__eio_packet_encode_text(&sb, 3, &p);
  CHECK_STR(sb.data, "b4AQIDBA==");
  yolk__sb_free(&sb);
}

static void test_packet_ws_encoding(void) {
  char buf[32];
  yolk_eio_packet_t p = text(YOLK_EIO_MESSAGE, "hello");
  CHECK(yolk__eio_packet_ws_size(4, &p) == 6);
  yolk__eio_packet_ws_write(buf, 4, &p);
  CHECK_MEM(buf, 6, "4hello", 6);
  CHECK(yolk__eio_packet_ws_size(3, &p) == 6);

  p = text(YOLK_EIO_PONG, "probe");
  yolk__eio_packet_ws_write(buf, 3, &p);
  CHECK_MEM(buf, yolk__eio_packet_ws_size(3, &p), "3probe", 6);

  p = bin("\x01\x02\x03\x04", 4);
  CHECK(yolk__eio_packet_ws_size(4, &p) == 4);
  yolk__eio_packet_ws_write(buf, 4, &p);
  CHECK_MEM(buf, 4, "\x01\x02\x03\x04", 4);
  CHECK(yolk__eio_packet_ws_size(3, &p) == 5);
  yolk__eio_packet_ws_write(buf, 3, &p);
  CHECK_MEM(buf, 5, "\x04\x01\x02\x03\x04", 5);

  p = bin("", 0);
  CHECK(yolk__eio_packet_ws_size(4, &p) == 0);
  CHECK(yolk__eio_packet_ws_size(3, &p) == 1);
}

static void test_packet_decode(void) {
  yolk_sb_t scratch;
  yolk__sb_init(&scratch);
  yolk_eio_packet_t p;
  const char *err = NULL;

  for (int t = 0; t <= 6; t++) {
    char s[2] = {(char)('0' + t), 0};
    CHECK(yolk__eio_packet_decode(4, 0, s, 1, &scratch, &p, &err) == 0);
    CHECK(p.type == t && p.len == 0 && !p.binary);
    CHECK(yolk__eio_packet_decode(3, 0, s, 1, &scratch, &p, &err) == 0);
    CHECK(p.type == t);
  }
  CHECK(yolk__eio_packet_decode(4, 0, "4hello", 6, &scratch, &p, &err) == 0);
  CHECK(p.type == YOLK_EIO_MESSAGE && !p.binary);
  CHECK_MEM(p.data, p.len, "hello", 5);
  CHECK(yolk__eio_packet_decode(4, 0, "2probe", 6, &scratch, &p, &err) == 0);
  CHECK(p.type == YOLK_EIO_PING);
  CHECK_MEM(p.data, p.len, "probe", 5);

  /* binary WebSocket frames */
  CHECK(yolk__eio_packet_decode(4, 1, "\x01\x02\x03", 3, &scratch, &p, &err) == 0);
  CHECK(p.type == YOLK_EIO_MESSAGE && p.binary);
  CHECK_MEM(p.data, p.len, "\x01\x02\x03", 3);
  CHECK(yolk__eio_packet_decode(4, 1, "", 0, &scratch, &p, &err) == 0); /* empty binary message is legal in v4 */
  CHECK(p.binary && p.len == 0);
  CHECK(yolk__eio_packet_decode(3, 1, "\x04\x01\x02\x03\x04", 5, &scratch, &p, &err) == 0);
  CHECK(p.type == YOLK_EIO_MESSAGE && p.binary);
  CHECK_MEM(p.data, p.len, "\x01\x02\x03\x04", 4);
  CHECK(yolk__eio_packet_decode(3, 1, "", 0, &scratch, &p, &err) == -1);
  CHECK(yolk__eio_packet_decode(3, 1, "\x02\x01", 2, &scratch, &p, &err) == -1);

  /* base64 in text */
  CHECK(yolk__eio_packet_decode(4, 0, "bAQIDBA==", 9, &scratch, &p, &err) == 0);
  CHECK(p.binary && p.type == YOLK_EIO_MESSAGE);
  CHECK_MEM(p.data, p.len, "\x01\x02\x03\x04", 4);
  CHECK(yolk__eio_packet_decode(3, 0, "b4AQIDBA==", 10, &scratch, &p, &err) == 0);
  CHECK(p.binary && p.type == YOLK_EIO_MESSAGE);
  CHECK_MEM(p.data, p.len, "\x01\x02\x03\x04", 4);

  /* malformed */
  err = NULL;
  CHECK(yolk__eio_packet_decode(4, 0, "", 0, &scratch, &p, &err) == -1 && err);
  CHECK(yolk__eio_packet_decode(4, 0, "abc", 3, &scratch, &p, &err) == -1);
  CHECK(yolk__eio_packet_decode(4, 0, "7", 1, &scratch, &p, &err) == -1);
  CHECK(yolk__eio_packet_decode(4, 0, "/x", 2, &scratch, &p, &err) == -1);
  CHECK(yolk__eio_packet_decode(4, 0, "b!!!", 4, &scratch, &p, &err) == -1);
  CHECK(yolk__eio_packet_decode(3, 0, "b", 1, &scratch, &p, &err) == -1);
  CHECK(yolk__eio_packet_decode(3, 0, "b2AQID", 6, &scratch, &p, &err) == -1);
  CHECK(yolk__eio_packet_decode(3, 0, "b4A", 3, &scratch, &p, &err) == -1);
  yolk__sb_free(&scratch);
}

/* ---- v4 payloads ---------------------------------------------------------------- */

static void test_payload_v4(void) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk_eio_packet_t a = text(YOLK_EIO_MESSAGE, "hello"), b = bin("\x01\x02\x03\x04", 4),
                    c = text(YOLK_EIO_PING, NULL);
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V4, &a, 1);
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V4, &b, 0);
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V4, &c, 0);
  CHECK_STR(sb.data, "4hello\x1e" "bAQIDBA==\x1e" "2");

  collected_t col;
  CHECK(decode(YOLK_EIO_PAYLOAD_V4, sb.data, sb.len, &col) == 0);
  CHECK(col.n == 3);
  CHECK(col.type[0] == 4 && !col.binary[0] && strcmp(col.data[0], "hello") == 0);
  CHECK(col.type[1] == 4 && col.binary[1] && col.len[1] == 4 && memcmp(col.data[1], "\x01\x02\x03\x04", 4) == 0);
  CHECK(col.type[2] == 2 && col.len[2] == 0);
  collected_free(&col);

  CHECK(decode(YOLK_EIO_PAYLOAD_V4, "4test1\x1e" "4test2\x1e" "4test3", 20, &col) == 0);
  CHECK(col.n == 3 && strcmp(col.data[2], "test3") == 0);
  collected_free(&col);

  /* single packet, UTF-8 text passes through byte for byte */
  CHECK(decode(YOLK_EIO_PAYLOAD_V4, "4\xe2\x82\xac", 4, &col) == 0);
  CHECK(col.n == 1 && col.len[0] == 3);
  collected_free(&col);

  /* the callback can stop the decoder */
  memset(&col, 0, sizeof(col));
  col.stop_after = 1;
  const char *err;
  CHECK(yolk__eio_payload_decode(YOLK_EIO_PAYLOAD_V4, "1\x1e" "4a", 4, collect, &col, &err) == 1);
  CHECK(col.n == 1 && col.type[0] == YOLK_EIO_CLOSE);
  collected_free(&col);

  /* malformed: empty payload, empty element, unknown type, bad base64;
   * packets before the bad one are still delivered */
  CHECK(decode(YOLK_EIO_PAYLOAD_V4, "", 0, &col) == -1 && col.n == 0);
  CHECK(decode(YOLK_EIO_PAYLOAD_V4, "abc", 3, &col) == -1 && col.n == 0);
  CHECK(decode(YOLK_EIO_PAYLOAD_V4, "4a\x1e", 3, &col) == -1 && col.n == 1);
  collected_free(&col);
  CHECK(decode(YOLK_EIO_PAYLOAD_V4, "4a\x1e\x1e" "4b", 6, &col) == -1 && col.n == 1);
  collected_free(&col);
  CHECK(decode(YOLK_EIO_PAYLOAD_V4, "4a\x1e" "9x", 5, &col) == -1 && col.n == 1);
  collected_free(&col);
  CHECK(decode(YOLK_EIO_PAYLOAD_V4, "b%%%", 4, &col) == -1 && col.n == 0);
  yolk__sb_free(&sb);
}

/* ---- v3 text payloads --------------------------------------------------------------- */

static void test_utf16_length(void) {
  CHECK(yolk__utf16_length("", 0) == 0);
  CHECK(yolk__utf16_length("abc", 3) == 3);
  CHECK(yolk__utf16_length("\xe2\x82\xac", 3) == 1);         /* € */
  CHECK(yolk__utf16_length("\xc3\xa9", 2) == 1);             /* é */
  CHECK(yolk__utf16_length("\xf0\x9f\x98\x80", 4) == 2);     /* 😀: a surrogate pair */
  CHECK(yolk__utf16_length("a\xf0\x9f\x98\x80z", 6) == 4);
  CHECK(yolk__utf16_length("\xff", 1) == 1);                 /* malformed byte: one unit */
  CHECK(yolk__utf16_length("\xe2\x82", 2) == 1);             /* truncated: one U+FFFD, as Node reads it */
  CHECK(yolk__utf16_length("\xed\xa0\x80", 3) == 3);         /* encoded surrogate: malformed */
}

static void test_payload_v3_text(void) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk_eio_packet_t a = text(YOLK_EIO_MESSAGE, "\xe2\x82\xac"), b = text(YOLK_EIO_MESSAGE, "hello"),
                    c = bin("\x01\x02\x03\x04", 4), d = text(YOLK_EIO_MESSAGE, "\xf0\x9f\x98\x80!");
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V3_TEXT, &a, 1);
  CHECK_STR(sb.data, "2:4\xe2\x82\xac");
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V3_TEXT, &b, 0);
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V3_TEXT, &c, 0);
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V3_TEXT, &d, 0);
  CHECK_STR(sb.data, "2:4\xe2\x82\xac" "6:4hello" "10:b4AQIDBA==" "4:4\xf0\x9f\x98\x80!");

  collected_t col;
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, sb.data, sb.len, &col) == 0);
  CHECK(col.n == 4);
  CHECK(col.len[0] == 3 && memcmp(col.data[0], "\xe2\x82\xac", 3) == 0);
  CHECK(strcmp(col.data[1], "hello") == 0 && !col.binary[1]);
  CHECK(col.binary[2] && col.len[2] == 4 && memcmp(col.data[2], "\x01\x02\x03\x04", 4) == 0);
  CHECK(col.len[3] == 5 && memcmp(col.data[3], "\xf0\x9f\x98\x80!", 5) == 0);
  collected_free(&col);

  /* the suite's payloads */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "6:4test16:4test26:4test3", 24, &col) == 0 && col.n == 3);
  collected_free(&col);
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "1:2", 3, &col) == 0 && col.n == 1 && col.type[0] == YOLK_EIO_PING);
  collected_free(&col);
  /* "0:" (an empty packet) is skipped, as by the reference */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "0:1:6", 5, &col) == 0 && col.n == 1 && col.type[0] == YOLK_EIO_NOOP);
  collected_free(&col);

  /* malformed */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "", 0, &col) == -1);
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "abc", 3, &col) == -1 && col.n == 0);
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, ":4a", 3, &col) == -1);
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "6:4hel", 6, &col) == -1);          /* truncated */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "2:4\xe2\x82\xac" "5", 7, &col) == -1 && col.n == 1); /* dangling length */
  collected_free(&col);
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "3:4\xe2\x82\xac", 6, &col) == -1); /* € is 1 unit, not 3 bytes */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "2:4\xf0\x9f\x98\x80", 7, &col) == -1); /* splits a surrogate pair */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "2:9x", 4, &col) == -1);            /* unknown type */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "4:b4A!", 6, &col) == -1);          /* bad base64 */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "99999999999999:4", 16, &col) == -1); /* absurd length */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_TEXT, "1x:4", 4, &col) == -1);
  yolk__sb_free(&sb);
}

/* ---- v3 binary payloads --------------------------------------------------------------- */

static void test_payload_v3_binary(void) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk_eio_packet_t a = text(YOLK_EIO_MESSAGE, "hello"), b = bin("\x01\x02\x03\x04", 4);
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V3_BINARY, &a, 1);
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V3_BINARY, &b, 0);
  /* exactly the bytes the official v3 suite expects */
  static const unsigned char expect[] = {0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4};
  CHECK_MEM(sb.data, sb.len, (const char *)expect, sizeof(expect));

  collected_t col;
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, sb.data, sb.len, &col) == 0);
  CHECK(col.n == 2);
  CHECK(!col.binary[0] && strcmp(col.data[0], "hello") == 0);
  CHECK(col.binary[1] && col.len[1] == 4 && memcmp(col.data[1], "\x01\x02\x03\x04", 4) == 0);
  collected_free(&col);

  /* a multi-digit length and a UTF-8 string (its length in bytes here) */
  char big[150];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  yolk_eio_packet_t c = text(YOLK_EIO_MESSAGE, big), e = text(YOLK_EIO_MESSAGE, "\xe2\x82\xac");
  sb.len = 0;
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V3_BINARY, &c, 1);
  yolk__eio_payload_append(&sb, YOLK_EIO_PAYLOAD_V3_BINARY, &e, 0);
  CHECK(sb.data[0] == 0 && sb.data[1] == 1 && sb.data[2] == 5 && sb.data[3] == 0 && (unsigned char)sb.data[4] == 255);
  CHECK(sb.data[5] == '4');
  CHECK(sb.data[5 + 150] == 0 && sb.data[5 + 151] == 4 && (unsigned char)sb.data[5 + 152] == 255);
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, sb.data, sb.len, &col) == 0);
  CHECK(col.n == 2 && col.len[0] == 149 && col.len[1] == 3);
  collected_free(&col);

  /* malformed */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, "", 0, &col) == -1);
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, "\x02\x01\xff" "4", 4, &col) == -1);     /* bad marker */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, "\x00\x06\xff" "4he", 6, &col) == -1);   /* truncated */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, "\x00\x0a\xff" "4", 4, &col) == -1);     /* digit > 9 */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, "\x00\x01", 2, &col) == -1);             /* no 0xFF */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, "\x00\xff", 2, &col) == -1);             /* no digits */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, "\x01\x02\xff\x05\x01", 5, &col) == -1); /* binary of type 5 */
  CHECK(decode(YOLK_EIO_PAYLOAD_V3_BINARY, "\x00\x01\xff" "8", 4, &col) == -1);     /* unknown type */
  yolk__sb_free(&sb);
}

/* ---- JSONP -------------------------------------------------------------------------- */

static void test_jsonp(void) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  const char payload[] = "6:4\"a\\b\n" "\xe2\x80\xa8\xe2\x80\xa9\x01\xe2\x82\xac";
  yolk__eio_jsonp_wrap(&sb, "3", payload, sizeof(payload) - 1);
  CHECK_STR(sb.data, "___eio[3](\"6:4\\\"a\\\\b\\n\\u2028\\u2029\\u0001\xe2\x82\xac\");");
  sb.len = 0;
  yolk__eio_jsonp_wrap(&sb, "1<script>", "1:6", 3);
  CHECK_STR(sb.data, "___eio[1](\"1:6\");");

  sb.len = 0;
  CHECK(yolk__eio_jsonp_body("d=6%3A4hello", 12, &sb) == 0);
  CHECK_STR(sb.data, "6:4hello");
  sb.len = 0;
  CHECK(yolk__eio_jsonp_body("x=1&d=4a+b%0Ac\\nd\\\\ne", 22, &sb) == 0);
  CHECK_STR(sb.data, "4a b\nc\nd\\ne");
  sb.len = 0;
  CHECK(yolk__eio_jsonp_body("d=", 2, &sb) == 0 && sb.len == 0);
  CHECK(yolk__eio_jsonp_body("x=1", 3, &sb) == -1);
  CHECK(yolk__eio_jsonp_body("", 0, &sb) == -1);
  sb.len = 0;
  CHECK(yolk__eio_jsonp_body("d=%zz%4", 7, &sb) == 0); /* stray % kept as is */
  CHECK_STR(sb.data, "%zz%4");
  yolk__sb_free(&sb);
}

/* ---- fuzzing: random input never crashes; random packets round-trip ------------ */

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static int count_only(void *ud, const yolk_eio_packet_t *p) {
  (*(int *)ud)++;
  (void)p;
  return 0;
}

static void test_fuzz(void) {
  /* biased alphabet so lengths, separators and markers show up often */
  static const char alphabet[] = "0123456789:b\x1e\xff\x00\x01\x04" "AQ=+/\xe2\x82\xac\xf0\x9f\x98\x80" "d&%";
  char in[64];
  for (int round = 0; round < 20000; round++) {
    size_t n = rnd() % sizeof(in);
    for (size_t i = 0; i < n; i++)
      in[i] = (rnd() & 3) ? alphabet[rnd() % (sizeof(alphabet) - 1)] : (char)(rnd() & 0xFF);
    const char *err;
    int count = 0;
    for (int f = 0; f <= YOLK_EIO_PAYLOAD_V3_BINARY; f++) yolk__eio_payload_decode(f, in, n, count_only, &count, &err);
    yolk_sb_t scratch, out;
    yolk__sb_init(&scratch);
    yolk__sb_init(&out);
    yolk_eio_packet_t p;
    yolk__eio_packet_decode(3, (int)(rnd() & 1), in, n, &scratch, &p, &err);
    yolk__eio_packet_decode(4, (int)(rnd() & 1), in, n, &scratch, &p, &err);
    yolk__eio_b64_decode(&out, in, n);
    yolk__eio_jsonp_body(in, n, &out);
    yolk__utf16_length(in, n);
    yolk__sb_free(&scratch);
    yolk__sb_free(&out);
  }

  /* round trips: a random list of packets encodes and decodes to itself */
  int ok = 1;
  for (int round = 0; round < 3000 && ok; round++) {
    int format = (int)(rnd() % 3);
    int protocol = format == YOLK_EIO_PAYLOAD_V4 ? 4 : 3;
    int np = 1 + (int)(rnd() % 5);
    char data[5][40];
    yolk_eio_packet_t pk[5];
    yolk_sb_t sb;
    yolk__sb_init(&sb);
    for (int i = 0; i < np; i++) {
      int binary = (rnd() % 3) == 0;
      size_t len = rnd() % 20;
      for (size_t k = 0; k < len; k++) {
        if (binary) {
          data[i][k] = (char)(rnd() & 0xFF);
        } else if ((rnd() % 5) == 0 && k + 4 <= len) { /* an emoji: two UTF-16 units */
          memcpy(data[i] + k, "\xf0\x9f\x98\x80", 4);
          k += 3;
        } else {
          data[i][k] = (char)('a' + rnd() % 26);
        }
      }
      pk[i].type = binary ? YOLK_EIO_MESSAGE : (int)(rnd() % 7);
      if (pk[i].type == YOLK_EIO_MESSAGE && !binary && format == YOLK_EIO_PAYLOAD_V4 && len == 0) len = 1, data[i][0] = 'x';
      pk[i].binary = binary;
      pk[i].data = data[i];
      pk[i].len = len;
      yolk__eio_payload_append(&sb, format, &pk[i], i == 0);
    }
    collected_t col;
    const char *err;
    memset(&col, 0, sizeof(col));
    int rc = yolk__eio_payload_decode(format, sb.data, sb.len, collect, &col, &err);
    /* v3 text skips empty packets only when the whole element is empty, which
     * never happens (the type is always there) */
    if (rc != 0 || col.n != np) ok = 0;
    for (int i = 0; ok && i < np; i++)
      if (col.type[i] != pk[i].type || col.binary[i] != pk[i].binary || col.len[i] != pk[i].len ||
          (pk[i].len && memcmp(col.data[i], pk[i].data, pk[i].len) != 0))
        ok = 0;
    if (!ok) fprintf(stderr, "round trip failed: format %d, %d packets\n", format, np);
    collected_free(&col);
    yolk__sb_free(&sb);
    (void)protocol;
  }
  CHECK(ok);
}

int main(void) {
  test_base64();
  test_packet_text_encoding();
  test_packet_ws_encoding();
  test_packet_decode();
  test_payload_v4();
  test_utf16_length();
  test_payload_v3_text();
  test_payload_v3_binary();
  test_jsonp();
  test_fuzz();
  TEST_MAIN_END();
}
