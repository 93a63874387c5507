/* recovery_store.c - sessions and recent packets for connection state
 * recovery on one node. See recovery_store.h. */
#include "recovery_store.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hashmap.h"
#include "list.h"
#include "sio.h"

typedef struct {
  yolk_list_t node; /* in st->packets, oldest first */
  uint64_t at;      /* uv_now when kept */
  size_t bytes;
  yolk_sio_packet_t pkt; /* msgs shared with the recipients; data unused */
  yolk_sio_target_t to;  /* pointing into names */
  const char **ptrs;
  char *names;
  char offset[32];
} kept_t;

typedef struct {
  yolk_list_t node; /* in st->sessions, oldest first */
  uint64_t at;
  yolk_sio_session_t s; /* pointing into its own copies */
  char **rooms;
  char *sid, *pid, *data;
} session_t;

struct yolk_recovery_store_s {
  uv_loop_t *loop;
  unsigned max_ms;
  size_t max_packets, max_bytes;
  yolk_list_t packets;
  yolk_smap_t by_offset; /* offset -> kept_t* */
  size_t npackets, bytes;
  yolk_list_t sessions;
  yolk_smap_t by_pid; /* pid -> session_t* */
  size_t nsessions;
  uv_timer_t *sweep;  /* freed in its close callback */
  char prev[16];      /* the last time part given (yeast) */
  unsigned seq;
};

/* ---- offsets ----------------------------------------------------------------------------- */

static const char yeast_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

static size_t yeast_encode(uint64_t n, char *out) {
  char tmp[16];
  size_t k = 0;
  do {
    tmp[k++] = yeast_alphabet[n % 64];
    n /= 64;
  } while (n > 0);
  for (size_t i = 0; i < k; i++) out[i] = tmp[k - 1 - i];
  out[k] = '\0';
  return k;
}

static void next_offset(yolk_recovery_store_t *st, char *out) {
  uv_timeval64_t tv;
  uint64_t ms = 0;
  if (uv_gettimeofday(&tv) == 0) ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
  char now[16];
  yeast_encode(ms, now);
  if (strcmp(now, st->prev) != 0) {
    memcpy(st->prev, now, sizeof(now));
    st->seq = 0;
    strcpy(out, now);
    return;
  }
  size_t k = strlen(now);
  memcpy(out, now, k);
  out[k] = '.';
  yeast_encode(st->seq++, out + k + 1);
}

/* ---- packets ----------------------------------------------------------------------------- */

static void kept_free(yolk_recovery_store_t *st, kept_t *k) {
  yolk__list_remove(&k->node);
  yolk__smap_del(&st->by_offset, k->offset);
  st->npackets--;
  st->bytes -= k->bytes;
  yolk_sio_packet_release(&k->pkt);
  free(k->ptrs);
  free(k->names);
  free(k);
}

static void drop_old(yolk_recovery_store_t *st) {
  uint64_t now = uv_now(st->loop);
  yolk_list_t *n;
  while ((n = yolk__list_first(&st->packets))) {
    kept_t *k = yolk__list_entry(n, kept_t, node);
    if (now - k->at <= st->max_ms && st->npackets <= st->max_packets && st->bytes <= st->max_bytes) break;
    kept_free(st, k);
  }
}

/* A copy of the target's room lists in one block of names. */
static void copy_target(kept_t *k, const yolk_sio_target_t *to) {
  size_t n = to->nrooms + to->nexcept, total = 0;
  for (size_t i = 0; i < to->nrooms; i++) total += strlen(to->rooms[i]) + 1;
  for (size_t i = 0; i < to->nexcept; i++) total += strlen(to->except[i]) + 1;
  k->names = n ? yolk__malloc(total) : NULL;
  k->ptrs = n ? yolk__malloc(n * sizeof(*k->ptrs)) : NULL;
  char *p = k->names;
  for (size_t i = 0; i < n; i++) {
    const char *src = i < to->nrooms ? to->rooms[i] : to->except[i - to->nrooms];
    size_t len = strlen(src) + 1;
    memcpy(p, src, len);
    k->ptrs[i] = p;
    p += len;
  }
  k->to.rooms = k->ptrs;
  k->to.nrooms = to->nrooms;
  k->to.except = k->ptrs ? k->ptrs + to->nrooms : NULL;
  k->to.nexcept = to->nexcept;
  k->to.flags = to->flags;
}

