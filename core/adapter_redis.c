/* adapter_redis.c - the Redis adapter: the rooms and broadcasts of every
 * node sharing a Redis server, in @socket.io/redis-adapter's protocol.
 *
 * Layers: this file speaks the protocol; core/redis.c owns the connections
 * (reconnection, resubscription); adapter_memory.c keeps this node's rooms
 * (each Redis adapter wraps one and calls its vtable for the local part);
 * json_msgpack.c converts arguments between JSON text and MessagePack.
 *
 * The bus (yolk_sio_redis_t): one per server; a publisher connection, a
 * subscriber connection, and the requests this node is waiting on. Each
 * namespace's adapter subscribes on the bus's subscriber to
 *   <key>#<nsp>#*            broadcasts (PSUBSCRIBE; <key>#<nsp>#<room># when
 *                            a broadcast names exactly one room)
 *   <key>-request#<nsp>#     requests from other nodes
 *   <key>-response#<nsp>#    answers (and <key>-response#<nsp>#<uid>#, where
 *                            nodes set to answer on a per-node channel send)
 * and the bus dispatches each message by its channel (or pattern).
 *
 * Messages (as the Node adapter writes them):
 *   broadcast: MessagePack [uid, {type: 2, data: [ev, ...], nsp},
 *              {rooms: [...], except: [...], flags: {...}}]
 *   requests:  JSON {uid, type, requestId?, ...}, except BROADCAST (with
 *              acks), which is MessagePack; a request is read as JSON when
 *              its first byte is '{', else as MessagePack;
 *   responses: JSON {requestId, ...}, except BROADCAST_ACK (MessagePack).
 * Every message is turned into one MessagePack tree (JSON through the core's
 * JSON reader into MessagePack first), so there is one way to read them.
 *
 * What goes where:
 *  - broadcast: delivered locally, then published (unless LOCAL);
 *  - socketsJoin/Leave, disconnectSockets: applied locally, then published;
 *    this node ignores its own request when it comes back (the Node adapter
 *    applies its own on receipt; the result is the same, and here it also
 *    works while Redis is down);
 *  - fetchSockets, allRooms, serverSideEmit with acks, broadcast with acks:
 *    the number of nodes is PUBSUB NUMSUB of the request channel (every node
 *    subscribes to it once per namespace); the request waits for that many
 *    answers, or requests_timeout_ms (the broadcast's own timeout for acks).
 *
 * Ownership: requests live in bus->requests (id -> request_t) and are freed
 * when complete, timed out, or their adapter is destroyed (callbacks then get
 * "server closed"). Redis reply callbacks find their request by id, so a
 * reply that comes after the request is gone finds nothing. The bus is freed
 * when its owner has called yolk_sio_redis_free and no adapter uses it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "hashmap.h"
#include "id.h"
#include "json.h"
#include "json_msgpack.h"
#include "log.h"
#include "redis.h"
#include "sio.h"

#define LOG_COMPONENT "redis-adapter"

enum {
  REQ_SOCKETS = 0,
  REQ_ALL_ROOMS = 1,
  REQ_REMOTE_JOIN = 2,
  REQ_REMOTE_LEAVE = 3,
  REQ_REMOTE_DISCONNECT = 4,
  REQ_REMOTE_FETCH = 5,
  REQ_SERVER_SIDE_EMIT = 6,
  REQ_BROADCAST = 7,
  REQ_BROADCAST_CLIENT_COUNT = 8,
  REQ_BROADCAST_ACK = 9,
};

#define UID_LEN 6
#define REQUEST_ID_LEN 12

struct yolk_sio_redis_s {
  uv_loop_t *loop;
  yolk_redis_t *pub, *sub;
  char *key;
  unsigned requests_timeout;
  char uid[UID_LEN + 1];
  yolk_smap_t channels; /* exact channel -> redis_adapter_t* */
  yolk_smap_t patterns; /* broadcast pattern -> redis_adapter_t* */
  yolk_smap_t requests; /* request id -> request_t* (this node's, waiting for answers) */
  size_t adapters;      /* adapters using the bus */
  int released;         /* the owner called yolk_sio_redis_free */
  /* scratch: one message at a time is encoded or decoded */
  msgpack_sbuffer sbuf;
  msgpack_packer pk;
  yolk_sb_t sb;
};

typedef struct {
  yolk_sio_adapter_t base;
  yolk_sio_adapter_t *local; /* this node's rooms: the in-memory adapter */
  yolk_sio_redis_t *bus;
  char *channel;  /* <key>#<nsp># */
  char *pattern;  /* <key>#<nsp>#* */
  char *req_channel, *res_channel, *own_res_channel;
} redis_adapter_t;

typedef struct {
  char id[REQUEST_ID_LEN + 1];
  int type;
  redis_adapter_t *a;
  uv_timer_t *timer; /* freed in its close callback */
  size_t num_sub;    /* nodes that answer (this one included for fetch/allRooms) */
  size_t msg_count;  /* answers so far (this node's included) */
  char *payload;     /* the request, published once the nodes are counted */
  size_t payload_len;
  yolk_sio_gather_t *g; /* broadcast with acks, server-side emit with acks */
  /* fetchSockets */
  yolk_sio_sockets_cb fetch_cb;
  /* allRooms */
  yolk_sio_rooms_cb rooms_cb;
  yolk_smap_t rooms;
  void *ud;
  yolk_sb_t list; /* the JSON array so far, without its ']' */
  int has_items;
} request_t;

static redis_adapter_t *radapter(yolk_sio_adapter_t *a) { return (redis_adapter_t *)a; }

static char *str_concat(const char *a, const char *b, const char *c) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "%s%s%s", a, b, c ? c : "");
  return sb.data;
}

/* ---- publishing ----------------------------------------------------------------------- */

static void on_published(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  (void)reply;
  (void)ud;
  if (err) YOLK_LOG_DEBUG_(LOG_COMPONENT, "publish failed: %s", err);
}

/* PUBLISH; while Redis is down the message is dropped (the outage is logged
 * once by the connection). */
static void publish(yolk_sio_redis_t *bus, const char *channel, const char *data, size_t len) {
  const char *argv[3] = {"PUBLISH", channel, data};
  size_t lens[3] = {7, strlen(channel), len};
  const char *err;
  if (yolk__redis_command(bus->pub, 3, argv, lens, on_published, NULL, &err) != 0)
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "not published to %s: %s", channel, err);
}

