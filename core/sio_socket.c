/* sio_socket.c - Socket.IO sockets: one per (client, namespace). See sio.h
 * for the structure and lifetimes, yolk.h for the public contract. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eio.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "sio.h"

#define LOG_COMPONENT "sio"

/* One packet waiting in the queue of a pending socket: the same messages
 * the broadcast encoded, one reference each, never a copy. */
typedef struct {
  yolk_list_t node; /* in s->queue */
  size_t nmsgs;
  int flags;
  yolk_eio_msg_t *msgs[];
} queued_t;

/* ---- packets ------------------------------------------------------------------- */

void yolk__sio_packet_build(yolk_sio_packet_t *out, int type, const char *nsp, int64_t id, const yolk_sio_args_t *data) {
  size_t nbins = data ? data->nbins : 0;
  if (nbins > 0) {
    if (type == YOLK_SIO_PKT_EVENT) type = YOLK_SIO_PKT_BINARY_EVENT;
    if (type == YOLK_SIO_PKT_ACK) type = YOLK_SIO_PKT_BINARY_ACK;
  }
  yolk_eio_msg_t **msgs = yolk__malloc((1 + nbins) * sizeof(*msgs));
  /* the head on the stack, then head and payload straight into the
   * message's WebSocket frame: one buffer, one copy of the payload */
  size_t nsp_len = nsp ? strlen(nsp) : 1;
  char small[128];
  size_t hmax = YOLK_SIO_HEAD_MAX(nsp_len);
  char *head = hmax <= sizeof(small) ? small : yolk__malloc(hmax);
  size_t hl = yolk__sio_encode_head(head, type, nsp, id, nbins);
  size_t dl = data ? data->len : 0;
  char *text;
  msgs[0] = yolk__eio_msg_text_in_frame(hl + dl, &text);
  memcpy(text, head, hl);
  if (dl) memcpy(text + hl, data->json, dl);
  if (head != small) free(head);
  for (size_t i = 0; i < nbins; i++) msgs[1 + i] = yolk_eio_msg_new(1, data->bins[i].data, data->bins[i].len);
  out->type = type;
  out->nsp = nsp;
  out->id = id;
  if (data) out->data = *data;
  else memset(&out->data, 0, sizeof(out->data));
  out->msgs = msgs;
  out->nmsgs = 1 + nbins;
}

void yolk_sio_packet_release(yolk_sio_packet_t *p) {
  yolk_eio_msg_t **msgs = (yolk_eio_msg_t **)(void *)p->msgs;
  for (size_t i = 0; i < p->nmsgs; i++) yolk_eio_msg_unref(msgs[i]);
  free(msgs);
  p->msgs = NULL;
  p->nmsgs = 0;
}

/* Writes the messages of one packet in order. A volatile packet is all or
 * nothing: when the first message is dropped (transport not writable), the
 * attachments are not sent either. 1 when the packet went to Engine.IO. */
static int client_write(yolk_sio_client_t *c, yolk_eio_msg_t *const *msgs, size_t n, int flags) {
  if (c->closing) return 0;
  int eflags = (flags & YOLK_SIO_VOLATILE) ? YOLK_EIO_SEND_VOLATILE : 0;
  for (size_t i = 0; i < n; i++) {
    int rc = yolk_eio_send_msg(c->eio, msgs[i], i == 0 ? eflags : 0);
    if (rc != 0) return i > 0; /* closed, or a volatile packet dropped */
  }
  return 1;
}

void yolk__sio_client_send(yolk_sio_client_t *c, int type, const char *nsp, const char *json, size_t len) {
  yolk_sio_args_t a = {json, len, NULL, 0};
  yolk_sio_packet_t p;
  yolk__sio_packet_build(&p, type, nsp, -1, json ? &a : NULL);
  client_write(c, p.msgs, p.nmsgs, 0);
  yolk_sio_packet_release(&p);
}

/* Sends (flush) or drops what was queued while the socket was pending. */
void yolk__sio_socket_queue_drop(yolk_sio_socket_t *s, int flush) {
  yolk_list_t *n;
  while ((n = yolk__list_first(&s->queue))) {
    queued_t *q = yolk__list_entry(n, queued_t, node);
    yolk__list_remove(n);
    if (flush) s->nsp->packets_sent += (uint64_t)client_write(s->client, q->msgs, q->nmsgs, q->flags);
    for (size_t i = 0; i < q->nmsgs; i++) yolk_eio_msg_unref(q->msgs[i]);
    free(q);
  }
}

