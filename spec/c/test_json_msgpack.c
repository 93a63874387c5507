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

int main(void) {
  test_round_trips();
  test_binary();
  test_notepack();
  TEST_MAIN_END();
}
