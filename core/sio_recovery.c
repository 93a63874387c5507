/* sio_recovery.c - connection state recovery (socket.io 4.6+), the socket
 * side: which sockets leave a session, how a reconnecting client asks for
 * its own back, and the packet helpers adapters use to stamp offsets. The
 * store itself (sessions, recent packets) is the adapter's: the in-memory
 * adapter keeps them in this process (adapter_memory.c).
 *
 * The protocol: with recovery on, the CONNECT ack carries a private session
 * id ("pid") beside the socket id, and every EVENT the server sends without
 * an ack and not volatile carries its offset as a last argument. A socket
 * lost to its transport (not one that disconnected on purpose) leaves a
 * session: its id, pid, rooms and data. A client that reconnects puts pid and
 * the last offset it saw into its CONNECT payload; when the adapter knows
 * both, the new socket gets the old id, rooms and data, and the packets sent
 * to it after that offset are queued before anything new.
 *
 * Restoring is asynchronous (an adapter may ask Redis): the client keeps a
 * restore_t until the adapter answers; if the client goes first, the record
 * is cut loose (c = NULL) and freed when the answer comes. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "sio.h"

#define LOG_COMPONENT "sio"

/* ---- packets and targets (for adapters) ------------------------------------------------- */

unsigned yolk_sio_recovery_ms(const yolk_sio_nsp_t *nsp) { return nsp->sio->opts.recovery_ms; }

int yolk_sio_packet_storable(const yolk_sio_nsp_t *nsp, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to) {
  return nsp->sio->opts.recovery_ms > 0 && (pkt->type == YOLK_SIO_PKT_EVENT || pkt->type == YOLK_SIO_PKT_BINARY_EVENT) &&
         pkt->id < 0 && !(to->flags & YOLK_SIO_VOLATILE);
}

void yolk_sio_packet_with_offset(yolk_sio_packet_t *out, const yolk_sio_packet_t *in, const char *offset) {
  const char *json = in->data.json;
  size_t end = in->data.len;
  while (end > 0 && json[end - 1] != ']') end--; /* the array's closing bracket (whitespace after it) */
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_reserve(&sb, end + strlen(offset) + 4);
  if (end > 0) yolk__sb_append(&sb, json, end - 1);
  else yolk__sb_putc(&sb, '[');
  /* "[]" has no element to follow */
  size_t k = sb.len;
  while (k > 0 && (sb.data[k - 1] == ' ' || sb.data[k - 1] == '\n' || sb.data[k - 1] == '\t' || sb.data[k - 1] == '\r'))
    k--;
  if (k > 0 && sb.data[k - 1] != '[') yolk__sb_putc(&sb, ',');
  yolk__json_write_cstr(&sb, offset);
  yolk__sb_putc(&sb, ']');
  yolk_sio_args_t args = {sb.data, sb.len, in->data.bins, in->data.nbins};
  yolk__sio_packet_build(out, in->type, in->nsp, in->id, &args);
  out->data = in->data; /* the source, without the offset (sb goes now) */
  yolk__sb_free(&sb);
}

static int in_list(const char *room, const char *const *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(room, v[i]) == 0) return 1;
  return 0;
}

/* socket.io's shouldIncludePacket: no rooms or one of the socket's rooms
 * named, and none of its rooms excepted. */
int yolk_sio_target_includes(const yolk_sio_target_t *to, const char *const *rooms, size_t nrooms) {
  int included = to->nrooms == 0;
  for (size_t i = 0; i < nrooms; i++) {
    if (!included && in_list(rooms[i], to->rooms, to->nrooms)) included = 1;
    if (in_list(rooms[i], to->except, to->nexcept)) return 0;
  }
  return included;
}

/* ---- leaving a session ------------------------------------------------------------------------ */

/* socket.io's RECOVERABLE_DISCONNECT_REASONS: the transport went away, the
 * client did not mean to leave. */
static int recoverable(const char *reason) {
  static const char *const reasons[] = {"transport error", "transport close", "forced close",
                                        "ping timeout",    "server shutting down", "forced server close"};
  for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
    if (strcmp(reason, reasons[i]) == 0) return 1;
  return 0;
}

typedef struct {
  const char **v;
  size_t n, cap;
} room_list_t;

static void add_room(const char *room, void *ud) {
  room_list_t *l = ud;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->v = yolk__realloc(l->v, l->cap * sizeof(*l->v));
  }
  l->v[l->n++] = room;
}

void yolk__sio_persist_session(yolk_sio_socket_t *s, const char *reason) {
  yolk_sio_nsp_t *nsp = s->nsp;
  yolk_sio_adapter_t *a = nsp->adapter;
  if (!nsp->sio->opts.recovery_ms || !s->pid || !a->vt->persist_session || !recoverable(reason)) return;
  room_list_t rooms = {0};
  a->vt->socket_rooms(a, s, add_room, &rooms);
  size_t dlen = 0;
  const char *data = nsp->h.data_json ? nsp->h.data_json(s, &dlen, nsp->ud) : NULL;
  if (!data) {
    data = "null";
    dlen = 4;
  }
  yolk_sio_session_t session = {s->id, s->pid, rooms.v, rooms.n, data, dlen};
  a->vt->persist_session(a, &session);
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "socket %s left a session (%s)", s->id, reason);
  free(rooms.v);
}

/* ---- coming back -------------------------------------------------------------------------------- */

