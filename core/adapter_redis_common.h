/* adapter_redis_common.h - what the two Redis adapters share (internal):
 * adapter_redis.c speaks @socket.io/redis-adapter's pub/sub protocol,
 * adapter_redis_streams.c @socket.io/redis-streams-adapter's. Their messages
 * differ in shape but carry the same things (a packet, a target {rooms,
 * except, flags}, room lists, answers), and both ask the other nodes the same
 * kind of questions (fetchSockets, server-side emits and broadcasts with
 * acks), so the pieces live here once:
 *
 *  - writing: MessagePack and JSON forms of targets, packets, room lists;
 *  - reading: a message (JSON or MessagePack) as one MessagePack tree, and
 *    targets, rooms and strings out of it;
 *  - this node's part of another node's question (the sockets a target
 *    names, a broadcast delivered or asked for acks here, a server-side
 *    event handed to the namespace);
 *  - the questions of this node (yolk_ra_request_t): ids, timers, counting
 *    the nodes with PUBSUB NUMSUB, the answers gathered into the result.
 *
 * Ownership: pointers handed in are valid during the call; what a function
 * keeps, it copies. MessagePack objects read from a buffer point into it
 * (msgpack-c does not copy strings and bins): keep the buffer until done.
 */
#ifndef YOLK_ADAPTER_REDIS_COMMON_H
#define YOLK_ADAPTER_REDIS_COMMON_H

#include <msgpack.h>
#include <uv.h>

#include "buf.h"
#include "hashmap.h"
#include "json_msgpack.h"
#include "redis.h"
#include "yolk.h"

/* Buffers for one message at a time: out (+ pk) for a MessagePack message
 * being written, in (+ in_pk) for JSON turned into MessagePack to be read,
 * sb for JSON text being written. */
typedef struct {
  msgpack_sbuffer out, in;
  msgpack_packer pk, in_pk;
  yolk_sb_t sb;
} yolk_ra_scratch_t;

void yolk__ra_scratch_init(yolk_ra_scratch_t *s);
void yolk__ra_scratch_free(yolk_ra_scratch_t *s);

/* The start of both adapters' structs: the adapter header, then the
 * in-memory adapter of this node's rooms, which the room membership of
 * local sockets goes to unchanged (yolk__ra_add_all ... below). */
typedef struct {
  yolk_sio_adapter_t base;
  yolk_sio_adapter_t *local;
} yolk_ra_adapter_t;

void yolk__ra_add_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *const *rooms, size_t n);
void yolk__ra_del(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *room);
void yolk__ra_del_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s);
void yolk__ra_socket_rooms(yolk_sio_adapter_t *a, const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud),
                           void *ud);

/* A connection of a bus to the server o names (name: in log lines;
 * client_name: CLIENT SETNAME), started. NULL with *err set when o is
 * invalid. */
yolk_redis_t *yolk__ra_connect(uv_loop_t *loop, const yolk_sio_redis_options_t *o, const char *name,
                               const char *client_name, int subscriber, const char **err);
/* A new bus's id in the cluster: n random characters of [0-9a-f]. */
void yolk__ra_uid(char *out, size_t n);
/* PUBLISH on conn; while Redis is down the message is dropped (the outage
 * is logged once by the connection). */
void yolk__ra_publish(yolk_redis_t *conn, const char *channel, const char *data, size_t len);
/* The value of map under the first len bytes of key (not NUL-terminated). */
void *yolk__ra_lookup(const yolk_smap_t *map, const char *key, size_t len);

/* ---- writing ------------------------------------------------------------------------- */

void yolk__ra_pack_str(msgpack_packer *pk, const char *s);
void yolk__ra_pack_strs(msgpack_packer *pk, const char *const *v, size_t n);
/* {rooms: [...], except: [...], flags: {volatile?, timeout?}} */
void yolk__ra_pack_opts(msgpack_packer *pk, const yolk_sio_target_t *to, unsigned timeout_ms);
/* {type: 2, data: [...], nsp?} (nsp NULL: not written). -1 when the
 * arguments are not valid JSON. */
