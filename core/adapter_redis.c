/* adapter_redis.c - the Redis adapter: the rooms and broadcasts of every
 * node sharing a Redis server, in @socket.io/redis-adapter's protocol.
 *
 * Layers: this file speaks the protocol; core/redis.c owns the connections
 * (reconnection, resubscription); adapter_memory.c keeps this node's rooms
 * (each Redis adapter wraps one and calls its vtable for the local part);
 * adapter_redis_common.c has what this adapter shares with the Redis Streams
 * one (reading and writing targets and packets, the requests of this node);
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
 * Ownership: requests live in bus->requests (yolk_ra_request_t by id) and are freed
 * when complete, timed out, or their adapter is destroyed (callbacks then get
 * "server closed"). Redis reply callbacks find their request by id, so a
 * reply that comes after the request is gone finds nothing. The bus is freed
 * when its owner has called yolk_sio_redis_free and no adapter uses it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "adapter_redis_common.h"
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

struct yolk_sio_redis_s {
  yolk_redis_t *pub, *sub;
  char *key;
  unsigned requests_timeout;
  char uid[UID_LEN + 1];
  yolk_smap_t channels;        /* exact channel -> redis_adapter_t* */
  yolk_smap_t patterns;        /* broadcast pattern -> redis_adapter_t* */
  yolk_ra_requests_t requests; /* this node's, waiting for answers */
  size_t adapters;             /* adapters using the bus */
  int released;                /* the owner called yolk_sio_redis_free */
  yolk_ra_scratch_t scratch;   /* one message at a time is encoded or decoded */
};

typedef struct {
  yolk_ra_adapter_t head; /* base, and local: this node's rooms */
  yolk_sio_redis_t *bus;
  char *channel;  /* <key>#<nsp># */
  char *pattern;  /* <key>#<nsp>#* */
  char *req_channel, *res_channel, *own_res_channel;
} redis_adapter_t;

static redis_adapter_t *radapter(yolk_sio_adapter_t *a) { return (redis_adapter_t *)a; }
static yolk_sio_adapter_t *local_of(redis_adapter_t *ra) { return ra->head.local; }

static char *str_concat(const char *a, const char *b, const char *c) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "%s%s%s", a, b, c ? c : "");
  return sb.data;
}

/* ---- publishing ----------------------------------------------------------------------- */

static void publish(yolk_sio_redis_t *bus, const char *channel, const char *data, size_t len) {
  yolk__ra_publish(bus->pub, channel, data, len);
}

/* {"uid":..,"type":N, (then the caller's members) */
static yolk_sb_t *sb_request(yolk_sio_redis_t *bus, int type) {
  yolk_sb_t *sb = &bus->scratch.sb;
  sb->len = 0;
  yolk__sb_printf(sb, "{\"uid\":\"%s\",\"type\":%d", bus->uid, type);
  return sb;
}

/* ---- requests of this node -------------------------------------------------------------- */

static const char *timeout_text(int type) {
  switch (type) {
  case REQ_REMOTE_FETCH: return "timeout reached while waiting for fetchSockets response";
  case REQ_ALL_ROOMS: return "timeout reached while waiting for allRooms response";
  default: return "timeout reached";
  }
}

static void request_timeout(yolk_ra_request_t *q) {
  if (q->type == REQ_REMOTE_FETCH || q->type == REQ_ALL_ROOMS) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "%s: %zu of %zu other nodes answered in time", timeout_text(q->type), q->got,
                   q->expected);
    yolk__ra_request_finish(q, timeout_text(q->type));
  } else {
    yolk__ra_request_free(q); /* the gather has its own timer and result */
  }
}

#define NOT_REACHABLE "redis adapter: Redis is not reachable, the other nodes cannot be asked"

/* The number of nodes is known (0: Redis could not say; then requests fail
 * at once with NOT_REACHABLE): fetchSockets, allRooms and server-side emits
 * with acks ask the others on the request channel. */
static void request_counted(yolk_ra_request_t *q, size_t nodes) {
  yolk__ra_request_ask(q, nodes, radapter(q->owner)->bus->requests_timeout, NOT_REACHABLE, request_timeout);
}

/* ---- broadcasts ------------------------------------------------------------------------- */

