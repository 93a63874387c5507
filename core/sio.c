/* sio.c - the Socket.IO server: its clients (one per Engine.IO session:
 * decoding packets, reassembling binary ones, connectTimeout, routing by
 * namespace) and its namespaces. See sio.h for the structure and
 * lifetimes, yolk.h for the public contract; sockets are in sio_socket.c. */
#include "sio.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "eio.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "server.h" /* yolk__server_add_route, yolk_server_metrics */
#include "static.h"

#define LOG_COMPONENT "sio"

void yolk__free_handle(uv_handle_t *h) { free(h); }

static const yolk_sio_target_t everyone = {NULL, 0, NULL, 0, 0};

/* ---- clients ------------------------------------------------------------------------ */

/* The client's live socket in the namespace named name[0..len) (which may
 * hold NUL bytes: a client wrote it). */
static yolk_sio_socket_t *client_find_socket_n(yolk_sio_client_t *c, const char *name, size_t len) {
  yolk_list_t *n;
  yolk__list_foreach(n, &c->sockets) {
    yolk_sio_socket_t *s = yolk__list_entry(n, yolk_sio_socket_t, client_node);
    if ((s->state == YOLK_SIO_SOCKET_PENDING || s->state == YOLK_SIO_SOCKET_CONNECTED) &&
        strlen(s->nsp->name) == len && memcmp(s->nsp->name, name, len) == 0)
      return s;
  }
  return NULL;
}

static void client_free_partial(yolk_sio_client_t *c) {
  yolk_sio_partial_t *pt = c->partial;
  if (!pt) return;
  c->partial = NULL;
  free(pt->text);
  for (size_t i = 0; i < pt->nbins; i++) free((void *)pt->bins[i].data);
  free(pt->bins);
  free(pt);
}

static void client_close(yolk_sio_client_t *c, const char *reason) {
  if (c->closing) return;
  c->closing = 1;
  c->close_reason = reason;
  client_free_partial(c);
  yolk_eio_socket_close(c->eio);
}

static void client_fail(yolk_sio_client_t *c, const char *reason, const char *why) {
  if (c->closing) return;
  const yolk_eio_handshake_t *hs = yolk_eio_socket_handshake(c->eio);
  YOLK_LOG_WARN_(LOG_COMPONENT, "client %s (%s): %s; closing the connection", yolk_eio_socket_id(c->eio),
                 hs && hs->remote_addr ? hs->remote_addr : "?", why);
  client_close(c, reason);
}

void yolk__sio_client_disconnect_all(yolk_sio_client_t *c) {
  yolk_list_t *n;
  while ((n = yolk__list_first(&c->sockets))) {
    yolk_sio_socket_t *s = yolk__list_entry(n, yolk_sio_socket_t, client_node);
    if (s->state == YOLK_SIO_SOCKET_CONNECTED)
      yolk__sio_client_send(c, YOLK_SIO_PKT_DISCONNECT, s->nsp->name, NULL, 0);
    yolk__sio_socket_finalize(s, "server namespace disconnect");
  }
  client_close(c, "forced server close");
}

/* A CONNECT: a pending socket, then the namespace's connect handler. auth is
 * taken (malloc'd JSON text or NULL). */
