/* test_sio_packet.c - the Socket.IO packet codec: every packet type, namespaces,
 * ack ids, binary placeholders, and every invalid case the reference rejects. */
#include <stdlib.h>
#include <string.h>

#include "sio_packet.h"
#include "test.h"

static int decode(const char *s, yolk_sio_packet_t *p, const char **why) {
  return yolk__sio_decode(s, strlen(s), 10, p, why);
}

/* Decodes s and checks type, nsp, id and the re-printed JSON payload. */
static int decodes_to(const char *s, int type, const char *nsp, long long id, const char *json) {
  yolk_sio_packet_t p;
  const char *why;
  if (decode(s, &p, &why) != 0) {
    fprintf(stderr, "  '%s' failed: %s\n", s, why);
    return 0;
  }
  int ok = p.type == type && strcmp(p.nsp, nsp) == 0 && p.id == id;
  if (json) {
    char *got = p.data ? cJSON_PrintUnformatted(p.data) : NULL;
    ok = ok && got && strcmp(got, json) == 0;
    if (!ok) fprintf(stderr, "  '%s' -> type %d nsp %s id %lld data %s\n", s, p.type, p.nsp, (long long)p.id,
                     got ? got : "(none)");
    cJSON_free(got);
  } else {
    ok = ok && p.data == NULL;
  }
  yolk__sio_packet_free(&p);
  return ok;
}

static int rejects(const char *s, const char *expected_why) {
  yolk_sio_packet_t p;
  const char *why = NULL;
  int rc = decode(s, &p, &why);
  if (rc == 0) {
    fprintf(stderr, "  '%s' was accepted\n", s);
    yolk__sio_packet_free(&p);
    return 0;
  }
  if (!why || (expected_why && strcmp(why, expected_why) != 0)) {
    fprintf(stderr, "  '%s' rejected with '%s', expected '%s'\n", s, why ? why : "(null)", expected_why);
    return 0;
  }
  return p.nsp == NULL && p.data == NULL;
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
  CHECK(decodes_to("2 [\"a\"] ", YOLK_SIO_PKT_EVENT, "/", -1, "[\"a\"]"));
  CHECK(decodes_to("3456[1,\"2\"]", YOLK_SIO_PKT_ACK, "/", 456, "[1,\"2\"]"));
  CHECK(decodes_to("3/chat,7[]", YOLK_SIO_PKT_ACK, "/chat", 7, "[]"));
  CHECK(decodes_to("4{\"message\":\"no\"}", YOLK_SIO_PKT_CONNECT_ERROR, "/", -1, "{\"message\":\"no\"}"));
  CHECK(decodes_to("4/admin,\"Not authorized\"", YOLK_SIO_PKT_CONNECT_ERROR, "/admin", -1, "\"Not authorized\""));
  CHECK(decodes_to("2[\"\xe4\xbd\xa0\xe5\xa5\xbd\",\"\xf0\x9f\x98\x80\"]", YOLK_SIO_PKT_EVENT, "/", -1,
                   "[\"\xe4\xbd\xa0\xe5\xa5\xbd\",\"\xf0\x9f\x98\x80\"]"));
  CHECK(decodes_to("2[\"e\",\"\\u4f60\\ud83d\\ude00\"]", YOLK_SIO_PKT_EVENT, "/", -1,
                   "[\"e\",\"\xe4\xbd\xa0\xf0\x9f\x98\x80\"]"));

  yolk_sio_packet_t p;
  const char *why;
  CHECK(decode("52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", &p, &why) == 0);
  CHECK(p.type == YOLK_SIO_PKT_BINARY_EVENT && p.attachments == 2 && p.id == -1 && strcmp(p.nsp, "/") == 0);
  CHECK(yolk__sio_check_placeholders(p.data, 2, &why) == 0);
  CHECK(yolk__sio_check_placeholders(p.data, 1, &why) == -1);
  yolk__sio_packet_free(&p);

  CHECK(decode("52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0}]", &p, &why) == 0);
  CHECK(p.type == YOLK_SIO_PKT_BINARY_EVENT && p.attachments == 2 && p.id == 789);
  yolk__sio_packet_free(&p);

  CHECK(decode("61-/chat,3[{\"_placeholder\":true,\"num\":0}]", &p, &why) == 0);
  CHECK(p.type == YOLK_SIO_PKT_BINARY_ACK && p.attachments == 1 && p.id == 3 && strcmp(p.nsp, "/chat") == 0);
  yolk__sio_packet_free(&p);

  CHECK(decode("50-[\"noattach\"]", &p, &why) == 0);
  CHECK(p.attachments == 0);
  yolk__sio_packet_free(&p);

  CHECK(decode("510-[\"max\"]", &p, &why) == 0);
  CHECK(p.attachments == 10);
  yolk__sio_packet_free(&p);

  CHECK(decode("29007199254740991[\"big\"]", &p, &why) == 0);
  CHECK(p.id == 9007199254740991LL);
  yolk__sio_packet_free(&p);
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
  yolk_sio_packet_t p;
  const char *why;
  CHECK(yolk__sio_decode("53-[\"x\"]", 6, 2, &p, &why) == -1 && strcmp(why, "too many attachments") == 0);
  /* not NUL-terminated input: only len bytes are read */
  CHECK(yolk__sio_decode("2[\"a\"]GARBAGE", 6, 10, &p, &why) == 0);
  yolk__sio_packet_free(&p);
}

