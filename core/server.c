/* server.c - the public yolk_server_* API: one HTTP listener whose requests go
 * to the routes registered on it (server.h: Engine.IO's path, Socket.IO's
 * client files) or else to the application's handler (404 without one); the
 * public yolk_eio_attach, which puts an Engine.IO server on a listener; and
 * the public yolk_http_req_* accessors over http.h's request.
 *
 * The HTTP server is created at listen time so that its body limit can be
 * raised to the largest one the routes registered before need
 * (yolk_server_options_t.max_body_size says so).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eio.h"
#include "http.h"
#include "list.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "yolk.h"

#define LOG_COMPONENT "server"

typedef struct {
  yolk_list_t node; /* in srv->routes, in registration order */
  yolk_route_t r;
  int done; /* closing: the route reported that nothing of it is left */
} route_entry_t;

struct yolk_server_s {
  uv_loop_t *loop;
  yolk_server_options_t opts;
  yolk_http_server_t *http;
  yolk_http_handler_cb handler;
  void *handler_ud;
  yolk_list_t routes; /* route_entry_t, owned */
  yolk_metrics_t *metrics;   /* the registry: this listener's collector, then those of the layers above */
  yolk_eio_server_t **eios;  /* the Engine.IO servers attached (their figures are the listener's) */
  size_t neios;
  int serving_metrics;
  yolk_server_metrics_relay_cb metrics_relay; /* a cluster worker answers metrics requests through its master */
  void *metrics_relay_ud;
  int closing;
  int http_closed;
  void (*close_cb)(void *arg);
  void *close_arg;
};

void yolk_server_options_init(yolk_server_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->max_header_size = 16 * 1024;
  o->max_body_size = 1000000;
  o->header_timeout_ms = 10000;
  o->keepalive_timeout_ms = 5000;
}

static void server_collect(yolk_metrics_writer_t *w, void *ud);

int yolk_server_new(uv_loop_t *loop, const yolk_server_options_t *opts, yolk_server_t **out) {
  yolk_server_t *srv = yolk__calloc(1, sizeof(*srv));
  srv->loop = loop;
  yolk__list_init(&srv->routes);
  if (opts) srv->opts = *opts;
  else yolk_server_options_init(&srv->opts);
  srv->metrics = yolk__metrics_new();
  yolk_metrics_add_collector(srv->metrics, server_collect, srv);
  *out = srv;
  return 0;
}

uv_loop_t *yolk_server_loop(yolk_server_t *srv) { return srv->loop; }

void yolk__server_add_route(yolk_server_t *srv, const yolk_route_t *route) {
  if (srv->http && route->max_body_size > srv->opts.max_body_size)
    YOLK_LOG_WARN_(LOG_COMPONENT, "a route added after listen needs bodies of %zu bytes: the limit is not raised",
                   route->max_body_size);
  route_entry_t *e = yolk__calloc(1, sizeof(*e));
  e->r = *route;
  yolk__list_push_back(&srv->routes, &e->node);
}

static void on_request(yolk_http_req_t *req, void *ud) {
  yolk_server_t *srv = ud;
  yolk_list_t *n;
  yolk__list_foreach(n, &srv->routes) {
    route_entry_t *e = yolk__list_entry(n, route_entry_t, node);
    if (e->r.claims && e->r.claims(req, e->r.ud)) {
      e->r.handle(req, e->r.ud);
      return;
    }
  }
  if (srv->handler && !req->upgrade) {
    srv->handler(req, srv->handler_ud);
    return;
  }
  static const char msg[] = "Not Found";
  yolk__http_respond(req, 404, "Content-Type: text/plain\r\n", msg, sizeof(msg) - 1);
}

/* The HTTP layer, made when the server starts listening (its body limit is
 * the largest the routes registered so far need). */
