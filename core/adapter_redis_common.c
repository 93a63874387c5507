/* adapter_redis_common.c - what the two Redis adapters share. See
 * adapter_redis_common.h. */
#include "adapter_redis_common.h"

#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "json.h"
#include "log.h"
#include "sio.h"

#define LOG_COMPONENT "redis-adapter"

void yolk__ra_scratch_init(yolk_ra_scratch_t *s) {
  msgpack_sbuffer_init(&s->out);
  msgpack_sbuffer_init(&s->in);
  msgpack_packer_init(&s->pk, &s->out, msgpack_sbuffer_write);
  msgpack_packer_init(&s->in_pk, &s->in, msgpack_sbuffer_write);
  yolk__sb_init(&s->sb);
}

void yolk__ra_scratch_free(yolk_ra_scratch_t *s) {
  msgpack_sbuffer_destroy(&s->out);
  msgpack_sbuffer_destroy(&s->in);
  yolk__sb_free(&s->sb);
}

/* ---- adapters and buses -------------------------------------------------------------- */

static yolk_sio_adapter_t *local_of(yolk_sio_adapter_t *a) { return ((yolk_ra_adapter_t *)a)->local; }

void yolk__ra_add_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *const *rooms, size_t n) {
  yolk_sio_adapter_t *l = local_of(a);
  l->vt->add_all(l, s, rooms, n);
}

void yolk__ra_del(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *room) {
  yolk_sio_adapter_t *l = local_of(a);
  l->vt->del(l, s, room);
}

void yolk__ra_del_all(yolk_sio_adapter_t *a, yolk_sio_socket_t *s) {
  yolk_sio_adapter_t *l = local_of(a);
  l->vt->del_all(l, s);
}

void yolk__ra_socket_rooms(yolk_sio_adapter_t *a, const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud),
                           void *ud) {
  yolk_sio_adapter_t *l = local_of(a);
  l->vt->socket_rooms(l, s, cb, ud);
}

static void on_state(yolk_redis_t *r, int ready, const char *err, void *ud) {
  (void)ud;
  (void)err;
  if (ready) YOLK_LOG_DEBUG_(LOG_COMPONENT, "%s is ready", yolk__redis_name(r));
}

yolk_redis_t *yolk__ra_connect(uv_loop_t *loop, const yolk_sio_redis_options_t *o, const char *name,
                               const char *client_name, int subscriber, const char **err) {
  yolk_redis_opts_t ro;
  memset(&ro, 0, sizeof(ro));
  ro.url = o->url;
  ro.host = o->host;
  ro.port = o->port;
  ro.username = o->username;
  ro.password = o->password;
  ro.db = o->db;
  ro.connect_timeout_ms = o->connect_timeout_ms;
  ro.name = name;
  ro.client_name = client_name;
  ro.subscriber = subscriber;
  yolk_redis_t *r = yolk__redis_new(loop, &ro, err);
  if (!r) return NULL;
  yolk__redis_on_state(r, on_state, NULL);
  yolk__redis_start(r);
  return r;
}

void yolk__ra_uid(char *out, size_t n) {
  static const char hex[] = "0123456789abcdef";
  yolk__random_id(out, n);
  /* 64 characters, each as likely: their index modulo 16 is uniform too */
  for (size_t i = 0; i < n; i++) {
    const char *p = memchr(yolk__id_alphabet, out[i], sizeof(yolk__id_alphabet));
    out[i] = hex[(p ? (size_t)(p - yolk__id_alphabet) : 0) % 16];
  }
}

static void on_published(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  (void)ud;
  if (err) YOLK_LOG_DEBUG_(LOG_COMPONENT, "publish failed: %s", err);
  else if (reply && reply->type == REDIS_REPLY_ERROR) YOLK_LOG_WARN_(LOG_COMPONENT, "publish: %s", reply->str);
}

void yolk__ra_publish(yolk_redis_t *conn, const char *channel, const char *data, size_t len) {
  const char *argv[3] = {"PUBLISH", channel, data};
  size_t lens[3] = {7, strlen(channel), len};
  const char *err;
  if (yolk__redis_command(conn, 3, argv, lens, on_published, NULL, &err) != 0)
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "not published to %s: %s", channel, err);
}

