/* adapter_memory.c - the in-memory adapter: rooms of one node, and with
 * connection state recovery on, its store of sessions and recent packets
 * (recovery_store.c): a broadcast that can be stored gets its offset here.
 *
 * rooms: room name -> room (a set of sockets). Each socket keeps the rooms
 * it is in (an array in the socket, adapter_rooms) and is on the adapter's
 * list of sockets from its first join until del_all. A socket's own room
 * (named after its id: every socket is in it, alone) is only a flag: a
 * room name that is no room of the table is looked up as a socket id in the
 * namespace, so an idle socket costs the adapter no allocation. A room is
 * freed when its last socket leaves, so ids of departed sockets do not
 * accumulate.
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
  yolk_smap_t rooms; /* name (the room's own, borrowed) -> room_t* */
  yolk_list_t sockets; /* yolk_sio_socket_t.adapter_node: every socket in some room */
  uint64_t epoch;
  yolk_recovery_store_t *store; /* NULL: recovery off, or kept by a wrapping adapter */
} mem_adapter_t;

static mem_adapter_t *mem(yolk_sio_adapter_t *a) { return (mem_adapter_t *)a; }

/* 1 when room names s's own room. */
static int is_own_room(const yolk_sio_socket_t *s, const char *room) { return s->id && strcmp(s->id, room) == 0; }

/* The socket whose own room is `room`, when it is in it. */
static yolk_sio_socket_t *own_room_socket(mem_adapter_t *m, const char *room) {
  if (!m->base.nsp) return NULL;
  yolk_sio_socket_t *s = yolk__smap_get(&m->base.nsp->sockets, room);
  return s && s->in_own_room && yolk__list_linked(&s->adapter_node) ? s : NULL;
}

static void mem_add_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *const *rooms, size_t n) {
  mem_adapter_t *m = mem(a);
  if (!yolk__list_linked(&s->adapter_node)) yolk__list_push_back(&m->sockets, &s->adapter_node);
  for (size_t i = 0; i < n; i++) {
    if (is_own_room(s, rooms[i]) && m->base.nsp) {
      s->in_own_room = 1;
      continue;
    }
    room_t *r = yolk__smap_get(&m->rooms, rooms[i]);
    if (!r) {
      size_t len = strlen(rooms[i]);
      r = yolk__malloc(sizeof(*r) + len + 1);
      yolk__pmap_init(&r->sockets);
      memcpy(r->name, rooms[i], len + 1);
      yolk__smap_put(&m->rooms, r->name, r);
    }
    if (!yolk__pmap_put(&r->sockets, s, NULL)) continue; /* in it already */
    if (s->adapter_nrooms == s->adapter_cap) {
      s->adapter_cap = s->adapter_cap ? s->adapter_cap * 2 : 2;
      s->adapter_rooms = yolk__realloc(s->adapter_rooms, s->adapter_cap * sizeof(*s->adapter_rooms));
    }
    s->adapter_rooms[s->adapter_nrooms++] = r;
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
  if (!yolk__list_linked(&s->adapter_node)) return;
  if (is_own_room(s, room) && m->base.nsp) {
    s->in_own_room = 0;
    return;
  }
  room_t *r = yolk__smap_get(&m->rooms, room);
  if (!r) return;
  for (uint32_t i = 0; i < s->adapter_nrooms; i++) {
    if (s->adapter_rooms[i] != r) continue;
    /* in join order (socket.rooms lists them so) */
    memmove(&s->adapter_rooms[i], &s->adapter_rooms[i + 1], (s->adapter_nrooms - i - 1) * sizeof(void *));
    s->adapter_nrooms--;
    room_remove_socket(m, r, s);
    return;
  }
}

static void mem_del_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s) {
  mem_adapter_t *m = mem(a);
  if (!yolk__list_linked(&s->adapter_node)) return;
  for (uint32_t i = 0; i < s->adapter_nrooms; i++) room_remove_socket(m, s->adapter_rooms[i], s);
  free(s->adapter_rooms);
  s->adapter_rooms = NULL;
  s->adapter_nrooms = s->adapter_cap = 0;
  s->in_own_room = 0;
  yolk__list_remove(&s->adapter_node);
}