static void ra_broadcast(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to) {
  redis_adapter_t *ra = radapter(a);
  local_of(ra)->vt->broadcast(local_of(ra), pkt, to);
  if (to->flags & YOLK_SIO_LOCAL) return;
  yolk_sio_redis_t *bus = ra->bus;
  msgpack_packer *pk = &bus->scratch.pk;
  msgpack_sbuffer_clear(&bus->scratch.out);
  msgpack_pack_array(pk, 3);
  yolk__ra_pack_str(pk, bus->uid);
  if (yolk__ra_pack_packet(pk, pkt, yolk_sio_nsp_name(a->nsp)) != 0) return;
  yolk__ra_pack_opts(pk, to, 0);
  if (to->nrooms == 1) {
    /* nodes without that room skip the message without decoding it */
    char *ch = str_concat(ra->channel, to->rooms[0], "#");
    publish(bus, ch, bus->scratch.out.data, bus->scratch.out.size);
    free(ch);
  } else {
    publish(bus, ra->channel, bus->scratch.out.data, bus->scratch.out.size);
  }
}

static void ra_broadcast_with_ack(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to,
                                  yolk_sio_gather_t *g) {
  redis_adapter_t *ra = radapter(a);
  yolk_sio_redis_t *bus = ra->bus;
  yolk_ra_request_t *q = yolk__ra_broadcast_with_ack_start(&bus->requests, a, REQ_BROADCAST, pkt, to, g);
  if (!q) return;
  msgpack_packer *pk = &bus->scratch.pk;
  msgpack_sbuffer_clear(&bus->scratch.out);
  msgpack_pack_map(pk, 5);
  yolk__ra_pack_str(pk, "uid");
  yolk__ra_pack_str(pk, bus->uid);
  yolk__ra_pack_str(pk, "requestId");
  yolk__ra_pack_str(pk, q->id);
  yolk__ra_pack_str(pk, "type");
  msgpack_pack_int(pk, REQ_BROADCAST);
  yolk__ra_pack_str(pk, "packet");
  if (yolk__ra_pack_packet(pk, pkt, yolk_sio_nsp_name(a->nsp)) != 0) {
    yolk_sio_gather_sources(g, 1);
    yolk__ra_request_free(q);
    return;
  }
  yolk__ra_pack_str(pk, "opts");
  unsigned timeout = yolk__ra_broadcast_with_ack_timeout(q, bus->requests_timeout);
  yolk__ra_pack_opts(pk, to, timeout);
  publish(bus, ra->req_channel, bus->scratch.out.data, bus->scratch.out.size);
  yolk__ra_broadcast_with_ack_sent(q, timeout, bus->pub, ra->req_channel);
}

/* ---- fetchSockets, allRooms ------------------------------------------------------------- */

static void ra_fetch_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud) {
  redis_adapter_t *ra = radapter(a);
  if (to->flags & YOLK_SIO_LOCAL) {
    local_of(ra)->vt->fetch_sockets(local_of(ra), to, cb, ud);
    return;
  }
  yolk_ra_request_t *q = yolk__ra_request_new(&ra->bus->requests, REQ_REMOTE_FETCH, a);
  q->fetch_cb = cb;
  q->ud = ud;
  yolk_sb_t *sb = sb_request(ra->bus, REQ_REMOTE_FETCH);
  yolk__sb_printf(sb, ",\"requestId\":\"%s\",\"opts\":", q->id);
  yolk__ra_json_opts(sb, to);
  yolk__sb_putc(sb, '}');
  yolk__ra_request_set_payload(q, sb->data, sb->len);
  yolk__ra_request_local_then_count(q, local_of(ra), to, ra->bus->pub, ra->req_channel, request_counted);
}

static void ra_all_rooms(yolk_sio_adapter_t *a, yolk_sio_rooms_cb cb, void *ud) {
  redis_adapter_t *ra = radapter(a);
  yolk_ra_request_t *q = yolk__ra_request_new(&ra->bus->requests, REQ_ALL_ROOMS, a);
  q->rooms_cb = cb;
  q->ud = ud;
  yolk_sb_t *sb = sb_request(ra->bus, REQ_ALL_ROOMS);
  yolk__sb_printf(sb, ",\"requestId\":\"%s\"}", q->id);
  yolk__ra_request_set_payload(q, sb->data, sb->len);
  yolk__ra_request_local_then_count(q, local_of(ra), NULL, ra->bus->pub, ra->req_channel, request_counted);
}