void *yolk__ra_lookup(const yolk_smap_t *map, const char *key, size_t len) {
  if (memchr(key, '\0', len)) return NULL;
  char small[256];
  char *name = len < sizeof(small) ? small : yolk__malloc(len + 1);
  memcpy(name, key, len);
  name[len] = '\0';
  void *v = yolk__smap_get(map, name);
  if (name != small) free(name);
  return v;
}

/* ---- writing ------------------------------------------------------------------------- */

void yolk__ra_pack_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

void yolk__ra_pack_strs(msgpack_packer *pk, const char *const *v, size_t n) {
  msgpack_pack_array(pk, n);
  for (size_t i = 0; i < n; i++) yolk__ra_pack_str(pk, v[i]);
}

void yolk__ra_pack_opts(msgpack_packer *pk, const yolk_sio_target_t *to, unsigned timeout_ms) {
  msgpack_pack_map(pk, 3);
  yolk__ra_pack_str(pk, "rooms");
  yolk__ra_pack_strs(pk, to->rooms, to->nrooms);
  yolk__ra_pack_str(pk, "except");
  yolk__ra_pack_strs(pk, to->except, to->nexcept);
  yolk__ra_pack_str(pk, "flags");
  msgpack_pack_map(pk, (to->flags & YOLK_SIO_VOLATILE ? 1 : 0) + (timeout_ms ? 1 : 0));
  if (to->flags & YOLK_SIO_VOLATILE) {
    yolk__ra_pack_str(pk, "volatile");
    msgpack_pack_true(pk);
  }
  if (timeout_ms) {
    yolk__ra_pack_str(pk, "timeout");
    msgpack_pack_unsigned_int(pk, timeout_ms);
  }
}

int yolk__ra_pack_packet(msgpack_packer *pk, const yolk_sio_packet_t *pkt, const char *nsp) {
  msgpack_pack_map(pk, nsp ? 3 : 2);
  yolk__ra_pack_str(pk, "type");
  msgpack_pack_int(pk, 2);
  yolk__ra_pack_str(pk, "data");
  if (yolk__json_to_msgpack(pk, pkt->data.json, pkt->data.len, pkt->data.bins, pkt->data.nbins) != 0) return -1;
  if (nsp) {
    yolk__ra_pack_str(pk, "nsp");
    yolk__ra_pack_str(pk, nsp);
  }
  return 0;
}

void yolk__ra_json_strs(yolk_sb_t *sb, const char *const *v, size_t n) {
  yolk__sb_putc(sb, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) yolk__sb_putc(sb, ',');
    yolk__json_write_cstr(sb, v[i]);
  }
  yolk__sb_putc(sb, ']');
}

void yolk__ra_json_opts(yolk_sb_t *sb, const yolk_sio_target_t *to) {
  yolk__sb_puts(sb, "{\"rooms\":");
  yolk__ra_json_strs(sb, to->rooms, to->nrooms);
  yolk__sb_puts(sb, ",\"except\":");
  yolk__ra_json_strs(sb, to->except, to->nexcept);
  yolk__sb_puts(sb, to->flags & YOLK_SIO_VOLATILE ? ",\"flags\":{\"volatile\":true}}" : ",\"flags\":{}}");
}

const msgpack_object *yolk__ra_first_arg(yolk_ra_scratch_t *s, const yolk_sio_args_t *args, msgpack_unpacked *u) {
  msgpack_sbuffer_clear(&s->in);
  size_t off = 0;
  if (yolk__json_to_msgpack(&s->in_pk, args->json, args->len, args->bins, args->nbins) != 0 ||
      msgpack_unpack_next(u, s->in.data, s->in.size, &off) != MSGPACK_UNPACK_SUCCESS)
    return NULL;
  if (u->data.type != MSGPACK_OBJECT_ARRAY || u->data.via.array.size == 0) return NULL;
  return &u->data.via.array.ptr[0];
}

