/* test_adapter_redis_common.c - what the two Redis adapters share
 * (core/adapter_redis_common.c), the parts that need no server: targets
 * written and read back (MessagePack and JSON), copied targets, room names
 * from messages (numbers as JavaScript writes them, none with a NUL byte),
 * numbers read in range, a message read as JSON or MessagePack, the first
 * argument of an argument list. */
#include <stdlib.h>
#include <string.h>

#include "adapter_redis_common.h"
#include "test.h"

/* Unpacks the scratch's out buffer into u. */
static const msgpack_object *unpack_out(yolk_ra_scratch_t *sc, msgpack_unpacked *u) {
  size_t off = 0;
  CHECK(msgpack_unpack_next(u, sc->out.data, sc->out.size, &off) == MSGPACK_UNPACK_SUCCESS);
  return &u->data;
}

static void test_targets(void) {
  yolk_ra_scratch_t sc;
  yolk__ra_scratch_init(&sc);
  const char *rooms[] = {"r1", "", "r3"}, *except[] = {"x"};
  yolk_sio_target_t to = {rooms, 3, except, 1, YOLK_SIO_VOLATILE};

  /* MessagePack opts, read back with the timeout flag */
  yolk__ra_pack_opts(&sc.pk, &to, 1500);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  yolk_ra_target_t mt;
  yolk__ra_target_read(&mt, unpack_out(&sc, &u));
  CHECK_EQ_INT(mt.t.nrooms, 3);
  CHECK_STR(mt.t.rooms[0], "r1");
  CHECK_STR(mt.t.rooms[1], ""); /* the room "" is a room, not "every socket" */
  CHECK_STR(mt.t.rooms[2], "r3");
  CHECK_EQ_INT(mt.t.nexcept, 1);
  CHECK_STR(mt.t.except[0], "x");
  CHECK(mt.t.flags & YOLK_SIO_VOLATILE);
  CHECK_EQ_INT(mt.timeout_ms, 1500);
  yolk__ra_target_free(&mt);
  msgpack_unpacked_destroy(&u);

  /* JSON opts (the streams adapter's stored entries, the classic requests) */
  yolk__ra_json_opts(&sc.sb, &to);
  CHECK_STR(sc.sb.data, "{\"rooms\":[\"r1\",\"\",\"r3\"],\"except\":[\"x\"],\"flags\":{\"volatile\":true}}");
  msgpack_unpacked_init(&u);
  CHECK(yolk__ra_read(&sc, sc.sb.data, sc.sb.len, &u) == 0);
  yolk__ra_target_read(&mt, &u.data);
  CHECK_EQ_INT(mt.t.nrooms, 3);
  CHECK_EQ_INT(mt.timeout_ms, 0);
  yolk__ra_target_free(&mt);
  msgpack_unpacked_destroy(&u);

  /* a copy outlives what it was copied from */
  char *r = strdup("room");
  const char *list[] = {r};
  yolk_sio_target_t t2 = {list, 1, NULL, 0, 0};
  yolk__ra_target_copy(&mt, &t2);
  free(r);
  CHECK_EQ_INT(mt.t.nrooms, 1);
  CHECK_STR(mt.t.rooms[0], "room");
  CHECK_EQ_INT(mt.t.nexcept, 0);
  yolk__ra_target_free(&mt);

  /* no opts: every socket (the adapters refuse such messages themselves) */
  yolk__ra_target_read(&mt, NULL);
  CHECK_EQ_INT(mt.t.nrooms + mt.t.nexcept, 0);
  yolk__ra_target_free(&mt);
  yolk__ra_scratch_free(&sc);
}