/* ---- socketsJoin / socketsLeave / disconnectSockets ------------------------------------ */

/* {"uid","type","opts", "rooms"} of socketsJoin / socketsLeave, published */
static void publish_rooms_request(redis_adapter_t *ra, int type, const yolk_sio_target_t *to,
                                  const char *const *rooms, size_t n) {
  yolk_sb_t *sb = sb_request(ra->bus, type);
  yolk__sb_puts(sb, ",\"opts\":");
  yolk__ra_json_opts(sb, to);
  yolk__sb_puts(sb, ",\"rooms\":");
  yolk__ra_json_strs(sb, rooms, n);
  yolk__sb_putc(sb, '}');
  publish(ra->bus, ra->req_channel, sb->data, sb->len);
}

static void ra_add_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  redis_adapter_t *ra = radapter(a);
  local_of(ra)->vt->add_sockets(local_of(ra), to, rooms, n);
  if (!(to->flags & YOLK_SIO_LOCAL)) publish_rooms_request(ra, REQ_REMOTE_JOIN, to, rooms, n);
}

static void ra_del_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  redis_adapter_t *ra = radapter(a);
  local_of(ra)->vt->del_sockets(local_of(ra), to, rooms, n);
  if (!(to->flags & YOLK_SIO_LOCAL)) publish_rooms_request(ra, REQ_REMOTE_LEAVE, to, rooms, n);
}

static void ra_disconnect_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, int close) {
  redis_adapter_t *ra = radapter(a);
  local_of(ra)->vt->disconnect_sockets(local_of(ra), to, close);
  if (to->flags & YOLK_SIO_LOCAL) return;
  yolk_sb_t *sb = sb_request(ra->bus, REQ_REMOTE_DISCONNECT);
  yolk__sb_puts(sb, ",\"opts\":");
  yolk__ra_json_opts(sb, to);
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
  yolk_ra_request_t *q = NULL;
  if (g) {
    q = yolk__ra_request_new(&ra->bus->requests, REQ_SERVER_SIDE_EMIT, a);
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
  yolk__ra_request_set_payload(q, sb->data, sb->len);
  yolk__ra_request_count_nodes(q, ra->bus->pub, ra->req_channel, request_counted);
  return 0;
}

/* reply_to is the request id; the answer is its first argument. */
static void ra_server_side_reply(yolk_sio_adapter_t *a, const char *reply_to, const yolk_sio_args_t *args) {
  redis_adapter_t *ra = radapter(a);
  yolk_sb_t *sb = &ra->bus->scratch.sb;
  sb->len = 0;
  yolk__sb_printf(sb, "{\"type\":%d,\"requestId\":", REQ_SERVER_SIDE_EMIT);
  yolk__json_write_cstr(sb, reply_to);
  yolk__sb_puts(sb, ",\"data\":");
  /* the first element of the argument array (null when there is none);
   * binary values cannot go in JSON: null */
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  const msgpack_object *first = yolk__ra_first_arg(&ra->bus->scratch, args, &u);
  if (first) yolk__msgpack_to_json(sb, first, NULL);
  else yolk__sb_puts(sb, "null");
  msgpack_unpacked_destroy(&u);
  yolk__sb_putc(sb, '}');
  publish(ra->bus, ra->res_channel, sb->data, sb->len);
}

/* ---- messages from other nodes ------------------------------------------------------------ */

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
    int here = yolk_sio_memory_adapter_has_room(local_of(ra), room);
    if (room != small) free(room);
    if (!here) return;
  }
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (yolk__ra_read(&bus->scratch, data, len, &u) != 0 || u.data.type != MSGPACK_OBJECT_ARRAY ||
      u.data.via.array.size < 3) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed broadcast on %.*s was ignored", (int)clen, channel);
    msgpack_unpacked_destroy(&u);
    return;
  }
  const msgpack_object *v = u.data.via.array.ptr;
  size_t ulen;
  const char *uid = yolk__msgpack_str(&v[0], &ulen);
  if (uid && ulen == UID_LEN && memcmp(uid, bus->uid, UID_LEN) == 0) goto done; /* our own */
  const msgpack_object *pkt = &v[1];
  const char *name = yolk_sio_nsp_name(ra->head.base.nsp);
  if (yolk__msgpack_get(pkt, "nsp") ? !yolk__ra_field_is(pkt, "nsp", name) : strcmp(name, "/")) goto done;
  yolk_ra_target_t mt;
  yolk__ra_target_read(&mt, &v[2]);
  yolk__ra_deliver(local_of(ra), ra->head.base.nsp, yolk__msgpack_get(pkt, "data"), &mt.t, NULL);
  yolk__ra_target_free(&mt);
