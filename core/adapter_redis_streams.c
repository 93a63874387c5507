/* adapter_redis_streams.c - the Redis Streams adapter: the rooms, broadcasts
 * and sessions of every node sharing a Redis server, in
 * @socket.io/redis-streams-adapter's protocol (0.3, whose base class is
 * socket.io-adapter's ClusterAdapter).
 *
 * Layers: as adapter_redis.c (core/redis.c owns the connections,
 * adapter_memory.c keeps this node's rooms, adapter_redis_common.c has what
 * both Redis adapters share).
 *
 * The bus (yolk_sio_redis_streams_t): one per server, three connections:
 *   pub     commands: XADD, PUBLISH, PUBSUB NUMSUB, SET, GETDEL, XRANGE;
 *   sub     each namespace's public channel <prefix>#<nsp># and this node's
 *           private one <prefix>#<nsp>#<uid>#;
 *   reader  XREAD BLOCK on the stream, one at a time, in a loop.
 *
 * Messages are ClusterAdapter's {uid, nsp, type, data}:
 *  - stored ones, entries of the stream: BROADCAST (3, without acks),
 *    SOCKETS_JOIN (4), SOCKETS_LEAVE (5), DISCONNECT_SOCKETS (6), as
 *    XADD <stream> MAXLEN ~ <n> * uid <uid> nsp <nsp> type <"3"> data <d>,
 *    d the JSON text of data, or when data holds binary values the base64 of
 *    its MessagePack. Every node reads them all (its own skipped); an entry's
 *    id is the offset of the packet it carries.
 *  - ephemeral ones, MessagePack of the whole message PUBLISHed on the
 *    public channel: BROADCAST with a requestId (acks), SERVER_SIDE_EMIT (9),
 *    FETCH_SOCKETS (7); and their answers on the requester's private
 *    channel: FETCH_SOCKETS_RESPONSE (8), SERVER_SIDE_EMIT_RESPONSE (10),
 *    BROADCAST_CLIENT_COUNT (11), BROADCAST_ACK (12).
 *
 * Order: what this node does to a namespace's sockets (broadcasts, socketsJoin,
 * socketsLeave, disconnectSockets) is applied here once the XADD has
 * answered, as ClusterAdapter does, so that a broadcast carries its entry id
 * as offset. Each adapter keeps these operations in a queue (ops) and
 * applies them in the order they were made: XADD replies come in order on
 * one connection, and an operation that needs no XADD (LOCAL) waits behind
 * those before it. A failed XADD (Redis down) is applied without an offset.
 *
 * The reading loop starts from the stream's last entry (XREVRANGE + - COUNT
 * 1, which is what XREAD's "$" would mean, but known), then XREADs from the
 * last entry read, across errors and reconnections: after a lost connection
 * it waits for the connection to be ready again, after an error reply for a
 * second, so it never spins.
 *
 * Recovery: persist_session SETs base64(MessagePack {sid, pid, rooms, data})
 * with PX the recovery time; restore_session takes it (GETDEL), checks that
 * the client's offset is still in the stream, then XRANGEs what follows
 * (COUNT RESTORE_COUNT per call, at most RESTORE_MAX_CALLS calls) and keeps
 * the broadcasts of its namespace that reach the session's rooms. A packet
 * of another node that this node's reader has not delivered yet is left to
 * the reader (the socket is in its rooms by then), and the XRANGEs go on
 * until they have reached what the reader delivered: no packet is lost or
 * sent twice between the missed ones and the live ones.
 *
 * Ownership: requests as in adapter_redis.c (yolk_ra_request_t, by id). An
 * operation or restore whose adapter goes while Redis still owes it a reply
 * is cut loose (sa = NULL) and freed by that reply; redis.c calls every
 * pending reply callback when a connection closes, so nothing outlives the
 * bus. A restore cut loose gets its callback (no session) at once.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "adapter_redis_common.h"
#include "eio_packet.h"
#include "hashmap.h"
#include "json.h"
#include "json_msgpack.h"
#include "list.h"
#include "log.h"
#include "redis.h"
#include "sio.h"

#define LOG_COMPONENT "redis-streams"

/* ClusterAdapter's MessageType */
enum {
  MSG_BROADCAST = 3,
  MSG_SOCKETS_JOIN = 4,
  MSG_SOCKETS_LEAVE = 5,
  MSG_DISCONNECT_SOCKETS = 6,
  MSG_FETCH_SOCKETS = 7,
  MSG_FETCH_SOCKETS_RESPONSE = 8,
  MSG_SERVER_SIDE_EMIT = 9,
  MSG_SERVER_SIDE_EMIT_RESPONSE = 10,
  MSG_BROADCAST_CLIENT_COUNT = 11,
  MSG_BROADCAST_ACK = 12,
};
/* allRooms has no message of its own: a FETCH_SOCKETS whose answers give
 * their sockets' rooms (a room exists where a socket is in it) */
enum { REQ_ALL_ROOMS = 100 };

#define UID_LEN 16            /* hex, as ClusterAdapter's randomBytes(8) */
#define RESTORE_COUNT 1000    /* entries per XRANGE while restoring */
#define RESTORE_MAX_CALLS 100 /* as the Node adapter's RESTORE_SESSION_MAX_XRANGE_CALLS */
#define READ_RETRY_MS 1000    /* after an error reply to XREAD */
#define NOT_REACHABLE "redis streams adapter: Redis is not reachable, the other nodes cannot be asked"

/* A stream entry id, ms-seq. */
typedef struct {
  uint64_t ms, seq;
} entry_id_t;

struct yolk_sio_redis_streams_s {
  yolk_redis_t *pub, *sub, *reader;
  char *stream, *prefix, *session_prefix;
  char max_len[24], read_count[24], block_ms[24];
  unsigned requests_timeout;
  char uid[UID_LEN + 1];
  yolk_smap_t nsps;            /* namespace name -> streams_adapter_t* */
  yolk_smap_t channels;        /* public and private channels -> streams_adapter_t* */
  yolk_ra_requests_t requests; /* this node's, waiting for answers */
  yolk_ra_scratch_t scratch;   /* one message at a time is encoded or decoded */
  /* the reading loop */
  entry_id_t last; /* the last entry read */
  int started;     /* last is known */
  int reading;     /* an XREAD (or the first XREVRANGE) is out */
  int failing;     /* an error reply was logged; logged again after a success */
  uv_timer_t *retry;
  int xadd_failing;
  size_t adapters;
  int released, closing, finished;
};

typedef struct {
  yolk_ra_adapter_t head; /* base, and local: this node's rooms (no recovery store) */
  yolk_sio_redis_streams_t *bus;
  char *public_channel;  /* <prefix>#<nsp># */
  char *private_channel; /* <prefix>#<nsp>#<uid># */
  yolk_list_t ops;       /* op_t, in the order they were made */
  int draining;
  yolk_list_t restores;  /* restore_t under way */
} streams_adapter_t;

static streams_adapter_t *sadapter(yolk_sio_adapter_t *a) { return (streams_adapter_t *)a; }
static yolk_sio_adapter_t *local_of(streams_adapter_t *sa) { return sa->head.local; }
static const char *nsp_name(streams_adapter_t *sa) { return yolk_sio_nsp_name(sa->head.base.nsp); }

/* ---- entry ids --------------------------------------------------------------------------- */

static int id_parse(const char *s, size_t len, entry_id_t *out) {
  char buf[48];
  if (len == 0 || len >= sizeof(buf)) return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  char *dash = strchr(buf, '-');
  if (!dash || dash == buf || dash[1] == '\0') return -1;
  for (const char *p = buf; *p; p++)
    if ((*p < '0' || *p > '9') && p != dash) return -1;
  *dash = '\0';
  out->ms = strtoull(buf, NULL, 10);
  out->seq = strtoull(dash + 1, NULL, 10);
  return 0;
}

static int id_cmp(entry_id_t a, entry_id_t b) {
  if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
  return a.seq < b.seq ? -1 : a.seq > b.seq;
}