static void pack_cstr(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

static void pack_strs(msgpack_packer *pk, const char *const *v, size_t n) {
  msgpack_pack_array(pk, n);
  for (size_t i = 0; i < n; i++) pack_cstr(pk, v[i]);
}

/* {rooms: [...], except: [...], flags: {volatile?, timeout?}} */
static void pack_opts(msgpack_packer *pk, const yolk_sio_target_t *to, unsigned timeout_ms) {
  msgpack_pack_map(pk, 3);
  pack_cstr(pk, "rooms");
  pack_strs(pk, to->rooms, to->nrooms);
  pack_cstr(pk, "except");
  pack_strs(pk, to->except, to->nexcept);
  pack_cstr(pk, "flags");
  msgpack_pack_map(pk, (to->flags & YOLK_SIO_VOLATILE ? 1 : 0) + (timeout_ms ? 1 : 0));
  if (to->flags & YOLK_SIO_VOLATILE) {
    pack_cstr(pk, "volatile");
    msgpack_pack_true(pk);
  }
  if (timeout_ms) {
    pack_cstr(pk, "timeout");
    msgpack_pack_unsigned_int(pk, timeout_ms);
  }
}

/* {type: 2, data: [...], nsp} */
static int pack_packet(msgpack_packer *pk, const yolk_sio_packet_t *pkt, const char *nsp) {
  msgpack_pack_map(pk, 3);
  pack_cstr(pk, "type");
  msgpack_pack_int(pk, 2);
  pack_cstr(pk, "data");
  if (yolk__json_to_msgpack(pk, pkt->data.json, pkt->data.len, pkt->data.bins, pkt->data.nbins) != 0) return -1;
  pack_cstr(pk, "nsp");
  pack_cstr(pk, nsp);
  return 0;
}

/* JSON helpers for the JSON requests and responses. */
static void sb_strs(yolk_sb_t *sb, const char *const *v, size_t n) {
  yolk__sb_putc(sb, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) yolk__sb_putc(sb, ',');
    yolk__json_write_cstr(sb, v[i]);
  }
  yolk__sb_putc(sb, ']');
}

static void sb_target(yolk_sb_t *sb, const yolk_sio_target_t *to) {
  yolk__sb_puts(sb, "\"opts\":{\"rooms\":");
  sb_strs(sb, to->rooms, to->nrooms);
  yolk__sb_puts(sb, ",\"except\":");
  sb_strs(sb, to->except, to->nexcept);
  yolk__sb_putc(sb, '}');
}

/* {"uid":..,"type":N, (then the caller's members) */
static yolk_sb_t *sb_request(yolk_sio_redis_t *bus, int type) {
  yolk_sb_t *sb = &bus->sb;
  sb->len = 0;
  yolk__sb_printf(sb, "{\"uid\":\"%s\",\"type\":%d", bus->uid, type);
  return sb;
}

/* ---- reading messages ----------------------------------------------------------------- */

/* Reads a message into u: MessagePack, or JSON when it starts with '{'.
 * 0, or -1 when it is neither. */
static int read_message(yolk_sio_redis_t *bus, const char *data, size_t len, msgpack_unpacked *u) {
  const char *mp = data;
  size_t mplen = len;
  if (len > 0 && data[0] == '{') {
    msgpack_sbuffer_clear(&bus->sbuf);
    if (yolk__json_to_msgpack(&bus->pk, data, len, NULL, 0) != 0) return -1;
    mp = bus->sbuf.data;
    mplen = bus->sbuf.size;
  }
  size_t off = 0;
  if (msgpack_unpack_next(u, mp, mplen, &off) != MSGPACK_UNPACK_SUCCESS) return -1;
  return 0;
}

/* Appends a room name from a message and its NUL to names: a string, or a
 * number (socket.io allows numeric rooms) written as JavaScript would.
 * 0, or -1 (nothing appended) when it is neither. */
static int room_name(const msgpack_object *o, yolk_sb_t *names) {
  size_t len;
  const char *s = yolk__msgpack_str(o, &len);
  if (s && memchr(s, '\0', len)) return -1; /* not a name a socket can have joined */
  if (s) yolk__sb_append(names, s, len);
  else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
           o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)
    yolk__json_write_number(names, yolk__msgpack_num(o, 0));
  else return -1;
  yolk__sb_putc(names, '\0');
  return 0;
}

/* A target read from a message ({rooms, except, flags} of its opts): the
 * names are copied (target_free frees them). */
typedef struct {
  yolk_sio_target_t t;
  yolk_sb_t names;
  const char **ptrs;
  unsigned timeout_ms;
} msg_target_t;

/* Appends the room names of list (an array, else nothing) to mt->names;
 * returns how many. */
static size_t read_room_list(const msgpack_object *list, msg_target_t *mt) {
  size_t n = 0;
  if (!list || list->type != MSGPACK_OBJECT_ARRAY) return 0;
  for (uint32_t i = 0; i < list->via.array.size; i++)
    if (room_name(&list->via.array.ptr[i], &mt->names) == 0) n++;
  return n;
}

/* rooms and except: arrays of names (or NULL); flags: a map (or NULL). */
static void target_from(msg_target_t *mt, const msgpack_object *rooms, const msgpack_object *except,
                        const msgpack_object *flags) {
  memset(mt, 0, sizeof(*mt));
  yolk__sb_init(&mt->names);
  size_t nrooms = read_room_list(rooms, mt);
  size_t nexcept = read_room_list(except, mt);
  if (nrooms + nexcept > 0) {
    /* the names are NUL-separated in order: point at each */
    mt->ptrs = yolk__malloc((nrooms + nexcept) * sizeof(*mt->ptrs));
    const char *p = mt->names.data;
    for (size_t i = 0; i < nrooms + nexcept; i++) {
      mt->ptrs[i] = p;
      p += strlen(p) + 1;
    }
  }
  mt->t.rooms = mt->ptrs;
  mt->t.nrooms = nrooms;
  mt->t.except = mt->ptrs ? mt->ptrs + nrooms : NULL;
  mt->t.nexcept = nexcept;
  const msgpack_object *v = yolk__msgpack_get(flags, "volatile");
  if (v && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean) mt->t.flags |= YOLK_SIO_VOLATILE;
  double timeout = yolk__msgpack_num(yolk__msgpack_get(flags, "timeout"), 0);
  mt->timeout_ms = timeout > 0 && timeout < 86400000.0 ? (unsigned)timeout : 0;
}

static void target_read(const msgpack_object *opts, msg_target_t *mt) {
  target_from(mt, yolk__msgpack_get(opts, "rooms"), yolk__msgpack_get(opts, "except"),
              yolk__msgpack_get(opts, "flags"));
}

static void target_free(msg_target_t *mt) {
  yolk__sb_free(&mt->names);
  free(mt->ptrs);
}

/* The strings of a message field as a NUL-terminated copy in sb (reset). */
static const char *field_str(const msgpack_object *o, const char *key, yolk_sb_t *sb) {
  size_t len;
  const char *s = yolk__msgpack_str(yolk__msgpack_get(o, key), &len);
  if (!s) return NULL;
  sb->len = 0;
  yolk__sb_append(sb, s, len);
  yolk__sb_putc(sb, '\0');
  return sb->data;
}

static int field_is(const msgpack_object *o, const char *key, const char *want) {
  size_t len;
  const char *s = yolk__msgpack_str(yolk__msgpack_get(o, key), &len);
  return s && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* ---- requests of this node -------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h) { free(h); }

static void request_free(yolk_sio_redis_t *bus, request_t *q) {
  yolk__smap_del(&bus->requests, q->id);
  if (q->timer) {
    uv_timer_stop(q->timer);
    uv_close((uv_handle_t *)q->timer, timer_closed);
  }
  if (q->g) yolk_sio_gather_unref(q->g);
  yolk__smap_free(&q->rooms);
  yolk__sb_free(&q->list);
  free(q->payload);
  free(q);
}