/* ---- reading -------------------------------------------------------------------------- */

int yolk__ra_read(yolk_ra_scratch_t *s, const char *data, size_t len, msgpack_unpacked *u) {
  const char *mp = data;
  size_t mplen = len;
  if (len > 0 && data[0] == '{') {
    msgpack_sbuffer_clear(&s->in);
    if (yolk__json_to_msgpack(&s->in_pk, data, len, NULL, 0) != 0) return -1;
    mp = s->in.data;
    mplen = s->in.size;
  }
  size_t off = 0;
  if (msgpack_unpack_next(u, mp, mplen, &off) != MSGPACK_UNPACK_SUCCESS) return -1;
  return 0;
}

int yolk__ra_room_name(const msgpack_object *o, yolk_sb_t *names) {
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

/* Appends the room names of list (an array, else nothing) to mt->names;
 * returns how many. */
static size_t read_room_list(const msgpack_object *list, yolk_ra_target_t *mt) {
  size_t n = 0;
  if (!list || list->type != MSGPACK_OBJECT_ARRAY) return 0;
  for (uint32_t i = 0; i < list->via.array.size; i++)
    if (yolk__ra_room_name(&list->via.array.ptr[i], &mt->names) == 0) n++;
  return n;
}

/* The names are NUL-separated in mt->names, rooms then except: point at each. */
static void target_point(yolk_ra_target_t *mt, size_t nrooms, size_t nexcept) {
  if (nrooms + nexcept > 0) {
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
}

void yolk__ra_target_from(yolk_ra_target_t *mt, const msgpack_object *rooms, const msgpack_object *except,
                          const msgpack_object *flags) {
  memset(mt, 0, sizeof(*mt));
  yolk__sb_init(&mt->names);
  size_t nrooms = read_room_list(rooms, mt);
  size_t nexcept = read_room_list(except, mt);
  target_point(mt, nrooms, nexcept);
  if (yolk__ra_field_true(flags, "volatile")) mt->t.flags |= YOLK_SIO_VOLATILE;
  double timeout = yolk__msgpack_num(yolk__msgpack_get(flags, "timeout"), 0);
  mt->timeout_ms = timeout > 0 && timeout < 86400000.0 ? (unsigned)timeout : 0;
}

void yolk__ra_target_read(yolk_ra_target_t *mt, const msgpack_object *opts) {
  yolk__ra_target_from(mt, yolk__msgpack_get(opts, "rooms"), yolk__msgpack_get(opts, "except"),
                       yolk__msgpack_get(opts, "flags"));
}

void yolk__ra_target_copy(yolk_ra_target_t *mt, const yolk_sio_target_t *to) {
  memset(mt, 0, sizeof(*mt));
  yolk__sb_init(&mt->names);
  for (size_t i = 0; i < to->nrooms; i++) yolk__sb_append(&mt->names, to->rooms[i], strlen(to->rooms[i]) + 1);
  for (size_t i = 0; i < to->nexcept; i++) yolk__sb_append(&mt->names, to->except[i], strlen(to->except[i]) + 1);
  target_point(mt, to->nrooms, to->nexcept);
  mt->t.flags = to->flags;
}

void yolk__ra_target_free(yolk_ra_target_t *mt) {
  yolk__sb_free(&mt->names);
  free(mt->ptrs);
}

const char *yolk__ra_field_str(const msgpack_object *o, const char *key, yolk_sb_t *sb) {
  size_t len;
  const char *s = yolk__msgpack_str(yolk__msgpack_get(o, key), &len);
  if (!s || memchr(s, '\0', len)) return NULL;
  sb->len = 0;
  yolk__sb_append(sb, s, len);
  yolk__sb_putc(sb, '\0');
  return sb->data;
}

int yolk__ra_field_is(const msgpack_object *o, const char *key, const char *want) {
  size_t len;
  const char *s = yolk__msgpack_str(yolk__msgpack_get(o, key), &len);
  return s && len == strlen(want) && memcmp(s, want, len) == 0;
}

int yolk__ra_field_true(const msgpack_object *o, const char *key) {
  const msgpack_object *v = yolk__msgpack_get(o, key);
  return v && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
}

/* Arguments from another node get the checks a client's get (yolk.h
 * promises checked text: an event name that is a string and not reserved,
 * placeholders that index attachments); a failure is logged and dropped. */
static int remote_args_ok(const yolk_sio_args_t *args, int need_event, const char *what) {
  const char *why = NULL;
  if (yolk__sio_check_args(args->json, args->len, args->nbins, need_event, &why) == 0) return 1;
  YOLK_LOG_WARN_(LOG_COMPONENT, "a %s from another node was dropped: %s", what, why ? why : "invalid");
  return 0;
}

long yolk__ra_field_count(const msgpack_object *o, const char *key, long def) {
  /* (converting NaN or 1e300 to an integer is undefined) */
  double n = yolk__msgpack_num(yolk__msgpack_get(o, key), -1);
  return n >= 0 && n <= 1e9 && n == (double)(long)n ? (long)n : def;
}

void yolk__ra_gather_answer(yolk_sio_gather_t *g, const msgpack_object *value) {
  yolk_sb_t json;
  yolk__sb_init(&json);
  yolk_bins_t bins = {0};
  yolk__sb_putc(&json, '[');
  if (value) yolk__msgpack_to_json(&json, value, &bins);
  else yolk__sb_puts(&json, "null");
  yolk__sb_putc(&json, ']');
  yolk_sio_args_t args = {json.data, json.len, bins.v, bins.n};
  if (remote_args_ok(&args, 0, "answer")) yolk_sio_gather_answer(g, &args);
  yolk__bins_free(&bins);
  yolk__sb_free(&json);
}

/* ---- this node's part of the other nodes' questions ---------------------------------- */

static void put_comma(yolk_sb_t *sb) {
  if (sb->data[sb->len - 1] != '[') yolk__sb_putc(sb, ',');
}

static void put_description(yolk_sio_socket_t *s, void *ud) {
  yolk_sb_t *sb = ud;
  size_t len;
  char *d = yolk_sio_socket_describe(s, &len);
  put_comma(sb);
  yolk__sb_append(sb, d, len);
  free(d);
}

static void put_id(yolk_sio_socket_t *s, void *ud) {
  yolk_sb_t *sb = ud;
  put_comma(sb);
  yolk__json_write_cstr(sb, yolk_sio_socket_id(s));
}

static void put_room(const char *room, void *ud) {
  yolk_sb_t *sb = ud;
  put_comma(sb);
  yolk__json_write_cstr(sb, room);
}

void yolk__ra_describe_sockets(yolk_sio_adapter_t *local, const yolk_sio_target_t *to, yolk_sb_t *sb) {
  yolk__sb_putc(sb, '[');
  yolk_sio_memory_adapter_each(local, to, put_description, sb);
  yolk__sb_putc(sb, ']');
}

void yolk__ra_socket_ids(yolk_sio_adapter_t *local, const yolk_sio_target_t *to, yolk_sb_t *sb) {
  yolk__sb_putc(sb, '[');
  yolk_sio_memory_adapter_each(local, to, put_id, sb);
  yolk__sb_putc(sb, ']');
}

void yolk__ra_rooms_json(yolk_sio_adapter_t *local, yolk_sb_t *sb) {
  yolk__sb_putc(sb, '[');
  yolk_sio_memory_adapter_rooms(local, put_room, sb);
  yolk__sb_putc(sb, ']');
}

void yolk__ra_event_args_free(yolk_ra_event_args_t *e) {
  yolk__bins_free(&e->bins);
  yolk__sb_free(&e->json);
}

int yolk__ra_event_args_read(yolk_ra_event_args_t *e, const msgpack_object *d, const char *what) {
  if (!d || d->type != MSGPACK_OBJECT_ARRAY || d->via.array.size == 0) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "a %s from another node was dropped: no arguments", what);
    return -1;
  }
  yolk__sb_init(&e->json);
  memset(&e->bins, 0, sizeof(e->bins));
  yolk__msgpack_to_json(&e->json, d, &e->bins);
  yolk_sio_args_t args = {e->json.data, e->json.len, e->bins.v, e->bins.n};
  e->args = args;
  if (remote_args_ok(&e->args, 1, what)) return 0;
  yolk__ra_event_args_free(e);
  return -1;
}