void yolk__recovery_store_add(yolk_recovery_store_t *st, const yolk_sio_packet_t *in, const yolk_sio_target_t *to,
                              yolk_sio_packet_t *out) {
  kept_t *k = yolk__calloc(1, sizeof(*k));
  next_offset(st, k->offset);
  yolk_sio_packet_with_offset(out, in, k->offset);
  /* the kept copy shares out's messages */
  yolk_eio_msg_t **msgs = yolk__malloc(out->nmsgs * sizeof(*msgs));
  for (size_t i = 0; i < out->nmsgs; i++) msgs[i] = yolk_eio_msg_ref(out->msgs[i]);
  k->pkt = *out;
  k->pkt.msgs = msgs;
  memset(&k->pkt.data, 0, sizeof(k->pkt.data));
  k->bytes = sizeof(*k) + in->data.len + strlen(k->offset);
  for (size_t i = 0; i < in->data.nbins; i++) k->bytes += in->data.bins[i].len;
  copy_target(k, to);
  k->at = uv_now(st->loop);
  yolk__list_push_back(&st->packets, &k->node);
  yolk__smap_put(&st->by_offset, k->offset, k);
  st->npackets++;
  st->bytes += k->bytes;
  drop_old(st);
}

/* ---- sessions ---------------------------------------------------------------------------- */

static void session_unlink(yolk_recovery_store_t *st, session_t *s) {
  yolk__list_remove(&s->node);
  yolk__smap_del(&st->by_pid, s->pid);
  st->nsessions--;
}

static void session_free(yolk_recovery_store_t *st, session_t *s) {
  session_unlink(st, s);
  for (size_t i = 0; i < s->s.nrooms; i++) free(s->rooms[i]);
  free(s->rooms);
  free(s->sid);
  free(s->pid);
  free(s->data);
  free(s);
}

void yolk__recovery_store_persist(yolk_recovery_store_t *st, const yolk_sio_session_t *in) {
  session_t *old = yolk__smap_get(&st->by_pid, in->pid);
  if (old) session_free(st, old);
  session_t *s = yolk__calloc(1, sizeof(*s));
  s->sid = yolk__strndup(in->sid, strlen(in->sid));
  s->pid = yolk__strndup(in->pid, strlen(in->pid));
  s->data = yolk__strndup(in->data, in->data_len);
  s->rooms = yolk__malloc((in->nrooms ? in->nrooms : 1) * sizeof(*s->rooms));
  for (size_t i = 0; i < in->nrooms; i++) s->rooms[i] = yolk__strndup(in->rooms[i], strlen(in->rooms[i]));
  s->s.sid = s->sid;
  s->s.pid = s->pid;
  s->s.rooms = (const char *const *)s->rooms;
  s->s.nrooms = in->nrooms;
  s->s.data = s->data;
  s->s.data_len = in->data_len;
  s->at = uv_now(st->loop);
  yolk__list_push_back(&st->sessions, &s->node);
  yolk__smap_put(&st->by_pid, s->pid, s);
  st->nsessions++;
}

static void sweep_cb(uv_timer_t *t) {
  yolk_recovery_store_t *st = t->data;
  uint64_t now = uv_now(st->loop);
  yolk_list_t *n;
  while ((n = yolk__list_first(&st->sessions))) {
    session_t *s = yolk__list_entry(n, session_t, node);
    if (now - s->at <= st->max_ms) break;
    session_free(st, s);
  }
  drop_old(st);
}