/* Delivers the result of a fetchSockets / allRooms request (err or the list)
 * and frees it. */
static void request_finish(yolk_sio_redis_t *bus, request_t *q, const char *err) {
  if (q->type == REQ_REMOTE_FETCH && q->fetch_cb) {
    yolk__sb_putc(&q->list, ']');
    if (err) q->fetch_cb(q->ud, err, NULL, 0);
    else q->fetch_cb(q->ud, NULL, q->list.data, q->list.len);
  } else if (q->type == REQ_ALL_ROOMS && q->rooms_cb) {
    yolk_sb_t sb;
    yolk__sb_init(&sb);
    yolk__sb_putc(&sb, '[');
    int first = 1;
    for (size_t i = 0; i < q->rooms.cap; i++) {
      if (!q->rooms.slots[i].key) continue;
      if (!first) yolk__sb_putc(&sb, ',');
      first = 0;
      yolk__json_write_cstr(&sb, q->rooms.slots[i].key);
    }
    yolk__sb_putc(&sb, ']');
    if (err) q->rooms_cb(q->ud, err, NULL, 0);
    else q->rooms_cb(q->ud, NULL, sb.data, sb.len);
    yolk__sb_free(&sb);
  }
  request_free(bus, q);
}

static const char *timeout_text(int type) {
  switch (type) {
  case REQ_REMOTE_FETCH: return "timeout reached while waiting for fetchSockets response";
  case REQ_ALL_ROOMS: return "timeout reached while waiting for allRooms response";
  default: return "timeout reached";
  }
}

static void request_timeout(uv_timer_t *t) {
  request_t *q = t->data;
  yolk_sio_redis_t *bus = q->a->bus;
  if (q->type == REQ_REMOTE_FETCH || q->type == REQ_ALL_ROOMS) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "%s: %zu answers of %zu nodes came in time", timeout_text(q->type), q->msg_count,
                   q->num_sub);
    request_finish(bus, q, timeout_text(q->type));
  } else {
    request_free(bus, q); /* the gather has its own timer and result */
  }
}

static void request_start_timer(request_t *q, unsigned ms) {
  q->timer = yolk__malloc(sizeof(*q->timer));
  uv_timer_init(q->a->bus->loop, q->timer);
  q->timer->data = q;
  uv_timer_start(q->timer, request_timeout, ms, 0);
}

static request_t *request_new(redis_adapter_t *a, int type) {
  request_t *q = yolk__calloc(1, sizeof(*q));
  do yolk__random_id(q->id, REQUEST_ID_LEN);
  while (yolk__smap_get(&a->bus->requests, q->id));
  q->type = type;
  q->a = a;
  yolk__smap_init(&q->rooms);
  yolk__sb_init(&q->list);
  yolk__smap_put(&a->bus->requests, q->id, q);
  return q;
}

#define NOT_REACHABLE "redis adapter: Redis is not reachable, the other nodes cannot be asked"

/* The number of nodes is known; 0: Redis could not say (it is down). Then
 * requests fail at once with NOT_REACHABLE, and a broadcast with acks
 * settles for this node's answers (its broadcast reached this node only). */
static void request_counted(yolk_sio_redis_t *bus, request_t *q, size_t nodes) {
  switch (q->type) {
  case REQ_REMOTE_FETCH:
  case REQ_ALL_ROOMS:
    if (nodes == 0) {
      request_finish(bus, q, NOT_REACHABLE);
      return;
    }
    q->num_sub = nodes;
    if (q->msg_count >= q->num_sub) {
      request_finish(bus, q, NULL);
      return;
    }
    publish(bus, q->a->req_channel, q->payload, q->payload_len);
    request_start_timer(q, bus->requests_timeout);
    return;
  case REQ_SERVER_SIDE_EMIT:
    if (nodes == 0) {
      yolk_sio_gather_fail(q->g, NOT_REACHABLE);
      request_free(bus, q);
      return;
    }
    q->num_sub = nodes - 1; /* the others */
    yolk_sio_gather_expect(q->g, q->num_sub);
    if (q->num_sub == 0) {
      request_free(bus, q);
      return;
    }
    yolk_sio_gather_set_timeout(q->g, bus->requests_timeout);
    publish(bus, q->a->req_channel, q->payload, q->payload_len);
    request_start_timer(q, bus->requests_timeout);
    return;
  case REQ_BROADCAST:
    /* published already; this node's count is in */
    yolk_sio_gather_sources(q->g, nodes ? nodes : 1);
    return;
  }
}

/* A request named by its id, for callbacks that may come after it is gone. */
typedef struct {
  yolk_sio_redis_t *bus;
  char id[REQUEST_ID_LEN + 1];
} request_ref_t;

static void on_numsub(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  request_ref_t *c = ud;
  yolk_sio_redis_t *bus = c->bus;
  request_t *q = yolk__smap_get(&bus->requests, c->id);
  free(c);
  if (!q) return;
  size_t nodes = 0;
  if (!err && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
      reply->element[1]->type == REDIS_REPLY_INTEGER)
    nodes = reply->element[1]->integer > 0 ? (size_t)reply->element[1]->integer : 1;
  else
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "cannot count the nodes: %s", err ? err : "unexpected reply");
  request_counted(bus, q, nodes);
}

static void counted_later(void *arg) {
  request_ref_t *c = arg;
  request_t *q = yolk__smap_get(&c->bus->requests, c->id);
  if (q) request_counted(c->bus, q, 0);
  free(c);
}

/* PUBSUB NUMSUB of the request channel, then request_counted (from the loop
 * in every case). */
static void request_count_nodes(request_t *q) {
  yolk_sio_redis_t *bus = q->a->bus;
  const char *argv[3] = {"PUBSUB", "NUMSUB", q->a->req_channel};
  size_t lens[3] = {6, 6, strlen(q->a->req_channel)};
  request_ref_t *c = yolk__malloc(sizeof(*c));
  c->bus = bus;
  memcpy(c->id, q->id, sizeof(c->id));
  const char *err;
  if (yolk__redis_command(bus->pub, 3, argv, lens, on_numsub, c, &err) == 0) return;
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "cannot count the nodes: %s", err);
  yolk_sio_defer(yolk_sio_nsp_server(q->a->base.nsp), counted_later, c);
}

/* ---- the adapter: local parts ------------------------------------------------------------ */

static void ra_add_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *const *rooms, size_t n) {
  yolk_sio_adapter_t *l = radapter(a)->local;
  l->vt->add_all(l, s, rooms, n);
}

static void ra_del(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *room) {
  yolk_sio_adapter_t *l = radapter(a)->local;
  l->vt->del(l, s, room);
}

static void ra_del_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s) {
  yolk_sio_adapter_t *l = radapter(a)->local;
  l->vt->del_all(l, s);
}

static void ra_socket_rooms(yolk_sio_adapter_t *a, const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud),
                            void *ud) {
  yolk_sio_adapter_t *l = radapter(a)->local;
  l->vt->socket_rooms(l, s, cb, ud);
}

/* ---- broadcasts ------------------------------------------------------------------------- */