static void client_connect(yolk_sio_client_t *c, const char *nsp_name, char *auth, size_t auth_len) {
  yolk_sio_nsp_t *nsp = yolk_sio_find_nsp(c->sio, nsp_name);
  if (!nsp) {
    YOLK_LOG_INFO_(LOG_COMPONENT, "client %s: CONNECT to unknown namespace %s refused", yolk_eio_socket_id(c->eio),
                   nsp_name);
    if (c->protocol == 4) yolk__sio_client_send(c, YOLK_SIO_PKT_CONNECT_ERROR, nsp_name, "\"Invalid namespace\"", 19);
    else yolk__sio_client_send(c, YOLK_SIO_PKT_CONNECT_ERROR, nsp_name, "{\"message\":\"Invalid namespace\"}", 31);
    free(auth);
    return;
  }
  size_t joined = 0;
  yolk_list_t *n;
  yolk__list_foreach(n, &c->sockets) joined++;
  yolk__list_foreach(n, &c->restores) joined++;
  if (joined >= c->sio->opts.max_namespaces) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "client %s: CONNECT to %s refused: already in %zu namespaces (maxNamespaces)",
                   yolk_eio_socket_id(c->eio), nsp_name, joined);
    if (c->protocol == 4) yolk__sio_client_send(c, YOLK_SIO_PKT_CONNECT_ERROR, nsp_name, "\"Too many namespaces\"", 21);
    else yolk__sio_client_send(c, YOLK_SIO_PKT_CONNECT_ERROR, nsp_name, "{\"message\":\"Too many namespaces\"}", 33);
    free(auth);
    return;
  }
  if (yolk__sio_restore_start(c, nsp, auth, auth_len)) return; /* continues in sio_recovery.c */
  yolk__sio_client_start_socket(c, yolk__sio_socket_new(c, nsp, auth, auth_len, NULL));
}

void yolk__sio_client_start_socket(yolk_sio_client_t *c, yolk_sio_socket_t *s) {
  (void)c;
  yolk_sio_nsp_t *nsp = s->nsp;
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "socket %s joins %s", s->id, nsp->name);
  if (!nsp->h.on_connect) {
    yolk__sio_socket_admit_now(s); /* no handler: nothing to decide */
    return;
  }
  yolk__sio_socket_hold(s);
  nsp->h.on_connect(s, nsp->ud);
  yolk__sio_socket_release(s);
}

static void client_packet(yolk_sio_client_t *c, const yolk_sio_decoded_t *p, yolk_sio_socket_t *s,
                          const yolk_sio_bin_t *bins, size_t nbins);

static void client_dispatch(yolk_sio_client_t *c, const yolk_sio_decoded_t *p, const yolk_sio_bin_t *bins,
                            size_t nbins) {
  if (p->type != YOLK_SIO_PKT_CONNECT && (c->protocol == 5 || !memchr(p->nsp, '?', p->nsp_len))) {
    /* the common case, a packet for a namespace (no query to split off):
     * found by the name as it is in the packet, nothing copied */
    client_packet(c, p, client_find_socket_n(c, p->nsp, p->nsp_len), bins, nbins);
    return;
  }
  char *nsp_name;
  yolk_sb_t query_auth;
  yolk__sb_init(&query_auth);
  if (c->protocol == 4) nsp_name = yolk__sio_split_nsp_query(p->nsp, p->nsp_len, &query_auth);
  else nsp_name = yolk__strndup(p->nsp, p->nsp_len);
  yolk_sio_socket_t *s = client_find_socket_n(c, nsp_name, strlen(nsp_name));

  if (p->type == YOLK_SIO_PKT_CONNECT) {
    if (s || yolk__sio_restoring(c, nsp_name)) {
      /* socket.io-client sends CONNECT twice when connect() is called on a
       * socket that auto-connects; the reference server, which admits on the
       * next tick, creates a second socket then. One socket per namespace is
       * the sane reading: the repeat is ignored. */
      YOLK_LOG_WARN_(LOG_COMPONENT, "client %s: repeated CONNECT for %s ignored", yolk_eio_socket_id(c->eio),
                     nsp_name);
      yolk__sb_free(&query_auth);
    } else if (c->protocol == 4) {
      client_connect(c, nsp_name, query_auth.data, query_auth.len);
    } else {
      yolk__sb_free(&query_auth);
      client_connect(c, nsp_name, p->data ? yolk__strndup(p->data, p->data_len) : NULL, p->data_len);
    }
    free(nsp_name);
    return;
  }
  free(nsp_name);
  yolk__sb_free(&query_auth);
  client_packet(c, p, s, bins, nbins);
}

