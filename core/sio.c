/* sio.c - the Socket.IO server: clients, namespaces, sockets, acks, broadcast.
 * See sio.h for the structure and lifetimes, yolk.h for the public contract. */
#include "sio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "buf.h"
#include "id.h"
#include "server.h" /* yolk__server_add_route */
#include "log.h"

#define LOG_COMPONENT "sio"

#define YOLK_SIO_CLIENT_FILES 8

struct yolk_sio_ack_s {
  yolk_sio_ack_t *prev, *next;
  yolk_sio_socket_t *socket;
  int64_t id;
  yolk_sio_ack_cb cb;
  void *ud;
  int has_timer;
  uv_timer_t timer; /* the ack is freed in the timer's close callback */
};

typedef struct yolk_sio_deferred_call_s {
  struct yolk_sio_deferred_call_s *next;
  void (*fn)(void *arg);
  void *arg;
} yolk_sio_deferred_call_t;

struct yolk_sio_client_s {
  yolk_sio_server_t *sio;
  yolk_eio_socket_t *eio;
  int protocol; /* Socket.IO protocol: 5, or 4 for Engine.IO v3 sessions */
  yolk_sio_socket_t *sockets;
  uv_timer_t *connect_timer; /* NULL once a namespace was joined; freed in its close callback */
  int closing;               /* input is ignored; the Engine.IO session is closing */
  const char *close_reason;  /* overrides the Engine.IO reason for the sockets */
  /* A binary packet waiting for its attachments. */
  int reassembling;
  yolk_sio_packet_t partial;
  yolk_sio_bin_t *bins;
  size_t nbins;
  yolk_sio_client_t *prev, *next;
};

struct yolk_sio_server_s {
  yolk_server_t *srv;
  yolk_eio_server_t *eio;
  uv_loop_t *loop;
  yolk_sio_options_t opts; /* strings below are our copies */
  char *path;
  char *client_dist_dir;
  yolk_buf_t *client_file[YOLK_SIO_CLIENT_FILES]; /* read at attach; NULL: missing */
  char client_etag[YOLK_SIO_CLIENT_FILES][48];
  yolk_smap_t nsps;
  yolk_sio_client_t *clients;
  yolk_sio_adapter_factory_t adapter_factory;
  void *adapter_factory_ud;
  uv_idle_t *idle; /* runs deferred work; freed in its close callback */
  yolk_sio_socket_t *deferred_head, *deferred_tail;
  yolk_sio_deferred_call_t *calls_head, *calls_tail;
  int closing;
};

static void socket_finalize(yolk_sio_socket_t *s, const char *reason);
static void client_fail(yolk_sio_client_t *c, const char *reason, const char *why);

static void free_handle_cb(uv_handle_t *h) { free(h); }

/* ---- encoding --------------------------------------------------------------- */

static void encode_packet(yolk_sio_encoded_t *out, int type, const char *nsp, int64_t id, const cJSON *data,
                          const yolk_sio_bin_t *bins, size_t nbins) {
  if (nbins > 0) {
    if (type == YOLK_SIO_PKT_EVENT) type = YOLK_SIO_PKT_BINARY_EVENT;
    if (type == YOLK_SIO_PKT_ACK) type = YOLK_SIO_PKT_BINARY_ACK;
  }
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sio_encode(&sb, type, nsp, id, data, nbins);
  out->msgs = yolk__malloc((1 + nbins) * sizeof(*out->msgs));
  out->msgs[0] = yolk_eio_msg_new(0, sb.data, sb.len);
  for (size_t i = 0; i < nbins; i++) out->msgs[1 + i] = yolk_eio_msg_new(1, bins[i].data, bins[i].len);
  out->nmsgs = 1 + nbins;
  out->type = type;
  out->nsp = nsp;
  out->args = data;
  out->bins = bins;
  out->nbins = nbins;
  yolk__sb_free(&sb);
}

void yolk__sio_encode_event(yolk_sio_encoded_t *out, const char *nsp, const cJSON *args, const yolk_sio_bin_t *bins,
                            size_t nbins) {
  encode_packet(out, YOLK_SIO_PKT_EVENT, nsp, -1, args, bins, nbins);
}

void yolk__sio_encoded_release(yolk_sio_encoded_t *e) {
  for (size_t i = 0; i < e->nmsgs; i++) yolk_eio_msg_unref(e->msgs[i]);
  free(e->msgs);
  e->msgs = NULL;
  e->nmsgs = 0;
}

/* ---- writing to a client ------------------------------------------------------ */

/* Writes the messages of one packet in order. A volatile packet is all or
 * nothing: when the first message is dropped (transport not writable), the
 * attachments are not sent either. */
static void client_write(yolk_sio_client_t *c, yolk_eio_msg_t *const *msgs, size_t n, int flags) {
  if (c->closing) return;
  int eflags = (flags & YOLK_SIO_VOLATILE) ? YOLK_EIO_SEND_VOLATILE : 0;
  for (size_t i = 0; i < n; i++) {
    int rc = yolk_eio_send_msg(c->eio, msgs[i], i == 0 ? eflags : 0);
    if (rc != 0) return; /* closed, or a volatile packet dropped */
  }
}

static void client_send_packet(yolk_sio_client_t *c, int type, const char *nsp, int64_t id, const cJSON *data) {
  yolk_sio_encoded_t e;
  encode_packet(&e, type, nsp, id, data, NULL, 0);
  client_write(c, e.msgs, e.nmsgs, 0);
  yolk__sio_encoded_release(&e);
}

void yolk__sio_socket_deliver(yolk_sio_socket_t *s, const yolk_sio_encoded_t *pkt, int flags) {
  if (s->state == YOLK_SIO_SOCKET_CONNECTED) {
    client_write(s->client, pkt->msgs, pkt->nmsgs, flags);
    return;
  }
  switch (s->state) {
  case YOLK_SIO_SOCKET_PENDING: {
    if (flags & YOLK_SIO_VOLATILE) return; /* a pending socket is not writable */
    yolk_sio_queued_t *q = yolk__malloc(sizeof(*q) + pkt->nmsgs * sizeof(q->msgs[0]));
    q->next = NULL;
    q->nmsgs = pkt->nmsgs;
    q->flags = flags;
    for (size_t i = 0; i < pkt->nmsgs; i++) q->msgs[i] = yolk_eio_msg_ref(pkt->msgs[i]);
    if (s->queue_tail)
      s->queue_tail->next = q;
    else
      s->queue_head = q;
    s->queue_tail = q;
    return;
  }
  default:
    return;
  }
}