static void id_format(entry_id_t id, char *out, size_t len) {
  snprintf(out, len, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

/* The id just after id (XRANGE's start is inclusive; "(" needs Redis 6.2). */
static void id_next(entry_id_t id, char *out, size_t len) {
  if (id.seq == UINT64_MAX) {
    id.ms++;
    id.seq = 0;
  } else {
    id.seq++;
  }
  id_format(id, out, len);
}

/* ---- stream entries and messages ---------------------------------------------------------- */

/* The fields of an entry ([f1, v1, f2, v2, ...]) this adapter reads. */
typedef struct {
  const redisReply *uid, *nsp, *type, *data;
} entry_fields_t;

static int is_str(const redisReply *r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static int reply_is(const redisReply *r, const char *s) {
  return is_str(r) && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* An entry [id, [fields]]: 0 with its id and fields, or -1. */
static int entry_read(const redisReply *e, entry_id_t *id, entry_fields_t *f) {
  memset(f, 0, sizeof(*f));
  if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !is_str(e->element[0])) return -1;
  if (id_parse(e->element[0]->str, e->element[0]->len, id) != 0) return -1;
  const redisReply *kv = e->element[1];
  if (!kv || kv->type != REDIS_REPLY_ARRAY) return 0; /* a deleted entry: no fields */
  for (size_t i = 0; i + 1 < kv->elements; i += 2) {
    const redisReply *k = kv->element[i], *v = kv->element[i + 1];
    if (!is_str(v)) continue;
    if (reply_is(k, "uid")) f->uid = v;
    else if (reply_is(k, "nsp")) f->nsp = v;
    else if (reply_is(k, "type")) f->type = v;
    else if (reply_is(k, "data")) f->data = v;
  }
  return 0;
}

/* The type of an entry, a number in a string; -1 when it is not one. */
static int entry_type(const redisReply *t) {
  if (!is_str(t) || t->len == 0 || t->len > 4) return -1;
  int n = 0;
  for (size_t i = 0; i < t->len; i++) {
    if (t->str[i] < '0' || t->str[i] > '9') return -1;
    n = n * 10 + (t->str[i] - '0');
  }
  return n;
}

/* An entry's data: JSON text (through the scratch), or the base64 of its
 * MessagePack (decoded into raw, which must outlive u). 0, or -1. */
static int entry_data(yolk_sio_redis_streams_t *bus, const redisReply *d, yolk_sb_t *raw, msgpack_unpacked *u) {
  if (!is_str(d)) return -1;
  if (d->len > 0 && d->str[0] == '{') return yolk__ra_read(&bus->scratch, d->str, d->len, u);
  if (yolk__eio_b64_decode(raw, d->str, d->len) != 0) return -1;
  size_t off = 0;
  return raw->len > 0 && msgpack_unpack_next(u, raw->data, raw->len, &off) == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
}

/* The adapter of an entry's namespace (NULL: none here). */
static streams_adapter_t *adapter_of(yolk_sio_redis_streams_t *bus, const redisReply *nsp) {
  return is_str(nsp) ? yolk__ra_lookup(&bus->nsps, nsp->str, nsp->len) : NULL;
}

/* ---- writing ----------------------------------------------------------------------------- */

static void publish(yolk_sio_redis_streams_t *bus, const char *channel, const char *data, size_t len) {
  yolk__ra_publish(bus->pub, channel, data, len);
}

/* Starts a message {uid, nsp, type, data: {<n pairs>}} in the scratch's out:
 * the caller packs the n pairs of data. */
static msgpack_packer *pack_message(streams_adapter_t *sa, int type, size_t n) {
  yolk_ra_scratch_t *sc = &sa->bus->scratch;
  msgpack_sbuffer_clear(&sc->out);
  msgpack_packer *pk = &sc->pk;
  msgpack_pack_map(pk, 4);
  yolk__ra_pack_str(pk, "uid");
  yolk__ra_pack_str(pk, sa->bus->uid);
  yolk__ra_pack_str(pk, "nsp");
  yolk__ra_pack_str(pk, nsp_name(sa));
  yolk__ra_pack_str(pk, "type");
  msgpack_pack_int(pk, type);
  yolk__ra_pack_str(pk, "data");
  msgpack_pack_map(pk, n);
  return pk;
}

/* The private channel of the node uid in sa's namespace (malloc'd). */
static char *private_channel(streams_adapter_t *sa, const char *uid) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "%s#%s#%s#", sa->bus->prefix, nsp_name(sa), uid);
  return sb.data;
}

/* An answer to the node uid: {uid, nsp, type, data: {requestId, key: value}}
 * (value: MessagePack, NULL: nil; or json: JSON text). */
static void respond(streams_adapter_t *sa, const char *uid, int type, const char *request_id, const char *key,
                    const msgpack_object *value, const char *json, size_t json_len) {
  msgpack_packer *pk = pack_message(sa, type, 2);
  yolk__ra_pack_str(pk, "requestId");
  yolk__ra_pack_str(pk, request_id);
  yolk__ra_pack_str(pk, key);
  if (json) {
    if (yolk__json_to_msgpack(pk, json, json_len, NULL, 0) != 0) msgpack_pack_nil(pk);
  } else if (value) {
    msgpack_pack_object(pk, *value);
  } else {
    msgpack_pack_nil(pk);
  }
  char *channel = private_channel(sa, uid);
  publish(sa->bus, channel, sa->bus->scratch.out.data, sa->bus->scratch.out.size);
  free(channel);
}

/* ---- this node's operations, in order -------------------------------------------------------- */

enum { OP_BROADCAST, OP_JOIN, OP_LEAVE, OP_DISCONNECT };

typedef struct {
  yolk_list_t node;      /* in sa->ops */
  streams_adapter_t *sa; /* NULL: the adapter is gone (the XADD reply frees it) */
  int kind;
  int waiting;          /* the XADD reply is not in yet */
  int close;            /* OP_DISCONNECT */
  char offset[48];      /* the entry id, "" when there is none */
  yolk_ra_target_t to;
  yolk_ra_target_t rooms; /* OP_JOIN / OP_LEAVE: the rooms, as rooms.t.rooms */
  /* OP_BROADCAST: the encoded packet (msgs referenced); when it is one that
   * recovery stores, its arguments too (json, bins), for the offset */
  yolk_sio_packet_t pkt;
  int storable;
  char *json;
  yolk_sio_bin_t *bins;
} op_t;

static void op_free(op_t *op) {
  yolk__ra_target_free(&op->to);
  yolk__ra_target_free(&op->rooms);
  if (op->kind == OP_BROADCAST) yolk_sio_packet_release(&op->pkt);
  for (size_t i = 0; op->bins && i < op->pkt.data.nbins; i++) free((void *)op->bins[i].data);
  free(op->bins);
  free(op->json);
  free(op);
}

static void op_apply(streams_adapter_t *sa, op_t *op) {
  yolk_sio_adapter_t *l = local_of(sa);
  switch (op->kind) {
  case OP_BROADCAST:
    if (op->storable && op->offset[0]) {
      yolk_sio_packet_t stamped;
      yolk_sio_packet_with_offset(&stamped, &op->pkt, op->offset);
      l->vt->broadcast(l, &stamped, &op->to.t);
      yolk_sio_packet_release(&stamped);
    } else {
      l->vt->broadcast(l, &op->pkt, &op->to.t);
    }
    break;
  case OP_JOIN: l->vt->add_sockets(l, &op->to.t, op->rooms.t.rooms, op->rooms.t.nrooms); break;
  case OP_LEAVE: l->vt->del_sockets(l, &op->to.t, op->rooms.t.rooms, op->rooms.t.nrooms); break;
  case OP_DISCONNECT: l->vt->disconnect_sockets(l, &op->to.t, op->close); break;
  }
}

/* Applies the operations at the head of the queue that are ready. */
static void ops_drain(streams_adapter_t *sa) {
  if (sa->draining) return; /* an operation being applied made another: the loop below takes it */
  sa->draining = 1;
  yolk_list_t *n;
  while ((n = yolk__list_first(&sa->ops))) {
    op_t *op = yolk__list_entry(n, op_t, node);
    if (op->waiting) break;
    yolk__list_remove(&op->node);
    op_apply(sa, op);
    op_free(op);
  }
  sa->draining = 0;
}

static void on_xadd(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  op_t *op = ud;
  yolk_sio_redis_streams_t *bus = op->sa ? op->sa->bus : NULL;
  if (reply && is_str(reply) && reply->len < sizeof(op->offset)) {
    memcpy(op->offset, reply->str, reply->len);
    op->offset[reply->len] = '\0';
    if (bus) bus->xadd_failing = 0;
  } else if (reply && reply->type == REDIS_REPLY_ERROR) {
    if (bus && !bus->xadd_failing) YOLK_LOG_WARN_(LOG_COMPONENT, "XADD failed: %s", reply->str);
    if (bus) bus->xadd_failing = 1;
  } else if (err) {
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "XADD failed: %s", err);
  }
  op->waiting = 0;
  if (!op->sa) {
    op_free(op);
    return;
  }
  ops_drain(op->sa);
}

