/* adapter_memory.c - the in-memory adapter: rooms of one node, and with
 * connection state recovery on, its store of sessions and recent packets
 * (recovery_store.c): a broadcast that can be stored gets its offset here.
 *
 * rooms: room name -> room (a set of sockets); sids: socket -> set of its
 * rooms. A room is freed when its last socket leaves, so ids of departed
 * sockets do not accumulate.
 *
 * Target matching visits each socket once without a per-call set: every call
 * takes a new epoch, stamps the sockets of the except rooms with it first,
 * then visits the sockets of the target rooms whose stamp differs (stamping
 * them as it goes). Nothing is allocated on the broadcast path. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hashmap.h"
#include "json.h"
#include "log.h"
#include "recovery_store.h"
#include "sio.h"

typedef struct {
  yolk_pmap_t sockets; /* yolk_sio_socket_t* -> NULL */
  char name[];
} room_t;

typedef struct {
  yolk_sio_adapter_t base;
  yolk_smap_t rooms; /* name -> room_t* */
  yolk_pmap_t sids;  /* yolk_sio_socket_t* -> yolk_pmap_t* of room_t* */
  uint64_t epoch;
  yolk_recovery_store_t *store; /* NULL: recovery off, or kept by a wrapping adapter */
} mem_adapter_t;

static mem_adapter_t *mem(yolk_sio_adapter_t *a) { return (mem_adapter_t *)a; }

static void mem_add_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *const *rooms, size_t n) {
  mem_adapter_t *m = mem(a);
  void *v = NULL;
  yolk_pmap_t *set;
  if (yolk__pmap_get(&m->sids, s, &v)) {
    set = v;
  } else {
    set = yolk__malloc(sizeof(*set));
    yolk__pmap_init(set);
    yolk__pmap_put(&m->sids, s, set);
  }
  for (size_t i = 0; i < n; i++) {
    room_t *r = yolk__smap_get(&m->rooms, rooms[i]);
    if (!r) {
      size_t len = strlen(rooms[i]);
      r = yolk__malloc(sizeof(*r) + len + 1);
      yolk__pmap_init(&r->sockets);
      memcpy(r->name, rooms[i], len + 1);
      yolk__smap_put(&m->rooms, rooms[i], r);
    }
    yolk__pmap_put(&r->sockets, s, NULL);
    yolk__pmap_put(set, r, NULL);
  }
}

static void room_remove_socket(mem_adapter_t *m, room_t *r, yolk_sio_socket_t *s) {
  yolk__pmap_del(&r->sockets, s);
  if (r->sockets.len == 0) {
    yolk__smap_del(&m->rooms, r->name);
    yolk__pmap_free(&r->sockets);
    free(r);
  }
}

static void mem_del(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *room) {
  mem_adapter_t *m = mem(a);
  void *v = NULL;
  if (!yolk__pmap_get(&m->sids, s, &v)) return;
  yolk_pmap_t *set = v;
  room_t *r = yolk__smap_get(&m->rooms, room);
  if (!r || !yolk__pmap_del(set, r)) return;
  room_remove_socket(m, r, s);
}

static void mem_del_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s) {
  mem_adapter_t *m = mem(a);
  void *v = NULL;
  if (!yolk__pmap_get(&m->sids, s, &v)) return;
  yolk_pmap_t *set = v;
  for (size_t i = 0; i < set->cap; i++)
    if (set->slots[i].key) room_remove_socket(m, (room_t *)set->slots[i].key, s);
  yolk__pmap_free(set);
  free(set);
  yolk__pmap_del(&m->sids, s);
}

static void mem_socket_rooms(yolk_sio_adapter_t *a, const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud),
                             void *ud) {
  mem_adapter_t *m = mem(a);
  void *v = NULL;
  if (!yolk__pmap_get(&m->sids, s, &v)) return;
  yolk_pmap_t *set = v;
  for (size_t i = 0; i < set->cap; i++)
    if (set->slots[i].key) cb(((const room_t *)set->slots[i].key)->name, ud);
}