static int http_create(yolk_server_t *srv) {
  if (srv->http) return UV_EALREADY;
  if (srv->closing) return UV_ECANCELED;
  yolk_http_config_t cfg;
  yolk__http_config_init(&cfg);
  cfg.on_request = on_request;
  cfg.ud = srv;
  if (srv->opts.max_header_size) cfg.max_header_size = srv->opts.max_header_size;
  if (srv->opts.max_body_size) cfg.max_body_size = srv->opts.max_body_size;
  if (srv->opts.header_timeout_ms) cfg.header_timeout_ms = srv->opts.header_timeout_ms;
  if (srv->opts.keepalive_timeout_ms) cfg.keepalive_timeout_ms = srv->opts.keepalive_timeout_ms;
  yolk_list_t *n;
  yolk__list_foreach(n, &srv->routes) {
    route_entry_t *e = yolk__list_entry(n, route_entry_t, node);
    if (e->r.max_body_size > cfg.max_body_size) cfg.max_body_size = e->r.max_body_size;
  }
  int r = yolk__http_server_init(srv->loop, &srv->http, &cfg);
  if (r < 0) srv->http = NULL;
  return r;
}

/* After a failed listen srv->http stays, so that close() releases its
 * handles; a second listen is refused. */
int yolk_server_listen(yolk_server_t *srv, const char *host, int port) {
  int r = http_create(srv);
  return r < 0 ? r : yolk__http_server_listen(srv->http, host, port);
}

int yolk__server_listen_fd(yolk_server_t *srv, int fd, unsigned flags) {
  int r = http_create(srv);
  if (r < 0) {
    close(fd);
    return r;
  }
  return yolk__http_server_listen_fd(srv->http, fd, flags);
}

int yolk__server_adopt_ipc(yolk_server_t *srv, uv_pipe_t *ipc, const char *pre, size_t len) {
  if (!srv->http || srv->closing) return UV_ECANCELED;
  return yolk__http_server_adopt_ipc(srv->http, ipc, pre, len);
}

int yolk_server_port(yolk_server_t *srv) { return srv->http ? yolk__http_server_port(srv->http) : 0; }

void yolk_server_set_handler(yolk_server_t *srv, yolk_http_handler_cb cb, void *ud) {
  srv->handler = cb;
  srv->handler_ud = ud;
}

/* Everything is freed once the HTTP server is closed and every route has
 * reported that nothing of it is left (Engine.IO sockets close their timers
 * asynchronously). */
static void server_maybe_finish(yolk_server_t *srv) {
  if (!srv->closing || !srv->http_closed) return;
  yolk_list_t *n;
  yolk__list_foreach(n, &srv->routes) if (!yolk__list_entry(n, route_entry_t, node)->done) return;
  while ((n = yolk__list_last(&srv->routes))) {
    route_entry_t *e = yolk__list_entry(n, route_entry_t, node);
    yolk__list_remove(n);
    if (e->r.free) e->r.free(e->r.ud);
    free(e);
  }
  void (*cb)(void *) = srv->close_cb;
  void *cb_arg = srv->close_arg;
  yolk__metrics_free(srv->metrics);
  free(srv->eios);
  free(srv);
  if (cb) cb(cb_arg);
}

typedef struct {
  yolk_server_t *srv;
  route_entry_t *e;
} route_done_t;

static void route_done(void *arg) {
  route_done_t *d = arg;
  yolk_server_t *srv = d->srv;
  d->e->done = 1;
  free(d);
  server_maybe_finish(srv);
}

static void http_closed(void *arg) {
  yolk_server_t *srv = arg;
  srv->http = NULL;
  srv->http_closed = 1;
  server_maybe_finish(srv);
}

void yolk_server_close(yolk_server_t *srv, void (*cb)(void *arg), void *arg) {
  if (srv->closing) return;
  srv->closing = 1;
  srv->close_cb = cb;
  srv->close_arg = arg;
  /* Every route is asked first (a route may finish at once, but the server
   * cannot be freed before http_closed below): then the HTTP layer. */
  yolk_list_t *n;
  yolk__list_foreach(n, &srv->routes) {
    route_entry_t *e = yolk__list_entry(n, route_entry_t, node);
    if (!e->r.close) {
      e->done = 1;
      continue;
    }
    route_done_t *d = yolk__malloc(sizeof(*d));
    d->srv = srv;
    d->e = e;
    e->r.close(e->r.ud, route_done, d);
  }
  if (srv->http) {
    yolk__http_server_close(srv->http, http_closed, srv);
  } else {
    http_closed(srv);
  }
}

/* ---- Engine.IO on a listener ---------------------------------------------------------- */