/* A packet other than CONNECT for socket s (NULL: no such namespace joined). */
static void client_packet(yolk_sio_client_t *c, const yolk_sio_decoded_t *p, yolk_sio_socket_t *s,
                          const yolk_sio_bin_t *bins, size_t nbins) {
  if (!s || s->state != YOLK_SIO_SOCKET_CONNECTED) {
    client_fail(c, "forced server close", "packet for a namespace the client has not joined");
    return;
  }
  yolk_sio_nsp_t *nsp = s->nsp;
  yolk_sio_args_t args = {p->data, p->data_len, bins, nbins};
  switch (p->type) {
  case YOLK_SIO_PKT_EVENT:
  case YOLK_SIO_PKT_BINARY_EVENT:
    nsp->packets_received++;
    if (nsp->h.on_event) {
      yolk__sio_socket_hold(s);
      nsp->h.on_event(s, &args, p->id, nsp->ud);
      yolk__sio_socket_release(s);
    }
    break;
  case YOLK_SIO_PKT_ACK:
  case YOLK_SIO_PKT_BINARY_ACK:
    nsp->packets_received++;
    yolk__sio_ack_answer(s, p->id, &args);
    break;
  case YOLK_SIO_PKT_DISCONNECT:
    yolk__sio_socket_finalize(s, "client namespace disconnect");
    break;
  default:
    client_fail(c, "forced server close", "CONNECT_ERROR packet from a client");
    break;
  }
}

static void on_eio_message(yolk_eio_socket_t *eio, int binary, const char *data, size_t len, void *ud) {
  (void)eio;
  yolk_sio_client_t *c = ud;
  if (c->closing) return;
  yolk_sio_server_t *sio = c->sio;
  if (binary) {
    yolk_sio_partial_t *pt = c->partial;
    if (!pt) {
      client_fail(c, "parse error", "binary message without a pending binary packet");
      return;
    }
    pt->bins[pt->nbins].data = yolk__strndup(data, len);
    pt->bins[pt->nbins].len = len;
    pt->nbins++;
    if (pt->nbins < pt->pkt.attachments) return;
    /* complete: the packet owns nothing, so take the pieces first */
    c->partial = NULL;
    client_dispatch(c, &pt->pkt, pt->bins, pt->nbins);
    for (size_t i = 0; i < pt->nbins; i++) free((void *)pt->bins[i].data);
    free(pt->bins);
    free(pt->text);
    free(pt);
    return;
  }
  if (c->partial) {
    client_fail(c, "parse error", "text message while waiting for binary attachments");
    return;
  }
  yolk_sio_decoded_t p;
  const char *why;
  if (yolk__sio_decode(data, len, sio->opts.max_attachments, sio->opts.max_json_depth, &p, &why) < 0) {
    client_fail(c, "parse error", why);
    return;
  }
  if ((p.type == YOLK_SIO_PKT_BINARY_EVENT || p.type == YOLK_SIO_PKT_BINARY_ACK) && p.attachments > 0) {
    /* keep the text until the attachments are in (decoded again from the
     * copy: the packet points into the text) */
    yolk_sio_partial_t *pt = yolk__calloc(1, sizeof(*pt));
    pt->text = yolk__strndup(data, len);
    yolk__sio_decode(pt->text, len, sio->opts.max_attachments, sio->opts.max_json_depth, &pt->pkt, &why);
    pt->bins = yolk__calloc(p.attachments, sizeof(*pt->bins));
    c->partial = pt;
    return;
  }
  client_dispatch(c, &p, NULL, 0);
}