done:
  msgpack_unpacked_destroy(&u);
}

/* One answer of this node's sockets to another node's broadcast with acks:
 * {type: 9, requestId, packet: <the answer>} in MessagePack, on r->to. */
static void send_remote_ack(yolk_ra_remote_ack_t *r, const msgpack_object *answer) {
  yolk_sio_redis_t *bus = r->bus;
  yolk_ra_scratch_t *sc = &bus->scratch;
  msgpack_sbuffer_clear(&sc->out);
  msgpack_pack_map(&sc->pk, 3);
  yolk__ra_pack_str(&sc->pk, "type");
  msgpack_pack_int(&sc->pk, REQ_BROADCAST_ACK);
  yolk__ra_pack_str(&sc->pk, "requestId");
  yolk__ra_pack_str(&sc->pk, r->request_id);
  yolk__ra_pack_str(&sc->pk, "packet");
  if (answer) msgpack_pack_object(&sc->pk, *answer);
  else msgpack_pack_nil(&sc->pk);
  publish(bus, r->to, sc->out.data, sc->out.size);
}

/* The channel a response goes to: the common one, as the Node adapter does
 * by default (a requester set to per-node channels listens there too). */
static void respond(redis_adapter_t *ra, const char *data, size_t len) { publish(ra->bus, ra->res_channel, data, len); }

/* {"requestId":<id> (then the caller's members) */
static void sb_response(yolk_sb_t *out, const char *request_id) {
  yolk__sb_puts(out, "{\"requestId\":");
  yolk__json_write_cstr(out, request_id);
}

/* socketsJoin / socketsLeave / disconnectSockets of the old form: one
 * socket by id. */
static void on_socket_request(redis_adapter_t *ra, int type, const msgpack_object *o, const char *request_id,
                              yolk_sb_t *out) {
  yolk_sb_t sidsb, roomsb;
  yolk__sb_init(&sidsb);
  yolk__sb_init(&roomsb);
  const char *sid = yolk__ra_field_str(o, "sid", &sidsb);
  yolk_sio_socket_t *s = sid ? yolk_sio_nsp_socket(ra->head.base.nsp, sid) : NULL;
  if (s) {
    const char *room = yolk__ra_field_str(o, "room", &roomsb);
    if (type == REQ_REMOTE_JOIN && room) yolk_sio_socket_join(s, room);
    else if (type == REQ_REMOTE_LEAVE && room) yolk_sio_socket_leave(s, room);
    else if (type == REQ_REMOTE_DISCONNECT) yolk_sio_socket_disconnect(s, yolk__ra_field_true(o, "close"));
    if (request_id) {
      sb_response(out, request_id);
      yolk__sb_putc(out, '}');
      respond(ra, out->data, out->len);
    }
  }
  yolk__sb_free(&roomsb);
  yolk__sb_free(&sidsb);
}