static void queue_drop(yolk_sio_socket_t *s, int flush) {
  yolk_sio_queued_t *q = s->queue_head;
  s->queue_head = s->queue_tail = NULL;
  while (q) {
    yolk_sio_queued_t *next = q->next;
    if (flush) client_write(s->client, q->msgs, q->nmsgs, q->flags);
    for (size_t i = 0; i < q->nmsgs; i++) yolk_eio_msg_unref(q->msgs[i]);
    free(q);
    q = next;
  }
}

/* ---- deferred work -------------------------------------------------------------- */

static void idle_cb(uv_idle_t *idle);

static void schedule(yolk_sio_server_t *sio) {
  if (sio->idle && !uv_is_active((uv_handle_t *)sio->idle)) uv_idle_start(sio->idle, idle_cb);
}

void yolk__sio_defer(yolk_sio_server_t *sio, void (*fn)(void *arg), void *arg) {
  yolk_sio_deferred_call_t *d = yolk__malloc(sizeof(*d));
  d->next = NULL;
  d->fn = fn;
  d->arg = arg;
  if (sio->calls_tail)
    sio->calls_tail->next = d;
  else
    sio->calls_head = d;
  sio->calls_tail = d;
  schedule(sio);
}

static void defer_socket(yolk_sio_socket_t *s, int what) {
  yolk_sio_server_t *sio = s->nsp->sio;
  s->deferred |= what;
  if (s->in_deferred_list) return;
  s->in_deferred_list = 1;
  s->deferred_next = NULL;
  s->deferred_prev = sio->deferred_tail;
  if (sio->deferred_tail)
    sio->deferred_tail->deferred_next = s;
  else
    sio->deferred_head = s;
  sio->deferred_tail = s;
  schedule(sio);
}

static void undefer_socket(yolk_sio_socket_t *s) {
  if (!s->in_deferred_list) return;
  yolk_sio_server_t *sio = s->nsp->sio;
  if (s->deferred_prev)
    s->deferred_prev->deferred_next = s->deferred_next;
  else
    sio->deferred_head = s->deferred_next;
  if (s->deferred_next)
    s->deferred_next->deferred_prev = s->deferred_prev;
  else
    sio->deferred_tail = s->deferred_prev;
  s->in_deferred_list = 0;
  s->deferred_prev = s->deferred_next = NULL;
}

static void socket_admit_now(yolk_sio_socket_t *s);
static void client_disconnect_all(yolk_sio_client_t *c);

static void run_deferred_socket(yolk_sio_socket_t *s) {
  int what = s->deferred;
  s->deferred = 0;
  if (what & YOLK_SIO_DEFER_REFUSED) {
    socket_finalize(s, "refused");
    return;
  }
  if (what & (YOLK_SIO_DEFER_DISCONNECT | YOLK_SIO_DEFER_CLOSE)) {
    if (s->state == YOLK_SIO_SOCKET_PENDING) socket_admit_now(s);
    if (s->state != YOLK_SIO_SOCKET_CONNECTED) return;
    if (what & YOLK_SIO_DEFER_CLOSE) {
      client_disconnect_all(s->client);
    } else {
      client_send_packet(s->client, YOLK_SIO_PKT_DISCONNECT, s->nsp->name, -1, NULL);
      socket_finalize(s, "server namespace disconnect");
    }
  }
}

static void idle_cb(uv_idle_t *idle) {
  yolk_sio_server_t *sio = idle->data;
  /* Work queued while this runs waits for the next iteration, so a callback
   * that keeps re-queueing cannot starve the loop. */
  size_t nsockets = 0;
  for (yolk_sio_socket_t *s = sio->deferred_head; s; s = s->deferred_next) nsockets++;
  while (nsockets-- > 0 && sio->deferred_head) {
    yolk_sio_socket_t *s = sio->deferred_head;
    undefer_socket(s);
    run_deferred_socket(s);
  }
  yolk_sio_deferred_call_t *calls = sio->calls_head;
  sio->calls_head = sio->calls_tail = NULL;
  while (calls) {
    yolk_sio_deferred_call_t *next = calls->next;
    calls->fn(calls->arg);
    free(calls);
    calls = next;
  }
  if (!sio->deferred_head && !sio->calls_head) uv_idle_stop(idle);
}

/* ---- acks (server -> client) ------------------------------------------------------ */

static void ack_close_cb(uv_handle_t *h) { free(h->data); }

static void ack_free(yolk_sio_ack_t *a) {
  if (a->has_timer) {
    uv_timer_stop(&a->timer);
    a->timer.data = a;
    uv_close((uv_handle_t *)&a->timer, ack_close_cb);
  } else {
    free(a);
  }
}

static void ack_unlink(yolk_sio_ack_t *a) {
  yolk_sio_socket_t *s = a->socket;
  if (a->prev)
    a->prev->next = a->next;
  else
    s->acks = a->next;
  if (a->next)
    a->next->prev = a->prev;
  else
    s->acks_tail = a->prev;
  a->prev = a->next = NULL;
}

static void ack_timeout_cb(uv_timer_t *t) {
  yolk_sio_ack_t *a = t->data;
  ack_unlink(a);
  yolk_sio_ack_cb cb = a->cb;
  void *ud = a->ud;
  ack_free(a);
  cb(ud, "timeout", NULL, NULL, 0);
}

static void acks_cancel(yolk_sio_socket_t *s) {
  while (s->acks) {
    yolk_sio_ack_t *a = s->acks;
    ack_unlink(a);
    yolk_sio_ack_cb cb = a->cb;
    void *ud = a->ud;
    ack_free(a);
    cb(ud, "socket disconnected", NULL, NULL, 0);
  }
}

static void socket_on_ack(yolk_sio_socket_t *s, const yolk_sio_packet_t *p, const yolk_sio_bin_t *bins, size_t nbins) {
  for (yolk_sio_ack_t *a = s->acks; a; a = a->next) {
    if (a->id != p->id) continue;
    ack_unlink(a);
    yolk_sio_ack_cb cb = a->cb;
    void *ud = a->ud;
    ack_free(a);
    cb(ud, NULL, p->data, bins, nbins);
    return;
  }
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "socket %s: ack %lld matches no pending emit (ignored)", s->id, (long long)p->id);
}