static int eio_route_claims(const yolk_http_req_t *req, void *ud) { return yolk__eio_claims(ud, req); }
static void eio_route_handle(yolk_http_req_t *req, void *ud) { yolk__eio_handle_request(ud, req); }
static void eio_route_close(void *ud, void (*done)(void *arg), void *arg) { yolk__eio_server_close(ud, done, arg); }
static void eio_route_free(void *ud) { yolk__eio_server_free(ud); }

yolk_eio_server_t *yolk_eio_attach(yolk_server_t *srv, const yolk_eio_options_t *opts) {
  yolk_eio_server_t *eio = yolk__eio_server_new(srv->loop, opts);
  yolk_route_t r = {eio_route_claims, eio_route_handle, yolk__eio_max_payload(eio), eio_route_close, eio_route_free,
                    eio};
  yolk__server_add_route(srv, &r);
  srv->eios = yolk__realloc(srv->eios, (srv->neios + 1) * sizeof(*srv->eios));
  srv->eios[srv->neios++] = eio;
  return eio;
}

/* ---- metrics ------------------------------------------------------------------------------------ */

yolk_metrics_t *yolk_server_metrics(yolk_server_t *srv) { return srv->metrics; }

/* The listener's figures: its HTTP layer's and its Engine.IO servers' (the
 * layers below it expose them; nothing is counted here). */
static void server_collect(yolk_metrics_writer_t *w, void *ud) {
  yolk_server_t *srv = ud;
  yolk_http_stats_t hs;
  memset(&hs, 0, sizeof(hs));
  if (srv->http) yolk__http_server_stats(srv->http, &hs);
  yolk_eio_stats_t es, e;
  memset(&es, 0, sizeof(es));
  for (size_t i = 0; i < srv->neios; i++) {
    yolk__eio_stats(srv->eios[i], &e);
    es.handshakes += e.handshakes;
    es.refused += e.refused;
    es.slow_closed += e.slow_closed;
    es.dropped_volatile += e.dropped_volatile;
    es.polling += e.polling;
    es.websocket += e.websocket;
    es.queued_bytes += e.queued_bytes;
  }
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "yolk_engine_connections", "Open Engine.IO sessions, by transport");
  yolk_metrics_sample(w, "transport", "polling", (double)es.polling);
  yolk_metrics_sample(w, "transport", "websocket", (double)es.websocket);
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_handshakes_total", "Engine.IO handshakes accepted (sessions opened)");
  yolk_metrics_sample(w, NULL, NULL, (double)es.handshakes);
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_handshakes_refused_total",
                      "Engine.IO handshakes refused by maxClientsPerAddress or maxHandshakesPerSecond (403)");
  yolk_metrics_sample(w, NULL, NULL, (double)es.refused);
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_bytes_received_total",
                      "Bytes read from client connections (HTTP requests and WebSocket frames)");
  yolk_metrics_sample(w, NULL, NULL, (double)hs.bytes_read);
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_bytes_sent_total",
                      "Bytes written to client connections (taken by the kernel)");
  yolk_metrics_sample(w, NULL, NULL, (double)hs.bytes_written);
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "yolk_http_connections", "Open client connections (HTTP and WebSocket)");
  yolk_metrics_sample(w, NULL, NULL, (double)hs.connections);
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "yolk_buffered_bytes",
                      "Bytes queued for clients and not yet taken by the kernel: connections' write queues, and "
                      "Engine.IO messages waiting for a polling request");
  yolk_metrics_sample(w, NULL, NULL, (double)(hs.queued_bytes + es.queued_bytes));
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_dropped_volatile_total",
                      "Volatile messages dropped because their transport was behind");
  yolk_metrics_sample(w, NULL, NULL, (double)es.dropped_volatile);
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_slow_clients_total",
                      "Engine.IO sessions cut because their client left more than maxBufferedBytes unread");
  yolk_metrics_sample(w, NULL, NULL, (double)es.slow_closed);
}

/* The metrics endpoint: a route in front of the application's handler. */
typedef struct {
  yolk_server_t *srv;
  char *path;
  yolk_metrics_lag_t lag;
} metrics_route_t;

static int metrics_claims(const yolk_http_req_t *req, void *ud) {
  metrics_route_t *mr = ud;
  return !req->upgrade && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) &&
         strcmp(req->path, mr->path) == 0;
}

void yolk__server_metrics_respond(yolk_http_req_t *req, const char *text, size_t len) {
  yolk__http_respond(req, 200, "Content-Type: " YOLK_METRICS_CONTENT_TYPE "\r\nCache-Control: no-store\r\n", text, len);
}