static void test_placeholders(void) {
  const char *why;
  cJSON *ok = cJSON_Parse("[\"e\",{\"a\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]");
  CHECK(yolk__sio_check_placeholders(ok, 2, &why) == 0);
  CHECK(yolk__sio_check_placeholders(ok, 1, &why) == -1);
  cJSON_Delete(ok);
  const char *bad[] = {
      "[\"e\",{\"_placeholder\":true,\"num\":-1}]",
      "[\"e\",{\"_placeholder\":true,\"num\":0.5}]",
      "[\"e\",{\"_placeholder\":true,\"num\":\"0\"}]",
      "[\"e\",{\"_placeholder\":true}]",
      "[\"e\",{\"_placeholder\":true,\"num\":3}]",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cJSON *v = cJSON_Parse(bad[i]);
    CHECK(yolk__sio_check_placeholders(v, 3, &why) == -1 || i == 4);
    CHECK(i != 4 || yolk__sio_check_placeholders(v, 3, &why) == -1);
    cJSON_Delete(v);
  }
  /* an object that only looks like a placeholder is left alone */
  cJSON *v = cJSON_Parse("[\"e\",{\"_placeholder\":false,\"num\":99}]");
  CHECK(yolk__sio_check_placeholders(v, 0, &why) == 0);
  cJSON_Delete(v);
}

static void check_encode(int type, const char *nsp, long long id, const char *json, size_t att, const char *want) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  cJSON *data = json ? cJSON_Parse(json) : NULL;
  yolk__sio_encode(&sb, type, nsp, id, data, att);
  CHECK(sb.data && strcmp(sb.data, want) == 0);
  if (!sb.data || strcmp(sb.data, want) != 0) fprintf(stderr, "  got '%s' want '%s'\n", sb.data, want);
  cJSON_Delete(data);
  yolk__sb_free(&sb);
}