/* ---- sockets ---------------------------------------------------------------------- */

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
  for (int attempt = 0; attempt < 3; attempt++) {
    int ok = 0;
    if (sio->opts.generate_id && attempt == 0) {
      buf[0] = '\0';
      ok = sio->opts.generate_id(yolk_eio_socket_handshake(c->eio), buf, sizeof(buf), sio->opts.ud) == 0 &&
           buf[0] != '\0' && memchr(buf, '\0', sizeof(buf)) != NULL;
    }
    if (!ok) yolk__random_id(buf, 20);
    if (!yolk__smap_get(&nsp->sockets, buf)) return yolk__strndup(buf, strlen(buf));
  }
  yolk__random_id(buf, 40); /* 20 random characters twice colliding: take more */
  return yolk__strndup(buf, strlen(buf));
}

static yolk_sio_socket_t *client_find_socket(yolk_sio_client_t *c, const char *nsp_name) {
  for (yolk_sio_socket_t *s = c->sockets; s; s = s->next_in_client)
    if ((s->state == YOLK_SIO_SOCKET_PENDING || s->state == YOLK_SIO_SOCKET_CONNECTED) &&
        strcmp(s->nsp->name, nsp_name) == 0)
      return s;
  return NULL;
}

static void client_unlink_socket(yolk_sio_client_t *c, yolk_sio_socket_t *s) {
  for (yolk_sio_socket_t **pp = &c->sockets; *pp; pp = &(*pp)->next_in_client) {
    if (*pp == s) {
      *pp = s->next_in_client;
      break;
    }
  }
  s->next_in_client = NULL;
}

static void socket_admit_now(yolk_sio_socket_t *s) {
  if (s->state != YOLK_SIO_SOCKET_PENDING) return;
  yolk_sio_client_t *c = s->client;
  s->state = YOLK_SIO_SOCKET_CONNECTED;
  if (c->connect_timer) {
    uv_timer_stop(c->connect_timer);
    uv_close((uv_handle_t *)c->connect_timer, free_handle_cb);
    c->connect_timer = NULL;
  }
  if (c->protocol == 4) {
    client_send_packet(c, YOLK_SIO_PKT_CONNECT, s->nsp->name, -1, NULL);
  } else {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "sid", s->id);
    client_send_packet(c, YOLK_SIO_PKT_CONNECT, s->nsp->name, -1, d);
    cJSON_Delete(d);
  }
  queue_drop(s, 1);
}

/* on_disconnecting (if it was admitted), leave every room, cancel pending
 * acks, on_close, free. */
static void socket_finalize(yolk_sio_socket_t *s, const char *reason) {
  if (s->state == YOLK_SIO_SOCKET_CLOSED) return;
  yolk_sio_nsp_t *nsp = s->nsp;
  int was_connected = s->state == YOLK_SIO_SOCKET_CONNECTED;
  if (s->state == YOLK_SIO_SOCKET_REFUSED) reason = "refused";
  if (was_connected && nsp->h.on_disconnecting) nsp->h.on_disconnecting(s, reason, nsp->ud);
  s->state = YOLK_SIO_SOCKET_CLOSED;
  undefer_socket(s);
  nsp->adapter->vt->del_all(nsp->adapter, s);
  if (yolk__smap_get(&nsp->sockets, s->id) == s) yolk__smap_del(&nsp->sockets, s->id);
  queue_drop(s, 0);
  acks_cancel(s);
  client_unlink_socket(s->client, s);
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "socket %s left %s (%s)", s->id, nsp->name, reason);
  if (nsp->h.on_close) nsp->h.on_close(s, reason, nsp->ud);
  /* Acks registered from on_disconnecting/on_close cannot be answered any more. */
  acks_cancel(s);
  queue_drop(s, 0);
  undefer_socket(s);
  free(s->id);
  cJSON_Delete(s->auth);
  cJSON_Delete(s->data_json);
  free(s);
}

static void client_connect(yolk_sio_client_t *c, const char *nsp_name, cJSON *auth) {
  yolk_sio_server_t *sio = c->sio;
  yolk_sio_nsp_t *nsp = yolk_sio_find_nsp(sio, nsp_name);
  if (!nsp) {
    YOLK_LOG_INFO_(LOG_COMPONENT, "client %s: CONNECT to unknown namespace %s refused", yolk_eio_socket_id(c->eio),
                   nsp_name);
    cJSON *err;
    if (c->protocol == 4) {
      err = cJSON_CreateString("Invalid namespace");
    } else {
      err = cJSON_CreateObject();
      cJSON_AddStringToObject(err, "message", "Invalid namespace");
    }
    client_send_packet(c, YOLK_SIO_PKT_CONNECT_ERROR, nsp_name, -1, err);
    cJSON_Delete(err);
    cJSON_Delete(auth);
    return;
  }
  yolk_sio_socket_t *s = yolk__calloc(1, sizeof(*s));
  s->client = c;
  s->nsp = nsp;
  s->state = YOLK_SIO_SOCKET_PENDING;
  s->auth = auth ? auth : cJSON_CreateObject();
  s->id = make_socket_id(c, nsp);
  s->next_in_client = c->sockets;
  c->sockets = s;
  yolk__smap_put(&nsp->sockets, s->id, s);
  const char *own_room = s->id;
  nsp->adapter->vt->add_all(nsp->adapter, s, &own_room, 1);
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "socket %s joins %s", s->id, nsp->name);
  if (nsp->h.on_connect)
    nsp->h.on_connect(s, nsp->ud);
  else
    socket_admit_now(s); /* no handler: nothing to decide */
}

/* ---- clients ------------------------------------------------------------------------ */

static void client_free_partial(yolk_sio_client_t *c) {
  if (!c->reassembling) return;
  yolk__sio_packet_free(&c->partial);
  for (size_t i = 0; i < c->nbins; i++) free((void *)c->bins[i].data);
  free(c->bins);
  c->bins = NULL;
  c->nbins = 0;
  c->reassembling = 0;
}