static void ra_broadcast(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to) {
  redis_adapter_t *ra = radapter(a);
  ra->local->vt->broadcast(ra->local, pkt, to);
  if (to->flags & YOLK_SIO_LOCAL) return;
  yolk_sio_redis_t *bus = ra->bus;
  msgpack_sbuffer_clear(&bus->sbuf);
  msgpack_pack_array(&bus->pk, 3);
  pack_cstr(&bus->pk, bus->uid);
  if (pack_packet(&bus->pk, pkt, yolk_sio_nsp_name(a->nsp)) != 0) return;
  pack_opts(&bus->pk, to, 0);
  if (to->nrooms == 1) {
    /* nodes without that room skip the message without decoding it */
    char *ch = str_concat(ra->channel, to->rooms[0], "#");
    publish(bus, ch, bus->sbuf.data, bus->sbuf.size);
    free(ch);
  } else {
    publish(bus, ra->channel, bus->sbuf.data, bus->sbuf.size);
  }
}

static void ra_broadcast_with_ack(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to,
                                  yolk_sio_gather_t *g) {
  redis_adapter_t *ra = radapter(a);
  /* not complete before the nodes are counted */
  if (!(to->flags & YOLK_SIO_LOCAL)) yolk_sio_gather_sources(g, SIZE_MAX);
  ra->local->vt->broadcast_with_ack(ra->local, pkt, to, g);
  if (to->flags & YOLK_SIO_LOCAL) return;
  yolk_sio_redis_t *bus = ra->bus;
  request_t *q = request_new(ra, REQ_BROADCAST);
  q->g = yolk_sio_gather_ref(g);
  msgpack_sbuffer_clear(&bus->sbuf);
  msgpack_pack_map(&bus->pk, 5);
  pack_cstr(&bus->pk, "uid");
  pack_cstr(&bus->pk, bus->uid);
  pack_cstr(&bus->pk, "requestId");
  pack_cstr(&bus->pk, q->id);
  pack_cstr(&bus->pk, "type");
  msgpack_pack_int(&bus->pk, REQ_BROADCAST);
  pack_cstr(&bus->pk, "packet");
  if (pack_packet(&bus->pk, pkt, yolk_sio_nsp_name(a->nsp)) != 0) {
    yolk_sio_gather_sources(g, 1);
    request_free(bus, q);
    return;
  }
  pack_cstr(&bus->pk, "opts");
  /* the other nodes wait for their sockets' answers as long as g does */
  unsigned timeout = yolk__sio_gather_timeout(g);
  if (!timeout) timeout = bus->requests_timeout;
  pack_opts(&bus->pk, to, timeout);
  publish(bus, ra->req_channel, bus->sbuf.data, bus->sbuf.size);
  request_start_timer(q, timeout);
  request_count_nodes(q);
}

/* ---- fetchSockets, allRooms ------------------------------------------------------------- */


/* The local part is in: count the nodes, then ask them. */
static void on_local_fetch(void *ud, const char *err, const char *json, size_t len) {
  request_ref_t *c = ud;
  yolk_sio_redis_t *bus = c->bus;
  request_t *q = yolk__smap_get(&bus->requests, c->id);
  free(c);
  if (!q) return;
  if (err) {
    request_finish(bus, q, err);
    return;
  }
  /* the local list without its ']' */
  yolk__sb_append(&q->list, json, len > 0 ? len - 1 : 0);
  q->has_items = len > 2;
  q->msg_count = 1;
  request_count_nodes(q);
}

static void ra_fetch_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud) {
  redis_adapter_t *ra = radapter(a);
  if (to->flags & YOLK_SIO_LOCAL) {
    ra->local->vt->fetch_sockets(ra->local, to, cb, ud);
    return;
  }
  request_t *q = request_new(ra, REQ_REMOTE_FETCH);
  q->fetch_cb = cb;
  q->ud = ud;
  yolk_sb_t *sb = sb_request(ra->bus, REQ_REMOTE_FETCH);
  yolk__sb_printf(sb, ",\"requestId\":\"%s\",", q->id);
  sb_target(sb, to);
  yolk__sb_putc(sb, '}');
  q->payload = yolk__strndup(sb->data, sb->len);
  q->payload_len = sb->len;
  request_ref_t *c = yolk__malloc(sizeof(*c));
  c->bus = ra->bus;
  memcpy(c->id, q->id, sizeof(c->id));
  ra->local->vt->fetch_sockets(ra->local, to, on_local_fetch, c);
}

static void add_room_name(const char *room, void *ud) { yolk__smap_put(ud, room, NULL); }

static void ra_all_rooms(yolk_sio_adapter_t *a, yolk_sio_rooms_cb cb, void *ud) {
  redis_adapter_t *ra = radapter(a);
  request_t *q = request_new(ra, REQ_ALL_ROOMS);
  q->rooms_cb = cb;
  q->ud = ud;
  yolk_sio_memory_adapter_rooms(ra->local, add_room_name, &q->rooms);
  q->msg_count = 1;
  yolk_sb_t *sb = sb_request(ra->bus, REQ_ALL_ROOMS);
  yolk__sb_printf(sb, ",\"requestId\":\"%s\"}", q->id);
  q->payload = yolk__strndup(sb->data, sb->len);
  q->payload_len = sb->len;
  request_count_nodes(q);
}

/* ---- socketsJoin / socketsLeave / disconnectSockets ------------------------------------ */

/* REMOTE_JOIN / REMOTE_LEAVE {uid, type, opts, rooms} to the other nodes. */
static void publish_rooms_request(redis_adapter_t *ra, int type, const yolk_sio_target_t *to,
                                  const char *const *rooms, size_t n) {
  yolk_sb_t *sb = sb_request(ra->bus, type);
  yolk__sb_putc(sb, ',');
  sb_target(sb, to);
  yolk__sb_puts(sb, ",\"rooms\":");
  sb_strs(sb, rooms, n);
  yolk__sb_putc(sb, '}');
  publish(ra->bus, ra->req_channel, sb->data, sb->len);
}

static void ra_add_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  redis_adapter_t *ra = radapter(a);
  ra->local->vt->add_sockets(ra->local, to, rooms, n);
  if (!(to->flags & YOLK_SIO_LOCAL)) publish_rooms_request(ra, REQ_REMOTE_JOIN, to, rooms, n);
}

static void ra_del_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  redis_adapter_t *ra = radapter(a);
  ra->local->vt->del_sockets(ra->local, to, rooms, n);
  if (!(to->flags & YOLK_SIO_LOCAL)) publish_rooms_request(ra, REQ_REMOTE_LEAVE, to, rooms, n);
}

static void ra_disconnect_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, int close) {
  redis_adapter_t *ra = radapter(a);
  ra->local->vt->disconnect_sockets(ra->local, to, close);
  if (to->flags & YOLK_SIO_LOCAL) return;
  yolk_sb_t *sb = sb_request(ra->bus, REQ_REMOTE_DISCONNECT);
  yolk__sb_putc(sb, ',');
  sb_target(sb, to);
  yolk__sb_printf(sb, ",\"close\":%s}", close ? "true" : "false");
  publish(ra->bus, ra->req_channel, sb->data, sb->len);
}

/* ---- server-side emits --------------------------------------------------------------------- */