size_t yolk_sio_memory_adapter_each(yolk_sio_adapter_t *a, const yolk_sio_target_t *to,
                                 void (*fn)(yolk_sio_socket_t *s, void *ud), void *ud) {
  mem_adapter_t *m = mem(a);
  uint64_t epoch = ++m->epoch;
  size_t visited = 0;
  for (size_t e = 0; e < to->nexcept; e++) {
    room_t *r = yolk__smap_get(&m->rooms, to->except[e]);
    if (!r) continue;
    for (size_t i = 0; i < r->sockets.cap; i++)
      if (r->sockets.slots[i].key) ((yolk_sio_socket_t *)r->sockets.slots[i].key)->epoch = epoch;
  }
  if (to->nrooms > 0) {
    for (size_t k = 0; k < to->nrooms; k++) {
      room_t *r = yolk__smap_get(&m->rooms, to->rooms[k]);
      if (!r) continue;
      for (size_t i = 0; i < r->sockets.cap; i++) {
        yolk_sio_socket_t *s = (yolk_sio_socket_t *)r->sockets.slots[i].key;
        if (!s || s->epoch == epoch) continue;
        s->epoch = epoch;
        fn(s, ud);
        visited++;
      }
    }
  } else {
    for (size_t i = 0; i < m->sids.cap; i++) {
      yolk_sio_socket_t *s = (yolk_sio_socket_t *)m->sids.slots[i].key;
      if (!s || s->epoch == epoch) continue;
      s->epoch = epoch;
      fn(s, ud);
      visited++;
    }
  }
  return visited;
}

int yolk_sio_memory_adapter_has_room(yolk_sio_adapter_t *a, const char *room) {
  return yolk__smap_get(&mem(a)->rooms, room) != NULL;
}

void yolk_sio_memory_adapter_rooms(yolk_sio_adapter_t *a, void (*cb)(const char *room, void *ud), void *ud) {
  mem_adapter_t *m = mem(a);
  for (size_t i = 0; i < m->rooms.cap; i++)
    if (m->rooms.slots[i].key) cb(m->rooms.slots[i].key, ud);
}

typedef struct {
  const yolk_sio_packet_t *pkt;
  int flags;
  yolk_sio_gather_t *acks; /* a broadcast with acks: where the answers go */
} deliver_ctx_t;

static void deliver_one(yolk_sio_socket_t *s, void *ud) {
  deliver_ctx_t *ctx = ud;
  if (ctx->acks) yolk_sio_socket_expect_ack(s, ctx->pkt->id, ctx->acks);
  yolk_sio_socket_deliver(s, ctx->pkt, ctx->flags);
}

static void mem_broadcast(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to) {
  mem_adapter_t *m = mem(a);
  if (m->store && yolk_sio_packet_storable(a->nsp, pkt, to)) {
    yolk_sio_packet_t stamped;
    yolk__recovery_store_add(m->store, pkt, to, &stamped);
    deliver_ctx_t ctx = {&stamped, to->flags, NULL};
    yolk_sio_memory_adapter_each(a, to, deliver_one, &ctx);
    yolk_sio_packet_release(&stamped);
    return;
  }
  deliver_ctx_t ctx = {pkt, to->flags, NULL};
  yolk_sio_memory_adapter_each(a, to, deliver_one, &ctx);
}

static void mem_broadcast_with_ack(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to,
                                   yolk_sio_gather_t *g) {
  deliver_ctx_t ctx = {pkt, to->flags, g};
  yolk_sio_gather_expect(g, yolk_sio_memory_adapter_each(a, to, deliver_one, &ctx));
}

/* Sockets matching a target, collected before acting on them (acting may
 * change the room sets being walked). */
typedef struct {
  yolk_sio_socket_t **v;
  size_t n, cap;
} socket_list_t;

static void collect_one(yolk_sio_socket_t *s, void *ud) {
  socket_list_t *l = ud;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->v = yolk__realloc(l->v, l->cap * sizeof(*l->v));
  }
  l->v[l->n++] = s;
}