static void on_eio_close(yolk_eio_socket_t *eio, const char *reason, void *ud) {
  (void)eio;
  yolk_sio_client_t *c = ud;
  yolk_sio_server_t *sio = c->sio;
  c->closing = 1;
  if (c->close_reason) reason = c->close_reason;
  if (sio->closing) reason = "server shutting down";
  yolk__sio_restores_cancel(c);
  yolk_list_t *n;
  while ((n = yolk__list_first(&c->sockets)))
    yolk__sio_socket_finalize(yolk__list_entry(n, yolk_sio_socket_t, client_node), reason);
  client_free_partial(c);
  if (c->connect_timer) {
    uv_timer_stop(c->connect_timer);
    uv_close((uv_handle_t *)c->connect_timer, yolk__free_handle);
    c->connect_timer = NULL;
  }
  yolk__list_remove(&c->node);
  free(c);
}

static void connect_timeout_cb(uv_timer_t *t) {
  yolk_sio_client_t *c = t->data;
  YOLK_LOG_INFO_(LOG_COMPONENT, "client %s joined no namespace within %u ms; closing", yolk_eio_socket_id(c->eio),
                 c->sio->opts.connect_timeout_ms);
  client_close(c, "forced server close");
}

static void on_eio_connection(yolk_eio_socket_t *eio, void *ud) {
  yolk_sio_server_t *sio = ud;
  yolk_sio_client_t *c = yolk__calloc(1, sizeof(*c));
  c->sio = sio;
  c->eio = eio;
  c->protocol = yolk_eio_socket_protocol(eio) == 3 ? 4 : 5;
  yolk__list_init(&c->sockets);
  yolk__list_init(&c->restores);
  yolk__list_push_back(&sio->clients, &c->node);
  static const yolk_eio_socket_handler_t handler = {on_eio_message, on_eio_close, NULL};
  yolk_eio_socket_set_handler(eio, &handler, c);
  c->connect_timer = yolk__malloc(sizeof(*c->connect_timer));
  uv_timer_init(sio->loop, c->connect_timer);
  c->connect_timer->data = c;
  uv_timer_start(c->connect_timer, connect_timeout_cb, sio->opts.connect_timeout_ms, 0);
  if (sio->closing) { /* yolk_sio_close was called: no new clients */
    client_close(c, "server shutting down");
    return;
  }
  /* Protocol v4: the client never asks for "/"; the server joins it. */
  if (c->protocol == 4) client_connect(c, "/", NULL, 0);
}

/* ---- namespaces ------------------------------------------------------------------------ */

static yolk_sio_nsp_t *nsp_new(yolk_sio_server_t *sio, const char *name) {
  yolk_sio_nsp_t *nsp = yolk__calloc(1, sizeof(*nsp));
  nsp->sio = sio;
  nsp->name = yolk__strndup(name, strlen(name));
  yolk__smap_init_borrowed(&nsp->sockets); /* keys: the sockets' ids */
  nsp->adapter = sio->opts.adapter ? sio->opts.adapter(nsp, sio->opts.adapter_ud) : yolk_sio_memory_adapter_new(nsp);
  yolk__smap_put(&sio->nsps, nsp->name, nsp);
  return nsp;
}