static int ra_server_side_emit(yolk_sio_adapter_t *a, const yolk_sio_args_t *args, yolk_sio_gather_t *g) {
  redis_adapter_t *ra = radapter(a);
  if (args->nbins > 0) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "serverSideEmit: binary arguments cannot go through the JSON request");
    return -1;
  }
  yolk_sb_t *sb = sb_request(ra->bus, REQ_SERVER_SIDE_EMIT);
  request_t *q = NULL;
  if (g) {
    q = request_new(ra, REQ_SERVER_SIDE_EMIT);
    q->g = yolk_sio_gather_ref(g);
    yolk__sb_printf(sb, ",\"requestId\":\"%s\"", q->id);
  }
  yolk__sb_puts(sb, ",\"data\":");
  yolk__sb_append(sb, args->json, args->len);
  yolk__sb_putc(sb, '}');
  if (!q) {
    publish(ra->bus, ra->req_channel, sb->data, sb->len);
    return 0;
  }
  q->payload = yolk__strndup(sb->data, sb->len);
  q->payload_len = sb->len;
  request_count_nodes(q);
  return 0;
}

/* reply_to is the request id; the answer is its first argument. */
static void ra_server_side_reply(yolk_sio_adapter_t *a, const char *reply_to, const yolk_sio_args_t *args) {
  redis_adapter_t *ra = radapter(a);
  yolk_sb_t *sb = &ra->bus->sb;
  sb->len = 0;
  yolk__sb_printf(sb, "{\"type\":%d,\"requestId\":", REQ_SERVER_SIDE_EMIT);
  yolk__json_write_cstr(sb, reply_to);
  yolk__sb_puts(sb, ",\"data\":");
  /* the first element of the argument array (null when there is none);
   * binary values cannot go in JSON: null */
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t mark = sb->len;
  msgpack_sbuffer_clear(&ra->bus->sbuf);
  size_t off = 0;
  if (yolk__json_to_msgpack(&ra->bus->pk, args->json, args->len, NULL, 0) == 0 &&
      msgpack_unpack_next(&u, ra->bus->sbuf.data, ra->bus->sbuf.size, &off) == MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size > 0)
    yolk__msgpack_to_json(sb, &u.data.via.array.ptr[0], NULL);
  if (sb->len == mark) yolk__sb_puts(sb, "null");
  msgpack_unpacked_destroy(&u);
  yolk__sb_putc(sb, '}');
  publish(ra->bus, ra->res_channel, sb->data, sb->len);
}

/* ---- messages from other nodes ------------------------------------------------------------ */

/* Arguments from another node get the checks a client's get (yolk.h
 * promises checked text: an event name that is a string and not reserved,
 * placeholders that index attachments); a failure is logged and dropped. */
static int remote_args_ok(const yolk_sio_args_t *args, int need_event, const char *what) {
  const char *why = NULL;
  if (yolk__sio_check_args(args->json, args->len, args->nbins, need_event, &why) == 0) return 1;
  YOLK_LOG_WARN_(LOG_COMPONENT, "a %s from another node was dropped: %s", what, why ? why : "invalid");
  return 0;
}

/* <key>#<nsp>#[<room>#]: a broadcast. */
static void on_broadcast_message(redis_adapter_t *ra, const char *channel, size_t clen, const char *data, size_t len) {
  yolk_sio_redis_t *bus = ra->bus;
  size_t prefix = strlen(ra->channel);
  if (clen > prefix + 1) { /* a room channel: skip it when the room is not here */
    size_t rlen = clen - prefix - 1;
    char small[256];
    char *room = rlen < sizeof(small) ? small : yolk__malloc(rlen + 1);
    memcpy(room, channel + prefix, rlen);
    room[rlen] = '\0';
    int here = yolk_sio_memory_adapter_has_room(ra->local, room);
    if (room != small) free(room);
    if (!here) return;
  }
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (read_message(bus, data, len, &u) != 0 || u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 3) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed broadcast on %.*s was ignored", (int)clen, channel);
    msgpack_unpacked_destroy(&u);
    return;
  }
  const msgpack_object *v = u.data.via.array.ptr;
  size_t ulen;
  const char *uid = yolk__msgpack_str(&v[0], &ulen);
  if (uid && ulen == UID_LEN && memcmp(uid, bus->uid, UID_LEN) == 0) goto done; /* our own */
  const msgpack_object *pkt = &v[1];
  const msgpack_object *nsp = yolk__msgpack_get(pkt, "nsp");
  if (nsp ? !field_is(pkt, "nsp", yolk_sio_nsp_name(ra->base.nsp)) : strcmp(yolk_sio_nsp_name(ra->base.nsp), "/"))
    goto done;
  const msgpack_object *d = yolk__msgpack_get(pkt, "data");
  if (!d || d->type != MSGPACK_OBJECT_ARRAY || d->via.array.size == 0) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a broadcast without data on %.*s was ignored", (int)clen, channel);
    goto done;
  }
  yolk_sb_t json;
  yolk__sb_init(&json);
  yolk_bins_t bins = {0};
  yolk__msgpack_to_json(&json, d, &bins);
  yolk_sio_args_t args = {json.data, json.len, bins.v, bins.n};
  if (!remote_args_ok(&args, 1, "broadcast")) {
    yolk__bins_free(&bins);
    yolk__sb_free(&json);
    goto done;
  }
  msg_target_t mt;
  target_read(&v[2], &mt);
  yolk_sio_packet_t p;
  yolk__sio_packet_build(&p, YOLK_SIO_PKT_EVENT, yolk_sio_nsp_name(ra->base.nsp), -1, &args);
  ra->local->vt->broadcast(ra->local, &p, &mt.t);
  yolk_sio_packet_release(&p);
  target_free(&mt);
  yolk__bins_free(&bins);
  yolk__sb_free(&json);
done:
  msgpack_unpacked_destroy(&u);
}

/* The answers of this node's sockets to another node's broadcast with acks. */
typedef struct {
  yolk_sio_redis_t *bus;
  char *channel;
  char *request_id;
} remote_ack_t;

static void on_remote_ack_answer(void *ud, const yolk_sio_args_t *args) {
  remote_ack_t *r = ud;
  yolk_sio_redis_t *bus = r->bus;
  /* {type: 9, requestId, packet: <the first argument>} in MessagePack */
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  msgpack_sbuffer_clear(&bus->sbuf);
  if (yolk__json_to_msgpack(&bus->pk, args->json, args->len, args->bins, args->nbins) != 0) goto out;
  size_t off = 0;
  if (msgpack_unpack_next(&u, bus->sbuf.data, bus->sbuf.size, &off) != MSGPACK_UNPACK_SUCCESS) goto out;
  msgpack_sbuffer out;
  msgpack_sbuffer_init(&out);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  pack_cstr(&pk, "type");
  msgpack_pack_int(&pk, REQ_BROADCAST_ACK);
  pack_cstr(&pk, "requestId");
  pack_cstr(&pk, r->request_id);
  pack_cstr(&pk, "packet");
  if (u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size > 0) msgpack_pack_object(&pk, u.data.via.array.ptr[0]);
  else msgpack_pack_nil(&pk);
  publish(bus, r->channel, out.data, out.size);
  msgpack_sbuffer_destroy(&out);
out:
  msgpack_unpacked_destroy(&u);
}