typedef struct {
  yolk_sio_sockets_cb cb;
  void *ud;
  yolk_sb_t list; /* the JSON array */
} fetch_result_t;

static void fetch_deliver(void *arg) {
  fetch_result_t *r = arg;
  r->cb(r->ud, NULL, r->list.data, r->list.len);
  yolk__sb_free(&r->list);
  free(r);
}

static void mem_fetch_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud) {
  socket_list_t l = {0};
  yolk_sio_memory_adapter_each(a, to, collect_one, &l);
  fetch_result_t *r = yolk__malloc(sizeof(*r));
  r->cb = cb;
  r->ud = ud;
  yolk__sb_init(&r->list);
  yolk__sb_putc(&r->list, '[');
  for (size_t i = 0; i < l.n; i++) {
    size_t len;
    char *d = yolk_sio_socket_describe(l.v[i], &len);
    if (i) yolk__sb_putc(&r->list, ',');
    yolk__sb_append(&r->list, d, len);
    free(d);
  }
  yolk__sb_putc(&r->list, ']');
  free(l.v);
  yolk_sio_defer(yolk_sio_nsp_server(a->nsp), fetch_deliver, r);
}

static void mem_add_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  socket_list_t l = {0};
  yolk_sio_memory_adapter_each(a, to, collect_one, &l);
  for (size_t i = 0; i < l.n; i++) mem_add_all(a, l.v[i], rooms, n);
  free(l.v);
}

static void mem_del_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  socket_list_t l = {0};
  yolk_sio_memory_adapter_each(a, to, collect_one, &l);
  for (size_t i = 0; i < l.n; i++)
    for (size_t k = 0; k < n; k++) mem_del(a, l.v[i], rooms[k]);
  free(l.v);
}

static void mem_disconnect_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, int close) {
  socket_list_t l = {0};
  yolk_sio_memory_adapter_each(a, to, collect_one, &l);
  for (size_t i = 0; i < l.n; i++) yolk_sio_socket_disconnect(l.v[i], close);
  free(l.v);
}

/* A single node: there is nobody else to tell, nobody to wait for. */
static int mem_server_side_emit(yolk_sio_adapter_t *a, const yolk_sio_args_t *args, yolk_sio_gather_t *g) {
  (void)a;
  (void)args;
  if (g) yolk_sio_gather_expect(g, 0);
  return 0;
}

static void mem_server_side_reply(yolk_sio_adapter_t *a, const char *reply_to, const yolk_sio_args_t *args) {
  (void)a;
  (void)reply_to;
  (void)args;
}

typedef struct {
  yolk_sio_rooms_cb cb;
  void *ud;
  yolk_sb_t list; /* the JSON array */
} rooms_result_t;

static void put_room_name(const char *room, void *ud) {
  yolk_sb_t *sb = ud;
  if (sb->len > 1) yolk__sb_putc(sb, ',');
  yolk__json_write_cstr(sb, room);
}

static void rooms_deliver(void *arg) {
  rooms_result_t *r = arg;
  r->cb(r->ud, NULL, r->list.data, r->list.len);
  yolk__sb_free(&r->list);
  free(r);
}

static void mem_all_rooms(yolk_sio_adapter_t *a, yolk_sio_rooms_cb cb, void *ud) {
  rooms_result_t *r = yolk__malloc(sizeof(*r));
  r->cb = cb;
  r->ud = ud;
  yolk__sb_init(&r->list);
  yolk__sb_putc(&r->list, '[');
  yolk_sio_memory_adapter_rooms(a, put_room_name, &r->list);
  yolk__sb_putc(&r->list, ']');
  yolk_sio_defer(yolk_sio_nsp_server(a->nsp), rooms_deliver, r);
}

static void mem_persist_session(yolk_sio_adapter_t *a, const yolk_sio_session_t *s) {
  mem_adapter_t *m = mem(a);
  if (m->store) yolk__recovery_store_persist(m->store, s);
}

