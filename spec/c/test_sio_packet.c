/* test_sio_packet.c - the Socket.IO packet codec: every packet type, namespaces,
 * ack ids, binary placeholders, and every invalid case the reference rejects. */
#include <stdlib.h>
#include <string.h>

#include "sio_packet.h"
#include "test.h"

static int decode(const char *s, yolk_sio_decoded_t *p, const char **why) {
  return yolk__sio_decode(s, strlen(s), 10, 1000, p, why);
}

static int span_is(const char *p, size_t len, const char *want) {
  return want ? p && strlen(want) == len && memcmp(p, want, len) == 0 : p == NULL && len == 0;
}

/* Decodes s and checks type, nsp, id and the payload, which is handed on as
 * the text it came as. */
static int decodes_to(const char *s, int type, const char *nsp, long long id, const char *json) {
  yolk_sio_decoded_t p;
  const char *why;
  if (decode(s, &p, &why) != 0) {
    fprintf(stderr, "  '%s' failed: %s\n", s, why);
    return 0;
  }
  int ok = p.type == type && span_is(p.nsp, p.nsp_len, nsp) && p.id == id && span_is(p.data, p.data_len, json);
  if (!ok)
    fprintf(stderr, "  '%s' -> type %d nsp %.*s id %lld data %.*s\n", s, p.type, (int)p.nsp_len, p.nsp,
            (long long)p.id, (int)p.data_len, p.data ? p.data : "");
  return ok;
}

static int rejects(const char *s, const char *expected_why) {
  yolk_sio_decoded_t p;
  const char *why = NULL;
  int rc = decode(s, &p, &why);
  if (rc == 0) {
    fprintf(stderr, "  '%s' was accepted\n", s);
    return 0;
  }
  if (!why || (expected_why && strcmp(why, expected_why) != 0)) {
    fprintf(stderr, "  '%s' rejected with '%s', expected '%s'\n", s, why ? why : "(null)", expected_why);
    return 0;
  }
  return 1;
}