static void test_room_names_and_numbers(void) {
  yolk_ra_scratch_t sc;
  yolk__ra_scratch_init(&sc);
  /* {"rooms":[7,-1.5,"a\0b",true,"ok"],"n":1e300,"t":3,"f":2.5,"neg":-1} */
  msgpack_packer *pk = &sc.pk;
  msgpack_pack_map(pk, 5);
  yolk__ra_pack_str(pk, "rooms");
  msgpack_pack_array(pk, 5);
  msgpack_pack_int(pk, 7);
  msgpack_pack_double(pk, -1.5);
  msgpack_pack_str(pk, 3);
  msgpack_pack_str_body(pk, "a\0b", 3);
  msgpack_pack_true(pk);
  yolk__ra_pack_str(pk, "ok");
  yolk__ra_pack_str(pk, "n");
  msgpack_pack_double(pk, 1e300);
  yolk__ra_pack_str(pk, "t");
  msgpack_pack_int(pk, 3);
  yolk__ra_pack_str(pk, "f");
  msgpack_pack_double(pk, 2.5);
  yolk__ra_pack_str(pk, "neg");
  msgpack_pack_int(pk, -1);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  const msgpack_object *o = unpack_out(&sc, &u);
  yolk_ra_target_t mt;
  yolk__ra_target_from(&mt, yolk__msgpack_get(o, "rooms"), NULL, NULL);
  CHECK_EQ_INT(mt.t.nrooms, 3); /* the NUL one and the boolean are skipped */
  CHECK_STR(mt.t.rooms[0], "7");
  CHECK_STR(mt.t.rooms[1], "-1.5");
  CHECK_STR(mt.t.rooms[2], "ok");
  yolk__ra_target_free(&mt);
  CHECK_EQ_INT(yolk__ra_field_count(o, "t", -1), 3);
  CHECK_EQ_INT(yolk__ra_field_count(o, "n", -1), -1);   /* 1e300: out of range */
  CHECK_EQ_INT(yolk__ra_field_count(o, "f", -1), -1);   /* not whole */
  CHECK_EQ_INT(yolk__ra_field_count(o, "neg", -1), -1); /* negative */
  CHECK_EQ_INT(yolk__ra_field_count(o, "none", 9), 9);
  msgpack_unpacked_destroy(&u);
  yolk__ra_scratch_free(&sc);
}

static void test_reading(void) {
  yolk_ra_scratch_t sc;
  yolk__ra_scratch_init(&sc);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  /* JSON (a '{'), then MessagePack */
  const char json[] = "{\"uid\":\"abc\",\"requestId\":\"q1\",\"close\":true}";
  CHECK(yolk__ra_read(&sc, json, sizeof(json) - 1, &u) == 0);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  CHECK_STR(yolk__ra_field_str(&u.data, "requestId", &sb), "q1");
  CHECK(yolk__ra_field_is(&u.data, "uid", "abc"));
  CHECK(!yolk__ra_field_is(&u.data, "uid", "ab"));
  CHECK(yolk__ra_field_true(&u.data, "close"));
  CHECK(!yolk__ra_field_true(&u.data, "uid"));
  CHECK(yolk__ra_read(&sc, "{bad", 4, &u) != 0);
  const char mp[] = "\x81\xa1k\x01"; /* {k: 1} */
  CHECK(yolk__ra_read(&sc, mp, sizeof(mp) - 1, &u) == 0);
  CHECK_EQ_INT(yolk__ra_field_count(&u.data, "k", -1), 1);
  CHECK(yolk__ra_read(&sc, "", 0, &u) != 0);
  yolk__sb_free(&sb);

  /* the first argument, binary kept */
  yolk_sio_bin_t bin = {"\x01\x02", 2};
  static const char with_bin[] = "[{\"_placeholder\":true,\"num\":0},2]";
  yolk_sio_args_t args = {with_bin, sizeof(with_bin) - 1, &bin, 1};
  const msgpack_object *first = yolk__ra_first_arg(&sc, &args, &u);
  CHECK(first && first->type == MSGPACK_OBJECT_BIN && first->via.bin.size == 2);
  yolk_sio_args_t none = {"[]", 2, NULL, 0};
  CHECK(yolk__ra_first_arg(&sc, &none, &u) == NULL);
  msgpack_unpacked_destroy(&u);
  yolk__ra_scratch_free(&sc);
}

int main(void) {
  test_targets();
  test_room_names_and_numbers();
  test_reading();
  TEST_MAIN_END();
}
