/* test_adapter_memory.c - the in-memory adapter: room membership, target
 * matching (union of rooms, except, each socket once), room cleanup, and the
 * target-wide join/leave. Sockets here are bare structs: the adapter only
 * uses their identity and epoch stamp. */
#include <stdlib.h>
#include <string.h>

#include "eio.h" /* yolk_eio_msg_t refs */
#include "sio.h"
#include "test.h"

#define NSOCK 6

static void count_hit_big_noop(yolk_sio_socket_t *s, void *ud) {
  (void)s;
  (void)ud;
}

static yolk_sio_socket_t socks[NSOCK];
static int hits[NSOCK];

static void count_hit(yolk_sio_socket_t *s, void *ud) {
  (void)ud;
  hits[s - socks]++;
}

/* Runs a match and returns a bitmask of the sockets visited; fails the
 * check if any socket was visited more than once. */
static unsigned match(yolk_sio_adapter_t *a, const char *const *rooms, size_t nrooms, const char *const *except,
                      size_t nexcept) {
  memset(hits, 0, sizeof(hits));
  yolk_sio_target_t t = {rooms, nrooms, except, nexcept, 0};
  size_t n = yolk_sio_memory_adapter_each(a, &t, count_hit, NULL);
  unsigned mask = 0;
  size_t total = 0;
  for (int i = 0; i < NSOCK; i++) {
    CHECK(hits[i] <= 1);
    if (hits[i]) mask |= 1u << i;
    total += (size_t)hits[i];
  }
  CHECK_EQ_INT(n, total);
  return mask;
}


typedef struct {
  const char *room;
  int found;
} find_t;

static void find_room(const char *room, void *ud) {
  find_t *f = ud;
  if (strcmp(room, f->room) == 0) f->found = 1;
}

static int socket_in(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *room) {
  find_t f = {room, 0};
  a->vt->socket_rooms(a, s, find_room, &f);
  return f.found;
}

/* Sockets in a room (0: no such room). */
static size_t room_size(yolk_sio_adapter_t *a, const char *room) {
  yolk_sio_target_t t = {&room, 1, NULL, 0, 0};
  return yolk_sio_memory_adapter_each(a, &t, count_hit_big_noop, NULL);
}

static void count_room(const char *room, void *ud) {
  (void)room;
  (*(size_t *)ud)++;
}

/* Rooms that exist. */
static size_t room_count(yolk_sio_adapter_t *a) {
  size_t n = 0;
  yolk_sio_memory_adapter_rooms(a, count_room, &n);
  return n;
}

static size_t queued(yolk_sio_socket_t *s) {
  size_t n = 0;
  yolk_list_t *it;
  yolk__list_foreach(it, &s->queue) n++;
  return n;
}

/* Encode once: a broadcast hands every recipient the very messages it
 * encoded (same pointers, one more reference each), never a copy. Pending
 * sockets queue them, which is observable without any I/O. */