void yolk_sio_socket_deliver(yolk_sio_socket_t *s, const yolk_sio_packet_t *pkt, int flags) {
  if (s->state == YOLK_SIO_SOCKET_CONNECTED) {
    /* the one addition a broadcast costs per recipient for metrics */
    s->nsp->packets_sent += (uint64_t)client_write(s->client, pkt->msgs, pkt->nmsgs, flags);
    return;
  }
  if (s->state != YOLK_SIO_SOCKET_PENDING) return;
  if (flags & YOLK_SIO_VOLATILE) return; /* a pending socket is not writable */
  queued_t *q = yolk__malloc(sizeof(*q) + pkt->nmsgs * sizeof(q->msgs[0]));
  q->nmsgs = pkt->nmsgs;
  q->flags = flags;
  for (size_t i = 0; i < pkt->nmsgs; i++) q->msgs[i] = yolk_eio_msg_ref(pkt->msgs[i]);
  yolk__list_push_back(&s->queue, &q->node);
}

/* ---- ids ------------------------------------------------------------------------- */

static char *make_socket_id(yolk_sio_client_t *c, yolk_sio_nsp_t *nsp) {
  const char *sid = yolk_eio_socket_id(c->eio);
  if (c->protocol == 4) {
    /* Protocol v4 clients know their id only as "<nsp>#<engine sid>". */
    if (strcmp(nsp->name, "/") == 0) return yolk__strndup(sid, strlen(sid));
    yolk_sb_t sb;
    yolk__sb_init(&sb);
    yolk__sb_printf(&sb, "%s#%s", nsp->name, sid);
    return sb.data;
  }
  char buf[128];
  yolk_sio_server_t *sio = c->sio;
  if (sio->opts.generate_id) {
    yolk_sb_t hs;
    yolk__sb_init(&hs);
    yolk__sio_handshake_json(&hs, yolk_eio_socket_handshake(c->eio), NULL, 0);
    buf[0] = '\0';
    int ok = sio->opts.generate_id(hs.data, hs.len, buf, sizeof(buf), sio->opts.ud) == 0 && buf[0] != '\0' &&
             memchr(buf, '\0', sizeof(buf)) != NULL;
    yolk__sb_free(&hs);
    if (ok && !yolk__smap_get(&nsp->sockets, buf)) return yolk__strndup(buf, strlen(buf));
    if (ok) YOLK_LOG_WARN_(LOG_COMPONENT, "generateId returned %s, which is taken: using a random id", buf);
  }
  do yolk__random_id(buf, 20);
  while (yolk__smap_get(&nsp->sockets, buf));
  return yolk__strndup(buf, strlen(buf));
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void run_deferred(yolk_later_t *item);

/* The auth of a CONNECT without a payload: shared, never freed. */
static char no_auth[] = "{}";

yolk_sio_socket_t *yolk__sio_socket_new(yolk_sio_client_t *c, yolk_sio_nsp_t *nsp, char *auth, size_t auth_len,
                                        const yolk_sio_session_t *session) {
  /* the id lives after the struct: one allocation */
  char *id = session ? yolk__strndup(session->sid, strlen(session->sid)) : make_socket_id(c, nsp);
  size_t idlen = strlen(id);
  yolk_sio_socket_t *s = yolk__calloc(1, sizeof(*s) + idlen + 1);
  s->id = (char *)(s + 1);
  memcpy(s->id, id, idlen + 1);
  free(id);
  s->client = c;
  s->nsp = nsp;
  s->state = YOLK_SIO_SOCKET_PENDING;
  if (auth) {
    s->auth = auth;
    s->auth_len = auth_len;
  } else {
    s->auth = no_auth;
    s->auth_len = 2;
  }
  yolk__list_init(&s->queue);
  yolk__list_init(&s->acks);
  yolk__later_init(&s->later, run_deferred);
  if (session) {
    /* recovered: the former id, pid, rooms (its own id among them) and data */
    s->pid = yolk__strndup(session->pid, strlen(session->pid));
    s->restored_data = yolk__strndup(session->data, session->data_len);
  } else {
    if (nsp->sio->opts.recovery_ms && c->protocol == 5) {
      char pid[21];
      yolk__random_id(pid, 20);
      s->pid = yolk__strndup(pid, 20);
    }
  }
  yolk__list_push_back(&c->sockets, &s->client_node);
  yolk__smap_put(&nsp->sockets, s->id, s);
  const char *own_room = s->id;
  nsp->adapter->vt->add_all(nsp->adapter, s, &own_room, 1);
  if (session && session->nrooms) nsp->adapter->vt->add_all(nsp->adapter, s, session->rooms, session->nrooms);
  return s;
}

static void socket_free(yolk_sio_socket_t *s) {
  free(s->pid);
  free(s->restored_data);
  if (s->auth != no_auth) free(s->auth);
  free(s);
}

void yolk__sio_socket_release(yolk_sio_socket_t *s) {
  if (--s->in_callback == 0 && s->free_pending) socket_free(s);
}

void yolk__sio_socket_admit_now(yolk_sio_socket_t *s) {
  if (s->state != YOLK_SIO_SOCKET_PENDING) return;
  yolk_sio_client_t *c = s->client;
  s->state = YOLK_SIO_SOCKET_CONNECTED;
  s->admitted = 1;
  s->nsp->connected++;
  if (c->connect_timer) {
    uv_timer_stop(c->connect_timer);
    uv_close((uv_handle_t *)c->connect_timer, yolk__free_handle);
    c->connect_timer = NULL;
  }
  if (c->protocol == 4) {
    yolk__sio_client_send(c, YOLK_SIO_PKT_CONNECT, s->nsp->name, NULL, 0);
  } else {
    yolk_sb_t d;
    yolk__sb_init(&d);
    yolk__sb_puts(&d, "{\"sid\":");
    yolk__json_write_cstr(&d, s->id);
    if (s->pid) {
      yolk__sb_puts(&d, ",\"pid\":");
      yolk__json_write_cstr(&d, s->pid);
    }
    yolk__sb_putc(&d, '}');
    yolk__sio_client_send(c, YOLK_SIO_PKT_CONNECT, s->nsp->name, d.data, d.len);
    yolk__sb_free(&d);
  }
  yolk__sio_socket_queue_drop(s, 1);
}

void yolk__sio_socket_finalize(yolk_sio_socket_t *s, const char *reason) {
  if (s->state == YOLK_SIO_SOCKET_CLOSED) return;
  yolk_sio_nsp_t *nsp = s->nsp;
  int was_connected = s->state == YOLK_SIO_SOCKET_CONNECTED;
  if (s->state == YOLK_SIO_SOCKET_REFUSED) reason = "refused";
  if (was_connected) {
    nsp->connected--;
    yolk__sio_count_disconnect(nsp->sio, reason);
  }
  yolk__sio_socket_hold(s);
  if (was_connected && nsp->h.on_disconnecting) nsp->h.on_disconnecting(s, reason, nsp->ud);
  if (was_connected) yolk__sio_persist_session(s, reason);
  s->state = YOLK_SIO_SOCKET_CLOSED;
  yolk__later_cancel(&s->later);
  nsp->adapter->vt->del_all(nsp->adapter, s);
  if (yolk__smap_get(&nsp->sockets, s->id) == s) yolk__smap_del(&nsp->sockets, s->id);
  yolk__sio_socket_queue_drop(s, 0);
  yolk__sio_ack_cancel_all(s);
  yolk__list_remove(&s->client_node);
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "socket %s left %s (%s)", s->id, nsp->name, reason);
  if (nsp->h.on_close) nsp->h.on_close(s, reason, nsp->ud);
  /* acks and work asked from on_disconnecting/on_close cannot happen any more */
  yolk__sio_ack_cancel_all(s);
  yolk__sio_socket_queue_drop(s, 0);
  yolk__later_cancel(&s->later);
  s->free_pending = 1;
  yolk__sio_socket_release(s);
}