static void metrics_handle(yolk_http_req_t *req, void *ud) {
  metrics_route_t *mr = ud;
  yolk_server_t *srv = mr->srv;
  if (srv->metrics_relay) {
    srv->metrics_relay(req, srv->metrics_relay_ud);
    return;
  }
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__metrics_render(srv->metrics, &sb);
  yolk__server_metrics_respond(req, sb.data ? sb.data : "", sb.len);
  yolk__sb_free(&sb);
}

static void metrics_close(void *ud, void (*done)(void *arg), void *arg) {
  metrics_route_t *mr = ud;
  yolk__metrics_lag_close(&mr->lag, done, arg);
}

static void metrics_free(void *ud) {
  metrics_route_t *mr = ud;
  yolk__metrics_remove_collector(mr->srv->metrics, yolk__metrics_lag_collect, &mr->lag);
  free(mr->path);
  free(mr);
}

int yolk_server_serve_metrics(yolk_server_t *srv, const char *path) {
  if (srv->serving_metrics || srv->closing) return -1;
  srv->serving_metrics = 1;
  metrics_route_t *mr = yolk__calloc(1, sizeof(*mr));
  mr->srv = srv;
  mr->path = yolk__strndup(path && *path ? path : "/metrics", strlen(path && *path ? path : "/metrics"));
  yolk__metrics_lag_start(&mr->lag, srv->loop);
  yolk_metrics_add_collector(srv->metrics, yolk__metrics_lag_collect, &mr->lag);
  yolk_route_t r = {metrics_claims, metrics_handle, 0, metrics_close, metrics_free, mr};
  yolk__server_add_route(srv, &r);
  return 0;
}

void yolk__server_metrics_relay(yolk_server_t *srv, yolk_server_metrics_relay_cb cb, void *ud) {
  srv->metrics_relay = cb;
  srv->metrics_relay_ud = ud;
}

/* ---- request accessors ----------------------------------------------------------------- */

const char *yolk_http_req_method(const yolk_http_req_t *req) { return req->method; }
const char *yolk_http_req_url(const yolk_http_req_t *req) { return req->url; }
const char *yolk_http_req_path(const yolk_http_req_t *req) { return req->path; }
const char *yolk_http_req_query(const yolk_http_req_t *req) { return req->query; }
const char *yolk_http_req_header(const yolk_http_req_t *req, const char *name) {
  return yolk__http_req_header(req, name);
}

int yolk_http_req_header_at(const yolk_http_req_t *req, size_t i, const char **name, const char **value) {
  if (i >= req->nheaders) return 0;
  if (name) *name = req->headers[i].name;
  if (value) *value = req->headers[i].value;
  return 1;
}

const char *yolk_http_req_body(const yolk_http_req_t *req, size_t *len) {
  if (len) *len = req->body_len;
  return req->body ? req->body : "";
}

const char *yolk_http_req_remote_addr(const yolk_http_req_t *req) { return req->remote_addr; }

/* The public on_abort carries a user pointer; http.h's has req->data only, so
 * a small record rides there until the request is answered or aborted. */
typedef struct {
  void (*cb)(yolk_http_req_t *req, void *ud);
  void *ud;
} abort_hook_t;

static void abort_trampoline(yolk_http_req_t *req) {
  abort_hook_t *hook = req->data;
  req->data = NULL;
  if (hook) {
    hook->cb(req, hook->ud);
    free(hook);
  }
}

void yolk_http_req_on_abort(yolk_http_req_t *req, void (*cb)(yolk_http_req_t *req, void *ud), void *ud) {
  if (req->on_abort == abort_trampoline) {
    free(req->data);
    req->data = NULL;
    req->on_abort = NULL;
  }
  if (!cb) return;
  abort_hook_t *hook = yolk__malloc(sizeof(*hook));
  hook->cb = cb;
  hook->ud = ud;
  req->data = hook;
  req->on_abort = abort_trampoline;
}

void yolk_http_respond(yolk_http_req_t *req, int status, const char *headers, const void *body, size_t len) {
  if (req->on_abort == abort_trampoline) {
    free(req->data);
    req->data = NULL;
    req->on_abort = NULL;
  }
  yolk__http_respond(req, status, headers, body, len);
}