/* A new operation at the end of the queue. */
static op_t *op_new(streams_adapter_t *sa, int kind, const yolk_sio_target_t *to) {
  op_t *op = yolk__calloc(1, sizeof(*op));
  op->sa = sa;
  op->kind = kind;
  yolk__ra_target_copy(&op->to, to);
  yolk__sb_init(&op->rooms.names);
  yolk__list_push_back(&sa->ops, &op->node);
  return op;
}

/* XADD of the message type with data (its JSON text, or the base64 of its
 * MessagePack), then op is applied in turn; when the XADD cannot be sent,
 * at once in turn. */
static void op_publish(streams_adapter_t *sa, op_t *op, int type, const char *data, size_t len) {
  yolk_sio_redis_streams_t *bus = sa->bus;
  char type_s[8];
  snprintf(type_s, sizeof(type_s), "%d", type);
  const char *name = nsp_name(sa);
  const char *argv[14] = {"XADD", bus->stream, "MAXLEN", "~", bus->max_len, "*", "uid", bus->uid,
                          "nsp",  name,        "type",   type_s, "data", data};
  size_t lens[14];
  for (int i = 0; i < 13; i++) lens[i] = strlen(argv[i]);
  lens[13] = len;
  const char *err;
  op->waiting = 1;
  if (yolk__redis_command(bus->pub, 14, argv, lens, on_xadd, op, &err) != 0) {
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "not added to the stream: %s", err);
    op->waiting = 0;
  }
  ops_drain(sa);
}

/* ---- the adapter: broadcasts and the other stored operations ------------------------------- */

static void sa_broadcast(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to) {
  streams_adapter_t *sa = sadapter(a);
  if ((to->flags & YOLK_SIO_LOCAL) && yolk__list_empty(&sa->ops)) {
    /* nothing before it: no need to queue (nor to copy) */
    local_of(sa)->vt->broadcast(local_of(sa), pkt, to);
    return;
  }
  op_t *op = op_new(sa, OP_BROADCAST, to);
  op->pkt = *pkt;
  yolk_eio_msg_t **msgs = yolk__malloc(pkt->nmsgs * sizeof(*msgs));
  for (size_t i = 0; i < pkt->nmsgs; i++) msgs[i] = yolk_eio_msg_ref(pkt->msgs[i]);
  op->pkt.msgs = msgs;
  memset(&op->pkt.data, 0, sizeof(op->pkt.data));
  if (to->flags & YOLK_SIO_LOCAL) {
    ops_drain(sa);
    return;
  }
  op->storable = yolk_sio_packet_storable(a->nsp, pkt, to);
  if (op->storable) {
    /* the arguments, for the offset to be appended once it is known */
    op->json = yolk__strndup(pkt->data.json, pkt->data.len);
    op->pkt.data.json = op->json;
    op->pkt.data.len = pkt->data.len;
    if (pkt->data.nbins) {
      op->bins = yolk__malloc(pkt->data.nbins * sizeof(*op->bins));
      for (size_t i = 0; i < pkt->data.nbins; i++) {
        void *copy = yolk__malloc(pkt->data.bins[i].len ? pkt->data.bins[i].len : 1);
        memcpy(copy, pkt->data.bins[i].data, pkt->data.bins[i].len);
        op->bins[i].data = copy;
        op->bins[i].len = pkt->data.bins[i].len;
      }
      op->pkt.data.bins = op->bins;
      op->pkt.data.nbins = pkt->data.nbins;
    }
  }
  /* data: {packet: {type: 2, data: [...]}, opts: {rooms, except, flags}} */
  yolk_ra_scratch_t *sc = &sa->bus->scratch;
  if (pkt->data.nbins == 0) {
    yolk_sb_t *sb = &sc->sb;
    sb->len = 0;
    yolk__sb_puts(sb, "{\"packet\":{\"type\":2,\"data\":");
    yolk__sb_append(sb, pkt->data.json, pkt->data.len);
    yolk__sb_puts(sb, "},\"opts\":");
    yolk__ra_json_opts(sb, to);
    yolk__sb_putc(sb, '}');
    op_publish(sa, op, MSG_BROADCAST, sb->data, sb->len);
    return;
  }
  msgpack_sbuffer_clear(&sc->out);
  msgpack_pack_map(&sc->pk, 2);
  yolk__ra_pack_str(&sc->pk, "packet");
  if (yolk__ra_pack_packet(&sc->pk, pkt, NULL) != 0) {
    ops_drain(sa); /* not valid JSON: this node only */
    return;
  }
  yolk__ra_pack_str(&sc->pk, "opts");
  yolk__ra_pack_opts(&sc->pk, to, 0);
  yolk_sb_t b64;
  yolk__sb_init(&b64);
  yolk__eio_b64_encode(&b64, sc->out.data, sc->out.size);
  op_publish(sa, op, MSG_BROADCAST, b64.data, b64.len);
  yolk__sb_free(&b64);
}

/* The data of a socketsJoin/Leave or disconnectSockets op: {"opts":...,
 * started in the scratch's sb for the caller to finish; NULL when to is
 * LOCAL (op is then applied in turn, on this node only). */
static yolk_sb_t *op_data(streams_adapter_t *sa, const yolk_sio_target_t *to) {
  if (to->flags & YOLK_SIO_LOCAL) {
    ops_drain(sa);
    return NULL;
  }
  yolk_sb_t *sb = &sa->bus->scratch.sb;
  sb->len = 0;
  yolk__sb_puts(sb, "{\"opts\":");
  yolk__ra_json_opts(sb, to);
  return sb;
}

/* socketsJoin / socketsLeave: data {opts, rooms} */
static void rooms_op(streams_adapter_t *sa, int kind, const yolk_sio_target_t *to, const char *const *rooms,
                     size_t n) {
  op_t *op = op_new(sa, kind, to);
  yolk_sio_target_t list = {rooms, n, NULL, 0, 0};
  yolk__ra_target_free(&op->rooms);
  yolk__ra_target_copy(&op->rooms, &list);
  yolk_sb_t *sb = op_data(sa, to);
  if (!sb) return;
  yolk__sb_puts(sb, ",\"rooms\":");
  yolk__ra_json_strs(sb, rooms, n);
  yolk__sb_putc(sb, '}');
  op_publish(sa, op, kind == OP_JOIN ? MSG_SOCKETS_JOIN : MSG_SOCKETS_LEAVE, sb->data, sb->len);
}

static void sa_add_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  rooms_op(sadapter(a), OP_JOIN, to, rooms, n);
}

static void sa_del_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  rooms_op(sadapter(a), OP_LEAVE, to, rooms, n);
}

/* disconnectSockets: data {opts, close} */
static void sa_disconnect_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, int close) {
  streams_adapter_t *sa = sadapter(a);
  op_t *op = op_new(sa, OP_DISCONNECT, to);
  op->close = close;
  yolk_sb_t *sb = op_data(sa, to);
  if (!sb) return;
  yolk__sb_printf(sb, ",\"close\":%s}", close ? "true" : "false");
  op_publish(sa, op, MSG_DISCONNECT_SOCKETS, sb->data, sb->len);
}

/* ---- requests of this node ------------------------------------------------------------------ */

static void request_timeout(yolk_ra_request_t *q) {
  if (q->type == MSG_FETCH_SOCKETS || q->type == REQ_ALL_ROOMS) {
    /* ClusterAdapter's text */
    char err[96];
    snprintf(err, sizeof(err), "timeout reached: only %zu responses received out of %zu", q->got, q->expected);
    YOLK_LOG_WARN_(LOG_COMPONENT, "%s: %s", q->type == MSG_FETCH_SOCKETS ? "fetchSockets" : "allRooms", err);
    yolk__ra_request_finish(q, err);
  } else {
    yolk__ra_request_free(q); /* the gather has its own timer and result */
  }
}

/* The number of nodes is known (0: Redis could not say; then requests fail
 * at once): fetchSockets, allRooms and server-side emits with acks ask the
 * others on the public channel. */
static void request_counted(yolk_ra_request_t *q, size_t nodes) {
  yolk__ra_request_ask(q, nodes, sadapter(q->owner)->bus->requests_timeout, NOT_REACHABLE, request_timeout);
}