static void defer_socket(yolk_sio_socket_t *s, int what) {
  s->deferred = (uint8_t)(s->deferred | what);
  yolk__defer(&s->nsp->sio->defer, &s->later);
}

static void run_deferred(yolk_later_t *item) {
  yolk_sio_socket_t *s = yolk__list_entry(item, yolk_sio_socket_t, later);
  int what = s->deferred;
  s->deferred = 0;
  if (what & YOLK_SIO_DEFER_REFUSED) {
    yolk__sio_socket_finalize(s, "refused");
    return;
  }
  if (what & (YOLK_SIO_DEFER_DISCONNECT | YOLK_SIO_DEFER_CLOSE)) {
    if (s->state == YOLK_SIO_SOCKET_PENDING) yolk__sio_socket_admit_now(s);
    if (s->state != YOLK_SIO_SOCKET_CONNECTED) return;
    if (what & YOLK_SIO_DEFER_CLOSE) {
      yolk__sio_client_disconnect_all(s->client);
    } else {
      yolk__sio_client_send(s->client, YOLK_SIO_PKT_DISCONNECT, s->nsp->name, NULL, 0);
      yolk__sio_socket_finalize(s, "server namespace disconnect");
    }
  }
}

/* ---- descriptions ------------------------------------------------------------------- */