static void client_fail(yolk_sio_client_t *c, const char *reason, const char *why) {
  if (c->closing) return;
  const yolk_eio_handshake_t *hs = yolk_eio_socket_handshake(c->eio);
  YOLK_LOG_WARN_(LOG_COMPONENT, "client %s (%s): %s; closing the connection", yolk_eio_socket_id(c->eio),
                 hs && hs->remote_addr ? hs->remote_addr : "?", why);
  c->closing = 1;
  c->close_reason = reason;
  client_free_partial(c);
  yolk_eio_socket_close(c->eio);
}

/* Disconnects every namespace (DISCONNECT each), then closes the session. */
static void client_disconnect_all(yolk_sio_client_t *c) {
  while (c->sockets) {
    yolk_sio_socket_t *s = c->sockets;
    if (s->state == YOLK_SIO_SOCKET_CONNECTED) {
      client_send_packet(c, YOLK_SIO_PKT_DISCONNECT, s->nsp->name, -1, NULL);
    }
    socket_finalize(s, "server namespace disconnect");
  }
  if (!c->closing) {
    c->closing = 1;
    c->close_reason = "forced server close";
    client_free_partial(c);
    yolk_eio_socket_close(c->eio);
  }
}

static void client_dispatch(yolk_sio_client_t *c, yolk_sio_packet_t *p, const yolk_sio_bin_t *bins, size_t nbins) {
  const char *why = NULL;
  if (nbins > 0 || p->type == YOLK_SIO_PKT_BINARY_EVENT || p->type == YOLK_SIO_PKT_BINARY_ACK) {
    if (yolk__sio_check_placeholders(p->data, nbins, &why) < 0) {
      client_fail(c, "parse error", why);
      return;
    }
  } else if (yolk__sio_check_placeholders(p->data, 0, &why) < 0) {
    /* A placeholder in a text packet would index attachments that do not
     * exist; the embedder would have to re-check every index. */
    client_fail(c, "parse error", "placeholder in a packet without attachments");
    return;
  }

  char *nsp_name;
  cJSON *query_auth = NULL;
  if (c->protocol == 4) {
    nsp_name = yolk__sio_split_nsp_query(p->nsp, &query_auth);
  } else {
    nsp_name = yolk__strndup(p->nsp, strlen(p->nsp));
  }
  yolk_sio_socket_t *s = client_find_socket(c, nsp_name);

  if (p->type == YOLK_SIO_PKT_CONNECT) {
    if (s) {
      /* socket.io-client sends CONNECT twice when connect() is called on a
       * socket that auto-connects; the reference server, which admits on the
       * next tick, creates a second socket then. One socket per namespace is
       * the sane reading: the repeat is ignored. */
      YOLK_LOG_WARN_(LOG_COMPONENT, "client %s: repeated CONNECT for %s ignored", yolk_eio_socket_id(c->eio),
                     nsp_name);
      free(nsp_name);
      cJSON_Delete(query_auth);
      return;
    }
    cJSON *auth;
    if (c->protocol == 4) {
      auth = query_auth;
      query_auth = NULL;
    } else {
      auth = p->data;
      p->data = NULL;
    }
    client_connect(c, nsp_name, auth);
    free(nsp_name);
    return;
  }
  free(nsp_name);
  cJSON_Delete(query_auth);

  if (!s || s->state != YOLK_SIO_SOCKET_CONNECTED) {
    client_fail(c, "forced server close", "packet for a namespace the client has not joined");
    return;
  }
  yolk_sio_nsp_t *nsp = s->nsp;
  switch (p->type) {
  case YOLK_SIO_PKT_EVENT:
  case YOLK_SIO_PKT_BINARY_EVENT:
    if (nsp->h.on_event) nsp->h.on_event(s, p->data, bins, nbins, p->id, nsp->ud);
    break;
  case YOLK_SIO_PKT_ACK:
  case YOLK_SIO_PKT_BINARY_ACK:
    socket_on_ack(s, p, bins, nbins);
    break;
  case YOLK_SIO_PKT_DISCONNECT:
    socket_finalize(s, "client namespace disconnect");
    break;
  default:
    client_fail(c, "forced server close", "CONNECT_ERROR packet from a client");
    break;
  }
}

static void on_eio_message(yolk_eio_socket_t *eio, int binary, const char *data, size_t len, void *ud) {
  yolk_sio_client_t *c = ud;
  if (c->closing) return;
  if (binary) {
    if (!c->reassembling) {
      client_fail(c, "parse error", "binary message without a pending binary packet");
      return;
    }
    char *copy = yolk__malloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    c->bins[c->nbins].data = copy;
    c->bins[c->nbins].len = len;
    c->nbins++;
    if (c->nbins < c->partial.attachments) return;
    yolk_sio_packet_t p = c->partial;
    yolk_sio_bin_t *bins = c->bins;
    size_t n = c->nbins;
    c->reassembling = 0;
    c->bins = NULL;
    c->nbins = 0;
    memset(&c->partial, 0, sizeof(c->partial));
    client_dispatch(c, &p, bins, n);
    yolk__sio_packet_free(&p);
    for (size_t i = 0; i < n; i++) free((void *)bins[i].data);
    free(bins);
    return;
  }
  if (c->reassembling) {
    client_fail(c, "parse error", "text message while waiting for binary attachments");
    return;
  }
  yolk_sio_packet_t p;
  const char *why;
  if (yolk__sio_decode(data, len, c->sio->opts.max_attachments, &p, &why) < 0) {
    client_fail(c, "parse error", why);
    return;
  }
  if ((p.type == YOLK_SIO_PKT_BINARY_EVENT || p.type == YOLK_SIO_PKT_BINARY_ACK) && p.attachments > 0) {
    c->partial = p;
    c->reassembling = 1;
    c->bins = yolk__calloc(p.attachments, sizeof(*c->bins));
    c->nbins = 0;
    return;
  }
  client_dispatch(c, &p, NULL, 0);
  yolk__sio_packet_free(&p);
}

static void on_eio_close(yolk_eio_socket_t *eio, const char *reason, void *ud) {
  yolk_sio_client_t *c = ud;
  yolk_sio_server_t *sio = c->sio;
  c->closing = 1;
  if (c->close_reason) reason = c->close_reason;
  if (sio->closing) reason = "server shutting down";
  while (c->sockets) socket_finalize(c->sockets, reason);
  client_free_partial(c);
  if (c->connect_timer) {
    uv_timer_stop(c->connect_timer);
    uv_close((uv_handle_t *)c->connect_timer, free_handle_cb);
    c->connect_timer = NULL;
  }
  if (c->prev)
    c->prev->next = c->next;
  else
    sio->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
}