static void test_broadcast_shares_messages(void) {
  yolk_sio_adapter_t *a = yolk_sio_memory_adapter_new(NULL);
  yolk_sio_socket_t ss[4];
  memset(ss, 0, sizeof(ss));
  const char *room = "r";
  for (int i = 0; i < 4; i++) {
    ss[i].state = YOLK_SIO_SOCKET_PENDING;
    yolk__list_init(&ss[i].queue);
    a->vt->add_all(a, &ss[i], &room, 1);
  }
  const char *other = "other";
  a->vt->add_all(a, &ss[3], &other, 1);
  a->vt->add_all(a, &ss[0], &other, 1); /* in both rooms: still once */

  const char *json = "[\"ev\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
  yolk_sio_bin_t bins[2] = {{"\x01\x02", 2}, {"", 0}};
  yolk_sio_args_t args = {json, strlen(json), bins, 2};
  yolk_sio_packet_t e;
  yolk__sio_packet_build(&e, YOLK_SIO_PKT_EVENT, "/", -1, &args);
  CHECK_EQ_INT(e.nmsgs, 3);
  CHECK_EQ_INT(e.type, YOLK_SIO_PKT_BINARY_EVENT);
  CHECK(!e.msgs[0]->binary && e.msgs[1]->binary && e.msgs[2]->binary);
  CHECK_STR(e.msgs[0]->bytes,
            "52-[\"ev\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");

  const char *both[] = {"r", "other"};
  a->vt->broadcast(a, &e, &(yolk_sio_target_t){both, 2, &(const char *){"s-none"}, 1, 0});
  /* each socket queued one entry holding the very same messages */
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(queued(&ss[i]), 1);
  for (size_t k = 0; k < 3; k++) CHECK_EQ_INT(e.msgs[k]->refs, 1 + 4);

  /* volatile: a pending socket is not writable, nothing is queued */
  a->vt->broadcast(a, &e, &(yolk_sio_target_t){NULL, 0, NULL, 0, YOLK_SIO_VOLATILE});
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(queued(&ss[i]), 1);
  CHECK_EQ_INT(e.msgs[0]->refs, 5);

  /* a refused or closed socket gets nothing */
  ss[1].state = YOLK_SIO_SOCKET_REFUSED;
  ss[2].state = YOLK_SIO_SOCKET_CLOSED;
  a->vt->broadcast(a, &e, &(yolk_sio_target_t){&room, 1, NULL, 0, 0});
  CHECK(queued(&ss[0]) == 2 && queued(&ss[3]) == 2);
  CHECK(queued(&ss[1]) == 1 && queued(&ss[2]) == 1);
  CHECK_EQ_INT(e.msgs[0]->refs, 7);

  for (int i = 0; i < 4; i++) {
    yolk__sio_socket_queue_drop(&ss[i], 0);
    a->vt->del_all(a, &ss[i]);
  }
  CHECK_EQ_INT(e.msgs[0]->refs, 1);
  yolk_sio_packet_release(&e);
  a->vt->destroy(a);
}

/* A socket's own room (named after its id) is no room of the table: the
 * namespace's socket table finds the socket. It behaves as a room all the
 * same: targets and excepts, listings, leaving and rejoining it, a room of
 * the table named like a socket, and del_all. */
static void test_own_rooms(void) {
  yolk_sio_nsp_t nsp;
  memset(&nsp, 0, sizeof(nsp));
  yolk__smap_init_borrowed(&nsp.sockets);
  yolk_sio_adapter_t *a = yolk_sio_memory_adapter_new_rooms_only(&nsp);
  yolk_sio_socket_t ss[3];
  memset(ss, 0, sizeof(ss));
  char ids[3][8] = {"id-a", "id-b", "id-c"};
  for (int i = 0; i < 3; i++) {
    ss[i].id = ids[i];
    yolk__smap_put(&nsp.sockets, ss[i].id, &ss[i]);
    const char *own = ss[i].id;
    a->vt->add_all(a, &ss[i], &own, 1);
  }
  CHECK_EQ_INT(room_count(a), 3);
  CHECK(yolk_sio_memory_adapter_has_room(a, "id-b"));
  CHECK(socket_in(a, &ss[1], "id-b") && !socket_in(a, &ss[1], "id-a"));
  const char *b = "id-b", *ab[] = {"id-a", "id-b"};
  CHECK_EQ_INT(room_size(a, "id-b"), 1);
  CHECK_EQ_INT(yolk_sio_memory_adapter_each(a, &(yolk_sio_target_t){ab, 2, &b, 1, 0}, count_hit_big_noop, NULL), 1);
  CHECK_EQ_INT(yolk_sio_memory_adapter_each(a, &(yolk_sio_target_t){NULL, 0, &b, 1, 0}, count_hit_big_noop, NULL), 2);
  /* socket a joins a room named after socket b: both are in "id-b", listed once */
  a->vt->add_all(a, &ss[0], &b, 1);
  CHECK_EQ_INT(room_size(a, "id-b"), 2);
  CHECK_EQ_INT(room_count(a), 3);
  CHECK(socket_in(a, &ss[0], "id-b"));
  /* b leaves its own room: "id-b" still holds a; b still gets "everyone" */
  a->vt->del(a, &ss[1], "id-b");
  CHECK(!socket_in(a, &ss[1], "id-b"));
  CHECK_EQ_INT(room_size(a, "id-b"), 1);
  CHECK_EQ_INT(yolk_sio_memory_adapter_each(a, &(yolk_sio_target_t){NULL, 0, NULL, 0, 0}, count_hit_big_noop, NULL), 3);
  a->vt->add_all(a, &ss[1], &b, 1); /* and comes back */
  CHECK_EQ_INT(room_size(a, "id-b"), 2);
  a->vt->del(a, &ss[0], "id-b");
  CHECK_EQ_INT(room_size(a, "id-b"), 1);
  /* del_all: out of its own room too, and of "everyone" */
  a->vt->del_all(a, &ss[2]);
  CHECK(!yolk_sio_memory_adapter_has_room(a, "id-c"));
  CHECK_EQ_INT(room_count(a), 2);
  CHECK_EQ_INT(yolk_sio_memory_adapter_each(a, &(yolk_sio_target_t){NULL, 0, NULL, 0, 0}, count_hit_big_noop, NULL), 2);
  for (int i = 0; i < 2; i++) a->vt->del_all(a, &ss[i]);
  CHECK_EQ_INT(room_count(a), 0);
  a->vt->destroy(a);
  yolk__smap_free(&nsp.sockets);
}