struct yolk_sio_restore_s {
  yolk_list_t node; /* in c->restores while c is there */
  yolk_sio_client_t *c; /* NULL: the client is gone */
  yolk_sio_nsp_t *nsp;
  char *auth;
  size_t auth_len;
};

/* The top-level string members pid and offset of the CONNECT payload. */
typedef struct {
  int depth;
  int want; /* 1: pid, 2: offset, 0: neither */
  yolk_sb_t pid, offset;
  int has_pid, has_offset;
} auth_read_t;

static int ar_key(void *ud, const char *s, size_t len) {
  auth_read_t *r = ud;
  r->want = 0;
  if (r->depth != 1) return 0;
  if (len == 3 && memcmp(s, "pid", 3) == 0) r->want = 1;
  else if (len == 6 && memcmp(s, "offset", 6) == 0) r->want = 2;
  return 0;
}

static int ar_string(void *ud, const char *s, size_t len) {
  auth_read_t *r = ud;
  if (r->depth != 1 || !r->want || memchr(s, '\0', len)) return 0;
  yolk_sb_t *sb = r->want == 1 ? &r->pid : &r->offset;
  sb->len = 0;
  yolk__sb_append(sb, s, len);
  yolk__sb_putc(sb, '\0');
  if (r->want == 1) r->has_pid = 1;
  else r->has_offset = 1;
  r->want = 0;
  return 0;
}

static int ar_other(void *ud) {
  ((auth_read_t *)ud)->want = 0;
  return 0;
}
static int ar_bool(void *ud, int v) {
  (void)v;
  return ar_other(ud);
}
static int ar_number(void *ud, double v, const char *t, size_t l) {
  (void)v;
  (void)t;
  (void)l;
  return ar_other(ud);
}
static int ar_begin(void *ud) {
  auth_read_t *r = ud;
  r->depth++;
  r->want = 0;
  return 0;
}
static int ar_end(void *ud, size_t count) {
  (void)count;
  ((auth_read_t *)ud)->depth--;
  return 0;
}

static void restore_done(void *ud, const yolk_sio_session_t *session, const yolk_sio_packet_t *missed, size_t nmissed) {
  struct yolk_sio_restore_s *r = ud;
  yolk_sio_client_t *c = r->c;
  if (!c) { /* the client left meanwhile */
    free(r->auth);
    free(r);
    return;
  }
  yolk__list_remove(&r->node);
  if (session && yolk__smap_get(&r->nsp->sockets, session->sid)) {
    YOLK_LOG_INFO_(LOG_COMPONENT, "session of %s not restored: a socket with that id is here", session->sid);
    session = NULL;
  }
  yolk_sio_socket_t *s = yolk__sio_socket_new(c, r->nsp, r->auth, r->auth_len, session);
  if (session) {
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "socket %s recovered in %s with %zu missed packets", s->id, r->nsp->name, nmissed);
    for (size_t i = 0; i < nmissed; i++) yolk_sio_socket_deliver(s, &missed[i], 0);
  }
  free(r);
  yolk__sio_client_start_socket(c, s);
}

int yolk__sio_restore_start(yolk_sio_client_t *c, yolk_sio_nsp_t *nsp, char *auth, size_t auth_len) {
  yolk_sio_adapter_t *a = nsp->adapter;
  if (!c->sio->opts.recovery_ms || c->protocol != 5 || !auth || !a->vt->restore_session) return 0;
  static const yolk_json_handler_t h = {ar_other, ar_bool, ar_number, ar_string, ar_key,
                                        ar_begin, ar_end,  ar_begin,  ar_end};
  auth_read_t rd;
  memset(&rd, 0, sizeof(rd));
  yolk__sb_init(&rd.pid);
  yolk__sb_init(&rd.offset);
  int started = 0;
  if (yolk__json_read(auth, auth_len, YOLK_JSON_MAX_DEPTH, &h, &rd, NULL) == 0 && rd.has_pid && rd.has_offset) {
    struct yolk_sio_restore_s *r = yolk__calloc(1, sizeof(*r));
    r->c = c;
    r->nsp = nsp;
    r->auth = auth;
    r->auth_len = auth_len;
    yolk__list_push_back(&c->restores, &r->node);
    a->vt->restore_session(a, rd.pid.data, rd.offset.data, restore_done, r);
    started = 1;
  }
  yolk__sb_free(&rd.pid);
  yolk__sb_free(&rd.offset);
  return started;
}

int yolk__sio_restoring(yolk_sio_client_t *c, const char *nsp_name) {
  yolk_list_t *n;
  yolk__list_foreach(n, &c->restores) {
    struct yolk_sio_restore_s *r = yolk__list_entry(n, struct yolk_sio_restore_s, node);
    if (strcmp(r->nsp->name, nsp_name) == 0) return 1;
  }
  return 0;
}

void yolk__sio_restores_cancel(yolk_sio_client_t *c) {
  yolk_list_t *n;
  while ((n = yolk__list_first(&c->restores))) {
    struct yolk_sio_restore_s *r = yolk__list_entry(n, struct yolk_sio_restore_s, node);
    yolk__list_remove(&r->node);
    r->c = NULL;
  }
}

/* ---- the socket's view -------------------------------------------------------------------------- */

int yolk_sio_socket_recovered(const yolk_sio_socket_t *s) { return s->restored_data != NULL; }

const char *yolk_sio_socket_restored_data(const yolk_sio_socket_t *s, size_t *len) {
  /* JSON text: no NUL inside */
  if (len) *len = s->restored_data ? strlen(s->restored_data) : 0;
  return s->restored_data;
}