int yolk__ra_pack_packet(msgpack_packer *pk, const yolk_sio_packet_t *pkt, const char *nsp);
/* The JSON forms: ["a","b"], and {"rooms":[...],"except":[...],"flags":{...}} */
void yolk__ra_json_strs(yolk_sb_t *sb, const char *const *v, size_t n);
void yolk__ra_json_opts(yolk_sb_t *sb, const yolk_sio_target_t *to);
/* The first of the arguments args (an array) as MessagePack, unpacked into
 * u from s->in; NULL when there is none. */
const msgpack_object *yolk__ra_first_arg(yolk_ra_scratch_t *s, const yolk_sio_args_t *args, msgpack_unpacked *u);

/* ---- reading -------------------------------------------------------------------------- */

/* Reads a message into u: MessagePack, or JSON (through s->in) when it
 * starts with '{'. 0, or -1 when it is neither. */
int yolk__ra_read(yolk_ra_scratch_t *s, const char *data, size_t len, msgpack_unpacked *u);
/* Appends a room name from a message and its NUL to names: a string, or a
 * number (socket.io allows numeric rooms) written as JavaScript would.
 * 0, or -1 (nothing appended) when it is neither. */
int yolk__ra_room_name(const msgpack_object *o, yolk_sb_t *names);
/* A target with its own copies of the names (yolk__ra_target_free frees
 * them): read from a message's opts, or copied from a yolk_sio_target_t. */
typedef struct {
  yolk_sio_target_t t;
  yolk_sb_t names;
  const char **ptrs;
  unsigned timeout_ms; /* flags.timeout of a message, else 0 */
} yolk_ra_target_t;
/* rooms and except: arrays of names (or NULL); flags: a map (or NULL). */
void yolk__ra_target_from(yolk_ra_target_t *mt, const msgpack_object *rooms, const msgpack_object *except,
                          const msgpack_object *flags);
/* opts: {rooms, except, flags} (or NULL: every socket). */
void yolk__ra_target_read(yolk_ra_target_t *mt, const msgpack_object *opts);
void yolk__ra_target_copy(yolk_ra_target_t *mt, const yolk_sio_target_t *to);
void yolk__ra_target_free(yolk_ra_target_t *mt);
/* The string field key of the map o as a NUL-terminated copy in sb (reset
 * first), or NULL. */
const char *yolk__ra_field_str(const msgpack_object *o, const char *key, yolk_sb_t *sb);
int yolk__ra_field_is(const msgpack_object *o, const char *key, const char *want);
int yolk__ra_field_true(const msgpack_object *o, const char *key); /* the boolean true */
/* The number field key of the map o as an int, def when it is not a whole
 * number from 0 to 1e9 (a message type, a count). */
long yolk__ra_field_count(const msgpack_object *o, const char *key, long def);
/* The answer args [value] (value NULL: [null]) handed to g; binary values
 * stay binary. Arguments from other nodes (here and below) get the checks
 * a client's get (placeholders, event names): what fails them is logged and
 * dropped. */
void yolk__ra_gather_answer(yolk_sio_gather_t *g, const msgpack_object *value);
/* An event's arguments read from another node's message: [ev, ...] as JSON
 * text with its attachments (pointing into the message). */
typedef struct {
  yolk_sb_t json;
  yolk_bins_t bins;
  yolk_sio_args_t args;
} yolk_ra_event_args_t;
/* 0, or -1 when d is not an event's arguments, or they fail the checks
 * (logged as "a <what> from another node was dropped"; nothing to free then). */
int yolk__ra_event_args_read(yolk_ra_event_args_t *e, const msgpack_object *d, const char *what);
void yolk__ra_event_args_free(yolk_ra_event_args_t *e);

/* ---- this node's part of the other nodes' questions ---------------------------------- */

/* Appends the JSON array of the local sockets that to names: descriptions
 * (as fetchSockets reports them), or their ids. */
