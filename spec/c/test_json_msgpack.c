/* test_json_msgpack.c - JSON text (with attachments) <-> MessagePack
 * (core/json_msgpack.c): round trips, key order, integers and floats,
 * placeholders <-> bin, and the bytes notepack.io (the Node side of
 * @socket.io/redis-adapter) writes. */
#include <stdlib.h>
#include <string.h>

#include "json_msgpack.h"
#include "test.h"

/* JSON -> MessagePack -> JSON. */
static const char *round_trip(const char *json, const yolk_sio_bin_t *bins, size_t nbins, yolk_bins_t *out_bins,
                              msgpack_sbuffer *buf) {
  static char out[4096];
  msgpack_sbuffer_init(buf);
  msgpack_packer pk;
  msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
  if (yolk__json_to_msgpack(&pk, json, strlen(json), bins, nbins) != 0) return "(invalid)";
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  CHECK(msgpack_unpack_next(&u, buf->data, buf->size, &off) == MSGPACK_UNPACK_SUCCESS);
  CHECK_EQ_INT(off, buf->size);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__msgpack_to_json(&sb, &u.data, out_bins);
  snprintf(out, sizeof(out), "%.*s", (int)sb.len, sb.data ? sb.data : "");
  yolk__sb_free(&sb);
  msgpack_unpacked_destroy(&u);
  return out;
}

static void test_round_trips(void) {
  const char *cases[] = {
      "null", "true", "false", "0", "-1", "42", "9007199254740992", "-9007199254740992", "1.5", "-0.25",
      "1e+300", "\"\"", "\"caf\xC3\xA9 \\u0000 \\\"q\\\"\"", "[]", "{}", "[1,[2,[3,{}]]]",
      "{\"t\":1,\"s\":0,\"n\":5,\"p\":\"x\"}", "{\"a\":{\"z\":[true,null],\"b\":\"\"},\"c\":-3}",
      "[\"ev\",{\"_placeholder\":false,\"num\":0}]",
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    msgpack_sbuffer buf;
    const char *got = round_trip(cases[i], NULL, 0, NULL, &buf);
    if (strcmp(got, cases[i]) != 0) fprintf(stderr, "  %s -> %s\n", cases[i], got);
    CHECK_STR(got, cases[i]);
    msgpack_sbuffer_destroy(&buf);
  }
  msgpack_sbuffer buf;
  CHECK_STR(round_trip("[1.0, 2e2]", NULL, 0, NULL, &buf), "[1,200]"); /* integral numbers become integers */
  CHECK((unsigned char)buf.data[1] == 0x01 && (unsigned char)buf.data[2] == 0xcc); /* fixint 1, uint8 200 */
  msgpack_sbuffer_destroy(&buf);
  CHECK_STR(round_trip("[1,", NULL, 0, NULL, &buf), "(invalid)");
  msgpack_sbuffer_destroy(&buf);
}

static void test_binary(void) {
  yolk_sio_bin_t bins[2] = {{"\x00\x01\xff", 3}, {"", 0}};
  const char *json = "[\"ev\",{\"_placeholder\":true,\"num\":1},{\"deep\":[{\"_placeholder\":true,\"num\":0}]}]";
  msgpack_sbuffer buf;
  yolk_bins_t got = {0};
  CHECK_STR(round_trip(json, bins, 2, &got, &buf), "[\"ev\",{\"_placeholder\":true,\"num\":0},{\"deep\":[{\"_placeholder\":true,\"num\":1}]}]");
  /* renumbered in document order; the bytes are the attachments' */
  CHECK_EQ_INT(got.n, 2);
  CHECK(got.n == 2 && got.v[0].len == 0 && got.v[1].len == 3 && memcmp(got.v[1].data, "\x00\x01\xff", 3) == 0);
  yolk__bins_free(&got);
  /* bin marker 0xc4 in the packed bytes */
  CHECK(memchr(buf.data, 0xc4, buf.size) != NULL);
  msgpack_sbuffer_destroy(&buf);
  /* a num that indexes nothing: the object stays (and -7 or 1e300 is never
   * converted to an index: undefined behaviour, found by fuzz_msgpack) */
  CHECK_STR(round_trip("[{\"_placeholder\":true,\"num\":-7},{\"num\":1e300,\"_placeholder\":true}]", bins, 2, NULL, &buf),
            "[{\"_placeholder\":true,\"num\":-7},{\"num\":1e+300,\"_placeholder\":true}]");
  msgpack_sbuffer_destroy(&buf);
  /* without attachments a placeholder-looking object stays an object */
  CHECK_STR(round_trip("{\"_placeholder\":true,\"num\":0}", NULL, 0, NULL, &buf), "{\"_placeholder\":true,\"num\":0}");
  msgpack_sbuffer_destroy(&buf);
}