/* A request from another node (or this one: ignored). */
static void on_request(redis_adapter_t *ra, const char *data, size_t len) {
  yolk_sio_redis_t *bus = ra->bus;
  yolk_sio_nsp_t *nsp = ra->head.base.nsp;
  yolk_sio_adapter_t *l = local_of(ra);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (yolk__ra_read(&bus->scratch, data, len, &u) != 0 || u.data.type != MSGPACK_OBJECT_MAP) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed request on %s was ignored", ra->req_channel);
    msgpack_unpacked_destroy(&u);
    return;
  }
  const msgpack_object *o = &u.data;
  int type = (int)yolk__ra_field_count(o, "type", -1);
  if (yolk__ra_field_is(o, "uid", bus->uid)) goto done; /* our own, applied already */
  yolk_sb_t idsb, out;
  yolk__sb_init(&idsb);
  yolk__sb_init(&out);
  const char *request_id = yolk__ra_field_str(o, "requestId", &idsb);
  yolk_ra_target_t mt;
  const msgpack_object *opts = yolk__msgpack_get(o, "opts");
  yolk__ra_target_read(&mt, opts);

  switch (type) {
  case REQ_SOCKETS:
  case REQ_REMOTE_FETCH:
  case REQ_ALL_ROOMS:
    if (!request_id) break;
    sb_response(&out, request_id);
    if (type == REQ_ALL_ROOMS) {
      yolk__sb_puts(&out, ",\"rooms\":");
      yolk__ra_rooms_json(l, &out);
    } else if (type == REQ_SOCKETS) {
      /* the old request: ids of the sockets in rooms (every socket: none) */
      yolk_ra_target_t rt;
      yolk__ra_target_from(&rt, yolk__msgpack_get(o, "rooms"), NULL, NULL);
      yolk__sb_puts(&out, ",\"sockets\":");
      yolk__ra_socket_ids(l, &rt.t, &out);
      yolk__ra_target_free(&rt);
    } else {
      yolk__sb_puts(&out, ",\"sockets\":");
      yolk__ra_describe_sockets(l, &mt.t, &out);
    }
    yolk__sb_putc(&out, '}');
    respond(ra, out.data, out.len);
    break;

  case REQ_REMOTE_JOIN:
  case REQ_REMOTE_LEAVE:
  case REQ_REMOTE_DISCONNECT: {
    if (!opts) {
      on_socket_request(ra, type, o, request_id, &out);
      break;
    }
    yolk_ra_target_t rooms; /* the request's "rooms": those to join or leave */
    yolk__ra_target_from(&rooms, yolk__msgpack_get(o, "rooms"), NULL, NULL);
    if (type == REQ_REMOTE_JOIN) l->vt->add_sockets(l, &mt.t, rooms.t.rooms, rooms.t.nrooms);
    else if (type == REQ_REMOTE_LEAVE) l->vt->del_sockets(l, &mt.t, rooms.t.rooms, rooms.t.nrooms);
    else l->vt->disconnect_sockets(l, &mt.t, yolk__ra_field_true(o, "close"));
    yolk__ra_target_free(&rooms);
    break;
  }

  case REQ_SERVER_SIDE_EMIT:
    yolk__ra_server_event(nsp, yolk__msgpack_get(o, "data"), request_id);
    break;

  case REQ_BROADCAST: {
    if (!request_id) break;
    yolk_ra_remote_ack_t *r = yolk__ra_remote_ack_new(bus, &bus->scratch, ra->res_channel, yolk_sio_nsp_name(nsp),
                                                      request_id, send_remote_ack);
    /* the requester stops listening after its timeout: so do we */
    unsigned timeout = mt.timeout_ms ? mt.timeout_ms : bus->requests_timeout;
    long n =
        yolk__ra_deliver_with_ack(l, nsp, yolk__msgpack_get(yolk__msgpack_get(o, "packet"), "data"), &mt.t, timeout, r);
    if (n < 0) break;
    yolk__sb_printf(&out, "{\"type\":%d,\"requestId\":", REQ_BROADCAST_CLIENT_COUNT);
    yolk__json_write_cstr(&out, request_id);
    yolk__sb_printf(&out, ",\"clientCount\":%ld}", n);
    respond(ra, out.data, out.len);
    break;
  }

  default:
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "a request of unknown type %d was ignored", type);
  }
  yolk__ra_target_free(&mt);
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
  if (yolk__ra_read(&bus->scratch, data, len, &u) != 0 || u.data.type != MSGPACK_OBJECT_MAP) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed response on %s was ignored", ra->res_channel);
    msgpack_unpacked_destroy(&u);
    return;
  }
  const msgpack_object *o = &u.data;
  yolk_sb_t idsb;
  yolk__sb_init(&idsb);
  yolk_ra_request_t *q =
      yolk__ra_request_find(&bus->requests, yolk__ra_field_str(o, "requestId", &idsb), &ra->head.base);
  yolk__sb_free(&idsb);
  if (!q) goto done;
  int type = (int)yolk__ra_field_count(o, "type", -1);
  switch (q->type) {
  case REQ_BROADCAST:
    if (type == REQ_BROADCAST_CLIENT_COUNT) yolk__ra_broadcast_ack_answer(q, yolk__ra_field_count(o, "clientCount", 0), NULL);
    else if (type == REQ_BROADCAST_ACK) yolk__ra_broadcast_ack_answer(q, -1, yolk__msgpack_get(o, "packet"));
    break;
  case REQ_SERVER_SIDE_EMIT:
    yolk__ra_gather_answer(q->g, yolk__msgpack_get(o, "data"));
    yolk__ra_request_answered(q);
    break;
  case REQ_REMOTE_FETCH:
    yolk__ra_request_add_sockets(q, yolk__msgpack_get(o, "sockets"));
    yolk__ra_request_answered(q);
    break;
  case REQ_ALL_ROOMS:
    yolk__ra_request_add_rooms(q, yolk__msgpack_get(o, "rooms"));
    yolk__ra_request_answered(q);
    break;
  }