static void on_remote_ack_done(void *ud, const char *err, size_t got, size_t expected) {
  (void)err;
  (void)got;
  (void)expected;
  remote_ack_t *r = ud;
  free(r->channel);
  free(r->request_id);
  free(r);
}

/* The channel a response goes to: the common one, as the Node adapter does
 * by default (a requester set to per-node channels listens there too). */
static void respond(redis_adapter_t *ra, const char *data, size_t len) { publish(ra->bus, ra->res_channel, data, len); }

static void collect_id(yolk_sio_socket_t *s, void *ud) {
  yolk_sb_t *sb = ud;
  if (sb->data[sb->len - 1] != '[') yolk__sb_putc(sb, ',');
  yolk__json_write_cstr(sb, yolk_sio_socket_id(s));
}

static void collect_description(yolk_sio_socket_t *s, void *ud) {
  yolk_sb_t *sb = ud;
  size_t len;
  char *d = yolk_sio_socket_describe(s, &len);
  if (sb->data[sb->len - 1] != '[') yolk__sb_putc(sb, ',');
  yolk__sb_append(sb, d, len);
  free(d);
}

static void put_room_json(const char *room, void *ud) {
  yolk_sb_t *sb = ud;
  if (sb->data[sb->len - 1] != '[') yolk__sb_putc(sb, ',');
  yolk__json_write_cstr(sb, room);
}

/* A request from another node (or this one: ignored). */
static void on_request(redis_adapter_t *ra, const char *data, size_t len) {
  yolk_sio_redis_t *bus = ra->bus;
  yolk_sio_nsp_t *nsp = ra->base.nsp;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (read_message(bus, data, len, &u) != 0 || u.data.type != MSGPACK_OBJECT_MAP) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed request on %s was ignored", ra->req_channel);
    msgpack_unpacked_destroy(&u);
    return;
  }
  const msgpack_object *o = &u.data;
  int type = (int)yolk__msgpack_num(yolk__msgpack_get(o, "type"), -1);
  if (field_is(o, "uid", bus->uid)) goto done; /* our own, applied already */
  yolk_sb_t idsb, out;
  yolk__sb_init(&idsb);
  yolk__sb_init(&out);
  const char *request_id = field_str(o, "requestId", &idsb);
  msg_target_t mt;
  const msgpack_object *opts = yolk__msgpack_get(o, "opts");
  target_read(opts, &mt);

  switch (type) {
  case REQ_SOCKETS:
  case REQ_REMOTE_FETCH:
  case REQ_ALL_ROOMS:
    if (!request_id) break;
    yolk__sb_puts(&out, "{\"requestId\":");
    yolk__json_write_cstr(&out, request_id);
    if (type == REQ_ALL_ROOMS) {
      yolk__sb_puts(&out, ",\"rooms\":[");
      yolk_sio_memory_adapter_rooms(ra->local, put_room_json, &out);
    } else {
      yolk__sb_puts(&out, ",\"sockets\":[");
      if (type == REQ_SOCKETS) {
        /* the old request: ids of the sockets in rooms (every socket: none) */
        msg_target_t rt;
        target_from(&rt, yolk__msgpack_get(o, "rooms"), NULL, NULL);
        yolk_sio_memory_adapter_each(ra->local, &rt.t, collect_id, &out);
        target_free(&rt);
      } else {
        yolk_sio_memory_adapter_each(ra->local, &mt.t, collect_description, &out);
      }
    }
    yolk__sb_puts(&out, "]}");
    respond(ra, out.data, out.len);
    break;

  case REQ_REMOTE_JOIN:
  case REQ_REMOTE_LEAVE:
  case REQ_REMOTE_DISCONNECT: {
    if (opts) {
      msg_target_t rooms; /* the request's "rooms": those to join or leave */
      target_from(&rooms, yolk__msgpack_get(o, "rooms"), NULL, NULL);
      yolk_sio_adapter_t *l = ra->local;
      if (type == REQ_REMOTE_JOIN) l->vt->add_sockets(l, &mt.t, rooms.t.rooms, rooms.t.nrooms);
      else if (type == REQ_REMOTE_LEAVE) l->vt->del_sockets(l, &mt.t, rooms.t.rooms, rooms.t.nrooms);
      else {
        const msgpack_object *c = yolk__msgpack_get(o, "close");
        l->vt->disconnect_sockets(l, &mt.t, c && c->type == MSGPACK_OBJECT_BOOLEAN && c->via.boolean);
      }
      target_free(&rooms);
      break;
    }
    /* the old form: one socket by id */
    yolk_sb_t sidsb;
    yolk__sb_init(&sidsb);
    const char *sid = field_str(o, "sid", &sidsb);
    yolk_sio_socket_t *s = sid ? yolk_sio_nsp_socket(nsp, sid) : NULL;
    if (s) {
      yolk_sb_t roomsb;
      yolk__sb_init(&roomsb);
      const char *room = field_str(o, "room", &roomsb);
      if (type == REQ_REMOTE_JOIN && room) yolk_sio_socket_join(s, room);
      else if (type == REQ_REMOTE_LEAVE && room) yolk_sio_socket_leave(s, room);
      else if (type == REQ_REMOTE_DISCONNECT) {
        const msgpack_object *c = yolk__msgpack_get(o, "close");
        yolk_sio_socket_disconnect(s, c && c->type == MSGPACK_OBJECT_BOOLEAN && c->via.boolean);
      }
      yolk__sb_free(&roomsb);
      if (request_id) {
        yolk__sb_puts(&out, "{\"requestId\":");
        yolk__json_write_cstr(&out, request_id);
        yolk__sb_putc(&out, '}');
        respond(ra, out.data, out.len);
      }
    }
    yolk__sb_free(&sidsb);
    break;
  }

  case REQ_SERVER_SIDE_EMIT: {
    const msgpack_object *d = yolk__msgpack_get(o, "data");
    if (!d || d->type != MSGPACK_OBJECT_ARRAY || d->via.array.size == 0) break;
    yolk_bins_t bins = {0};
    yolk__msgpack_to_json(&out, d, &bins);
    yolk_sio_args_t args = {out.data, out.len, bins.v, bins.n};
    if (remote_args_ok(&args, 1, "serverSideEmit")) yolk_sio_nsp_server_event(nsp, &args, request_id);
    yolk__bins_free(&bins);
    break;
  }

  case REQ_BROADCAST: {
    if (!request_id) break;
    const msgpack_object *pkt = yolk__msgpack_get(o, "packet");
    const msgpack_object *d = yolk__msgpack_get(pkt, "data");
    if (!d || d->type != MSGPACK_OBJECT_ARRAY || d->via.array.size == 0) break;
    yolk_bins_t bins = {0};
    yolk__msgpack_to_json(&out, d, &bins);
    yolk_sio_args_t args = {out.data, out.len, bins.v, bins.n};
    if (!remote_args_ok(&args, 1, "broadcast with acks")) {
      yolk__bins_free(&bins);
      break;
    }
    remote_ack_t *r = yolk__malloc(sizeof(*r));
    r->bus = bus;
    r->channel = yolk__strndup(ra->res_channel, strlen(ra->res_channel));
    r->request_id = yolk__strndup(request_id, strlen(request_id));
    /* the requester stops listening after its timeout: so do we */
    unsigned timeout = mt.timeout_ms ? mt.timeout_ms : bus->requests_timeout;
    yolk_sio_gather_t *g = yolk__sio_gather_new(yolk_sio_nsp_server(nsp), timeout, on_remote_ack_answer,
                                                on_remote_ack_done, r);
    yolk_sio_packet_t p;
    yolk__sio_packet_build(&p, YOLK_SIO_PKT_EVENT, yolk_sio_nsp_name(nsp), nsp->next_ack_id++, &args);
    ra->local->vt->broadcast_with_ack(ra->local, &p, &mt.t, g);
    yolk_sio_packet_release(&p);
    yolk__bins_free(&bins);
    out.len = 0;
    yolk__sb_printf(&out, "{\"type\":%d,\"requestId\":", REQ_BROADCAST_CLIENT_COUNT);
    yolk__json_write_cstr(&out, request_id);
    yolk__sb_printf(&out, ",\"clientCount\":%zu}", yolk__sio_gather_expected(g));
    respond(ra, out.data, out.len);
    yolk_sio_gather_unref(g);
    break;
  }

  default:
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "a request of unknown type %d was ignored", type);
  }
  target_free(&mt);
  yolk__sb_free(&idsb);
  yolk__sb_free(&out);