static void test_decode_valid(void) {
  CHECK(decodes_to("0", YOLK_SIO_PKT_CONNECT, "/", -1, NULL));
  CHECK(decodes_to("0{\"token\":\"123\"}", YOLK_SIO_PKT_CONNECT, "/", -1, "{\"token\":\"123\"}"));
  CHECK(decodes_to("0/custom,", YOLK_SIO_PKT_CONNECT, "/custom", -1, NULL));
  CHECK(decodes_to("0/custom", YOLK_SIO_PKT_CONNECT, "/custom", -1, NULL));
  CHECK(decodes_to("0/custom,{\"token\":\"abc\"}", YOLK_SIO_PKT_CONNECT, "/custom", -1, "{\"token\":\"abc\"}"));
  CHECK(decodes_to("0/admin?token=x,", YOLK_SIO_PKT_CONNECT, "/admin?token=x", -1, NULL));
  CHECK(decodes_to("1", YOLK_SIO_PKT_DISCONNECT, "/", -1, NULL));
  CHECK(decodes_to("1/custom,", YOLK_SIO_PKT_DISCONNECT, "/custom", -1, NULL));
  CHECK(decodes_to("1/custom", YOLK_SIO_PKT_DISCONNECT, "/custom", -1, NULL));
  CHECK(decodes_to("2[\"message\",1,\"2\",{\"3\":[true]}]", YOLK_SIO_PKT_EVENT, "/", -1,
                   "[\"message\",1,\"2\",{\"3\":[true]}]"));
  CHECK(decodes_to("2456[\"message-with-ack\",1]", YOLK_SIO_PKT_EVENT, "/", 456, "[\"message-with-ack\",1]"));
  CHECK(decodes_to("2/chat,12[\"hi\"]", YOLK_SIO_PKT_EVENT, "/chat", 12, "[\"hi\"]"));
  CHECK(decodes_to("2[42]", YOLK_SIO_PKT_EVENT, "/", -1, "[42]")); /* numeric event names are allowed */
  /* lone surrogate escapes (JSON.stringify of a string cut inside an emoji)
   * are accepted, as JSON.parse does (what reads the text makes U+FFFD of them) */
  CHECK(decodes_to("2[\"m\",\"\\ud83d\"]", YOLK_SIO_PKT_EVENT, "/", -1, "[\"m\",\"\\ud83d\"]"));
  CHECK(decodes_to("2[\"m\",\"a\\udc00b\\ude00\\ud83d\"]", YOLK_SIO_PKT_EVENT, "/", -1,
                   "[\"m\",\"a\\udc00b\\ude00\\ud83d\"]"));
  CHECK(decodes_to("2 [\"a\"] ", YOLK_SIO_PKT_EVENT, "/", -1, " [\"a\"] "));
  CHECK(decodes_to("3456[1,\"2\"]", YOLK_SIO_PKT_ACK, "/", 456, "[1,\"2\"]"));
  CHECK(decodes_to("3/chat,7[]", YOLK_SIO_PKT_ACK, "/chat", 7, "[]"));
  CHECK(decodes_to("4{\"message\":\"no\"}", YOLK_SIO_PKT_CONNECT_ERROR, "/", -1, "{\"message\":\"no\"}"));
  CHECK(decodes_to("4/admin,\"Not authorized\"", YOLK_SIO_PKT_CONNECT_ERROR, "/admin", -1, "\"Not authorized\""));
  CHECK(decodes_to("2[\"\xe4\xbd\xa0\xe5\xa5\xbd\",\"\xf0\x9f\x98\x80\"]", YOLK_SIO_PKT_EVENT, "/", -1,
                   "[\"\xe4\xbd\xa0\xe5\xa5\xbd\",\"\xf0\x9f\x98\x80\"]"));
  CHECK(decodes_to("2[\"e\",\"\\u4f60\\ud83d\\ude00\"]", YOLK_SIO_PKT_EVENT, "/", -1,
                   "[\"e\",\"\\u4f60\\ud83d\\ude00\"]"));

  yolk_sio_decoded_t p;
  const char *why;
  CHECK(decode("52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", &p, &why) == 0);
  CHECK(p.type == YOLK_SIO_PKT_BINARY_EVENT && p.attachments == 2 && p.id == -1 && span_is(p.nsp, p.nsp_len, "/"));

  CHECK(decode("52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0}]", &p, &why) == 0);
  CHECK(p.type == YOLK_SIO_PKT_BINARY_EVENT && p.attachments == 2 && p.id == 789);

  CHECK(decode("61-/chat,3[{\"_placeholder\":true,\"num\":0}]", &p, &why) == 0);
  CHECK(p.type == YOLK_SIO_PKT_BINARY_ACK && p.attachments == 1 && p.id == 3 && span_is(p.nsp, p.nsp_len, "/chat"));

  CHECK(decode("50-[\"noattach\"]", &p, &why) == 0);
  CHECK(p.attachments == 0);

  CHECK(decode("510-[\"max\"]", &p, &why) == 0);
  CHECK(p.attachments == 10);

  CHECK(decode("29007199254740991[\"big\"]", &p, &why) == 0);
  CHECK(p.id == 9007199254740991LL);
}