typedef struct {
  mem_adapter_t *m;
  yolk_sio_restored_cb cb;
  void *ud;
  char *pid, *offset;
} restore_call_t;

/* From the loop: the lookup and the callback (which puts the socket in its
 * rooms) happen together, so no packet falls between the missed ones and
 * those the socket gets as a member. */
static void restore_run(void *arg) {
  restore_call_t *r = arg;
  yolk_recovery_found_t *f = r->m->store ? yolk__recovery_store_take(r->m->store, r->pid, r->offset) : NULL;
  if (f) r->cb(r->ud, &f->session, f->missed, f->nmissed);
  else r->cb(r->ud, NULL, NULL, 0);
  yolk__recovery_found_free(f);
  free(r->pid);
  free(r->offset);
  free(r);
}

static void mem_restore_session(yolk_sio_adapter_t *a, const char *pid, const char *offset, yolk_sio_restored_cb cb,
                                void *ud) {
  restore_call_t *r = yolk__malloc(sizeof(*r));
  r->m = mem(a);
  r->cb = cb;
  r->ud = ud;
  r->pid = yolk__strndup(pid, strlen(pid));
  r->offset = yolk__strndup(offset, strlen(offset));
  yolk_sio_defer(yolk_sio_nsp_server(a->nsp), restore_run, r);
}

static void mem_destroy(yolk_sio_adapter_t *a) {
  mem_adapter_t *m = mem(a);
  yolk__recovery_store_free(m->store);
  for (size_t i = 0; i < m->sids.cap; i++) {
    yolk_pmap_t *set = m->sids.slots[i].value;
    if (!m->sids.slots[i].key) continue;
    yolk__pmap_free(set);
    free(set);
  }
  yolk__pmap_free(&m->sids);
  for (size_t i = 0; i < m->rooms.cap; i++) {
    room_t *r = m->rooms.slots[i].value;
    if (!m->rooms.slots[i].key) continue;
    yolk__pmap_free(&r->sockets);
    free(r);
  }
  yolk__smap_free(&m->rooms);
  free(m);
}

static const yolk_sio_adapter_vtable_t mem_vtable = {
    .name = "memory",
    .destroy = mem_destroy,
    .add_all = mem_add_all,
    .del = mem_del,
    .del_all = mem_del_all,
    .socket_rooms = mem_socket_rooms,
    .broadcast = mem_broadcast,
    .fetch_sockets = mem_fetch_sockets,
    .add_sockets = mem_add_sockets,
    .del_sockets = mem_del_sockets,
    .disconnect_sockets = mem_disconnect_sockets,
    .broadcast_with_ack = mem_broadcast_with_ack,
    .server_side_emit = mem_server_side_emit,
    .server_side_reply = mem_server_side_reply,
    .all_rooms = mem_all_rooms,
    .persist_session = mem_persist_session,
    .restore_session = mem_restore_session,
};

static mem_adapter_t *mem_new(yolk_sio_nsp_t *nsp) {
  mem_adapter_t *m = yolk__calloc(1, sizeof(*m));
  m->base.vt = &mem_vtable;
  m->base.nsp = nsp;
  yolk__smap_init(&m->rooms);
  yolk__pmap_init(&m->sids);
  return m;
}

yolk_sio_adapter_t *yolk_sio_memory_adapter_new(yolk_sio_nsp_t *nsp) {
  mem_adapter_t *m = mem_new(nsp);
  const yolk_sio_server_t *sio = nsp ? nsp->sio : NULL;
  if (sio && sio->opts.recovery_ms)
    m->store = yolk__recovery_store_new(sio->loop, sio->opts.recovery_ms, sio->opts.recovery_max_packets,
                                        sio->opts.recovery_max_bytes);
  return &m->base;
}

yolk_sio_adapter_t *yolk_sio_memory_adapter_new_rooms_only(yolk_sio_nsp_t *nsp) { return &mem_new(nsp)->base; }