done:
  msgpack_unpacked_destroy(&u);
}

/* An answer to one of this node's requests (others' answers: ignored). */
static void on_response(redis_adapter_t *ra, const char *data, size_t len) {
  yolk_sio_redis_t *bus = ra->bus;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (read_message(bus, data, len, &u) != 0 || u.data.type != MSGPACK_OBJECT_MAP) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed response on %s was ignored", ra->res_channel);
    msgpack_unpacked_destroy(&u);
    return;
  }
  const msgpack_object *o = &u.data;
  yolk_sb_t idsb;
  yolk__sb_init(&idsb);
  const char *request_id = field_str(o, "requestId", &idsb);
  request_t *q = request_id ? yolk__smap_get(&bus->requests, request_id) : NULL;
  yolk__sb_free(&idsb);
  if (!q || q->a != ra) goto done;
  /* a request is answered once it was asked (published once the nodes are
   * counted), except a broadcast with acks, published at once */
  if (q->type != REQ_BROADCAST && q->num_sub == 0) goto done;
  int type = (int)yolk__msgpack_num(yolk__msgpack_get(o, "type"), -1);
  switch (q->type) {
  case REQ_BROADCAST:
    if (type == REQ_BROADCAST_CLIENT_COUNT) {
      double n = yolk__msgpack_num(yolk__msgpack_get(o, "clientCount"), 0);
      yolk_sio_gather_expect(q->g, n > 0 ? (size_t)n : 0);
    } else if (type == REQ_BROADCAST_ACK) {
      const msgpack_object *p = yolk__msgpack_get(o, "packet");
      yolk_sb_t json;
      yolk__sb_init(&json);
      yolk_bins_t bins = {0};
      yolk__sb_putc(&json, '[');
      if (p) yolk__msgpack_to_json(&json, p, &bins);
      else yolk__sb_puts(&json, "null");
      yolk__sb_putc(&json, ']');
      yolk_sio_args_t args = {json.data, json.len, bins.v, bins.n};
      if (remote_args_ok(&args, 0, "ack")) yolk_sio_gather_answer(q->g, &args);
      yolk__bins_free(&bins);
      yolk__sb_free(&json);
    }
    if (yolk_sio_gather_done(q->g)) request_free(bus, q);
    break;
  case REQ_SERVER_SIDE_EMIT: {
    const msgpack_object *d = yolk__msgpack_get(o, "data");
    yolk_sb_t json;
    yolk__sb_init(&json);
    yolk__sb_putc(&json, '[');
    if (d) yolk__msgpack_to_json(&json, d, NULL);
    else yolk__sb_puts(&json, "null");
    yolk__sb_putc(&json, ']');
    yolk_sio_args_t args = {json.data, json.len, NULL, 0};
    if (remote_args_ok(&args, 0, "serverSideEmit answer")) yolk_sio_gather_answer(q->g, &args);
    yolk__sb_free(&json);
    if (++q->msg_count >= q->num_sub) request_free(bus, q);
    break;
  }
  case REQ_REMOTE_FETCH: {
    const msgpack_object *list = yolk__msgpack_get(o, "sockets");
    q->msg_count++;
    if (list && list->type == MSGPACK_OBJECT_ARRAY) {
      for (uint32_t i = 0; i < list->via.array.size; i++) {
        if (q->has_items) yolk__sb_putc(&q->list, ',');
        q->has_items = 1;
        yolk__msgpack_to_json(&q->list, &list->via.array.ptr[i], NULL);
      }
    }
    if (q->msg_count >= q->num_sub) request_finish(bus, q, NULL);
    break;
  }
  case REQ_ALL_ROOMS: {
    const msgpack_object *list = yolk__msgpack_get(o, "rooms");
    q->msg_count++;
    if (list && list->type == MSGPACK_OBJECT_ARRAY) {
      yolk_sb_t names;
      yolk__sb_init(&names);
      for (uint32_t i = 0; i < list->via.array.size; i++) {
        names.len = 0;
        if (room_name(&list->via.array.ptr[i], &names) == 0) yolk__smap_put(&q->rooms, names.data, NULL);
      }
      yolk__sb_free(&names);
    }
    if (q->msg_count >= q->num_sub) request_finish(bus, q, NULL);
    break;
  }
  }
done:
  msgpack_unpacked_destroy(&u);
}

static void on_message(yolk_redis_t *r, const char *pattern, size_t plen, const char *channel, size_t clen,
                       const char *data, size_t len, void *ud) {
  (void)r;
  yolk_sio_redis_t *bus = ud;
  const char *key = pattern ? pattern : channel;
  size_t klen = pattern ? plen : clen;
  char small[256];
  char *name = klen < sizeof(small) ? small : yolk__malloc(klen + 1);
  memcpy(name, key, klen);
  name[klen] = '\0';
  redis_adapter_t *ra = yolk__smap_get(pattern ? &bus->patterns : &bus->channels, name);
  if (name != small) free(name);
  if (!ra) return;
  if (pattern) on_broadcast_message(ra, channel, clen, data, len);
  else if (clen == strlen(ra->req_channel) && memcmp(channel, ra->req_channel, clen) == 0) on_request(ra, data, len);
  else on_response(ra, data, len);
}

/* ---- adapters and the bus ----------------------------------------------------------------- */

static void bus_maybe_free(yolk_sio_redis_t *bus);