static void sa_broadcast_with_ack(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to,
                                  yolk_sio_gather_t *g) {
  streams_adapter_t *sa = sadapter(a);
  yolk_sio_redis_streams_t *bus = sa->bus;
  yolk_ra_request_t *q = yolk__ra_broadcast_with_ack_start(&bus->requests, a, MSG_BROADCAST, pkt, to, g);
  if (!q) return;
  /* {packet, requestId, opts: {rooms, except, flags: {timeout}}} */
  msgpack_packer *pk = pack_message(sa, MSG_BROADCAST, 3);
  yolk__ra_pack_str(pk, "packet");
  if (yolk__ra_pack_packet(pk, pkt, NULL) != 0) {
    yolk_sio_gather_sources(g, 1);
    yolk__ra_request_free(q);
    return;
  }
  yolk__ra_pack_str(pk, "requestId");
  yolk__ra_pack_str(pk, q->id);
  yolk__ra_pack_str(pk, "opts");
  unsigned timeout = yolk__ra_broadcast_with_ack_timeout(q, bus->requests_timeout);
  yolk__ra_pack_opts(pk, to, timeout);
  publish(bus, sa->public_channel, bus->scratch.out.data, bus->scratch.out.size);
  yolk__ra_broadcast_with_ack_sent(q, timeout, bus->pub, sa->public_channel);
}

/* FETCH_SOCKETS {opts, requestId} as q's payload */
static void fetch_payload(streams_adapter_t *sa, yolk_ra_request_t *q, const yolk_sio_target_t *to) {
  msgpack_packer *pk = pack_message(sa, MSG_FETCH_SOCKETS, 2);
  yolk__ra_pack_str(pk, "opts");
  yolk__ra_pack_opts(pk, to, 0);
  yolk__ra_pack_str(pk, "requestId");
  yolk__ra_pack_str(pk, q->id);
  yolk__ra_request_set_payload(q, sa->bus->scratch.out.data, sa->bus->scratch.out.size);
}

static void sa_fetch_sockets(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud) {
  streams_adapter_t *sa = sadapter(a);
  if (to->flags & YOLK_SIO_LOCAL) {
    local_of(sa)->vt->fetch_sockets(local_of(sa), to, cb, ud);
    return;
  }
  yolk_ra_request_t *q = yolk__ra_request_new(&sa->bus->requests, MSG_FETCH_SOCKETS, a);
  q->fetch_cb = cb;
  q->ud = ud;
  fetch_payload(sa, q, to);
  yolk__ra_request_local_then_count(q, local_of(sa), to, sa->bus->pub, sa->public_channel, request_counted);
}

static void sa_all_rooms(yolk_sio_adapter_t *a, yolk_sio_rooms_cb cb, void *ud) {
  streams_adapter_t *sa = sadapter(a);
  yolk_ra_request_t *q = yolk__ra_request_new(&sa->bus->requests, REQ_ALL_ROOMS, a);
  q->rooms_cb = cb;
  q->ud = ud;
  yolk_sio_target_t everyone = {NULL, 0, NULL, 0, 0};
  fetch_payload(sa, q, &everyone);
  yolk__ra_request_local_then_count(q, local_of(sa), &everyone, sa->bus->pub, sa->public_channel, request_counted);
}

/* ---- server-side emits ---------------------------------------------------------------------- */

static int sa_server_side_emit(yolk_sio_adapter_t *a, const yolk_sio_args_t *args, yolk_sio_gather_t *g) {
  streams_adapter_t *sa = sadapter(a);
  yolk_ra_request_t *q = g ? yolk__ra_request_new(&sa->bus->requests, MSG_SERVER_SIDE_EMIT, a) : NULL;
  /* {requestId?, packet: [ev, ...]} */
  msgpack_packer *pk = pack_message(sa, MSG_SERVER_SIDE_EMIT, q ? 2 : 1);
  if (q) {
    q->g = yolk_sio_gather_ref(g);
    yolk__ra_pack_str(pk, "requestId");
    yolk__ra_pack_str(pk, q->id);
  }
  yolk__ra_pack_str(pk, "packet");
  if (yolk__json_to_msgpack(pk, args->json, args->len, args->bins, args->nbins) != 0) {
    if (q) yolk__ra_request_free(q);
    return -1;
  }
  yolk_ra_scratch_t *sc = &sa->bus->scratch;
  if (!q) {
    publish(sa->bus, sa->public_channel, sc->out.data, sc->out.size);
    return 0;
  }
  yolk__ra_request_set_payload(q, sc->out.data, sc->out.size);
  yolk__ra_request_count_nodes(q, sa->bus->pub, sa->public_channel, request_counted);
  return 0;
}

/* reply_to is "<requester uid>#<request id>"; the answer is the first argument. */
static void sa_server_side_reply(yolk_sio_adapter_t *a, const char *reply_to, const yolk_sio_args_t *args) {
  streams_adapter_t *sa = sadapter(a);
  const char *hash = strchr(reply_to, '#');
  if (!hash) return;
  char *uid = yolk__strndup(reply_to, (size_t)(hash - reply_to));
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  const msgpack_object *first = yolk__ra_first_arg(&sa->bus->scratch, args, &u);
  respond(sa, uid, MSG_SERVER_SIDE_EMIT_RESPONSE, hash + 1, "packet", first, NULL, 0);
  msgpack_unpacked_destroy(&u);
  free(uid);
}

/* ---- messages from other nodes ------------------------------------------------------------- */

/* One answer of this node's sockets to another node's broadcast with acks,
 * to the asking node r->to. */
static void send_remote_ack(yolk_ra_remote_ack_t *r, const msgpack_object *answer) {
  streams_adapter_t *sa = yolk__smap_get(&((yolk_sio_redis_streams_t *)r->bus)->nsps, r->nsp);
  if (sa) respond(sa, r->to, MSG_BROADCAST_ACK, r->request_id, "packet", answer, NULL, 0);
}

/* A broadcast with acks from the node uid. */
static void on_broadcast_with_ack(streams_adapter_t *sa, const char *uid, const char *request_id,
                                  const msgpack_object *data, const yolk_ra_target_t *mt) {
  yolk_sio_redis_streams_t *bus = sa->bus;
  yolk_ra_remote_ack_t *r = yolk__ra_remote_ack_new(bus, &bus->scratch, uid, nsp_name(sa), request_id, send_remote_ack);
  /* the requester stops listening after its timeout: so do we */
  unsigned timeout = mt->timeout_ms ? mt->timeout_ms : bus->requests_timeout;
  long n = yolk__ra_deliver_with_ack(local_of(sa), sa->head.base.nsp,
                                     yolk__msgpack_get(yolk__msgpack_get(data, "packet"), "data"), &mt->t, timeout, r);
  if (n < 0) return; /* logged */
  msgpack_object count;
  count.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
  count.via.u64 = (uint64_t)n;
  respond(sa, uid, MSG_BROADCAST_CLIENT_COUNT, request_id, "clientCount", &count, NULL, 0);
}

/* An answer to one of this node's requests (others': ignored). */
static void on_response(streams_adapter_t *sa, int type, const msgpack_object *data) {
  yolk_sb_t idsb;
  yolk__sb_init(&idsb);
  yolk_ra_request_t *q =
      yolk__ra_request_find(&sa->bus->requests, yolk__ra_field_str(data, "requestId", &idsb), &sa->head.base);
  yolk__sb_free(&idsb);
  if (!q) return;
  switch (type) {
  case MSG_BROADCAST_CLIENT_COUNT:
    if (q->type == MSG_BROADCAST) yolk__ra_broadcast_ack_answer(q, yolk__ra_field_count(data, "clientCount", 0), NULL);
    break;
  case MSG_BROADCAST_ACK:
    if (q->type == MSG_BROADCAST) yolk__ra_broadcast_ack_answer(q, -1, yolk__msgpack_get(data, "packet"));
    break;
  case MSG_SERVER_SIDE_EMIT_RESPONSE:
    if (q->type != MSG_SERVER_SIDE_EMIT) break;
    yolk__ra_gather_answer(q->g, yolk__msgpack_get(data, "packet"));
    yolk__ra_request_answered(q);
    break;
  case MSG_FETCH_SOCKETS_RESPONSE:
    if (q->type != MSG_FETCH_SOCKETS && q->type != REQ_ALL_ROOMS) break;
    yolk__ra_request_add_sockets(q, yolk__msgpack_get(data, "sockets"));
    yolk__ra_request_answered(q);
    break;
  }
}