int yolk__ra_deliver(yolk_sio_adapter_t *local, yolk_sio_nsp_t *nsp, const msgpack_object *data,
                     const yolk_sio_target_t *to, const char *offset) {
  yolk_ra_event_args_t e;
  if (yolk__ra_event_args_read(&e, data, "broadcast") != 0) return -1;
  yolk_sio_packet_t p;
  /* the source, for yolk_sio_packet_storable and yolk_sio_packet_with_offset */
  yolk_sio_packet_t src = {YOLK_SIO_PKT_EVENT, yolk_sio_nsp_name(nsp), -1, e.args, NULL, 0};
  if (offset && yolk_sio_packet_storable(nsp, &src, to)) yolk_sio_packet_with_offset(&p, &src, offset);
  else yolk__sio_packet_build(&p, YOLK_SIO_PKT_EVENT, yolk_sio_nsp_name(nsp), -1, &e.args);
  local->vt->broadcast(local, &p, to);
  yolk_sio_packet_release(&p);
  yolk__ra_event_args_free(&e);
  return 0;
}

static void on_remote_ack_answer(void *ud, const yolk_sio_args_t *args) {
  yolk_ra_remote_ack_t *r = ud;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  r->send(r, yolk__ra_first_arg(r->scratch, args, &u));
  msgpack_unpacked_destroy(&u);
}