typedef struct {
  yolk_sb_t *sb;
  int first;
  int in_multi; /* the last thing written is a set-cookie array */
} obj_writer_t;

static void put_header(void *ud, const char *name, const char *value, size_t len, int multi) {
  obj_writer_t *w = ud;
  if (multi && w->in_multi) {
    /* the next line of the same set-cookie: into the open array */
    w->sb->len--; /* its ']' */
    yolk__sb_putc(w->sb, ',');
  } else {
    if (!w->first) yolk__sb_putc(w->sb, ',');
    yolk__json_write_cstr(w->sb, name);
    yolk__sb_putc(w->sb, ':');
    if (multi) yolk__sb_putc(w->sb, '[');
  }
  yolk__json_write_string(w->sb, value, len);
  if (multi) yolk__sb_putc(w->sb, ']');
  w->in_multi = multi;
  w->first = 0;
}

void yolk__sio_handshake_json(yolk_sb_t *sb, const yolk_eio_handshake_t *hs, const char *auth, size_t auth_len) {
  int xdomain = 0;
  yolk__sb_puts(sb, "{\"headers\":{");
  obj_writer_t w = {sb, 1, 0};
  const char **names = yolk__malloc((hs->nheaders * 2 + 1) * sizeof(*names));
  const char **values = names + hs->nheaders;
  for (size_t i = 0; i < hs->nheaders; i++) {
    names[i] = hs->headers[i];
    values[i] = yolk_eio_header_value(hs->headers[i]);
    if (strcmp(names[i], "origin") == 0) xdomain = 1;
  }
  yolk__http_headers_each(names, values, hs->nheaders, put_header, &w);
  free(names);
  /* Date.prototype.toString's shape, in UTC */
  char when[96];
  time_t secs = (time_t)(hs->time_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(when, sizeof(when), "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
  yolk__sb_puts(sb, "},\"time\":");
  yolk__json_write_cstr(sb, when);
  yolk__sb_puts(sb, ",\"address\":");
  yolk__json_write_cstr(sb, hs->remote_addr ? hs->remote_addr : "");
  yolk__sb_printf(sb, ",\"xdomain\":%s,\"secure\":false,\"issued\":", xdomain ? "true" : "false");
  yolk__json_write_number(sb, (double)hs->time_ms);
  yolk__sb_puts(sb, ",\"url\":");
  yolk__json_write_cstr(sb, hs->url ? hs->url : "");
  yolk__sb_puts(sb, ",\"query\":");
  const char *q = hs->query ? hs->query : "";
  yolk__sio_query_object(sb, q, strlen(q));
  yolk__sb_puts(sb, ",\"auth\":");
  if (auth) yolk__sb_append(sb, auth, auth_len);
  else yolk__sb_puts(sb, "{}");
  yolk__sb_putc(sb, '}');
}

char *yolk_sio_socket_handshake(const yolk_sio_socket_t *s, size_t *len) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sio_handshake_json(&sb, yolk_eio_socket_handshake(s->client->eio), s->auth, s->auth_len);
  if (len) *len = sb.len;
  return sb.data;
}

typedef struct {
  yolk_sb_t *sb;
  int first;
} rooms_writer_t;

static void put_room(const char *room, void *ud) {
  rooms_writer_t *w = ud;
  if (!w->first) yolk__sb_putc(w->sb, ',');
  yolk__json_write_cstr(w->sb, room);
  w->first = 0;
}

char *yolk_sio_socket_describe(yolk_sio_socket_t *s, size_t *len) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_puts(&sb, "{\"id\":");
  yolk__json_write_cstr(&sb, s->id);
  yolk__sb_puts(&sb, ",\"handshake\":");
  yolk__sio_handshake_json(&sb, yolk_eio_socket_handshake(s->client->eio), s->auth, s->auth_len);
  yolk__sb_puts(&sb, ",\"rooms\":[");
  rooms_writer_t w = {&sb, 1};
  s->nsp->adapter->vt->socket_rooms(s->nsp->adapter, s, put_room, &w);
  yolk__sb_puts(&sb, "],\"data\":");
  size_t dlen = 0;
  const char *data = NULL;
  if (s->nsp->h.data_json) {
    yolk__sio_socket_hold(s);
    data = s->nsp->h.data_json(s, &dlen, s->nsp->ud);
    yolk__sio_socket_release(s);
  }
  if (data) yolk__sb_append(&sb, data, dlen);
  else yolk__sb_puts(&sb, "null");
  yolk__sb_putc(&sb, '}');
  if (len) *len = sb.len;
  return sb.data;
}