static void connect_timeout_cb(uv_timer_t *t) {
  yolk_sio_client_t *c = t->data;
  for (yolk_sio_socket_t *s = c->sockets; s; s = s->next_in_client)
    if (s->state == YOLK_SIO_SOCKET_CONNECTED) return;
  YOLK_LOG_INFO_(LOG_COMPONENT, "client %s joined no namespace within %u ms; closing", yolk_eio_socket_id(c->eio),
                 c->sio->opts.connect_timeout_ms);
  if (!c->closing) {
    c->closing = 1;
    c->close_reason = "forced server close";
    client_free_partial(c);
    yolk_eio_socket_close(c->eio);
  }
}

static void on_eio_connection(yolk_eio_socket_t *eio, void *ud) {
  yolk_sio_server_t *sio = ud;
  yolk_sio_client_t *c = yolk__calloc(1, sizeof(*c));
  c->sio = sio;
  c->eio = eio;
  c->protocol = yolk_eio_socket_protocol(eio) == 3 ? 4 : 5;
  c->next = sio->clients;
  if (c->next) c->next->prev = c;
  sio->clients = c;
  static const yolk_eio_socket_handler_t handler = {on_eio_message, on_eio_close, NULL};
  yolk_eio_socket_set_handler(eio, &handler, c);
  c->connect_timer = yolk__malloc(sizeof(*c->connect_timer));
  uv_timer_init(sio->loop, c->connect_timer);
  c->connect_timer->data = c;
  uv_timer_start(c->connect_timer, connect_timeout_cb, sio->opts.connect_timeout_ms, 0);
  if (sio->closing) { /* yolk_sio_close was called: no new clients */
    c->closing = 1;
    c->close_reason = "server shutting down";
    yolk_eio_socket_close(eio);
    return;
  }
  /* Protocol v4: the client never asks for "/"; the server joins it. */
  if (c->protocol == 4) client_connect(c, "/", NULL);
}

/* ---- handshake description ---------------------------------------------------------- */

static cJSON *handshake_json(const yolk_sio_socket_t *s) {
  const yolk_eio_handshake_t *hs = yolk_eio_socket_handshake(s->client->eio);
  cJSON *o = cJSON_CreateObject();
  cJSON *headers = cJSON_AddObjectToObject(o, "headers");
  int xdomain = 0;
  for (size_t i = 0; hs && i < hs->nheaders; i++) {
    cJSON_DeleteItemFromObjectCaseSensitive(headers, hs->header_names[i]);
    cJSON_AddStringToObject(headers, hs->header_names[i], hs->header_values[i]);
    if (strcmp(hs->header_names[i], "origin") == 0) xdomain = 1;
  }
  char when[96] = "";
  if (hs) {
    /* Date.prototype.toString's shape, in UTC. */
    time_t secs = (time_t)(hs->time_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof(when), "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
  }
  cJSON_AddStringToObject(o, "time", when);
  cJSON_AddStringToObject(o, "address", hs && hs->remote_addr ? hs->remote_addr : "");
  cJSON_AddBoolToObject(o, "xdomain", xdomain);
  cJSON_AddBoolToObject(o, "secure", 0);
  cJSON_AddNumberToObject(o, "issued", hs ? (double)hs->time_ms : 0);
  cJSON_AddStringToObject(o, "url", hs && hs->url ? hs->url : "");
  cJSON *query = NULL;
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "/?%s", hs && hs->query ? hs->query : "");
  free(yolk__sio_split_nsp_query(sb.data, &query));
  yolk__sb_free(&sb);
  cJSON_AddItemToObject(o, "query", query);
  cJSON_AddItemToObject(o, "auth", cJSON_Duplicate(s->auth, 1));
  return o;
}

cJSON *yolk_sio_socket_handshake(const yolk_sio_socket_t *s) { return handshake_json(s); }

static void add_room_cb(const char *room, void *ud) { cJSON_AddItemToArray(ud, cJSON_CreateString(room)); }

cJSON *yolk__sio_socket_describe(yolk_sio_socket_t *s) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", s->id);
  cJSON *rooms = cJSON_AddArrayToObject(o, "rooms");
  s->nsp->adapter->vt->socket_rooms(s->nsp->adapter, s, add_room_cb, rooms);
  cJSON_AddItemToObject(o, "handshake", handshake_json(s));
  cJSON_AddItemToObject(o, "data", s->data_json ? cJSON_Duplicate(s->data_json, 1) : cJSON_CreateNull());
  return o;
}

/* ---- public API: server and namespaces ------------------------------------------------ */

void yolk_sio_options_init(yolk_sio_options_t *opts) {
  memset(opts, 0, sizeof(*opts));
  yolk_eio_options_init(&opts->eio);
  opts->eio.path = "/socket.io/";
  opts->connect_timeout_ms = 45000;
  opts->max_attachments = 10;
}

static yolk_sio_nsp_t *nsp_new(yolk_sio_server_t *sio, const char *name) {
  yolk_sio_nsp_t *nsp = yolk__calloc(1, sizeof(*nsp));
  nsp->sio = sio;
  nsp->name = yolk__strndup(name, strlen(name));
  yolk__smap_init(&nsp->sockets);
  nsp->adapter = sio->adapter_factory(nsp, sio->adapter_factory_ud);
  yolk__smap_put(&sio->nsps, nsp->name, nsp);
  return nsp;
}

static void nsp_free(yolk_sio_nsp_t *nsp) {
  nsp->adapter->vt->destroy(nsp->adapter);
  yolk__smap_free(&nsp->sockets);
  free(nsp->name);
  free(nsp);
}

static int client_file_claims(const yolk_http_req_t *req, void *ud);
static void serve_client_file(yolk_http_req_t *req, void *ud);
static void load_client_files(yolk_sio_server_t *sio);
static void free_client_files(yolk_sio_server_t *sio);
static void sio_free(void *arg);