static void on_remote_ack_done(void *ud, const char *err, size_t got, size_t expected) {
  (void)err;
  (void)got;
  (void)expected;
  yolk_ra_remote_ack_t *r = ud;
  free(r->to);
  free(r->nsp);
  free(r->request_id);
  free(r);
}

static char *copy_str(const char *s) { return yolk__strndup(s, strlen(s)); }

yolk_ra_remote_ack_t *yolk__ra_remote_ack_new(void *bus, yolk_ra_scratch_t *scratch, const char *to,
                                              const char *nsp, const char *request_id,
                                              void (*send)(yolk_ra_remote_ack_t *r, const msgpack_object *answer)) {
  yolk_ra_remote_ack_t *r = yolk__malloc(sizeof(*r));
  r->bus = bus;
  r->scratch = scratch;
  r->to = copy_str(to);
  r->nsp = copy_str(nsp);
  r->request_id = copy_str(request_id);
  r->send = send;
  return r;
}

long yolk__ra_deliver_with_ack(yolk_sio_adapter_t *local, yolk_sio_nsp_t *nsp, const msgpack_object *data,
                               const yolk_sio_target_t *to, unsigned timeout_ms, yolk_ra_remote_ack_t *r) {
  yolk_ra_event_args_t e;
  if (yolk__ra_event_args_read(&e, data, "broadcast with acks") != 0) {
    on_remote_ack_done(r, NULL, 0, 0);
    return -1;
  }
  yolk_sio_gather_t *g =
      yolk__sio_gather_new(yolk_sio_nsp_server(nsp), timeout_ms, on_remote_ack_answer, on_remote_ack_done, r);
  yolk_sio_packet_t p;
  yolk__sio_packet_build(&p, YOLK_SIO_PKT_EVENT, yolk_sio_nsp_name(nsp), nsp->next_ack_id++, &e.args);
  local->vt->broadcast_with_ack(local, &p, to, g);
  yolk_sio_packet_release(&p);
  yolk__ra_event_args_free(&e);
  long n = (long)yolk__sio_gather_expected(g);
  yolk_sio_gather_unref(g);
  return n;
}