static void test_decode_invalid(void) {
  CHECK(rejects("", "empty packet"));
  CHECK(rejects("7", "unknown packet type"));
  CHECK(rejects("a", "unknown packet type"));
  CHECK(rejects(" 0", "unknown packet type"));
  /* the official suite: "4abc" (a CONNECT_ERROR with a bad payload) */
  CHECK(rejects("4abc", "payload is not valid JSON"));
  CHECK(rejects("4", "CONNECT_ERROR payload is not a string or an object"));
  CHECK(rejects("4[1]", "CONNECT_ERROR payload is not a string or an object"));
  CHECK(rejects("0[]", "CONNECT payload is not an object"));
  CHECK(rejects("0\"x\"", "CONNECT payload is not an object"));
  CHECK(rejects("0/custom,null", "CONNECT payload is not an object"));
  CHECK(rejects("0{", "payload is not valid JSON"));
  CHECK(rejects("1{}", "DISCONNECT has a payload"));
  CHECK(rejects("1/custom,[]", "DISCONNECT has a payload"));
  CHECK(rejects("2", "EVENT without payload"));
  CHECK(rejects("2{}", "EVENT payload is not an array"));
  CHECK(rejects("2[]", "EVENT payload is an empty array"));
  CHECK(rejects("2[null]", "EVENT name is not a string or a number"));
  CHECK(rejects("2[{}]", "EVENT name is not a string or a number"));
  CHECK(rejects("2[\"connect\"]", "EVENT name is reserved"));
  CHECK(rejects("2[\"connect_error\"]", "EVENT name is reserved"));
  CHECK(rejects("2[\"disconnect\"]", "EVENT name is reserved"));
  CHECK(rejects("2[\"disconnecting\"]", "EVENT name is reserved"));
  CHECK(rejects("2[\"newListener\"]", "EVENT name is reserved"));
  CHECK(rejects("2[\"removeListener\"]", "EVENT name is reserved"));
  CHECK(rejects("2[\"a\"]x", "payload is not valid JSON"));
  CHECK(rejects("2[\"a\"", "payload is not valid JSON"));
  /* the official suite: an ack id with letters */
  CHECK(rejects("2abc[\"message-with-ack\",1]", "payload is not valid JSON"));
  CHECK(rejects("21a[\"x\"]", "payload is not valid JSON"));
  CHECK(rejects("29007199254740992[\"x\"]", "ack id too large"));
  CHECK(rejects("3", "ACK without payload"));
  CHECK(rejects("3{}", "ACK payload is not an array"));
  CHECK(rejects("31\"x\"", "ACK payload is not an array"));
  CHECK(rejects("5[\"x\"]", "illegal attachments count"));
  CHECK(rejects("5-[\"x\"]", "illegal attachments count"));
  CHECK(rejects("51[\"x\"]", "illegal attachments count"));
  CHECK(rejects("5a-[\"x\"]", "illegal attachments count"));
  CHECK(rejects("511-[\"x\"]", "too many attachments"));
  CHECK(rejects("599999999999999999999-[\"x\"]", "too many attachments"));
  CHECK(rejects("51-{}", "EVENT payload is not an array"));
  CHECK(rejects("61-", "ACK without payload"));
  CHECK(rejects("61-{}", "ACK payload is not an array"));
  CHECK(rejects("51-[\"disconnect\"]", "EVENT name is reserved"));

  /* the attachment cap comes from the caller */
  yolk_sio_decoded_t p;
  const char *why;
  CHECK(yolk__sio_decode("53-[\"x\"]", 6, 2, 1000, &p, &why) == -1 && strcmp(why, "too many attachments") == 0);
  /* not NUL-terminated input: only len bytes are read */
  CHECK(yolk__sio_decode("2[\"a\"]GARBAGE", 6, 10, 1000, &p, &why) == 0);
  /* the nesting cap comes from the caller too */
  const char *deep = "2[\"a\",[[1]]]";
  CHECK(yolk__sio_decode(deep, strlen(deep), 10, 2, &p, &why) == -1 && strcmp(why, "payload nested too deeply") == 0);
  CHECK(yolk__sio_decode(deep, strlen(deep), 10, 3, &p, &why) == 0);
  /* placeholders: checked against the attachments the packet announces */
  CHECK(rejects("51-[\"x\",{\"_placeholder\":true,\"num\":1}]", "placeholder with an invalid attachment index"));
  CHECK(rejects("2[\"x\",{\"_placeholder\":true,\"num\":0}]", "placeholder in a packet without attachments"));
}

static void test_placeholders(void) {
  const char *why;
  const char *ok = "[\"e\",{\"a\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]";
  CHECK(yolk__sio_check_args(ok, strlen(ok), 2, 1, &why) == 0);
  CHECK(yolk__sio_check_args(ok, strlen(ok), 1, 1, &why) == -1);
  const char *bad[] = {
      "[\"e\",{\"_placeholder\":true,\"num\":-1}]",
      "[\"e\",{\"_placeholder\":true,\"num\":0.5}]",
      "[\"e\",{\"_placeholder\":true,\"num\":\"0\"}]",
      "[\"e\",{\"_placeholder\":true}]",
      "[\"e\",{\"_placeholder\":true,\"num\":3}]",
      "[\"e\",{\"num\":1,\"_placeholder\":true,\"x\":[{\"_placeholder\":true,\"num\":7}]}]",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) CHECK(yolk__sio_check_args(bad[i], strlen(bad[i]), 3, 1, &why) == -1);
  /* an object that only looks like a placeholder is left alone */
  const char *lookalike = "[\"e\",{\"_placeholder\":false,\"num\":99}]";
  CHECK(yolk__sio_check_args(lookalike, strlen(lookalike), 0, 1, &why) == 0);
  /* event names, checked on the way out too */
  CHECK(yolk__sio_check_args("[\"disconnect\",1]", 16, 0, 1, &why) == -1);
  CHECK(yolk__sio_check_args("[\"dis\\u0063onnect\"]", 20, 0, 1, &why) == -1); /* escaped: still reserved */
  CHECK(yolk__sio_check_args("[42]", 4, 0, 1, &why) == 0);
  CHECK(yolk__sio_check_args("[]", 2, 0, 1, &why) == -1);
  CHECK(yolk__sio_check_args("[]", 2, 0, 0, &why) == 0); /* an ack may be empty */
  CHECK(yolk__sio_check_args("{}", 2, 0, 0, &why) == -1);
  CHECK(yolk__sio_check_args("[null]", 6, 0, 1, &why) == -1);
}