static void mem_socket_rooms(yolk_sio_adapter_t *a, const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud),
                             void *ud) {
  (void)a;
  if (!yolk__list_linked(&s->adapter_node)) return;
  if (s->in_own_room) cb(s->id, ud);
  for (uint32_t i = 0; i < s->adapter_nrooms; i++) cb(((const room_t *)s->adapter_rooms[i])->name, ud);
}

/* Stamps (except) or visits (targets) the sockets of one room name: the
 * room of the table, and the socket whose own room it is. */
static size_t visit_room(mem_adapter_t *m, const char *name, uint64_t epoch, void (*fn)(yolk_sio_socket_t *s, void *ud),
                         void *ud) {
  size_t visited = 0;
  room_t *r = yolk__smap_get(&m->rooms, name);
  if (r) {
    for (size_t i = 0; i < r->sockets.cap; i++) {
      yolk_sio_socket_t *s = (yolk_sio_socket_t *)r->sockets.slots[i].key;
      if (!s || s->epoch == epoch) continue;
      s->epoch = epoch;
      if (fn) {
        fn(s, ud);
        visited++;
      }
    }
  }
  yolk_sio_socket_t *own = own_room_socket(m, name);
  if (own && own->epoch != epoch) {
    own->epoch = epoch;
    if (fn) {
      fn(own, ud);
      visited++;
    }
  }
  return visited;
}

size_t yolk_sio_memory_adapter_each(yolk_sio_adapter_t *a, const yolk_sio_target_t *to,
                                 void (*fn)(yolk_sio_socket_t *s, void *ud), void *ud) {
  mem_adapter_t *m = mem(a);
  uint64_t epoch = ++m->epoch;
  size_t visited = 0;
  for (size_t e = 0; e < to->nexcept; e++) visit_room(m, to->except[e], epoch, NULL, NULL);
  if (to->nrooms > 0) {
    for (size_t k = 0; k < to->nrooms; k++) visited += visit_room(m, to->rooms[k], epoch, fn, ud);
  } else {
    yolk_list_t *n;
    yolk__list_foreach(n, &m->sockets) {
      yolk_sio_socket_t *s = yolk__list_entry(n, yolk_sio_socket_t, adapter_node);
      if (s->epoch == epoch) continue;
      s->epoch = epoch;
      fn(s, ud);
      visited++;
    }
  }
  return visited;
}

int yolk_sio_memory_adapter_has_room(yolk_sio_adapter_t *a, const char *room) {
  return yolk__smap_get(&mem(a)->rooms, room) != NULL || own_room_socket(mem(a), room) != NULL;
}

void yolk_sio_memory_adapter_rooms(yolk_sio_adapter_t *a, void (*cb)(const char *room, void *ud), void *ud) {
  mem_adapter_t *m = mem(a);
  yolk_list_t *n;
  yolk__list_foreach(n, &m->sockets) {
    yolk_sio_socket_t *s = yolk__list_entry(n, yolk_sio_socket_t, adapter_node);
    /* a room named like a socket that is also in the table is listed once */
    if (s->in_own_room && !yolk__smap_get(&m->rooms, s->id)) cb(s->id, ud);
  }
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
  yolk_list_t *n;
  while ((n = yolk__list_first(&m->sockets))) {
    yolk_sio_socket_t *s = yolk__list_entry(n, yolk_sio_socket_t, adapter_node);
    free(s->adapter_rooms);
    s->adapter_rooms = NULL;
    s->adapter_nrooms = s->adapter_cap = 0;
    yolk__list_remove(n);
  }
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
  yolk__smap_init_borrowed(&m->rooms);
  yolk__list_init(&m->sockets);
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