/* ---- the public socket API ------------------------------------------------------------ */

const char *yolk_sio_socket_id(const yolk_sio_socket_t *s) { return s->id; }
yolk_sio_nsp_t *yolk_sio_socket_nsp(const yolk_sio_socket_t *s) { return s->nsp; }
yolk_eio_socket_t *yolk_sio_socket_engine(const yolk_sio_socket_t *s) { return s->client->eio; }
int yolk_sio_socket_protocol(const yolk_sio_socket_t *s) { return s->client->protocol; }
int yolk_sio_socket_connected(const yolk_sio_socket_t *s) {
  return s->state == YOLK_SIO_SOCKET_CONNECTED && !(s->deferred & (YOLK_SIO_DEFER_DISCONNECT | YOLK_SIO_DEFER_CLOSE));
}
int yolk_sio_socket_admitted(const yolk_sio_socket_t *s) { return s->admitted; }
const char *yolk_sio_socket_auth(const yolk_sio_socket_t *s, size_t *len) {
  if (len) *len = s->auth_len;
  return s->auth;
}
void yolk_sio_socket_set_data(yolk_sio_socket_t *s, void *data) { s->data = data; }
void *yolk_sio_socket_get_data(const yolk_sio_socket_t *s) { return s->data; }

void yolk_sio_socket_admit(yolk_sio_socket_t *s) { yolk__sio_socket_admit_now(s); }

void yolk_sio_socket_refuse(yolk_sio_socket_t *s, const char *message, const char *data_json, size_t data_len) {
  if (s->state != YOLK_SIO_SOCKET_PENDING) return;
  if (!message) message = "Not authorized";
  yolk_sb_t p;
  yolk__sb_init(&p);
  if (s->client->protocol == 4) {
    /* as the reference: the error's data when it has some, else its message */
    if (data_json && data_len && !(data_len == 4 && memcmp(data_json, "null", 4) == 0) &&
        !(data_len == 5 && memcmp(data_json, "false", 5) == 0))
      yolk__sb_append(&p, data_json, data_len);
    else
      yolk__json_write_cstr(&p, message);
  } else {
    yolk__sb_puts(&p, "{\"message\":");
    yolk__json_write_cstr(&p, message);
    if (data_json && data_len) {
      yolk__sb_puts(&p, ",\"data\":");
      yolk__sb_append(&p, data_json, data_len);
    }
    yolk__sb_putc(&p, '}');
  }
  yolk__sio_client_send(s->client, YOLK_SIO_PKT_CONNECT_ERROR, s->nsp->name, p.data, p.len);
  yolk__sb_free(&p);
  yolk__sio_socket_queue_drop(s, 0);
  s->state = YOLK_SIO_SOCKET_REFUSED;
  /* out of every room now, so nothing more is queued for it */
  s->nsp->adapter->vt->del_all(s->nsp->adapter, s);
  defer_socket(s, YOLK_SIO_DEFER_REFUSED);
}

