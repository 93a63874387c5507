/* test_recovery_store.c - connection state recovery's store on one node:
 * offsets stamped into the packets, missed packets chosen by the session's
 * rooms in order, the bounds (count, bytes, age), sessions taken once, and
 * the target rule (yolk_sio_target_includes). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eio.h"
#include "recovery_store.h"
#include "sio.h"
#include "test.h"

/* The text of a packet's first message ("2[...]": no Engine.IO type here). */
static const char *text_of(const yolk_sio_packet_t *p) { return p->msgs[0]->bytes; }

/* Stamps and keeps ["ev", n] for target to; returns the offset (copied into off). */
static void add(yolk_recovery_store_t *st, int n, const yolk_sio_target_t *to, char *off, size_t offlen) {
  char json[64];
  snprintf(json, sizeof(json), "[\"ev\",%d]", n);
  yolk_sio_args_t args = {json, strlen(json), NULL, 0};
  yolk_sio_packet_t in, out;
  yolk__sio_packet_build(&in, YOLK_SIO_PKT_EVENT, "/", -1, &args);
  yolk__recovery_store_add(st, &in, to, &out);
  /* 2["ev",n,"<offset>"]: the offset is the last argument */
  const char *t = text_of(&out);
  const char *q = strrchr(t, ',');
  CHECK(q && q[1] == '"');
  size_t len = strlen(q + 2) - 2; /* minus the closing quote and bracket */
  CHECK(len > 0 && len < offlen);
  memcpy(off, q + 2, len);
  off[len] = '\0';
  yolk_sio_packet_release(&in);
  yolk_sio_packet_release(&out);
}

static int missed_n(const yolk_sio_packet_t *p) {
  const char *t = text_of(p);
  return atoi(strchr(t, ',') + 1);
}

static void persist(yolk_recovery_store_t *st, const char *pid, const char *const *rooms, size_t n) {
  yolk_sio_session_t s = {"sock-1", pid, rooms, n, "{\"nick\":\"a\"}", 12};
  yolk__recovery_store_persist(st, &s);
}

int main(void) {
  uv_loop_t *loop = uv_default_loop();
  const yolk_sio_target_t all = {NULL, 0, NULL, 0, 0};
  const char *r1[] = {"r1"}, *r2[] = {"r2"};
  const yolk_sio_target_t to_r1 = {r1, 1, NULL, 0, 0};
  const yolk_sio_target_t to_r2 = {r2, 1, NULL, 0, 0};
  const yolk_sio_target_t but_r1 = {NULL, 0, r1, 1, 0};

  /* the target rule */
  const char *mine[] = {"sock-1", "r1"};
  CHECK(yolk_sio_target_includes(&all, mine, 2));
  CHECK(yolk_sio_target_includes(&to_r1, mine, 2));
  CHECK(!yolk_sio_target_includes(&to_r2, mine, 2));
  CHECK(!yolk_sio_target_includes(&but_r1, mine, 2));

  /* missed packets: after the offset, those the rooms get, in order */
  yolk_recovery_store_t *st = yolk__recovery_store_new(loop, 60000, 100, 0);
  char offs[6][32];
  add(st, 0, &all, offs[0], sizeof(offs[0]));
  add(st, 1, &to_r1, offs[1], sizeof(offs[1]));
  add(st, 2, &to_r2, offs[2], sizeof(offs[2]));
  add(st, 3, &but_r1, offs[3], sizeof(offs[3]));
  add(st, 4, &all, offs[4], sizeof(offs[4]));
  for (int i = 1; i < 5; i++) CHECK(strcmp(offs[i], offs[i - 1]) != 0);
  CHECK_EQ_INT(yolk__recovery_store_packets(st), 5);
  persist(st, "pid-1", mine, 2);
  CHECK_EQ_INT(yolk__recovery_store_sessions(st), 1);
  yolk_recovery_found_t *f = yolk__recovery_store_take(st, "pid-1", offs[0]);
  CHECK(f != NULL);
  if (f) {
    CHECK_STR(f->session.sid, "sock-1");
    CHECK_EQ_INT(f->session.nrooms, 2);
    CHECK_STR(f->session.rooms[1], "r1");
    CHECK_EQ_INT(f->session.data_len, 12);
    CHECK_EQ_INT(f->nmissed, 2);
    if (f->nmissed == 2) {
      CHECK_EQ_INT(missed_n(&f->missed[0]), 1);
      CHECK_EQ_INT(missed_n(&f->missed[1]), 4);
    }
  }
  yolk__recovery_found_free(f);
  /* taken once */
  CHECK_EQ_INT(yolk__recovery_store_sessions(st), 0);
  CHECK(yolk__recovery_store_take(st, "pid-1", offs[0]) == NULL);
  /* unknown offset: no session (and the session is gone) */
  persist(st, "pid-2", mine, 2);
  CHECK(yolk__recovery_store_take(st, "pid-2", "nope") == NULL);
  CHECK_EQ_INT(yolk__recovery_store_sessions(st), 0);
  /* the same pid twice: the later session wins */
  persist(st, "pid-3", mine, 2);
  persist(st, "pid-3", mine, 1);
  CHECK_EQ_INT(yolk__recovery_store_sessions(st), 1);
  f = yolk__recovery_store_take(st, "pid-3", offs[3]);
  CHECK(f && f->session.nrooms == 1 && f->nmissed == 1);
  yolk__recovery_found_free(f);
  yolk__recovery_store_free(st);

  /* the count bound: the oldest go, and with them a session's offset */
  st = yolk__recovery_store_new(loop, 60000, 3, 0);
  for (int i = 0; i < 5; i++) add(st, i, &all, offs[i], sizeof(offs[i]));
  CHECK_EQ_INT(yolk__recovery_store_packets(st), 3);
  persist(st, "p", mine, 2);
  CHECK(yolk__recovery_store_take(st, "p", offs[1]) == NULL);
  persist(st, "p", mine, 2);
  f = yolk__recovery_store_take(st, "p", offs[2]);
  CHECK(f && f->nmissed == 2);
  yolk__recovery_found_free(f);
  yolk__recovery_store_free(st);

  /* the byte bound */
  st = yolk__recovery_store_new(loop, 60000, 0, 1000);
  for (int i = 0; i < 50; i++) add(st, i, &all, offs[0], sizeof(offs[0]));
  CHECK(yolk__recovery_store_packets(st) < 50);
  CHECK(yolk__recovery_store_packets(st) > 0);
  yolk__recovery_store_free(st);

  /* the age bound: packets and sessions older than max_ms go */
  st = yolk__recovery_store_new(loop, 50, 0, 0);
  add(st, 0, &all, offs[0], sizeof(offs[0]));
  persist(st, "old", mine, 2);
  usleep(80 * 1000);
  uv_update_time(loop);
  add(st, 1, &all, offs[1], sizeof(offs[1]));
  CHECK_EQ_INT(yolk__recovery_store_packets(st), 1);
  CHECK(yolk__recovery_store_take(st, "old", offs[1]) == NULL); /* expired */
  yolk__recovery_store_free(st);

  uv_run(loop, UV_RUN_DEFAULT); /* the sweep timers' close callbacks */
  uv_loop_close(loop);
  TEST_MAIN_END();
}