void yolk__ra_describe_sockets(yolk_sio_adapter_t *local, const yolk_sio_target_t *to, yolk_sb_t *sb);
void yolk__ra_socket_ids(yolk_sio_adapter_t *local, const yolk_sio_target_t *to, yolk_sb_t *sb);
/* Appends the JSON array of the rooms of this node. */
void yolk__ra_rooms_json(yolk_sio_adapter_t *local, yolk_sb_t *sb);
/* A broadcast from another node: data (the packet's data, [ev, ...]) to the
 * local sockets to names; offset (the entry id a Redis stream gave it, or
 * NULL) is appended when the packet is one recovery stores. -1 when data is
 * not an event's arguments (logged). */
int yolk__ra_deliver(yolk_sio_adapter_t *local, yolk_sio_nsp_t *nsp, const msgpack_object *data,
                     const yolk_sio_target_t *to, const char *offset);
/* Another node's broadcast with acks, answered from here: r says where the
 * answers go (its send writes and publishes one: the first argument of a
 * socket's ack, NULL for none). r is taken (freed once the answers are
 * over, after timeout_ms at most). */
typedef struct yolk_ra_remote_ack_s yolk_ra_remote_ack_t;
struct yolk_ra_remote_ack_s {
  void *bus;
  yolk_ra_scratch_t *scratch;
  char *to;  /* the adapter's: a channel, or the asking node's uid */
  char *nsp;
  char *request_id;
  void (*send)(yolk_ra_remote_ack_t *r, const msgpack_object *answer);
};
yolk_ra_remote_ack_t *yolk__ra_remote_ack_new(void *bus, yolk_ra_scratch_t *scratch, const char *to,
                                              const char *nsp, const char *request_id,
                                              void (*send)(yolk_ra_remote_ack_t *r, const msgpack_object *answer));
/* data (the packet's data) to the local sockets to names, each asked for an
 * ack. Returns the number of sockets asked, or -1 when data is not an
 * event's arguments (r is freed, nothing done). */
long yolk__ra_deliver_with_ack(yolk_sio_adapter_t *local, yolk_sio_nsp_t *nsp, const msgpack_object *data,
                               const yolk_sio_target_t *to, unsigned timeout_ms, yolk_ra_remote_ack_t *r);
/* A server-side event from another node: data ([ev, ...]) to the
 * namespace's listener. -1 when data is not an event's arguments. */
int yolk__ra_server_event(yolk_sio_nsp_t *nsp, const msgpack_object *data, const char *reply_to);

/* ---- the questions of this node ------------------------------------------------------ */

enum { YOLK_RA_REQUEST_ID_LEN = 12 };

typedef struct yolk_ra_request_s yolk_ra_request_t;
/* The number of nodes is known: nodes 0 when Redis could not say. */
typedef void (*yolk_ra_counted_cb)(yolk_ra_request_t *q, size_t nodes);

/* A bus's requests by id; every request belongs to an owner (an adapter). */
typedef struct {
  uv_loop_t *loop;
  yolk_smap_t by_id;
} yolk_ra_requests_t;

struct yolk_ra_request_s {
  char id[YOLK_RA_REQUEST_ID_LEN + 1];
  int type; /* the adapter's */
  yolk_sio_adapter_t *owner;
  yolk_ra_requests_t *set;
  uv_timer_t *timer;        /* freed in its close callback */
  size_t expected, got;     /* answers expected (once counted) and in */
  int asked;                /* the other nodes were asked: answers count from then on */
  char *payload;            /* the question, sent once the nodes are counted */
  size_t payload_len;
  yolk_sio_gather_t *g;     /* broadcasts and server-side emits with acks */
  yolk_sio_sockets_cb fetch_cb; /* fetchSockets: the list of sockets */
  yolk_sio_rooms_cb rooms_cb;   /* allRooms: the set of rooms */
  void *ud;
  yolk_smap_t rooms;
  yolk_sb_t list; /* the JSON array so far, without its ']' */
  int has_items;
  /* counting the nodes */
  yolk_redis_t *conn;
  const char *channel; /* the owner's */
  yolk_ra_counted_cb counted;
};

void yolk__ra_requests_init(yolk_ra_requests_t *set, uv_loop_t *loop);
void yolk__ra_requests_free(yolk_ra_requests_t *set);
yolk_ra_request_t *yolk__ra_request_new(yolk_ra_requests_t *set, int type, yolk_sio_adapter_t *owner);
/* The request with that id if it is owner's and was asked (NULL: gone, not
 * owner's, or not asked yet: a response to a question not published yet is
 * not an answer to it). */