int yolk__ra_server_event(yolk_sio_nsp_t *nsp, const msgpack_object *data, const char *reply_to) {
  yolk_ra_event_args_t e;
  if (yolk__ra_event_args_read(&e, data, "serverSideEmit") != 0) return -1;
  yolk_sio_nsp_server_event(nsp, &e.args, reply_to);
  yolk__ra_event_args_free(&e);
  return 0;
}

/* ---- the questions of this node ------------------------------------------------------ */

void yolk__ra_requests_init(yolk_ra_requests_t *set, uv_loop_t *loop) {
  set->loop = loop;
  yolk__smap_init(&set->by_id);
}

void yolk__ra_requests_free(yolk_ra_requests_t *set) { yolk__smap_free(&set->by_id); }

yolk_ra_request_t *yolk__ra_request_new(yolk_ra_requests_t *set, int type, yolk_sio_adapter_t *owner) {
  yolk_ra_request_t *q = yolk__calloc(1, sizeof(*q));
  do yolk__random_id(q->id, YOLK_RA_REQUEST_ID_LEN);
  while (yolk__smap_get(&set->by_id, q->id));
  q->type = type;
  q->owner = owner;
  q->set = set;
  yolk__smap_init(&q->rooms);
  yolk__sb_init(&q->list);
  yolk__smap_put(&set->by_id, q->id, q);
  return q;
}

yolk_ra_request_t *yolk__ra_request_find(yolk_ra_requests_t *set, const char *id, const yolk_sio_adapter_t *owner) {
  yolk_ra_request_t *q = id ? yolk__smap_get(&set->by_id, id) : NULL;
  return q && q->owner == owner && q->asked ? q : NULL;
}

static void timer_closed(uv_handle_t *h) { free(h); }

void yolk__ra_request_free(yolk_ra_request_t *q) {
  yolk__smap_del(&q->set->by_id, q->id);
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

void yolk__ra_request_set_payload(yolk_ra_request_t *q, const char *data, size_t len) {
  free(q->payload);
  q->payload = yolk__malloc(len + 1);
  memcpy(q->payload, data, len);
  q->payload[len] = '\0';
  q->payload_len = len;
}

/* A request's timer and what it calls (freed with the handle: timer first). */
typedef struct {
  uv_timer_t timer;
  yolk_ra_request_t *q;
  void (*on_timeout)(yolk_ra_request_t *q);
} request_timer_t;

static void request_timer_fired(uv_timer_t *t) {
  request_timer_t *rt = (request_timer_t *)t;
  rt->on_timeout(rt->q);
}

void yolk__ra_request_start_timer(yolk_ra_request_t *q, unsigned ms, void (*on_timeout)(yolk_ra_request_t *q)) {
  request_timer_t *rt = yolk__malloc(sizeof(*rt));
  rt->q = q;
  rt->on_timeout = on_timeout;
  q->timer = &rt->timer;
  uv_timer_init(q->set->loop, q->timer);
  uv_timer_start(q->timer, request_timer_fired, ms, 0);
}

/* A request named by its id, for callbacks that may come after it is gone. */
typedef struct {
  yolk_ra_requests_t *set;
  char id[YOLK_RA_REQUEST_ID_LEN + 1];
} request_ref_t;

static request_ref_t *request_ref(yolk_ra_request_t *q) {
  request_ref_t *c = yolk__malloc(sizeof(*c));
  c->set = q->set;
  memcpy(c->id, q->id, sizeof(c->id));
  return c;
}

/* The request c names (NULL: gone); c is freed. */
static yolk_ra_request_t *request_deref(request_ref_t *c) {
  yolk_ra_request_t *q = yolk__smap_get(&c->set->by_id, c->id);
  free(c);
  return q;
}

static void on_numsub(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  yolk_ra_request_t *q = request_deref(ud);
  if (!q) return;
  size_t nodes = 0;
  if (!err && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
      reply->element[1]->type == REDIS_REPLY_INTEGER)
    nodes = reply->element[1]->integer > 0 ? (size_t)reply->element[1]->integer : 1;
  else
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "cannot count the nodes: %s", err ? err : "unexpected reply");
  q->counted(q, nodes);
}