yolk_recovery_found_t *yolk__recovery_store_take(yolk_recovery_store_t *st, const char *pid, const char *offset) {
  session_t *s = yolk__smap_get(&st->by_pid, pid);
  if (!s) return NULL;
  drop_old(st);
  kept_t *from = yolk__smap_get(&st->by_offset, offset);
  if (uv_now(st->loop) - s->at > st->max_ms || !from) {
    session_free(st, s);
    return NULL;
  }
  yolk_recovery_found_t *f = yolk__calloc(1, sizeof(*f));
  /* the session moves into the result: unlink it, keep its copies */
  session_unlink(st, s);
  f->session = s->s;
  size_t cap = 0;
  for (yolk_list_t *n = from->node.next; n != &st->packets; n = n->next) {
    kept_t *k = yolk__list_entry(n, kept_t, node);
    if (!yolk_sio_target_includes(&k->to, s->s.rooms, s->s.nrooms)) continue;
    if (f->nmissed == cap) {
      cap = cap ? cap * 2 : 16;
      f->missed = yolk__realloc(f->missed, cap * sizeof(*f->missed));
    }
    yolk_sio_packet_t *p = &f->missed[f->nmissed++];
    *p = k->pkt;
    yolk_eio_msg_t **msgs = yolk__malloc(k->pkt.nmsgs * sizeof(*msgs));
    for (size_t i = 0; i < k->pkt.nmsgs; i++) msgs[i] = yolk_eio_msg_ref(k->pkt.msgs[i]);
    p->msgs = msgs;
  }
  /* the strings are the session's: freed with the result */
  free(s);
  return f;
}

void yolk__recovery_found_free(yolk_recovery_found_t *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nmissed; i++) yolk_sio_packet_release(&f->missed[i]);
  free(f->missed);
  for (size_t i = 0; i < f->session.nrooms; i++) free((char *)f->session.rooms[i]);
  free((void *)f->session.rooms);
  free((char *)f->session.sid);
  free((char *)f->session.pid);
  free((char *)f->session.data);
  free(f);
}

/* ---- the store --------------------------------------------------------------------------- */

yolk_recovery_store_t *yolk__recovery_store_new(uv_loop_t *loop, unsigned max_ms, size_t max_packets,
                                                size_t max_bytes) {
  yolk_recovery_store_t *st = yolk__calloc(1, sizeof(*st));
  st->loop = loop;
  st->max_ms = max_ms;
  st->max_packets = max_packets ? max_packets : 10000;
  st->max_bytes = max_bytes ? max_bytes : 16u << 20;
  yolk__list_init(&st->packets);
  yolk__list_init(&st->sessions);
  yolk__smap_init(&st->by_offset);
  yolk__smap_init(&st->by_pid);
  st->sweep = yolk__malloc(sizeof(*st->sweep));
  uv_timer_init(loop, st->sweep);
  st->sweep->data = st;
  unsigned every = max_ms < 60000 ? max_ms : 60000;
  uv_timer_start(st->sweep, sweep_cb, every, every);
  uv_unref((uv_handle_t *)st->sweep); /* the sweep alone does not keep the loop alive */
  return st;
}

void yolk__recovery_store_free(yolk_recovery_store_t *st) {
  if (!st) return;
  yolk_list_t *n;
  while ((n = yolk__list_first(&st->packets))) kept_free(st, yolk__list_entry(n, kept_t, node));
  while ((n = yolk__list_first(&st->sessions))) session_free(st, yolk__list_entry(n, session_t, node));
  yolk__smap_free(&st->by_offset);
  yolk__smap_free(&st->by_pid);
  uv_timer_stop(st->sweep);
  uv_close((uv_handle_t *)st->sweep, yolk__free_handle);
  free(st);
}

size_t yolk__recovery_store_packets(const yolk_recovery_store_t *st) { return st->npackets; }
size_t yolk__recovery_store_sessions(const yolk_recovery_store_t *st) { return st->nsessions; }