static void ra_destroy(yolk_sio_adapter_t *a) {
  redis_adapter_t *ra = radapter(a);
  yolk_sio_redis_t *bus = ra->bus;
  /* this namespace's requests end now */
  request_t **mine = NULL;
  size_t n = 0;
  for (size_t i = 0; i < bus->requests.cap; i++) {
    request_t *q = bus->requests.slots[i].value;
    if (!bus->requests.slots[i].key || q->a != ra) continue;
    mine = yolk__realloc(mine, (n + 1) * sizeof(*mine));
    mine[n++] = q;
  }
  for (size_t i = 0; i < n; i++) request_finish(bus, mine[i], "server closed");
  free(mine);
  yolk__redis_unsubscribe(bus->sub, 1, ra->pattern, strlen(ra->pattern));
  yolk__smap_del(&bus->patterns, ra->pattern);
  const char *channels[3] = {ra->req_channel, ra->res_channel, ra->own_res_channel};
  for (int i = 0; i < 3; i++) {
    yolk__redis_unsubscribe(bus->sub, 0, channels[i], strlen(channels[i]));
    yolk__smap_del(&bus->channels, channels[i]);
  }
  ra->local->vt->destroy(ra->local);
  free(ra->channel);
  free(ra->pattern);
  free(ra->req_channel);
  free(ra->res_channel);
  free(ra->own_res_channel);
  free(ra);
  bus->adapters--;
  bus_maybe_free(bus);
}

/* Recovery: this node's store (the inner in-memory adapter's), so a client
 * that comes back to the same node is recovered. */
static void ra_persist_session(yolk_sio_adapter_t *a, const yolk_sio_session_t *s) {
  yolk_sio_adapter_t *l = radapter(a)->local;
  l->vt->persist_session(l, s);
}

static void ra_restore_session(yolk_sio_adapter_t *a, const char *pid, const char *offset, yolk_sio_restored_cb cb,
                               void *ud) {
  yolk_sio_adapter_t *l = radapter(a)->local;
  l->vt->restore_session(l, pid, offset, cb, ud);
}

static const yolk_sio_adapter_vtable_t redis_vtable = {
    .name = "redis",
    .destroy = ra_destroy,
    .add_all = ra_add_all,
    .del = ra_del,
    .del_all = ra_del_all,
    .socket_rooms = ra_socket_rooms,
    .broadcast = ra_broadcast,
    .fetch_sockets = ra_fetch_sockets,
    .add_sockets = ra_add_sockets,
    .del_sockets = ra_del_sockets,
    .disconnect_sockets = ra_disconnect_sockets,
    .broadcast_with_ack = ra_broadcast_with_ack,
    .server_side_emit = ra_server_side_emit,
    .server_side_reply = ra_server_side_reply,
    .all_rooms = ra_all_rooms,
    .persist_session = ra_persist_session,
    .restore_session = ra_restore_session,
};

yolk_sio_adapter_t *yolk_sio_redis_adapter(yolk_sio_nsp_t *nsp, void *ud) {
  yolk_sio_redis_t *bus = ud;
  redis_adapter_t *ra = yolk__calloc(1, sizeof(*ra));
  ra->base.vt = &redis_vtable;
  ra->base.nsp = nsp;
  ra->bus = bus;
  ra->local = yolk_sio_memory_adapter_new(nsp);
  const char *name = yolk_sio_nsp_name(nsp);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "%s#%s#", bus->key, name);
  ra->channel = sb.data;
  ra->pattern = str_concat(ra->channel, "*", NULL);
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "%s-request#%s#", bus->key, name);
  ra->req_channel = sb.data;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "%s-response#%s#", bus->key, name);
  ra->res_channel = sb.data;
  ra->own_res_channel = str_concat(ra->res_channel, bus->uid, "#");
  yolk__smap_put(&bus->patterns, ra->pattern, ra);
  yolk__redis_subscribe(bus->sub, 1, ra->pattern, strlen(ra->pattern));
  const char *channels[3] = {ra->req_channel, ra->res_channel, ra->own_res_channel};
  for (int i = 0; i < 3; i++) {
    yolk__smap_put(&bus->channels, channels[i], ra);
    yolk__redis_subscribe(bus->sub, 0, channels[i], strlen(channels[i]));
  }
  bus->adapters++;
  return &ra->base;
}

static void on_state(yolk_redis_t *r, int ready, const char *err, void *ud) {
  (void)ud;
  (void)err;
  if (ready) YOLK_LOG_DEBUG_(LOG_COMPONENT, "%s is ready", yolk__redis_name(r));
}

yolk_sio_redis_t *yolk_sio_redis_new(uv_loop_t *loop, const yolk_sio_redis_options_t *o, const char **err) {
  yolk_redis_opts_t ro;
  memset(&ro, 0, sizeof(ro));
  ro.url = o->url;
  ro.host = o->host;
  ro.port = o->port;
  ro.username = o->username;
  ro.password = o->password;
  ro.db = o->db;
  ro.connect_timeout_ms = o->connect_timeout_ms;
  yolk_sio_redis_t *bus = yolk__calloc(1, sizeof(*bus));
  bus->loop = loop;
  yolk__random_id(bus->uid, UID_LEN);
  ro.name = "redis adapter (publisher)";
  ro.client_name = "yolk-adapter-pub";
  bus->pub = yolk__redis_new(loop, &ro, err);
  if (!bus->pub) {
    free(bus);
    return NULL;
  }
  ro.name = "redis adapter (subscriber)";
  ro.client_name = "yolk-adapter-sub";
  ro.subscriber = 1;
  bus->sub = yolk__redis_new(loop, &ro, err);
  if (!bus->sub) {
    yolk__redis_close(bus->pub);
    free(bus);
    return NULL;
  }
  const char *key = o->key && *o->key ? o->key : "socket.io";
  bus->key = yolk__strndup(key, strlen(key));
  bus->requests_timeout = o->requests_timeout_ms ? o->requests_timeout_ms : 5000;
  yolk__smap_init(&bus->channels);
  yolk__smap_init(&bus->patterns);
  yolk__smap_init(&bus->requests);
  msgpack_sbuffer_init(&bus->sbuf);
  msgpack_packer_init(&bus->pk, &bus->sbuf, msgpack_sbuffer_write);
  yolk__sb_init(&bus->sb);
  yolk__redis_on_message(bus->sub, on_message, bus);
  yolk__redis_on_state(bus->pub, on_state, bus);
  yolk__redis_on_state(bus->sub, on_state, bus);
  yolk__redis_start(bus->pub);
  yolk__redis_start(bus->sub);
  YOLK_LOG_INFO_(LOG_COMPONENT, "node %s, channels %s#<namespace>#", bus->uid, bus->key);
  return bus;
}

const char *yolk_sio_redis_uid(const yolk_sio_redis_t *bus) { return bus->uid; }

static void bus_maybe_free(yolk_sio_redis_t *bus) {
  if (!bus->released || bus->adapters > 0) return;
  yolk__redis_close(bus->pub);
  yolk__redis_close(bus->sub);
  yolk__smap_free(&bus->channels);
  yolk__smap_free(&bus->patterns);
  yolk__smap_free(&bus->requests);
  msgpack_sbuffer_destroy(&bus->sbuf);
  yolk__sb_free(&bus->sb);
  free(bus->key);
  free(bus);
}

void yolk_sio_redis_free(yolk_sio_redis_t *bus) {
  if (!bus) return;
  bus->released = 1;
  bus_maybe_free(bus);
}