/* A message of the node uid (not this one) for sa's namespace: ClusterAdapter's
 * onMessage. offset: the entry id of a message read from the stream. */
static void on_cluster_message(streams_adapter_t *sa, const char *uid, int type, const msgpack_object *data,
                               const char *offset) {
  yolk_sio_adapter_t *l = local_of(sa);
  yolk_sio_nsp_t *nsp = sa->head.base.nsp;
  if (type >= MSG_FETCH_SOCKETS_RESPONSE && type != MSG_SERVER_SIDE_EMIT) {
    on_response(sa, type, data);
    return;
  }
  const msgpack_object *opts = yolk__msgpack_get(data, "opts");
  if (type >= MSG_BROADCAST && type <= MSG_FETCH_SOCKETS && (!opts || opts->type != MSGPACK_OBJECT_MAP)) {
    /* no target: not "every socket" (ClusterAdapter fails on it too) */
    YOLK_LOG_WARN_(LOG_COMPONENT, "a message of type %d without opts from %s was ignored", type, uid);
    return;
  }
  yolk_sb_t idsb;
  yolk__sb_init(&idsb);
  const char *request_id = yolk__ra_field_str(data, "requestId", &idsb);
  yolk_ra_target_t mt;
  yolk__ra_target_read(&mt, opts);
  switch (type) {
  case MSG_BROADCAST:
    if (request_id) on_broadcast_with_ack(sa, uid, request_id, data, &mt);
    else yolk__ra_deliver(l, nsp, yolk__msgpack_get(yolk__msgpack_get(data, "packet"), "data"), &mt.t, offset);
    break;
  case MSG_SOCKETS_JOIN:
  case MSG_SOCKETS_LEAVE: {
    yolk_ra_target_t rooms;
    yolk__ra_target_from(&rooms, yolk__msgpack_get(data, "rooms"), NULL, NULL);
    if (type == MSG_SOCKETS_JOIN) l->vt->add_sockets(l, &mt.t, rooms.t.rooms, rooms.t.nrooms);
    else l->vt->del_sockets(l, &mt.t, rooms.t.rooms, rooms.t.nrooms);
    yolk__ra_target_free(&rooms);
    break;
  }
  case MSG_DISCONNECT_SOCKETS: l->vt->disconnect_sockets(l, &mt.t, yolk__ra_field_true(data, "close")); break;
  case MSG_FETCH_SOCKETS:
    if (request_id) {
      yolk_sb_t list;
      yolk__sb_init(&list);
      yolk__ra_describe_sockets(l, &mt.t, &list);
      respond(sa, uid, MSG_FETCH_SOCKETS_RESPONSE, request_id, "sockets", NULL, list.data, list.len);
      yolk__sb_free(&list);
    }
    break;
  case MSG_SERVER_SIDE_EMIT: {
    /* the reply goes to the requester: "<uid>#<request id>" */
    yolk_sb_t reply_to;
    yolk__sb_init(&reply_to);
    if (request_id && !strchr(uid, '#')) yolk__sb_printf(&reply_to, "%s#%s", uid, request_id);
    yolk__ra_server_event(nsp, yolk__msgpack_get(data, "packet"), reply_to.data);
    yolk__sb_free(&reply_to);
    break;
  }
  default: YOLK_LOG_DEBUG_(LOG_COMPONENT, "a message of unknown type %d from %s was ignored", type, uid);
  }
  yolk__ra_target_free(&mt);
  yolk__sb_free(&idsb);
}

/* A message on a public or private channel: MessagePack {uid, nsp, type, data}. */
static void on_message(yolk_redis_t *r, const char *pattern, size_t plen, const char *channel, size_t clen,
                       const char *data, size_t len, void *ud) {
  (void)r;
  (void)pattern;
  (void)plen;
  yolk_sio_redis_streams_t *bus = ud;
  streams_adapter_t *sa = yolk__ra_lookup(&bus->channels, channel, clen);
  if (!sa) return;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  yolk_sb_t uidsb;
  yolk__sb_init(&uidsb);
  const msgpack_object *o = &u.data;
  const char *uid = NULL;
  int type = -1;
  if (yolk__ra_read(&bus->scratch, data, len, &u) == 0 && o->type == MSGPACK_OBJECT_MAP) {
    uid = yolk__ra_field_str(o, "uid", &uidsb);
    type = (int)yolk__ra_field_count(o, "type", -1);
  }
  if (!uid || type < 0)
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed message on %.*s was ignored", (int)clen, channel);
  else if (strcmp(uid, bus->uid) != 0 && yolk__ra_field_is(o, "nsp", nsp_name(sa)))
    on_cluster_message(sa, uid, type, yolk__msgpack_get(o, "data"), NULL);
  yolk__sb_free(&uidsb);
  msgpack_unpacked_destroy(&u);
}

/* An entry of the stream, read by the loop. */
static void on_entry(yolk_sio_redis_streams_t *bus, const redisReply *e) {
  entry_id_t id;
  entry_fields_t f;
  if (entry_read(e, &id, &f) != 0) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed entry of %s was ignored", bus->stream);
    return;
  }
  bus->last = id;
  streams_adapter_t *sa = adapter_of(bus, f.nsp);
  if (!sa) return; /* another namespace, not here */
  if (!is_str(f.uid) || memchr(f.uid->str, '\0', f.uid->len)) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "an entry without uid in %s was ignored", bus->stream);
    return;
  }
  if (f.uid->len == UID_LEN && memcmp(f.uid->str, bus->uid, UID_LEN) == 0) return; /* our own: applied already */
  int type = entry_type(f.type);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  yolk_sb_t raw;
  yolk__sb_init(&raw);
  if (type < 0 || (f.data && entry_data(bus, f.data, &raw, &u) != 0)) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed entry %s of %s was ignored", e->element[0]->str, bus->stream);
  } else {
    char *uid = yolk__strndup(f.uid->str, f.uid->len);
    on_cluster_message(sa, uid, type, f.data ? &u.data : NULL, e->element[0]->str);
    free(uid);
  }
  yolk__sb_free(&raw);
  msgpack_unpacked_destroy(&u);
}

/* ---- the reading loop ---------------------------------------------------------------------- */

static void read_next(yolk_sio_redis_streams_t *bus);

static void on_read_retry(uv_timer_t *t) { read_next(t->data); }

/* After a failure: again when the connection is ready (now, after a pause). */
static void read_later(yolk_sio_redis_streams_t *bus) {
  if (!bus->closing && yolk__redis_ready(bus->reader)) uv_timer_start(bus->retry, on_read_retry, READ_RETRY_MS, 0);
}

static void read_failed(yolk_sio_redis_streams_t *bus, const redisReply *reply, const char *err) {
  if (reply) { /* an error reply: logged once, until reading works again */
    if (!bus->failing)
      YOLK_LOG_WARN_(LOG_COMPONENT, "cannot read the stream %s: %s (retrying every %d ms)", bus->stream,
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply", READ_RETRY_MS);
    bus->failing = 1;
  } else {
    /* the connection went: redis.c logs that once; reading resumes with it */
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "reading %s stopped: %s", bus->stream, err);
  }
  read_later(bus);
}

static void on_read(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  yolk_sio_redis_streams_t *bus = ud;
  bus->reading = 0;
  if (bus->closing) return;
  if (!reply) {
    read_failed(bus, NULL, err);
    return;
  }
  if (reply->type == REDIS_REPLY_NIL) { /* BLOCK ran out: nothing new */
    read_next(bus);
    return;
  }
  /* [[stream, [[id, [field, value, ...]], ...]]] */
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_ARRAY ||
      reply->element[0]->elements != 2 || reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
    read_failed(bus, reply, NULL);
    return;
  }
  if (bus->failing) YOLK_LOG_INFO_(LOG_COMPONENT, "reading the stream %s again", bus->stream);
  bus->failing = 0;
  const redisReply *entries = reply->element[0]->element[1];
  for (size_t i = 0; i < entries->elements && !bus->closing; i++) on_entry(bus, entries->element[i]);
  read_next(bus);
}

/* The stream's last entry (none: 0-0): where reading starts. */
static void on_last_entry(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  yolk_sio_redis_streams_t *bus = ud;
  bus->reading = 0;
  if (bus->closing) return;
  if (!reply || reply->type != REDIS_REPLY_ARRAY) {
    read_failed(bus, reply, err);
    return;
  }
  entry_id_t id = {0, 0};
  entry_fields_t f;
  if (reply->elements > 0 && entry_read(reply->element[0], &id, &f) != 0) {
    read_failed(bus, reply, NULL);
    return;
  }
  bus->last = id;
  bus->started = 1;
  read_next(bus);
}