yolk_sio_server_t *yolk_sio_attach(yolk_server_t *srv, const yolk_sio_options_t *opts) {
  yolk_sio_server_t *sio = yolk__calloc(1, sizeof(*sio));
  yolk_sio_options_t defaults;
  if (!opts) {
    yolk_sio_options_init(&defaults);
    opts = &defaults;
  }
  sio->srv = srv;
  sio->loop = yolk_server_loop(srv);
  sio->opts = *opts;
  const char *path = opts->eio.path ? opts->eio.path : "/socket.io/";
  size_t path_len = strlen(path);
  sio->path = yolk__malloc(path_len + 2);
  memcpy(sio->path, path, path_len + 1);
  if (path_len == 0 || path[path_len - 1] != '/') memcpy(sio->path + path_len, "/", 2); /* as Engine.IO does */
  sio->opts.eio.path = sio->path;
  if (opts->client_dist_dir) {
    sio->client_dist_dir = yolk__strndup(opts->client_dist_dir, strlen(opts->client_dist_dir));
    sio->opts.client_dist_dir = sio->client_dist_dir;
  }
  if (sio->opts.max_attachments == 0) sio->opts.max_attachments = 10;
  if (sio->opts.connect_timeout_ms == 0) sio->opts.connect_timeout_ms = 45000;
  sio->opts.eio.on_connection = on_eio_connection;
  sio->opts.eio.ud = sio;
  yolk__smap_init(&sio->nsps);
  sio->adapter_factory = yolk__adapter_memory_new;
  sio->idle = yolk__malloc(sizeof(*sio->idle));
  uv_idle_init(sio->loop, sio->idle);
  sio->idle->data = sio;
  uv_unref((uv_handle_t *)sio->idle);
  nsp_new(sio, "/");
  if (sio->client_dist_dir) load_client_files(sio);
  /* before Engine.IO's route, which claims everything under the path */
  yolk_route_t route = {client_file_claims, serve_client_file, 0, NULL, sio_free, sio};
  yolk__server_add_route(srv, &route);
  sio->eio = yolk_eio_attach(srv, &sio->opts.eio);
  return sio;
}

yolk_eio_server_t *yolk_sio_engine(yolk_sio_server_t *sio) { return sio->eio; }
uv_loop_t *yolk__sio_loop(const yolk_sio_server_t *sio) { return sio->loop; }

void yolk__sio_set_adapter_factory(yolk_sio_server_t *sio, yolk_sio_adapter_factory_t factory, void *ud) {
  sio->adapter_factory = factory ? factory : yolk__adapter_memory_new;
  sio->adapter_factory_ud = ud;
  /* Namespaces without sockets yet get the new adapter now (typically "/"
   * right after attach). */
  for (size_t i = 0; i < sio->nsps.cap; i++) {
    yolk_sio_nsp_t *nsp = sio->nsps.slots[i].value;
    if (!sio->nsps.slots[i].key || nsp->sockets.len) continue;
    nsp->adapter->vt->destroy(nsp->adapter);
    nsp->adapter = sio->adapter_factory(nsp, sio->adapter_factory_ud);
  }
}

static char *normalize_nsp(const char *name) {
  if (!name || !*name) return yolk__strndup("/", 1);
  if (name[0] == '/') return yolk__strndup(name, strlen(name));
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb, "/%s", name);
  return sb.data;
}

yolk_sio_nsp_t *yolk_sio_of(yolk_sio_server_t *sio, const char *name) {
  char *n = normalize_nsp(name);
  yolk_sio_nsp_t *nsp = yolk__smap_get(&sio->nsps, n);
  if (!nsp) nsp = nsp_new(sio, n);
  free(n);
  return nsp;
}

yolk_sio_nsp_t *yolk_sio_find_nsp(yolk_sio_server_t *sio, const char *name) {
  char *n = normalize_nsp(name);
  yolk_sio_nsp_t *nsp = yolk__smap_get(&sio->nsps, n);
  free(n);
  return nsp;
}

const char *yolk_sio_nsp_name(const yolk_sio_nsp_t *nsp) { return nsp->name; }
yolk_sio_server_t *yolk_sio_nsp_server(const yolk_sio_nsp_t *nsp) { return nsp->sio; }

void yolk_sio_nsp_set_handler(yolk_sio_nsp_t *nsp, const yolk_sio_nsp_handler_t *h, void *ud) {
  if (h)
    nsp->h = *h;
  else
    memset(&nsp->h, 0, sizeof(nsp->h));
  nsp->ud = ud;
}

void yolk_sio_close(yolk_sio_server_t *sio) {
  sio->closing = 1;
  for (yolk_sio_client_t *c = sio->clients; c; c = c->next) {
    if (c->closing) continue;
    c->closing = 1;
    c->close_reason = "server shutting down";
    client_free_partial(c);
    yolk_eio_socket_close(c->eio);
  }
}

/* Frees what the server owns once every client is gone (the server's close). */
static void sio_free(void *arg) {
  yolk_sio_server_t *sio = arg;
  while (sio->calls_head) {
    yolk_sio_deferred_call_t *d = sio->calls_head;
    sio->calls_head = d->next;
    d->fn(d->arg);
    free(d);
  }
  for (size_t i = 0; i < sio->nsps.cap; i++)
    if (sio->nsps.slots[i].key) nsp_free(sio->nsps.slots[i].value);
  yolk__smap_free(&sio->nsps);
  uv_close((uv_handle_t *)sio->idle, free_handle_cb);
  free(sio->path);
  free_client_files(sio);
  free(sio->client_dist_dir);
  free(sio);
}

/* ---- public API: sockets --------------------------------------------------------------- */

const char *yolk_sio_socket_id(const yolk_sio_socket_t *s) { return s->id; }
yolk_sio_nsp_t *yolk_sio_socket_nsp(const yolk_sio_socket_t *s) { return s->nsp; }
yolk_eio_socket_t *yolk_sio_socket_engine(const yolk_sio_socket_t *s) { return s->client->eio; }
int yolk_sio_socket_protocol(const yolk_sio_socket_t *s) { return s->client->protocol; }
int yolk_sio_socket_connected(const yolk_sio_socket_t *s) {
  return s->state == YOLK_SIO_SOCKET_CONNECTED && !(s->deferred & (YOLK_SIO_DEFER_DISCONNECT | YOLK_SIO_DEFER_CLOSE));
}
const cJSON *yolk_sio_socket_auth(const yolk_sio_socket_t *s) { return s->auth; }
void yolk_sio_socket_set_data(yolk_sio_socket_t *s, void *data) { s->data = data; }
void *yolk_sio_socket_get_data(const yolk_sio_socket_t *s) { return s->data; }