static void nsp_free(yolk_sio_nsp_t *nsp) {
  nsp->adapter->vt->destroy(nsp->adapter);
  yolk__smap_free(&nsp->sockets);
  free(nsp->name);
  free(nsp);
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
yolk_sio_adapter_t *yolk_sio_nsp_adapter(const yolk_sio_nsp_t *nsp) { return nsp->adapter; }

void yolk_sio_nsp_set_handler(yolk_sio_nsp_t *nsp, const yolk_sio_nsp_handler_t *h, void *ud) {
  if (h) nsp->h = *h;
  else memset(&nsp->h, 0, sizeof(nsp->h));
  nsp->ud = ud;
}

static int broadcast_args_ok(const yolk_sio_args_t *args) {
  const char *why = NULL;
  if (!args || !args->json) why = "no arguments";
  else yolk__sio_check_args(args->json, args->len, args->nbins, 1, &why);
  if (why) YOLK_LOG_WARN_(LOG_COMPONENT, "broadcast refused: %s", why);
  return why == NULL;
}

int yolk_sio_broadcast(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const yolk_sio_args_t *args) {
  if (!broadcast_args_ok(args)) return -1;
  yolk_sio_packet_t p;
  yolk__sio_packet_build(&p, YOLK_SIO_PKT_EVENT, nsp->name, -1, args);
  nsp->adapter->vt->broadcast(nsp->adapter, &p, to ? to : &everyone);
  yolk_sio_packet_release(&p);
  return 0;
}

void yolk_sio_fetch_sockets(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud) {
  nsp->adapter->vt->fetch_sockets(nsp->adapter, to ? to : &everyone, cb, ud);
}

void yolk_sio_sockets_join(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  nsp->adapter->vt->add_sockets(nsp->adapter, to ? to : &everyone, rooms, n);
}

void yolk_sio_sockets_leave(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const char *const *rooms, size_t n) {
  nsp->adapter->vt->del_sockets(nsp->adapter, to ? to : &everyone, rooms, n);
}

void yolk_sio_disconnect_sockets(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, int close) {
  nsp->adapter->vt->disconnect_sockets(nsp->adapter, to ? to : &everyone, close);
}

yolk_sio_socket_t *yolk_sio_nsp_socket(yolk_sio_nsp_t *nsp, const char *id) {
  yolk_sio_socket_t *s = yolk__smap_get(&nsp->sockets, id);
  if (!s || s->state == YOLK_SIO_SOCKET_CLOSED || s->state == YOLK_SIO_SOCKET_REFUSED) return NULL;
  return s;
}

int yolk_sio_broadcast_with_ack(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const yolk_sio_args_t *args,
                                unsigned timeout_ms, yolk_sio_answer_cb on_answer, yolk_sio_gathered_cb on_done,
                                void *ud) {
  if (!broadcast_args_ok(args)) return -1;
  yolk_sio_packet_t p;
  yolk__sio_packet_build(&p, YOLK_SIO_PKT_EVENT, nsp->name, nsp->next_ack_id++, args);
  yolk_sio_gather_t *g = yolk__sio_gather_new(nsp->sio, timeout_ms, on_answer, on_done, ud);
  nsp->adapter->vt->broadcast_with_ack(nsp->adapter, &p, to ? to : &everyone, g);
  yolk_sio_packet_release(&p);
  yolk_sio_gather_unref(g);
  return 0;
}

int yolk_sio_server_side_emit(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args) {
  if (!broadcast_args_ok(args)) return -1;
  return nsp->adapter->vt->server_side_emit(nsp->adapter, args, NULL);
}

int yolk_sio_server_side_emit_with_ack(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args, unsigned timeout_ms,
                                       yolk_sio_answer_cb on_answer, yolk_sio_gathered_cb on_done, void *ud) {
  if (!broadcast_args_ok(args)) return -1;
  yolk_sio_gather_t *g = yolk__sio_gather_new(nsp->sio, timeout_ms, on_answer, on_done, ud);
  int rc = nsp->adapter->vt->server_side_emit(nsp->adapter, args, g);
  if (rc != 0) yolk_sio_gather_fail(g, "serverSideEmit refused (see the log)");
  yolk_sio_gather_unref(g);
  return rc;
}

void yolk_sio_nsp_on_server_event(yolk_sio_nsp_t *nsp, yolk_sio_server_event_cb cb, void *ud) {
  nsp->server_event_cb = cb;
  nsp->server_event_ud = ud;
}

void yolk_sio_nsp_server_event(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args, const char *reply_to) {
  if (nsp->server_event_cb) nsp->server_event_cb(nsp, args, reply_to, nsp->server_event_ud);
}

void yolk_sio_server_side_reply(yolk_sio_nsp_t *nsp, const char *reply_to, const yolk_sio_args_t *args) {
  if (!reply_to) return;
  const char *why = NULL;
  if (!args || !args->json) why = "no arguments";
  else yolk__sio_check_args(args->json, args->len, args->nbins, 0, &why);
  if (why) {
    YOLK_LOG_WARN_(LOG_COMPONENT, "server-side reply refused: %s", why);
    return;
  }
  nsp->adapter->vt->server_side_reply(nsp->adapter, reply_to, args);
}

void yolk_sio_all_rooms(yolk_sio_nsp_t *nsp, yolk_sio_rooms_cb cb, void *ud) {
  nsp->adapter->vt->all_rooms(nsp->adapter, cb, ud);
}

void yolk_sio_defer(yolk_sio_server_t *sio, void (*fn)(void *arg), void *arg) { yolk__defer_call(&sio->defer, fn, arg); }

/* ---- the server ------------------------------------------------------------------------- */

void yolk_sio_options_init(yolk_sio_options_t *opts) {
  memset(opts, 0, sizeof(*opts));
  yolk_eio_options_init(&opts->eio);
  opts->eio.path = "/socket.io/";
  opts->connect_timeout_ms = 45000;
  opts->max_attachments = 10;
  opts->max_json_depth = 1000;
  opts->max_namespaces = 32;
}

static int client_file_claims(const yolk_http_req_t *req, void *ud);
static void serve_client_file(yolk_http_req_t *req, void *ud);

/* ---- metrics ------------------------------------------------------------------------------ */

void yolk__sio_count_disconnect(yolk_sio_server_t *sio, const char *reason) {
  if (!reason) reason = "unknown";
  for (size_t i = 0; i < sio->ndisconnects; i++) {
    if (strcmp(sio->disconnects[i].reason, reason) == 0) {
      sio->disconnects[i].count++;
      return;
    }
  }
  /* a label value per reason: the set is small and fixed, but it never
   * grows without bound (the last slot takes whatever comes past it) */
  size_t i = sio->ndisconnects;
  if (i >= YOLK_SIO_MAX_REASONS - 1) {
    if (i == YOLK_SIO_MAX_REASONS - 1) {
      sio->disconnects[i].reason = yolk__strndup("other", 5);
      sio->disconnects[i].count = 0;
      sio->ndisconnects++;
    }
    sio->disconnects[YOLK_SIO_MAX_REASONS - 1].count++;
    return;
  }
  sio->disconnects[i].reason = yolk__strndup(reason, strlen(reason));
  sio->disconnects[i].count = 1;
  sio->ndisconnects++;
}

static void sio_collect(yolk_metrics_writer_t *w, void *ud) {
  yolk_sio_server_t *sio = ud;
  static const struct {
    int type;
    const char *name, *help;
  } fams[] = {
      {YOLK_METRIC_GAUGE, "yolk_connected_clients", "Socket.IO sockets admitted to a namespace and not yet gone"},
      {YOLK_METRIC_COUNTER, "yolk_packets_received_total",
       "Socket.IO EVENT and ACK packets received from clients (a binary packet counts once)"},
      {YOLK_METRIC_COUNTER, "yolk_packets_sent_total",
       "Socket.IO EVENT and ACK packets written to clients (a broadcast once per socket it reached)"},
  };
  for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
    yolk_metrics_family(w, fams[f].type, fams[f].name, fams[f].help);
    for (size_t i = 0; i < sio->nsps.cap; i++) {
      if (!sio->nsps.slots[i].key) continue;
      const yolk_sio_nsp_t *nsp = sio->nsps.slots[i].value;
      double v = f == 0 ? (double)nsp->connected : f == 1 ? (double)nsp->packets_received : (double)nsp->packets_sent;
      yolk_metrics_sample(w, "namespace", nsp->name, v);
    }
  }
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_disconnects_total",
                      "Socket.IO sockets that left after they were admitted, by reason");
  for (size_t i = 0; i < sio->ndisconnects; i++)
    yolk_metrics_sample(w, "reason", sio->disconnects[i].reason, (double)sio->disconnects[i].count);
}