static void read_next(yolk_sio_redis_streams_t *bus) {
  if (bus->closing || bus->reading) return;
  const char *err;
  int rc;
  if (!bus->started) {
    const char *argv[6] = {"XREVRANGE", bus->stream, "+", "-", "COUNT", "1"};
    size_t lens[6];
    for (int i = 0; i < 6; i++) lens[i] = strlen(argv[i]);
    rc = yolk__redis_command(bus->reader, 6, argv, lens, on_last_entry, bus, &err);
  } else {
    char from[48];
    id_format(bus->last, from, sizeof(from));
    const char *argv[8] = {"XREAD", "BLOCK", bus->block_ms, "COUNT", bus->read_count, "STREAMS", bus->stream, from};
    size_t lens[8];
    for (int i = 0; i < 8; i++) lens[i] = strlen(argv[i]);
    rc = yolk__redis_command(bus->reader, 8, argv, lens, on_read, bus, &err);
  }
  if (rc == 0) {
    bus->reading = 1;
    return;
  }
  /* down: reading resumes when the connection is back (on_reader_state) */
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "cannot read %s: %s", bus->stream, err);
  read_later(bus);
}

static void on_reader_state(yolk_redis_t *r, int ready, const char *err, void *ud) {
  (void)r;
  (void)err;
  if (ready) read_next(ud);
}

/* ---- connection state recovery -------------------------------------------------------------- */

static void on_session_set(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  (void)ud;
  if (err) YOLK_LOG_DEBUG_(LOG_COMPONENT, "session not kept: %s", err);
  else if (reply && reply->type == REDIS_REPLY_ERROR) YOLK_LOG_WARN_(LOG_COMPONENT, "session not kept: %s", reply->str);
}

/* SET <prefix><pid> base64(MessagePack {sid, pid, rooms, data}) PX <recovery ms> */
static void sa_persist_session(yolk_sio_adapter_t *a, const yolk_sio_session_t *s) {
  streams_adapter_t *sa = sadapter(a);
  yolk_sio_redis_streams_t *bus = sa->bus;
  yolk_ra_scratch_t *sc = &bus->scratch;
  msgpack_sbuffer_clear(&sc->out);
  msgpack_pack_map(&sc->pk, 4);
  yolk__ra_pack_str(&sc->pk, "sid");
  yolk__ra_pack_str(&sc->pk, s->sid);
  yolk__ra_pack_str(&sc->pk, "pid");
  yolk__ra_pack_str(&sc->pk, s->pid);
  yolk__ra_pack_str(&sc->pk, "rooms");
  yolk__ra_pack_strs(&sc->pk, s->rooms, s->nrooms);
  yolk__ra_pack_str(&sc->pk, "data");
  if (yolk__json_to_msgpack(&sc->pk, s->data, s->data_len, NULL, 0) != 0) msgpack_pack_nil(&sc->pk);
  yolk_sb_t b64, key;
  yolk__sb_init(&b64);
  yolk__sb_init(&key);
  yolk__eio_b64_encode(&b64, sc->out.data, sc->out.size);
  yolk__sb_printf(&key, "%s%s", bus->session_prefix, s->pid);
  char px[24];
  snprintf(px, sizeof(px), "%u", yolk_sio_recovery_ms(a->nsp));
  const char *argv[5] = {"SET", key.data, b64.data, "PX", px};
  size_t lens[5] = {3, key.len, b64.len, 2, strlen(px)};
  const char *err;
  if (yolk__redis_command(bus->pub, 5, argv, lens, on_session_set, NULL, &err) != 0)
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "session of %s not kept: %s", s->sid, err);
  yolk__sb_free(&b64);
  yolk__sb_free(&key);
}

/* A packet the restored socket missed. */
typedef struct {
  yolk_sio_packet_t pkt;
  entry_id_t id;
  int own; /* this node's: delivered here when its XADD answered */
} missed_t;

typedef struct {
  yolk_list_t node;      /* in sa->restores */
  streams_adapter_t *sa; /* NULL: cut loose, freed by the last reply */
  yolk_sio_restored_cb cb;
  void *ud;
  int in_flight;         /* replies Redis still owes */
  int failed;
  char *key;             /* <session prefix><pid> */
  char offset[48];
  entry_id_t last;       /* the last entry looked at */
  unsigned calls;
  yolk_sb_t raw;         /* the session as stored (base64) */
  int has_session, offset_found;
  /* the session, decoded */
  yolk_sio_session_t session;
  yolk_ra_target_t rooms; /* the session's rooms (as rooms.t.rooms) */
  yolk_sb_t strings;      /* sid, pid, data (NUL-separated) */
  missed_t *missed;
  size_t nmissed, cap;
} restore_t;

static void restore_free(restore_t *rs) {
  for (size_t i = 0; i < rs->nmissed; i++) yolk_sio_packet_release(&rs->missed[i].pkt);
  free(rs->missed);
  yolk__ra_target_free(&rs->rooms);
  yolk__sb_free(&rs->strings);
  yolk__sb_free(&rs->raw);
  free(rs->key);
  free(rs);
}

/* The result (session NULL: none), once; the record goes when Redis owes
 * it nothing more. */
static void restore_end(restore_t *rs, const yolk_sio_session_t *session, const char *why) {
  if (why) YOLK_LOG_DEBUG_(LOG_COMPONENT, "session not restored: %s", why);
  if (rs->cb) {
    yolk__list_remove(&rs->node);
    yolk_sio_restored_cb cb = rs->cb;
    rs->cb = NULL;
    rs->sa = NULL;
    if (!session) {
      cb(rs->ud, NULL, NULL, 0);
    } else {
      /* the packets are handed over as an array of packets */
      yolk_sio_packet_t *pkts = rs->nmissed ? yolk__malloc(rs->nmissed * sizeof(*pkts)) : NULL;
      for (size_t i = 0; i < rs->nmissed; i++) pkts[i] = rs->missed[i].pkt;
      cb(rs->ud, session, pkts, rs->nmissed);
      free(pkts);
    }
  }
  if (rs->in_flight == 0) restore_free(rs);
}

/* A restore that could not start ends from the loop (counted in flight
 * until then). */
static void restore_fail_later(void *arg) {
  restore_t *rs = arg;
  rs->in_flight--;
  restore_end(rs, NULL, "no offset, or Redis is not reachable");
}

static void restore_fail(restore_t *rs) {
  rs->in_flight++;
  yolk_sio_defer(yolk_sio_nsp_server(rs->sa->head.base.nsp), restore_fail_later, rs);
}

/* Decodes the stored session: 0, or -1. */
static int session_decode(restore_t *rs) {
  yolk_sb_t bytes;
  yolk__sb_init(&bytes);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = -1;
  size_t off = 0;
  if (yolk__eio_b64_decode(&bytes, rs->raw.data, rs->raw.len) != 0 || bytes.len == 0 ||
      msgpack_unpack_next(&u, bytes.data, bytes.len, &off) != MSGPACK_UNPACK_SUCCESS ||
      u.data.type != MSGPACK_OBJECT_MAP)
    goto out;
  yolk_sb_t sid, pid;
  yolk__sb_init(&sid);
  yolk__sb_init(&pid);
  if (yolk__ra_field_str(&u.data, "sid", &sid) && yolk__ra_field_str(&u.data, "pid", &pid)) {
    yolk__ra_target_from(&rs->rooms, yolk__msgpack_get(&u.data, "rooms"), NULL, NULL);
    /* sid \0 pid \0 data */
    yolk__sb_append(&rs->strings, sid.data, sid.len + 1);
    yolk__sb_append(&rs->strings, pid.data, pid.len + 1);
    size_t data_at = rs->strings.len;
    const msgpack_object *data = yolk__msgpack_get(&u.data, "data");
    if (data) yolk__msgpack_to_json(&rs->strings, data, NULL);
    else yolk__sb_puts(&rs->strings, "null");
    rs->session.sid = rs->strings.data;
    rs->session.pid = rs->strings.data + sid.len + 1;
    rs->session.rooms = rs->rooms.t.rooms;
    rs->session.nrooms = rs->rooms.t.nrooms;
    rs->session.data = rs->strings.data + data_at;
    rs->session.data_len = rs->strings.len - data_at;
    rc = 0;
  }
  yolk__sb_free(&sid);
  yolk__sb_free(&pid);
out:
  msgpack_unpacked_destroy(&u);
  yolk__sb_free(&bytes);
  return rc;
}