static void counted_later(void *arg) {
  yolk_ra_request_t *q = request_deref(arg);
  if (q) q->counted(q, 0);
}

void yolk__ra_request_count_nodes(yolk_ra_request_t *q, yolk_redis_t *conn, const char *channel,
                                  yolk_ra_counted_cb counted) {
  q->conn = conn;
  q->channel = channel;
  q->counted = counted;
  const char *argv[3] = {"PUBSUB", "NUMSUB", channel};
  size_t lens[3] = {6, 6, strlen(channel)};
  request_ref_t *c = request_ref(q);
  const char *err;
  if (yolk__redis_command(conn, 3, argv, lens, on_numsub, c, &err) == 0) return;
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "cannot count the nodes: %s", err);
  yolk_sio_defer(yolk_sio_nsp_server(q->owner->nsp), counted_later, c);
}

/* The local part is in: count the nodes. */
static void on_local_fetch(void *ud, const char *err, const char *json, size_t len) {
  yolk_ra_request_t *q = request_deref(ud);
  if (!q) return;
  if (err) {
    yolk__ra_request_finish(q, err);
    return;
  }
  /* the local list without its ']' */
  yolk__sb_append(&q->list, json, len > 0 ? len - 1 : 0);
  q->has_items = len > 2;
  yolk__ra_request_count_nodes(q, q->conn, q->channel, q->counted);
}

static void add_room_name(const char *room, void *ud) { yolk__smap_put(ud, room, NULL); }

void yolk__ra_request_local_then_count(yolk_ra_request_t *q, yolk_sio_adapter_t *local, const yolk_sio_target_t *to,
                                       yolk_redis_t *conn, const char *channel, yolk_ra_counted_cb counted) {
  if (q->rooms_cb) {
    yolk_sio_memory_adapter_rooms(local, add_room_name, &q->rooms);
    yolk__ra_request_count_nodes(q, conn, channel, counted);
    return;
  }
  q->conn = conn;
  q->channel = channel;
  q->counted = counted;
  local->vt->fetch_sockets(local, to, on_local_fetch, request_ref(q));
}

void yolk__ra_request_ask(yolk_ra_request_t *q, size_t nodes, unsigned timeout_ms, const char *not_reachable,
                          void (*on_timeout)(yolk_ra_request_t *q)) {
  if (nodes == 0) {
    if (q->g) yolk_sio_gather_fail(q->g, not_reachable);
    yolk__ra_request_finish(q, not_reachable);
    return;
  }
  q->expected = nodes - 1; /* the others */
  if (q->g) yolk_sio_gather_expect(q->g, q->expected);
  if (q->expected == 0) {
    yolk__ra_request_finish(q, NULL);
    return;
  }
  if (q->g) yolk_sio_gather_set_timeout(q->g, timeout_ms);
  q->asked = 1;
  yolk__ra_publish(q->conn, q->channel, q->payload, q->payload_len);
  yolk__ra_request_start_timer(q, timeout_ms, on_timeout);
}

void yolk__ra_request_answered(yolk_ra_request_t *q) {
  if (++q->got >= q->expected) yolk__ra_request_finish(q, NULL);
}

yolk_ra_request_t *yolk__ra_broadcast_with_ack_start(yolk_ra_requests_t *set, yolk_sio_adapter_t *a, int type,
                                                    const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to,
                                                    yolk_sio_gather_t *g) {
  yolk_sio_adapter_t *l = local_of(a);
  /* not complete before the nodes are counted */
  if (!(to->flags & YOLK_SIO_LOCAL)) yolk_sio_gather_sources(g, SIZE_MAX);
  l->vt->broadcast_with_ack(l, pkt, to, g);
  if (to->flags & YOLK_SIO_LOCAL) return NULL;
  yolk_ra_request_t *q = yolk__ra_request_new(set, type, a);
  q->g = yolk_sio_gather_ref(g);
  q->asked = 1; /* published at once: the nodes are counted meanwhile */
  return q;
}