static void test_encode(void) {
  check_encode(YOLK_SIO_PKT_CONNECT, "/", -1, "{\"sid\":\"abc\"}", 0, "0{\"sid\":\"abc\"}");
  check_encode(YOLK_SIO_PKT_CONNECT, "/custom", -1, "{\"sid\":\"abc\"}", 0, "0/custom,{\"sid\":\"abc\"}");
  check_encode(YOLK_SIO_PKT_CONNECT, NULL, -1, NULL, 0, "0");
  check_encode(YOLK_SIO_PKT_CONNECT, "/nsp", -1, NULL, 0, "0/nsp,");
  check_encode(YOLK_SIO_PKT_DISCONNECT, "/", -1, NULL, 0, "1");
  check_encode(YOLK_SIO_PKT_DISCONNECT, "/custom", -1, NULL, 0, "1/custom,");
  check_encode(YOLK_SIO_PKT_EVENT, "/", -1, "[\"auth\",{}]", 0, "2[\"auth\",{}]");
  check_encode(YOLK_SIO_PKT_EVENT, "/custom", 12, "[\"a\",1,\"2\",{\"3\":[true]}]", 0,
               "2/custom,12[\"a\",1,\"2\",{\"3\":[true]}]");
  check_encode(YOLK_SIO_PKT_ACK, "/", 456, "[1,\"2\",{\"3\":[false]}]", 0, "3456[1,\"2\",{\"3\":[false]}]");
  check_encode(YOLK_SIO_PKT_CONNECT_ERROR, "/random", -1, "{\"message\":\"Invalid namespace\"}", 0,
               "4/random,{\"message\":\"Invalid namespace\"}");
  check_encode(YOLK_SIO_PKT_CONNECT_ERROR, "/admin", -1, "\"Not authorized\"", 0, "4/admin,\"Not authorized\"");
  check_encode(YOLK_SIO_PKT_BINARY_EVENT, "/", -1,
               "[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", 2,
               "52-[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
  check_encode(YOLK_SIO_PKT_BINARY_ACK, "/x", 789, "[{\"_placeholder\":true,\"num\":0}]", 1,
               "61-/x,789[{\"_placeholder\":true,\"num\":0}]");
  /* unicode goes out as UTF-8, control characters escaped as JSON.stringify does */
  check_encode(YOLK_SIO_PKT_EVENT, "/", -1, "[\"\xe4\xbd\xa0\",\"\xf0\x9f\x98\x80\",\"a\\nb\\u0001\"]", 0,
               "2[\"\xe4\xbd\xa0\",\"\xf0\x9f\x98\x80\",\"a\\nb\\u0001\"]");

  /* round trip */
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  cJSON *d = cJSON_Parse("[\"ev\",{\"k\":[1,2,3]},null]");
  yolk__sio_encode(&sb, YOLK_SIO_PKT_EVENT, "/n", 5, d, 0);
  CHECK(decodes_to(sb.data, YOLK_SIO_PKT_EVENT, "/n", 5, "[\"ev\",{\"k\":[1,2,3]},null]"));
  cJSON_Delete(d);
  yolk__sb_free(&sb);
}

static void test_nsp_query(void) {
  cJSON *q;
  char *path = yolk__sio_split_nsp_query("/admin?token=abc&x=a%20b+c&flag&x2=%zz", &q);
  CHECK_STR(path, "/admin");
  char *s = cJSON_PrintUnformatted(q);
  CHECK_STR(s, "{\"token\":\"abc\",\"x\":\"a b c\",\"flag\":\"\",\"x2\":\"%zz\"}");
  cJSON_free(s);
  cJSON_Delete(q);
  free(path);

  path = yolk__sio_split_nsp_query("/plain", &q);
  CHECK_STR(path, "/plain");
  CHECK(cJSON_IsObject(q) && q->child == NULL);
  cJSON_Delete(q);
  free(path);

  path = yolk__sio_split_nsp_query("/a?k=1&k=2", &q);
  s = cJSON_PrintUnformatted(q);
  CHECK_STR(s, "{\"k\":\"2\"}");
  cJSON_free(s);
  cJSON_Delete(q);
  free(path);
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
    yolk_sio_packet_t p;
    const char *why;
    if (yolk__sio_decode(in, len, 10, &p, &why) == 0) {
      accepted++;
      yolk_sb_t sb;
      yolk__sb_init(&sb);
      yolk__sio_encode(&sb, p.type, p.nsp, p.id, p.data, p.attachments);
      yolk_sio_packet_t q;
      if (yolk__sio_decode(sb.data, sb.len, 10, &q, &why) != 0) {
        mismatches++;
      } else {
        int same = q.type == p.type && strcmp(q.nsp, p.nsp) == 0 && q.id == p.id &&
                   q.attachments == p.attachments && cJSON_Compare(q.data, p.data, 1);
        if (!same && !(p.data == NULL && q.data == NULL && q.type == p.type)) mismatches++;
        yolk__sio_packet_free(&q);
      }
      yolk__sb_free(&sb);
      yolk__sio_packet_free(&p);
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