/* An entry the session may have missed: a broadcast of this namespace,
 * without acks, not volatile, to the session's rooms. */
static void restore_entry(restore_t *rs, const redisReply *e, entry_id_t id, const entry_fields_t *f) {
  streams_adapter_t *sa = rs->sa;
  yolk_sio_redis_streams_t *bus = sa->bus;
  if (entry_type(f->type) != MSG_BROADCAST || !is_str(f->nsp) || !reply_is(f->nsp, nsp_name(sa))) return;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  yolk_sb_t raw;
  yolk__sb_init(&raw);
  const msgpack_object *opts = NULL;
  if (entry_data(bus, f->data, &raw, &u) == 0) opts = yolk__msgpack_get(&u.data, "opts");
  if (opts && opts->type == MSGPACK_OBJECT_MAP && !yolk__msgpack_get(&u.data, "requestId")) {
    yolk_ra_target_t mt;
    yolk__ra_target_read(&mt, opts);
    const msgpack_object *d = yolk__msgpack_get(yolk__msgpack_get(&u.data, "packet"), "data");
    yolk_ra_event_args_t ea;
    if (!(mt.t.flags & YOLK_SIO_VOLATILE) && yolk_sio_target_includes(&mt.t, rs->session.rooms, rs->session.nrooms) &&
        yolk__ra_event_args_read(&ea, d, "stored broadcast") == 0) {
      yolk_sio_packet_t src = {YOLK_SIO_PKT_EVENT, nsp_name(sa), -1, ea.args, NULL, 0};
      if (rs->nmissed == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->missed = yolk__realloc(rs->missed, rs->cap * sizeof(*rs->missed));
      }
      missed_t *m = &rs->missed[rs->nmissed++];
      yolk_sio_packet_with_offset(&m->pkt, &src, e->element[0]->str);
      memset(&m->pkt.data, 0, sizeof(m->pkt.data)); /* json goes now; the messages stay */
      m->id = id;
      m->own = is_str(f->uid) && f->uid->len == UID_LEN && memcmp(f->uid->str, bus->uid, UID_LEN) == 0;
      yolk__ra_event_args_free(&ea);
    }
    yolk__ra_target_free(&mt);
  }
  yolk__sb_free(&raw);
  msgpack_unpacked_destroy(&u);
}

static void on_restore_range(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud);

/* XRANGE <stream> <after last> + COUNT n; 0, or -1 when it cannot be sent. */
static int restore_range(restore_t *rs) {
  yolk_sio_redis_streams_t *bus = rs->sa->bus;
  char from[48], count[16];
  id_next(rs->last, from, sizeof(from));
  snprintf(count, sizeof(count), "%d", RESTORE_COUNT);
  const char *argv[6] = {"XRANGE", bus->stream, from, "+", "COUNT", count};
  size_t lens[6];
  for (int i = 0; i < 6; i++) lens[i] = strlen(argv[i]);
  const char *err;
  if (yolk__redis_command(bus->pub, 6, argv, lens, on_restore_range, rs, &err) != 0) return -1;
  rs->in_flight++;
  rs->calls++;
  return 0;
}

/* What the reader delivered is read too: the session gets the rest of the
 * packets it missed (those the reader will deliver come to it live). */
static void restore_finish(restore_t *rs) {
  yolk_sio_redis_streams_t *bus = rs->sa->bus;
  size_t kept = 0;
  for (size_t i = 0; i < rs->nmissed; i++) {
    missed_t *m = &rs->missed[i];
    if (!m->own && bus->started && id_cmp(m->id, bus->last) > 0) yolk_sio_packet_release(&m->pkt);
    else rs->missed[kept++] = *m;
  }
  rs->nmissed = kept;
  restore_end(rs, &rs->session, NULL);
}

static void on_restore_range(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  restore_t *rs = ud;
  rs->in_flight--;
  if (!rs->sa) {
    restore_end(rs, NULL, NULL);
    return;
  }
  if (!reply || reply->type != REDIS_REPLY_ARRAY) {
    restore_end(rs, NULL, err ? err : reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    return;
  }
  for (size_t i = 0; i < reply->elements; i++) {
    entry_id_t id;
    entry_fields_t f;
    if (entry_read(reply->element[i], &id, &f) != 0) continue;
    restore_entry(rs, reply->element[i], id, &f);
    rs->last = id;
  }
  yolk_sio_redis_streams_t *bus = rs->sa->bus;
  /* more to read: a full page, or entries the reader delivered already (an
   * empty page ends it: the reader's last entry may have been deleted) */
  int more = reply->elements >= RESTORE_COUNT ||
             (reply->elements > 0 && bus->started && id_cmp(rs->last, bus->last) < 0);
  if (more && rs->calls < RESTORE_MAX_CALLS && restore_range(rs) == 0) return;
  if (more) YOLK_LOG_WARN_(LOG_COMPONENT, "session %s restored with the packets of %u reads of %s only",
                           rs->session.sid, rs->calls, bus->stream);
  restore_finish(rs);
}

/* The session (GETDEL) and the offset's entry (XRANGE offset offset) are in. */
static void restore_first_round(restore_t *rs) {
  const char *why = NULL;
  if (!rs->sa) why = "the server closed";
  else if (rs->failed) why = "Redis did not answer";
  else if (!rs->has_session) why = "no such session (expired, or restored already)";
  else if (!rs->offset_found) why = "the offset is not in the stream any more";
  else if (session_decode(rs) != 0) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a malformed session under %s was ignored", rs->key);
    why = "a malformed session";
  } else if (restore_range(rs) != 0) {
    why = "Redis is not reachable";
  }
  if (why) restore_end(rs, NULL, why);
}

static void on_session_taken(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  restore_t *rs = ud;
  rs->in_flight--;
  if (reply && is_str(reply)) {
    rs->has_session = 1;
    yolk__sb_append(&rs->raw, reply->str, reply->len);
  } else if (!reply || reply->type != REDIS_REPLY_NIL) {
    if (reply && reply->type == REDIS_REPLY_ERROR) YOLK_LOG_WARN_(LOG_COMPONENT, "GETDEL: %s", reply->str);
    rs->failed = 1;
    (void)err;
  }
  if (rs->in_flight == 0) restore_first_round(rs);
}

static void on_offset_entry(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  (void)err;
  restore_t *rs = ud;
  rs->in_flight--;
  if (reply && reply->type == REDIS_REPLY_ARRAY) rs->offset_found = reply->elements > 0;
  else rs->failed = 1;
  if (rs->in_flight == 0) restore_first_round(rs);
}

/* ClusterAdapter's offsets are entry ids: /^[0-9]+-[0-9]+$/ */
static void sa_restore_session(yolk_sio_adapter_t *a, const char *pid, const char *offset, yolk_sio_restored_cb cb,
                               void *ud) {
  streams_adapter_t *sa = sadapter(a);
  yolk_sio_redis_streams_t *bus = sa->bus;
  restore_t *rs = yolk__calloc(1, sizeof(*rs));
  rs->sa = sa;
  rs->cb = cb;
  rs->ud = ud;
  yolk__sb_init(&rs->raw);
  yolk__sb_init(&rs->strings);
  yolk__sb_init(&rs->rooms.names);
  yolk__list_push_back(&sa->restores, &rs->node);
  yolk_sb_t key;
  yolk__sb_init(&key);
  yolk__sb_printf(&key, "%s%s", bus->session_prefix, pid);
  rs->key = key.data;
  if (id_parse(offset, strlen(offset), &rs->last) != 0) {
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "session %s not restored: offset %s is not an entry id", pid, offset);
    restore_fail(rs);
    return;
  }
  id_format(rs->last, rs->offset, sizeof(rs->offset));
  const char *argv1[2] = {"GETDEL", rs->key};
  size_t lens1[2] = {6, key.len};
  const char *argv2[6] = {"XRANGE", bus->stream, rs->offset, rs->offset, "COUNT", "1"};
  size_t lens2[6];
  for (int i = 0; i < 6; i++) lens2[i] = strlen(argv2[i]);
  const char *err;
  if (yolk__redis_command(bus->pub, 2, argv1, lens1, on_session_taken, rs, &err) != 0) {
    restore_fail(rs);
    return;
  }
  rs->in_flight++;
  if (yolk__redis_command(bus->pub, 6, argv2, lens2, on_offset_entry, rs, &err) == 0) rs->in_flight++;
  else rs->failed = 1;
}