/* notepack.io's bytes for ["emitter", {type: 2, data: ["x", undefined, {u: undefined, b: <Buffer 01>}], nsp: "/"}] */
static void test_notepack(void) {
  static const unsigned char bytes[] = {
      0x92, 0xa7, 'e', 'm', 'i', 't', 't', 'e', 'r', 0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa4, 'd', 'a', 't', 'a',
      0x93, 0xa1, 'x', 0xd4, 0x00, 0x00, 0x82, 0xa1, 'u', 0xd4, 0x00, 0x00, 0xa1, 'b', 0xc4, 0x01, 0x01, 0xa3, 'n',
      's', 'p', 0xa1, '/',
  };
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  CHECK(msgpack_unpack_next(&u, (const char *)bytes, sizeof(bytes), &off) == MSGPACK_UNPACK_SUCCESS);
  const msgpack_object *packet = &u.data.via.array.ptr[1];
  size_t n;
  CHECK(yolk__msgpack_get(packet, "nsp") && !memcmp(yolk__msgpack_str(yolk__msgpack_get(packet, "nsp"), &n), "/", 1));
  CHECK(yolk__msgpack_num(yolk__msgpack_get(packet, "type"), -1) == 2);
  CHECK(yolk__msgpack_get(packet, "nope") == NULL);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk_bins_t bins = {0};
  yolk__msgpack_to_json(&sb, yolk__msgpack_get(packet, "data"), &bins);
  CHECK_STR(sb.data, "[\"x\",null,{\"b\":{\"_placeholder\":true,\"num\":0}}]");
  CHECK(bins.n == 1 && bins.v[0].len == 1 && ((const unsigned char *)bins.v[0].data)[0] == 1);
  yolk__bins_free(&bins);
  yolk__sb_free(&sb);
  msgpack_unpacked_destroy(&u);
}

/* msgpack-c unpacks an empty string with a NULL pointer: it is still a
 * string ("" is a valid room), and writes as "" (found by fuzz_msgpack). */
static void test_empty_string(void) {
  static const unsigned char bytes[] = {0x82, 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xa0, 0xa0, 0xa0};
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0, n = 99;
  CHECK(msgpack_unpack_next(&u, (const char *)bytes, sizeof(bytes), &off) == MSGPACK_UNPACK_SUCCESS);
  const msgpack_object *rooms = yolk__msgpack_get(&u.data, "rooms");
  CHECK(rooms && rooms->type == MSGPACK_OBJECT_ARRAY && rooms->via.array.size == 1);
  const char *room = rooms ? yolk__msgpack_str(&rooms->via.array.ptr[0], &n) : NULL;
  CHECK(room != NULL && n == 0);
  CHECK(yolk__msgpack_get(&u.data, "") != NULL); /* the empty key */
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__msgpack_to_json(&sb, &u.data, NULL);
  CHECK_STR(sb.data, "{\"rooms\":[\"\"],\"\":\"\"}");
  yolk__sb_free(&sb);
  msgpack_unpacked_destroy(&u);
}

/* Map keys that are not strings: the property names JavaScript makes of them
 * (String(key)); keys within keys within keys used to be written as JSON text
 * quoted again at every level: 30 levels of {{{"\"": 1}: 1}: 1} asked for
 * gigabytes (found by fuzz_msgpack). */
static void test_keys(void) {
  static const unsigned char bytes[] = {
      0x85, 0x01, 0xa1, 'i', 0xc3, 0xa1, 'b', 0x94, 0x01, 0xc0, 0xa1, 'a', 0x80, 0xa1, 'r',
      0x81, 0x01, 0x02, 0xa1, 'm', 0xc4, 0x02, 'h', 'i', 0xa1, 'x',
  };
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  CHECK(msgpack_unpack_next(&u, (const char *)bytes, sizeof(bytes), &off) == MSGPACK_UNPACK_SUCCESS);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__msgpack_to_json(&sb, &u.data, NULL);
  CHECK_STR(sb.data, "{\"1\":\"i\",\"true\":\"b\",\"1,,a,[object Object]\":\"r\",\"[object Object]\":\"m\",\"hi\":\"x\"}");
  msgpack_unpacked_destroy(&u);

  unsigned char bomb[200];
  size_t n = 0;
  for (int i = 0; i < 30; i++) bomb[n++] = 0x81; /* {key: 1} with the key the next level */
  bomb[n++] = 0xa1, bomb[n++] = '"', bomb[n++] = 0x01;
  for (int i = 0; i < 30; i++) bomb[n++] = 0x01;
  msgpack_unpacked_init(&u);
  off = 0;
  CHECK(msgpack_unpack_next(&u, (const char *)bomb, n, &off) == MSGPACK_UNPACK_SUCCESS);
  sb.len = 0;
  yolk__msgpack_to_json(&sb, &u.data, NULL);
  CHECK_STR(sb.data, "{\"[object Object]\":1}");
  yolk__sb_free(&sb);
  msgpack_unpacked_destroy(&u);
}

int main(void) {
  test_keys();
  test_empty_string();
  test_round_trips();
  test_binary();
  test_notepack();
  TEST_MAIN_END();
}