yolk_ra_request_t *yolk__ra_request_find(yolk_ra_requests_t *set, const char *id, const yolk_sio_adapter_t *owner);
void yolk__ra_request_free(yolk_ra_request_t *q);
/* Keeps a copy of the question to send once the nodes are counted. */
void yolk__ra_request_set_payload(yolk_ra_request_t *q, const char *data, size_t len);
/* on_timeout(q) after ms (the request is not freed for it). */
void yolk__ra_request_start_timer(yolk_ra_request_t *q, unsigned ms, void (*on_timeout)(yolk_ra_request_t *q));
/* PUBSUB NUMSUB channel on conn, then counted(q, nodes), from the loop in
 * every case (nothing when q is gone by then). */
void yolk__ra_request_count_nodes(yolk_ra_request_t *q, yolk_redis_t *conn, const char *channel,
                                  yolk_ra_counted_cb counted);
/* fetchSockets / allRooms: this node's part first (through local's
 * fetch_sockets, or its rooms), then count_nodes as above. */
void yolk__ra_request_local_then_count(yolk_ra_request_t *q, yolk_sio_adapter_t *local, const yolk_sio_target_t *to,
                                       yolk_redis_t *conn, const char *channel, yolk_ra_counted_cb counted);
/* The nodes are counted (nodes 0: Redis could not say): a fetchSockets,
 * allRooms or server-side emit with acks asks the others (q's payload
 * PUBLISHed on the channel they were counted on) and waits for them, at most
 * timeout_ms (then on_timeout(q)); it ends at once with not_reachable when
 * Redis is down, or without asking when there is no other node. */
void yolk__ra_request_ask(yolk_ra_request_t *q, size_t nodes, unsigned timeout_ms, const char *not_reachable,
                          void (*on_timeout)(yolk_ra_request_t *q));
/* One more answer to q is in: q ends when it was the last. */
void yolk__ra_request_answered(yolk_ra_request_t *q);
/* A broadcast with acks from this node: g is told to wait for the nodes to
 * be counted, the local sockets are asked; returns the request that the
 * adapter sends to the others (then yolk__ra_broadcast_with_ack_sent), or
 * NULL when to is LOCAL (nothing more to do). */
yolk_ra_request_t *yolk__ra_broadcast_with_ack_start(yolk_ra_requests_t *set, yolk_sio_adapter_t *a, int type,
                                                    const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to,
                                                    yolk_sio_gather_t *g);
/* How long the other nodes wait for their sockets' answers: as long as g
 * (its timeout, else the adapter's requests timeout). */
unsigned yolk__ra_broadcast_with_ack_timeout(yolk_ra_request_t *q, unsigned requests_timeout);
/* The question is sent: q lives until timeout_ms, and g learns how many
 * nodes answer once they are counted on channel. */
void yolk__ra_broadcast_with_ack_sent(yolk_ra_request_t *q, unsigned timeout_ms, yolk_redis_t *conn,
                                      const char *channel);
/* The answer of a node to a broadcast with acks of this node: its count of
 * sockets asked (count >= 0), or one socket's answer. */
void yolk__ra_broadcast_ack_answer(yolk_ra_request_t *q, long count, const msgpack_object *answer);
/* Answers to a fetchSockets / allRooms request: a list of socket
 * descriptions (for allRooms, their rooms are taken), or of room names. */
void yolk__ra_request_add_sockets(yolk_ra_request_t *q, const msgpack_object *list);
void yolk__ra_request_add_rooms(yolk_ra_request_t *q, const msgpack_object *list);
/* Delivers the result of a fetchSockets / allRooms request (err, or the
 * list) and frees the request (a request with a gather: only frees it,
 * the gather has its own result). */
void yolk__ra_request_finish(yolk_ra_request_t *q, const char *err);
/* Every request of owner ends with err (the server closes). */
void yolk__ra_requests_end(yolk_ra_requests_t *set, const yolk_sio_adapter_t *owner, const char *err);

#endif