/* ---- adapters and the bus ---------------------------------------------------------------------- */

static void bus_maybe_free(yolk_sio_redis_streams_t *bus);

static void sa_destroy(yolk_sio_adapter_t *a) {
  streams_adapter_t *sa = sadapter(a);
  yolk_sio_redis_streams_t *bus = sa->bus;
  yolk__ra_requests_end(&bus->requests, a, "server closed");
  yolk_list_t *n;
  while ((n = yolk__list_first(&sa->ops))) {
    op_t *op = yolk__list_entry(n, op_t, node);
    yolk__list_remove(&op->node);
    if (op->waiting) op->sa = NULL; /* its XADD reply frees it */
    else op_free(op);
  }
  while ((n = yolk__list_first(&sa->restores))) restore_end(yolk__list_entry(n, restore_t, node), NULL, NULL);
  const char *channels[2] = {sa->public_channel, sa->private_channel};
  for (int i = 0; i < 2; i++) {
    yolk__redis_unsubscribe(bus->sub, 0, channels[i], strlen(channels[i]));
    yolk__smap_del(&bus->channels, channels[i]);
  }
  yolk__smap_del(&bus->nsps, nsp_name(sa));
  local_of(sa)->vt->destroy(local_of(sa));
  free(sa->public_channel);
  free(sa->private_channel);
  free(sa);
  bus->adapters--;
  bus_maybe_free(bus);
}

static const yolk_sio_adapter_vtable_t streams_vtable = {
    .name = "redis-streams",
    .destroy = sa_destroy,
    .add_all = yolk__ra_add_all,
    .del = yolk__ra_del,
    .del_all = yolk__ra_del_all,
    .socket_rooms = yolk__ra_socket_rooms,
    .broadcast = sa_broadcast,
    .fetch_sockets = sa_fetch_sockets,
    .add_sockets = sa_add_sockets,
    .del_sockets = sa_del_sockets,
    .disconnect_sockets = sa_disconnect_sockets,
    .broadcast_with_ack = sa_broadcast_with_ack,
    .server_side_emit = sa_server_side_emit,
    .server_side_reply = sa_server_side_reply,
    .all_rooms = sa_all_rooms,
    .persist_session = sa_persist_session,
    .restore_session = sa_restore_session,
};

yolk_sio_adapter_t *yolk_sio_redis_streams_adapter(yolk_sio_nsp_t *nsp, void *ud) {
  yolk_sio_redis_streams_t *bus = ud;
  streams_adapter_t *sa = yolk__calloc(1, sizeof(*sa));
  sa->head.base.vt = &streams_vtable;
  sa->head.base.nsp = nsp;
  sa->head.local = yolk_sio_memory_adapter_new_rooms_only(nsp);
  sa->bus = bus;
  yolk__list_init(&sa->ops);
  yolk__list_init(&sa->restores);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "%s#%s#", bus->prefix, yolk_sio_nsp_name(nsp));
  sa->public_channel = sb.data;
  sa->private_channel = private_channel(sa, bus->uid);
  yolk__smap_put(&bus->nsps, yolk_sio_nsp_name(nsp), sa);
  const char *channels[2] = {sa->public_channel, sa->private_channel};
  for (int i = 0; i < 2; i++) {
    yolk__smap_put(&bus->channels, channels[i], sa);
    yolk__redis_subscribe(bus->sub, 0, channels[i], strlen(channels[i]));
  }
  bus->adapters++;
  return &sa->head.base;
}

static char *option_str(const char *v, const char *def) {
  const char *s = v && *v ? v : def;
  return yolk__strndup(s, strlen(s));
}

yolk_sio_redis_streams_t *yolk_sio_redis_streams_new(uv_loop_t *loop, const yolk_sio_redis_options_t *o,
                                                     const char **err) {
  yolk_sio_redis_streams_t *bus = yolk__calloc(1, sizeof(*bus));
  yolk__ra_uid(bus->uid, UID_LEN);
  bus->pub = yolk__ra_connect(loop, o, "redis streams adapter (commands)", "yolk-streams-pub", 0, err);
  bus->sub = bus->pub ? yolk__ra_connect(loop, o, "redis streams adapter (subscriber)", "yolk-streams-sub", 1, err)
                      : NULL;
  bus->reader = bus->sub ? yolk__ra_connect(loop, o, "redis streams adapter (reader)", "yolk-streams-read", 0, err)
                         : NULL;
  if (!bus->reader) {
    if (bus->pub) yolk__redis_close(bus->pub);
    if (bus->sub) yolk__redis_close(bus->sub);
    free(bus);
    return NULL;
  }
  bus->stream = option_str(o->stream_name, "socket.io");
  bus->prefix = option_str(o->channel_prefix, "socket.io");
  bus->session_prefix = option_str(o->session_key_prefix, "sio:session:");
  snprintf(bus->max_len, sizeof(bus->max_len), "%u", o->max_len ? o->max_len : 10000);
  snprintf(bus->read_count, sizeof(bus->read_count), "%u", o->read_count ? o->read_count : 100);
  snprintf(bus->block_ms, sizeof(bus->block_ms), "%u", o->block_time_ms ? o->block_time_ms : 5000);
  bus->requests_timeout = o->requests_timeout_ms ? o->requests_timeout_ms : 5000;
  yolk__smap_init(&bus->nsps);
  yolk__smap_init(&bus->channels);
  yolk__ra_requests_init(&bus->requests, loop);
  yolk__ra_scratch_init(&bus->scratch);
  bus->retry = yolk__malloc(sizeof(*bus->retry));
  uv_timer_init(loop, bus->retry);
  bus->retry->data = bus;
  yolk__redis_on_message(bus->sub, on_message, bus);
  yolk__redis_on_state(bus->reader, on_reader_state, bus);
  YOLK_LOG_INFO_(LOG_COMPONENT, "node %s, stream %s, channels %s#<namespace>#", bus->uid, bus->stream, bus->prefix);
  return bus;
}

const char *yolk_sio_redis_streams_uid(const yolk_sio_redis_streams_t *bus) { return bus->uid; }

static void timer_closed(uv_handle_t *h) { free(h); }

/* The end: the command connection closes (replies still owed get their
 * error now), the memory goes. */
static void bus_finish(yolk_sio_redis_streams_t *bus) {
  if (bus->finished) return; /* the PING's callback, from inside the close below */
  bus->finished = 1;
  yolk__redis_close(bus->pub);
  uv_timer_stop(bus->retry);
  uv_close((uv_handle_t *)bus->retry, timer_closed);
  yolk__smap_free(&bus->nsps);
  yolk__smap_free(&bus->channels);
  yolk__ra_requests_free(&bus->requests);
  yolk__ra_scratch_free(&bus->scratch);
  free(bus->stream);
  free(bus->prefix);
  free(bus->session_prefix);
  free(bus);
}

static void on_final_ping(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  (void)reply;
  (void)err;
  bus_finish(ud);
}

static void on_drain_timeout(uv_timer_t *t) {
  YOLK_LOG_WARN_(LOG_COMPONENT, "Redis did not answer the last commands in time (sessions may not be kept)");
  bus_finish(t->data);
}

#define DRAIN_MS 2000

/* The server is gone. What the commands connection was sent last (the
 * sessions of the sockets the server closed, "server shutting down") must
 * still reach Redis: a PING goes after them, and the bus goes when it is
 * answered (replies come in order), or after DRAIN_MS. */
static void bus_maybe_free(yolk_sio_redis_streams_t *bus) {
  if (!bus->released || bus->adapters > 0 || bus->closing) return;
  bus->closing = 1;
  /* pending replies are called back (and find closing set) before these return */
  yolk__redis_close(bus->reader);
  yolk__redis_close(bus->sub);
  uv_timer_stop(bus->retry);
  const char *argv[1] = {"PING"};
  size_t lens[1] = {4};
  const char *err;
  if (yolk__redis_command(bus->pub, 1, argv, lens, on_final_ping, bus, &err) != 0) {
    bus_finish(bus);
    return;
  }
  uv_timer_start(bus->retry, on_drain_timeout, DRAIN_MS, 0);
}

void yolk_sio_redis_streams_free(yolk_sio_redis_streams_t *bus) {
  if (!bus) return;
  bus->released = 1;
  bus_maybe_free(bus);
}