/* Frees what the server owns once every client is gone (the listener's
 * close; the route's free). */
static void sio_free(void *arg) {
  yolk_sio_server_t *sio = arg;
  yolk__metrics_remove_collector(yolk_server_metrics(sio->srv), sio_collect, sio);
  for (size_t i = 0; i < sio->ndisconnects; i++) free(sio->disconnects[i].reason);
  yolk__defer_close(&sio->defer);
  for (size_t i = 0; i < sio->nsps.cap; i++)
    if (sio->nsps.slots[i].key) nsp_free(sio->nsps.slots[i].value);
  yolk__smap_free(&sio->nsps);
  free(sio->path);
  if (sio->client_files) yolk__static_free(sio->client_files);
  free(sio->client_dist_dir);
  free(sio);
}

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
  if (sio->opts.max_json_depth == 0) sio->opts.max_json_depth = 1000;
  if (sio->opts.max_namespaces == 0) sio->opts.max_namespaces = 32;
  sio->opts.eio.on_connection = on_eio_connection;
  sio->opts.eio.ud = sio;
  yolk__smap_init(&sio->nsps);
  yolk__list_init(&sio->clients);
  yolk__list_init(&sio->gathers);
  yolk__defer_init(&sio->defer, sio->loop);
  nsp_new(sio, "/");
  if (sio->client_dist_dir) sio->client_files = yolk__static_new(sio->loop, sio->client_dist_dir, NULL);
  /* before Engine.IO's route, which claims everything under the path */
  yolk_route_t route = {client_file_claims, serve_client_file, 0, NULL, sio_free, sio};
  yolk__server_add_route(srv, &route);
  sio->eio = yolk_eio_attach(srv, &sio->opts.eio);
  yolk_metrics_add_collector(yolk_server_metrics(srv), sio_collect, sio);
  return sio;
}