void yolk_sio_socket_set_data_json(yolk_sio_socket_t *s, const cJSON *data) {
  cJSON_Delete(s->data_json);
  s->data_json = data ? cJSON_Duplicate(data, 1) : NULL;
}

void yolk_sio_socket_admit(yolk_sio_socket_t *s) {
  if (s->state != YOLK_SIO_SOCKET_PENDING) return;
  socket_admit_now(s);
}

void yolk_sio_socket_refuse(yolk_sio_socket_t *s, const cJSON *err) {
  if (s->state != YOLK_SIO_SOCKET_PENDING) return;
  yolk_sio_client_t *c = s->client;
  cJSON *payload;
  if (c->protocol == 4) {
    /* As the reference: the error's data when it has some, else its message. */
    const cJSON *data = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "data") : NULL;
    const cJSON *msg = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : NULL;
    if (data && !cJSON_IsNull(data) && !cJSON_IsFalse(data))
      payload = cJSON_Duplicate(data, 1);
    else if (msg)
      payload = cJSON_Duplicate(msg, 1);
    else if (err && !cJSON_IsObject(err))
      payload = cJSON_Duplicate(err, 1);
    else
      payload = cJSON_CreateString("Not authorized");
  } else if (cJSON_IsObject(err)) {
    payload = cJSON_Duplicate(err, 1);
  } else {
    payload = cJSON_CreateObject();
    if (cJSON_IsString(err))
      cJSON_AddStringToObject(payload, "message", err->valuestring);
    else
      cJSON_AddStringToObject(payload, "message", "Not authorized");
  }
  client_send_packet(c, YOLK_SIO_PKT_CONNECT_ERROR, s->nsp->name, -1, payload);
  cJSON_Delete(payload);
  queue_drop(s, 0);
  s->state = YOLK_SIO_SOCKET_REFUSED;
  /* Out of every room now, so nothing more is queued for it. */
  s->nsp->adapter->vt->del_all(s->nsp->adapter, s);
  defer_socket(s, YOLK_SIO_DEFER_REFUSED);
}

static int args_ok(const char *what, const cJSON *args, size_t nbins, int need_event) {
  const char *why = NULL;
  if (!cJSON_IsArray(args)) {
    why = "args is not an array";
  } else if (need_event) {
    const cJSON *first = args->child;
    if (!first || !(cJSON_IsString(first) || cJSON_IsNumber(first)))
      why = "the first element is not an event name";
    else if (cJSON_IsString(first) && yolk__sio_is_reserved_event(first->valuestring))
      why = "the event name is reserved";
  }
  if (!why) yolk__sio_check_placeholders(args, nbins, &why);
  if (why) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "%s refused: %s", what, why);
    return 0;
  }
  return 1;
}

int yolk_sio_socket_emit(yolk_sio_socket_t *s, const cJSON *args, const yolk_sio_bin_t *bins, size_t nbins, int flags,
                         yolk_sio_ack_cb ack_cb, void *ack_ud, unsigned timeout_ms) {
  if (s->state != YOLK_SIO_SOCKET_PENDING && s->state != YOLK_SIO_SOCKET_CONNECTED) return -1;
  if (s->client->closing) return -1;
  if (!args_ok("emit", args, nbins, 1)) return -1;
  int64_t id = -1;
  if (ack_cb) {
    id = s->next_ack_id++;
    yolk_sio_ack_t *a = yolk__calloc(1, sizeof(*a));
    a->socket = s;
    a->id = id;
    a->cb = ack_cb;
    a->ud = ack_ud;
    a->prev = s->acks_tail;
    if (s->acks_tail)
      s->acks_tail->next = a;
    else
      s->acks = a;
    s->acks_tail = a;
    if (timeout_ms > 0) {
      a->has_timer = 1;
      uv_timer_init(s->nsp->sio->loop, &a->timer);
      a->timer.data = a;
      uv_timer_start(&a->timer, ack_timeout_cb, timeout_ms, 0);
    }
  }
  yolk_sio_encoded_t e;
  encode_packet(&e, YOLK_SIO_PKT_EVENT, s->nsp->name, id, args, bins, nbins);
  yolk__sio_socket_deliver(s, &e, flags);
  yolk__sio_encoded_release(&e);
  return 0;
}