static int args_ok(const char *what, const yolk_sio_args_t *args, int need_event) {
  const char *why = NULL;
  if (!args || !args->json) why = "no arguments";
  else yolk__sio_check_args(args->json, args->len, args->nbins, need_event, &why);
  if (why) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "%s refused: %s", what, why);
    return 0;
  }
  return 1;
}

int yolk_sio_socket_emit(yolk_sio_socket_t *s, const yolk_sio_args_t *args, int flags, yolk_sio_ack_cb ack_cb,
                         void *ack_ud, unsigned timeout_ms) {
  if (s->state != YOLK_SIO_SOCKET_PENDING && s->state != YOLK_SIO_SOCKET_CONNECTED) return -1;
  if (s->client->closing) return -1;
  if (!args_ok("emit", args, 1)) return -1;
  if (s->pid && !ack_cb && !(flags & YOLK_SIO_VOLATILE)) {
    /* recovery is on: through the adapter to the socket's own room, so that
     * the packet is stored and stamped like a broadcast (socket.io does the
     * same); this node has the socket, nobody else needs to hear of it */
    const char *room = s->id;
    yolk_sio_target_t t = {&room, 1, NULL, 0, YOLK_SIO_LOCAL};
    return yolk_sio_broadcast(s->nsp, &t, args);
  }
  int64_t id = ack_cb ? yolk__sio_ack_add(s, ack_cb, ack_ud, timeout_ms) : -1;
  yolk_sio_packet_t p;
  yolk__sio_packet_build(&p, YOLK_SIO_PKT_EVENT, s->nsp->name, id, args);
  yolk_sio_socket_deliver(s, &p, flags);
  yolk_sio_packet_release(&p);
  return 0;
}

int yolk_sio_socket_ack(yolk_sio_socket_t *s, int64_t ack_id, const yolk_sio_args_t *args) {
  if (s->state != YOLK_SIO_SOCKET_CONNECTED || s->client->closing) return -1;
  if (ack_id < 0) return -1;
  if (!args_ok("ack", args, 0)) return -1;
  yolk_sio_packet_t p;
  yolk__sio_packet_build(&p, YOLK_SIO_PKT_ACK, s->nsp->name, ack_id, args);
  yolk_sio_socket_deliver(s, &p, 0);
  yolk_sio_packet_release(&p);
  return 0;
}

void yolk_sio_socket_join(yolk_sio_socket_t *s, const char *room) {
  if (s->state != YOLK_SIO_SOCKET_PENDING && s->state != YOLK_SIO_SOCKET_CONNECTED) return;
  s->nsp->adapter->vt->add_all(s->nsp->adapter, s, &room, 1);
}

void yolk_sio_socket_leave(yolk_sio_socket_t *s, const char *room) {
  if (s->state != YOLK_SIO_SOCKET_PENDING && s->state != YOLK_SIO_SOCKET_CONNECTED) return;
  s->nsp->adapter->vt->del(s->nsp->adapter, s, room);
}

void yolk_sio_socket_rooms(const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud), void *ud) {
  if (s->state == YOLK_SIO_SOCKET_CLOSED) return;
  s->nsp->adapter->vt->socket_rooms(s->nsp->adapter, s, cb, ud);
}

void yolk_sio_socket_disconnect(yolk_sio_socket_t *s, int close) {
  if (s->state != YOLK_SIO_SOCKET_PENDING && s->state != YOLK_SIO_SOCKET_CONNECTED) return;
  defer_socket(s, close ? YOLK_SIO_DEFER_CLOSE : YOLK_SIO_DEFER_DISCONNECT);
}

int yolk_sio_socket_broadcast(yolk_sio_socket_t *s, const yolk_sio_target_t *to, const yolk_sio_args_t *args) {
  if (s->state == YOLK_SIO_SOCKET_CLOSED || s->state == YOLK_SIO_SOCKET_REFUSED) return -1;
  yolk_sio_target_t t = {NULL, 0, NULL, 0, 0};
  if (to) t = *to;
  const char *small[8];
  const char **except = t.nexcept + 1 <= 8 ? small : yolk__malloc((t.nexcept + 1) * sizeof(*except));
  for (size_t i = 0; i < t.nexcept; i++) except[i] = t.except[i];
  except[t.nexcept] = s->id;
  t.except = except;
  t.nexcept++;
  int rc = yolk_sio_broadcast(s->nsp, &t, args);
  if (except != small) free(except);
  return rc;
}