yolk_eio_server_t *yolk_sio_engine(yolk_sio_server_t *sio) { return sio->eio; }
uv_loop_t *yolk_sio_loop(const yolk_sio_server_t *sio) { return sio->loop; }

void yolk_sio_close(yolk_sio_server_t *sio) {
  sio->closing = 1;
  yolk__sio_gathers_close(sio);
  yolk_list_t *n;
  yolk__list_foreach(n, &sio->clients) client_close(yolk__list_entry(n, yolk_sio_client_t, node), "server shutting down");
}

/* ---- the browser client ------------------------------------------------------------------ */

static const char *const client_files[] = {
    "socket.io.js",         "socket.io.js.map",         "socket.io.min.js",
    "socket.io.min.js.map", "socket.io.esm.min.js",     "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
};

/* The client file req asks for (GET/HEAD <path>socket.io[.min|.esm.min|
 * .msgpack.min].js[.map]), or NULL. */
static const char *client_file_of(const yolk_sio_server_t *sio, const yolk_http_req_t *req) {
  if (!sio->client_files) return NULL;
  const char *path = yolk_http_req_path(req);
  size_t plen = strlen(sio->path);
  if (strncmp(path, sio->path, plen) != 0) return NULL;
  const char *method = yolk_http_req_method(req);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return NULL;
  for (size_t i = 0; i < sizeof(client_files) / sizeof(client_files[0]); i++)
    if (strcmp(path + plen, client_files[i]) == 0) return client_files[i];
  return NULL;
}

static int client_file_claims(const yolk_http_req_t *req, void *ud) { return client_file_of(ud, req) != NULL; }

/* Through the one static-file responder: read from disk on the thread
 * pool, cached, ETag and 304, HEAD (a missing file is a 404). */
static void serve_client_file(yolk_http_req_t *req, void *ud) {
  yolk_sio_server_t *sio = ud;
  const char *file = client_file_of(sio, req);
  yolk__static_serve(sio->client_files, req, file, strlen(file), NULL, NULL, NULL);
}