unsigned yolk__ra_broadcast_with_ack_timeout(yolk_ra_request_t *q, unsigned requests_timeout) {
  unsigned timeout = yolk__sio_gather_timeout(q->g);
  return timeout ? timeout : requests_timeout;
}

/* Published already; this node's count is in (0 nodes: Redis is down, the
 * broadcast reached this node only). */
static void ack_nodes_counted(yolk_ra_request_t *q, size_t nodes) { yolk_sio_gather_sources(q->g, nodes ? nodes : 1); }

void yolk__ra_broadcast_with_ack_sent(yolk_ra_request_t *q, unsigned timeout_ms, yolk_redis_t *conn,
                                      const char *channel) {
  /* the gather has its own timer and result: the request just goes */
  yolk__ra_request_start_timer(q, timeout_ms, yolk__ra_request_free);
  yolk__ra_request_count_nodes(q, conn, channel, ack_nodes_counted);
}

void yolk__ra_broadcast_ack_answer(yolk_ra_request_t *q, long count, const msgpack_object *answer) {
  if (count >= 0) {
    yolk_sio_gather_expect(q->g, (size_t)count);
  } else {
    yolk__ra_gather_answer(q->g, answer);
  }
  if (yolk_sio_gather_done(q->g)) yolk__ra_request_free(q);
}

void yolk__ra_request_add_sockets(yolk_ra_request_t *q, const msgpack_object *list) {
  if (!list || list->type != MSGPACK_OBJECT_ARRAY) return;
  for (uint32_t i = 0; i < list->via.array.size; i++) {
    const msgpack_object *s = &list->via.array.ptr[i];
    if (q->rooms_cb) {
      yolk__ra_request_add_rooms(q, yolk__msgpack_get(s, "rooms"));
      continue;
    }
    if (q->has_items) yolk__sb_putc(&q->list, ',');
    q->has_items = 1;
    yolk__msgpack_to_json(&q->list, s, NULL);
  }
}

void yolk__ra_request_add_rooms(yolk_ra_request_t *q, const msgpack_object *list) {
  if (!list || list->type != MSGPACK_OBJECT_ARRAY) return;
  yolk_sb_t names;
  yolk__sb_init(&names);
  for (uint32_t i = 0; i < list->via.array.size; i++) {
    names.len = 0;
    if (yolk__ra_room_name(&list->via.array.ptr[i], &names) == 0) yolk__smap_put(&q->rooms, names.data, NULL);
  }
  yolk__sb_free(&names);
}

void yolk__ra_request_finish(yolk_ra_request_t *q, const char *err) {
  if (q->fetch_cb) {
    yolk__sb_putc(&q->list, ']');
    if (err) q->fetch_cb(q->ud, err, NULL, 0);
    else q->fetch_cb(q->ud, NULL, q->list.data, q->list.len);
  } else if (q->rooms_cb) {
    yolk_sb_t sb;
    yolk__sb_init(&sb);
    yolk__sb_putc(&sb, '[');
    for (size_t i = 0; i < q->rooms.cap; i++) {
      if (!q->rooms.slots[i].key) continue;
      put_comma(&sb);
      yolk__json_write_cstr(&sb, q->rooms.slots[i].key);
    }
    yolk__sb_putc(&sb, ']');
    if (err) q->rooms_cb(q->ud, err, NULL, 0);
    else q->rooms_cb(q->ud, NULL, sb.data, sb.len);
    yolk__sb_free(&sb);
  }
  yolk__ra_request_free(q);
}

void yolk__ra_requests_end(yolk_ra_requests_t *set, const yolk_sio_adapter_t *owner, const char *err) {
  yolk_ra_request_t **mine = NULL;
  size_t n = 0;
  for (size_t i = 0; i < set->by_id.cap; i++) {
    yolk_ra_request_t *q = set->by_id.slots[i].value;
    if (!set->by_id.slots[i].key || q->owner != owner) continue;
    mine = yolk__realloc(mine, (n + 1) * sizeof(*mine));
    mine[n++] = q;
  }
  for (size_t i = 0; i < n; i++) yolk__ra_request_finish(mine[i], err);
  free(mine);
}