int yolk_sio_socket_ack(yolk_sio_socket_t *s, int64_t ack_id, const cJSON *args, const yolk_sio_bin_t *bins,
                        size_t nbins) {
  if (s->state != YOLK_SIO_SOCKET_CONNECTED || s->client->closing) return -1;
  if (ack_id < 0) return -1;
  if (!args_ok("ack", args, nbins, 0)) return -1;
  yolk_sio_encoded_t e;
  encode_packet(&e, YOLK_SIO_PKT_ACK, s->nsp->name, ack_id, args, bins, nbins);
  yolk__sio_socket_deliver(s, &e, 0);
  yolk__sio_encoded_release(&e);
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

/* ---- public API: namespace-wide operations -------------------------------------------- */

int yolk_sio_broadcast(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const cJSON *args, const yolk_sio_bin_t *bins,
                       size_t nbins) {
  if (!args_ok("broadcast", args, nbins, 1)) return -1;
  static const yolk_sio_target_t everyone = {NULL, 0, NULL, 0, 0};
  if (!to) to = &everyone;
  yolk_sio_encoded_t e;
  yolk__sio_encode_event(&e, nsp->name, args, bins, nbins);
  nsp->adapter->vt->broadcast(nsp->adapter, &e, to);
  yolk__sio_encoded_release(&e);
  return 0;
}

int yolk_sio_socket_broadcast(yolk_sio_socket_t *s, const yolk_sio_target_t *to, const cJSON *args,
                              const yolk_sio_bin_t *bins, size_t nbins) {
  if (s->state == YOLK_SIO_SOCKET_CLOSED || s->state == YOLK_SIO_SOCKET_REFUSED) return -1;
  yolk_sio_target_t t = {NULL, 0, NULL, 0, 0};
  if (to) t = *to;
  const char *small[8];
  const char **except = t.nexcept + 1 <= 8 ? small : yolk__malloc((t.nexcept + 1) * sizeof(*except));
  for (size_t i = 0; i < t.nexcept; i++) except[i] = t.except[i];
  except[t.nexcept] = s->id;
  t.except = except;
  t.nexcept++;
  int rc = yolk_sio_broadcast(s->nsp, &t, args, bins, nbins);
  if (except != small) free(except);
  return rc;
}

void yolk_sio_fetch_sockets(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud) {
  static const yolk_sio_target_t everyone = {NULL, 0, NULL, 0, 0};
  nsp->adapter->vt->fetch_sockets(nsp->adapter, to ? to : &everyone, cb, ud);
}

void yolk_sio_sockets_join(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  static const yolk_sio_target_t everyone = {NULL, 0, NULL, 0, 0};
  nsp->adapter->vt->add_sockets(nsp->adapter, to ? to : &everyone, rooms, n);
}

void yolk_sio_sockets_leave(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  static const yolk_sio_target_t everyone = {NULL, 0, NULL, 0, 0};
  nsp->adapter->vt->del_sockets(nsp->adapter, to ? to : &everyone, rooms, n);
}

void yolk_sio_disconnect_sockets(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, int close) {
  static const yolk_sio_target_t everyone = {NULL, 0, NULL, 0, 0};
  nsp->adapter->vt->disconnect_sockets(nsp->adapter, to ? to : &everyone, close);
}

yolk_sio_socket_t *yolk_sio_nsp_socket(yolk_sio_nsp_t *nsp, const char *id) {
  yolk_sio_socket_t *s = yolk__smap_get(&nsp->sockets, id);
  if (!s || s->state == YOLK_SIO_SOCKET_CLOSED || s->state == YOLK_SIO_SOCKET_REFUSED) return NULL;
  return s;
}

int yolk_sio_server_side_emit(yolk_sio_nsp_t *nsp, const cJSON *args) {
  if (!cJSON_IsArray(args) || !args->child) return -1;
  return nsp->adapter->vt->server_side_emit(nsp->adapter, args);
}

void yolk_sio_nsp_on_server_event(yolk_sio_nsp_t *nsp, yolk_sio_server_event_cb cb, void *ud) {
  nsp->server_event_cb = cb;
  nsp->server_event_ud = ud;
}

void yolk__sio_nsp_server_event(yolk_sio_nsp_t *nsp, const cJSON *args) {
  if (nsp->server_event_cb) nsp->server_event_cb(nsp, args, nsp->server_event_ud);
}

/* ---- the browser client ----------------------------------------------------------------- */

static const char *const client_files[YOLK_SIO_CLIENT_FILES] = {
    "socket.io.js",         "socket.io.js.map",         "socket.io.min.js",
    "socket.io.min.js.map", "socket.io.esm.min.js",     "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
};

/* Reads the client files once, when the server is attached (before the loop
 * serves anything), so requests are answered from memory without touching
 * the disk on the loop. A file that is missing is answered 404. */
static void load_client_files(yolk_sio_server_t *sio) {
  int loaded = 0;
  for (size_t i = 0; i < YOLK_SIO_CLIENT_FILES; i++) {
    yolk_sb_t fpath;
    yolk__sb_init(&fpath);
    yolk__sb_printf(&fpath, "%s/%s", sio->client_dist_dir, client_files[i]);
    int fd = open(fpath.data, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      if (fd >= 0) close(fd);
      yolk__sb_free(&fpath);
      continue;
    }
    yolk_buf_t *b = yolk__buf_new((size_t)st.st_size);
    size_t got = 0;
    while (got < b->len) {
      ssize_t n = read(fd, b->data + got, b->len - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
    }
    close(fd);
    if (got != b->len) {
      YOLK_LOG_WARN_(LOG_COMPONENT, "client file %s: short read, not served", fpath.data);
      yolk__buf_unref(b);
      yolk__sb_free(&fpath);
      continue;
    }
    yolk__sb_free(&fpath);
    sio->client_file[i] = b;
    snprintf(sio->client_etag[i], sizeof(sio->client_etag[i]), "W/\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtime);
    loaded++;
  }
  if (!loaded)
    YOLK_LOG_WARN_(LOG_COMPONENT, "no socket.io client file found in %s", sio->client_dist_dir);
  else
    YOLK_LOG_DEBUG_(LOG_COMPONENT, "%d socket.io client files loaded from %s", loaded, sio->client_dist_dir);
}

static void free_client_files(yolk_sio_server_t *sio) {
  for (size_t i = 0; i < YOLK_SIO_CLIENT_FILES; i++) yolk__buf_unref(sio->client_file[i]);
}

/* The client file req asks for (GET/HEAD <path>socket.io[.min|.esm.min|
 * .msgpack.min].js[.map]), or -1. */
static int client_file_index(const yolk_sio_server_t *sio, const yolk_http_req_t *req) {
  if (!sio->client_dist_dir) return -1;
  const char *path = yolk_http_req_path(req);
  size_t plen = strlen(sio->path);
  if (strncmp(path, sio->path, plen) != 0) return -1;
  const char *method = yolk_http_req_method(req);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return -1;
  for (int i = 0; i < YOLK_SIO_CLIENT_FILES; i++)
    if (strcmp(path + plen, client_files[i]) == 0) return i;
  return -1;
}

static int client_file_claims(const yolk_http_req_t *req, void *ud) { return client_file_index(ud, req) >= 0; }

static void serve_client_file(yolk_http_req_t *req, void *ud) {
  yolk_sio_server_t *sio = ud;
  int idx = client_file_index(sio, req);
  const char *file = client_files[idx];
  int head = strcmp(yolk_http_req_method(req), "HEAD") == 0;
  yolk_buf_t *body = sio->client_file[idx];
  if (!body) {
    yolk_http_respond(req, 404, "Content-Type: text/plain\r\n", "Not Found", 9);
    return;
  }
  const char *etag = sio->client_etag[idx];
  char headers[256];
  int is_map = strstr(file, ".map") != NULL;
  snprintf(headers, sizeof(headers), "Content-Type: %s\r\nCache-Control: public, max-age=0\r\nETag: %s\r\n",
           is_map ? "application/json" : "application/javascript; charset=utf-8", etag);
  const char *inm = yolk_http_req_header(req, "if-none-match");
  if (inm && strcmp(inm, etag) == 0)
    yolk_http_respond(req, 304, headers, NULL, 0);
  else if (head)
    yolk_http_respond(req, 200, headers, NULL, 0);
  else
    yolk_http_respond(req, 200, headers, body->data, body->len);
}