static void check_encode(int type, const char *nsp, long long id, const char *json, size_t att, const char *want) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  char head[YOLK_SIO_HEAD_MAX(64)];
  yolk__sb_append(&sb, head, yolk__sio_encode_head(head, type, nsp, id, att));
  yolk__sb_putc(&sb, '\0');
  sb.len--;
  if (json) yolk__sb_puts(&sb, json);
  CHECK(sb.data && strcmp(sb.data, want) == 0);
  if (!sb.data || strcmp(sb.data, want) != 0) fprintf(stderr, "  got '%s' want '%s'\n", sb.data, want);
  yolk__sb_free(&sb);
}

static void test_encode(void) {
  check_encode(YOLK_SIO_PKT_CONNECT, "/", -1, "{\"sid\":\"abc\"}", 0, "0{\"sid\":\"abc\"}");
  check_encode(YOLK_SIO_PKT_CONNECT, "/custom", -1, "{\"sid\":\"abc\"}", 0, "0/custom,{\"sid\":\"abc\"}");
  check_encode(YOLK_SIO_PKT_CONNECT, NULL, -1, NULL, 0, "0");
  check_encode(YOLK_SIO_PKT_CONNECT, "/nsp", -1, NULL, 0, "0/nsp,");
  check_encode(YOLK_SIO_PKT_DISCONNECT, "/", -1, NULL, 0, "1");
  check_encode(YOLK_SIO_PKT_DISCONNECT, "/custom", -1, NULL, 0, "1/custom,");
  check_encode(YOLK_SIO_PKT_EVENT, "/custom", 12, "[\"a\",1]", 0, "2/custom,12[\"a\",1]");
  check_encode(YOLK_SIO_PKT_ACK, "/", 456, "[1]", 0, "3456[1]");
  check_encode(YOLK_SIO_PKT_BINARY_EVENT, "/", -1, "[\"m\",{\"_placeholder\":true,\"num\":0}]", 1,
               "51-[\"m\",{\"_placeholder\":true,\"num\":0}]");
  check_encode(YOLK_SIO_PKT_BINARY_ACK, "/x", 789, "[{\"_placeholder\":true,\"num\":0}]", 1,
               "61-/x,789[{\"_placeholder\":true,\"num\":0}]");
  /* round trip */
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  char head[YOLK_SIO_HEAD_MAX(2)];
  yolk__sb_append(&sb, head, yolk__sio_encode_head(head, YOLK_SIO_PKT_EVENT, "/n", 5, 0));
  yolk__sb_puts(&sb, "[\"ev\",{\"k\":[1,2,3]},null]");
  CHECK(decodes_to(sb.data, YOLK_SIO_PKT_EVENT, "/n", 5, "[\"ev\",{\"k\":[1,2,3]},null]"));
  yolk__sb_free(&sb);
}

static void check_query(const char *nsp, const char *want_path, const char *want_json) {
  yolk_sb_t q;
  yolk__sb_init(&q);
  char *path = yolk__sio_split_nsp_query(nsp, strlen(nsp), &q);
  CHECK_STR(path, want_path);
  CHECK_STR(q.data, want_json);
  free(path);
  yolk__sb_free(&q);
}