done:
  msgpack_unpacked_destroy(&u);
}

static void on_message(yolk_redis_t *r, const char *pattern, size_t plen, const char *channel, size_t clen,
                       const char *data, size_t len, void *ud) {
  (void)r;
  yolk_sio_redis_t *bus = ud;
  redis_adapter_t *ra = pattern ? yolk__ra_lookup(&bus->patterns, pattern, plen)
                                : yolk__ra_lookup(&bus->channels, channel, clen);
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
  yolk__ra_requests_end(&bus->requests, a, "server closed");
  yolk__redis_unsubscribe(bus->sub, 1, ra->pattern, strlen(ra->pattern));
  yolk__smap_del(&bus->patterns, ra->pattern);
  const char *channels[3] = {ra->req_channel, ra->res_channel, ra->own_res_channel};
  for (int i = 0; i < 3; i++) {
    yolk__redis_unsubscribe(bus->sub, 0, channels[i], strlen(channels[i]));
    yolk__smap_del(&bus->channels, channels[i]);
  }
  local_of(ra)->vt->destroy(local_of(ra));
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
  yolk_sio_adapter_t *l = local_of(radapter(a));
  l->vt->persist_session(l, s);
}

static void ra_restore_session(yolk_sio_adapter_t *a, const char *pid, const char *offset, yolk_sio_restored_cb cb,
                               void *ud) {
  yolk_sio_adapter_t *l = local_of(radapter(a));
  l->vt->restore_session(l, pid, offset, cb, ud);
}

static const yolk_sio_adapter_vtable_t redis_vtable = {
    .name = "redis",
    .destroy = ra_destroy,
    .add_all = yolk__ra_add_all,
    .del = yolk__ra_del,
    .del_all = yolk__ra_del_all,
    .socket_rooms = yolk__ra_socket_rooms,
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
  ra->head.base.vt = &redis_vtable;
  ra->head.base.nsp = nsp;
  ra->head.local = yolk_sio_memory_adapter_new(nsp);
  ra->bus = bus;
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
  return &ra->head.base;
}

yolk_sio_redis_t *yolk_sio_redis_new(uv_loop_t *loop, const yolk_sio_redis_options_t *o, const char **err) {
  yolk_sio_redis_t *bus = yolk__calloc(1, sizeof(*bus));
  yolk__random_id(bus->uid, UID_LEN);
  bus->pub = yolk__ra_connect(loop, o, "redis adapter (publisher)", "yolk-adapter-pub", 0, err);
  if (!bus->pub) {
    free(bus);
    return NULL;
  }
  bus->sub = yolk__ra_connect(loop, o, "redis adapter (subscriber)", "yolk-adapter-sub", 1, err);
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
  yolk__ra_requests_init(&bus->requests, loop);
  yolk__ra_scratch_init(&bus->scratch);
  yolk__redis_on_message(bus->sub, on_message, bus);
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
  yolk__ra_requests_free(&bus->requests);
  yolk__ra_scratch_free(&bus->scratch);
  free(bus->key);
  free(bus);
}

void yolk_sio_redis_free(yolk_sio_redis_t *bus) {
  if (!bus) return;
  bus->released = 1;
  bus_maybe_free(bus);
}