int main(void) {
  test_broadcast_shares_messages();
  test_own_rooms();
  yolk_sio_adapter_t *a = yolk_sio_memory_adapter_new(NULL);
  CHECK(a && a->vt && strcmp(a->vt->name, "memory") == 0);

  /* every socket in its own room ("s0".."s5"), like Socket.IO does */
  char ids[NSOCK][4];
  for (int i = 0; i < NSOCK; i++) {
    snprintf(ids[i], sizeof(ids[i]), "s%d", i);
    const char *own = ids[i];
    a->vt->add_all(a, &socks[i], &own, 1);
  }
  /* rooms: red = {0,1,2}, blue = {2,3}, green = {4} */
  const char *red = "red", *blue = "blue", *green = "green";
  for (int i = 0; i <= 2; i++) a->vt->add_all(a, &socks[i], &red, 1);
  const char *rb[] = {"blue"};
  a->vt->add_all(a, &socks[2], rb, 1);
  a->vt->add_all(a, &socks[3], rb, 1);
  a->vt->add_all(a, &socks[3], rb, 1); /* twice: still once */
  a->vt->add_all(a, &socks[4], &green, 1);

  CHECK_EQ_INT(room_size(a, "red"), 3);
  CHECK_EQ_INT(room_size(a, "blue"), 2);
  CHECK_EQ_INT(room_size(a, "nope"), 0);
  CHECK_EQ_INT(room_count(a), NSOCK + 3);
  CHECK(socket_in(a, &socks[2], "red") && socket_in(a, &socks[2], "blue") && socket_in(a, &socks[2], "s2"));
  CHECK(!socket_in(a, &socks[2], "green"));

  /* no rooms: everybody */
  CHECK_EQ_INT(match(a, NULL, 0, NULL, 0), 0x3f);
  /* one room */
  CHECK_EQ_INT(match(a, &red, 1, NULL, 0), 0x07);
  /* union, socket 2 in both rooms is visited once */
  const char *red_blue[] = {"red", "blue"};
  CHECK_EQ_INT(match(a, red_blue, 2, NULL, 0), 0x0f);
  /* the same room twice */
  const char *red_red[] = {"red", "red"};
  CHECK_EQ_INT(match(a, red_red, 2, NULL, 0), 0x07);
  /* except a room */
  CHECK_EQ_INT(match(a, red_blue, 2, &blue, 1), 0x03);
  /* except a socket's own room: broadcast from socket 1 */
  const char *s1 = "s1";
  CHECK_EQ_INT(match(a, &red, 1, &s1, 1), 0x05);
  CHECK_EQ_INT(match(a, NULL, 0, &s1, 1), 0x3d);
  /* except everything / unknown rooms */
  const char *unknown = "unknown";
  CHECK_EQ_INT(match(a, &unknown, 1, NULL, 0), 0);
  CHECK_EQ_INT(match(a, NULL, 0, &unknown, 1), 0x3f);
  const char *all_except[] = {"red", "blue", "green", "s5"};
  CHECK_EQ_INT(match(a, NULL, 0, all_except, 4), 0);
  /* a match right after another starts clean (epochs do not leak) */
  CHECK_EQ_INT(match(a, &blue, 1, NULL, 0), 0x0c);
  CHECK_EQ_INT(match(a, &blue, 1, NULL, 0), 0x0c);

  /* leaving: the room disappears with its last socket */
  a->vt->del(a, &socks[4], "green");
  CHECK_EQ_INT(room_size(a, "green"), 0);
  CHECK_EQ_INT(room_count(a), NSOCK + 2);
  CHECK_EQ_INT(match(a, &green, 1, NULL, 0), 0);
  a->vt->del(a, &socks[4], "green");   /* not in it: no-op */
  a->vt->del(a, &socks[4], "missing"); /* unknown room: no-op */
  CHECK_EQ_INT(match(a, NULL, 0, NULL, 0), 0x3f); /* still known through its own room */

  /* target-wide join and leave */
  const char *vip = "vip";
  a->vt->add_sockets(a, &(yolk_sio_target_t){&blue, 1, NULL, 0, 0}, &vip, 1);
  CHECK_EQ_INT(match(a, &vip, 1, NULL, 0), 0x0c);
  a->vt->del_sockets(a, &(yolk_sio_target_t){&red, 1, NULL, 0, 0}, &vip, 1);
  CHECK_EQ_INT(match(a, &vip, 1, NULL, 0), 0x08);
  const char *two[] = {"x", "y"};
  a->vt->add_sockets(a, &(yolk_sio_target_t){NULL, 0, &red, 1, 0}, two, 2);
  CHECK_EQ_INT(match(a, &two[0], 1, NULL, 0), 0x38);
  CHECK_EQ_INT(match(a, &two[1], 1, NULL, 0), 0x38);

  /* del_all: the socket is in no room and never matched any more */
  a->vt->del_all(a, &socks[2]);
  CHECK_EQ_INT(match(a, NULL, 0, NULL, 0), 0x3b);
  CHECK_EQ_INT(match(a, red_blue, 2, NULL, 0), 0x0b);
  CHECK_EQ_INT(room_size(a, "s2"), 0);
  CHECK(!socket_in(a, &socks[2], "red"));
  a->vt->del_all(a, &socks[2]); /* twice: no-op */

  /* everyone leaves: no room is left behind */
  for (int i = 0; i < NSOCK; i++) a->vt->del_all(a, &socks[i]);
  CHECK_EQ_INT(room_count(a), 0);
  CHECK_EQ_INT(match(a, NULL, 0, NULL, 0), 0);

  /* many sockets and rooms: growth and backward-shift deletion keep sets exact */
  enum { BIG = 3000 };
  yolk_sio_socket_t *big = calloc(BIG, sizeof(*big));
  char name[32];
  for (int i = 0; i < BIG; i++) {
    snprintf(name, sizeof(name), "room-%d", i % 7);
    const char *r[] = {name, "all"};
    a->vt->add_all(a, &big[i], r, 2);
  }
  CHECK_EQ_INT(room_size(a, "all"), BIG);
  for (int i = 0; i < BIG; i += 2) a->vt->del(a, &big[i], "all");
  CHECK_EQ_INT(room_size(a, "all"), BIG / 2);
  yolk_sio_target_t t = {(const char *[]){"all"}, 1, (const char *[]){"room-3"}, 1, 0};
  size_t expect = 0;
  for (int i = 1; i < BIG; i += 2)
    if (i % 7 != 3) expect++;
  CHECK_EQ_INT(yolk_sio_memory_adapter_each(a, &t, count_hit_big_noop, NULL), expect);
  for (int i = 0; i < BIG; i++) a->vt->del_all(a, &big[i]);
  CHECK_EQ_INT(room_count(a), 0);
  free(big);

  /* destroy with members still inside frees everything (ASan checks) */
  const char *own = "left-behind";
  a->vt->add_all(a, &socks[0], &own, 1);
  a->vt->destroy(a);
  TEST_MAIN_END();
}