static void test_nsp_query(void) {
  check_query("/admin?token=abc&x=a%20b+c&flag&x2=%zz", "/admin",
              "{\"token\":\"abc\",\"x\":\"a b c\",\"flag\":\"\",\"x2\":\"%zz\"}");
  check_query("/plain", "/plain", "{}");
  /* Object.fromEntries(new URLSearchParams(...)): the last value, at the first place */
  check_query("/a?k=1&j=x&k=2", "/a", "{\"k\":\"2\",\"j\":\"x\"}");
  check_query("/a?n=%00&q=%22", "/a", "{\"n\":\"\\u0000\",\"q\":\"\\\"\"}");
  check_query("/f#frag?x=1", "/f", "{}");
}

/* Mutated valid packets and random bytes: the decoder never crashes (ASan
 * builds check reads past the input), and whatever it accepts re-encodes to
 * text that decodes to the same packet. */
static void test_fuzz(void) {
  static const char *seeds[] = {
      "0", "0/custom,{\"token\":\"abc\"}", "1/x,", "2[\"message\",1,\"2\",{\"3\":[true]}]",
      "2456[\"a\",null]", "3/chat,7[1,[2,{\"k\":\"v\"}]]", "4{\"message\":\"no\"}",
      "52-[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
      "61-/n,9[{\"_placeholder\":true,\"num\":0}]", "2[\"\\u4f60\\ud83d\\ude00\"]",
  };
  const char alphabet[] = "0123456789-/,[]{}\":.eE+ \\utrnfalsu\x01\xff\xe4\xbd\xa0";
  unsigned seed = 42;
  int mismatches = 0, accepted = 0;
  char buf[256];
  for (int iter = 0; iter < 200000; iter++) {
    seed = seed * 1103515245u + 12345u;
    size_t len;
    if (iter % 4 == 0) { /* random bytes */
      len = (seed >> 16) % 40;
      for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
      }
    } else { /* a seed with a few mutations */
      const char *src = seeds[(seed >> 16) % (sizeof(seeds) / sizeof(seeds[0]))];
      len = strlen(src);
      memcpy(buf, src, len);
      int muts = 1 + (int)((seed >> 8) % 3);
      for (int m = 0; m < muts && len > 0; m++) {
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 16) % len;
        int kind = (int)((seed >> 4) % 3);
        char c = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
        if (kind == 0) buf[at] = c;                            /* replace */
        else if (kind == 1) len = at;                          /* truncate */
        else if (len < sizeof(buf) - 1) {                      /* insert */
          memmove(buf + at + 1, buf + at, len - at);
          buf[at] = c;
          len++;
        }
      }
    }
    /* exact-size heap copy: ASan flags any read past len */
    char *in = malloc(len ? len : 1);
    memcpy(in, buf, len);
    yolk_sio_decoded_t p;
    const char *why;
    if (yolk__sio_decode(in, len, 10, 1000, &p, &why) == 0) {
      accepted++;
      yolk_sb_t sb;
      yolk__sb_init(&sb);
      char *nsp = yolk__strndup(p.nsp, p.nsp_len);
      char *head = malloc(YOLK_SIO_HEAD_MAX(p.nsp_len));
      yolk__sb_append(&sb, head, yolk__sio_encode_head(head, p.type, nsp, p.id, p.attachments));
      free(head);
      if (p.data) yolk__sb_append(&sb, p.data, p.data_len);
      yolk_sio_decoded_t q;
      if (yolk__sio_decode(sb.data, sb.len, 10, 1000, &q, &why) != 0) {
        mismatches++;
      } else {
        int same = q.type == p.type && q.nsp_len == p.nsp_len && memcmp(q.nsp, p.nsp, p.nsp_len) == 0 &&
                   q.id == p.id && q.attachments == p.attachments && q.data_len == p.data_len &&
                   (!p.data || memcmp(q.data, p.data, p.data_len) == 0);
        if (!same) mismatches++;
      }
      free(nsp);
      yolk__sb_free(&sb);
    } else {
      CHECK(why != NULL);
    }
    free(in);
  }
  CHECK_EQ_INT(mismatches, 0);
  CHECK(accepted > 1000); /* the mutations do reach the accepting paths */
}

int main(void) {
  test_fuzz();
  test_decode_valid();
  test_decode_invalid();
  test_placeholders();
  test_encode();
  test_nsp_query();
  TEST_MAIN_END();
}
