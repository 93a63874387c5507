/* cluster.c - the cluster master; see cluster.h for the design.
 *
 * Everything runs on the master's loop and nothing blocks: workers are child
 * processes (uv_spawn), the pipes to them and the connections to their Unix
 * sockets are libuv streams, and a worker's exit arrives as its exit_cb.
 *
 * Objects and lifetimes:
 *  - worker_t: one per worker number, in the master for its whole life; its
 *    process and pipe handles come and go with each (re)start.
 *  - upstream_t: one connection to a worker's Unix socket carrying one
 *    proxied request at a time; idle ones wait in their worker's pool. A
 *    client that goes away while its request is out closes the upstream
 *    connection (the worker sees the abort as from a direct client).
 *  - handoff_t: a client connection on its way to a worker (a socket
 *    descriptor, written over the pipe with uv_write2, then closed here).
 *  - m->live counts every handle and object not yet closed; the master is
 *    freed once it stops and the count is zero.
 */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <llhttp.h>

#include "http.h"
#include "id.h"
#include "list.h"
#include "log.h"
#include "metrics.h"

#define LOG_COMPONENT "cluster"
#define RESTART_WINDOW_MS 60000
#define RESTART_DELAY_MS 200
#define RELOAD_TIMEOUT_MS 10000
/* Idle upstream connections kept per worker; more are closed after use. */
#define POOL_MAX_IDLE 32
/* How long a metrics scrape waits for the workers' figures: a worker that
 * has not answered by then (its loop blocked) is shown as not up. */
#define SCRAPE_TIMEOUT_MS 1000

typedef struct yolk_cluster_master_s master_t;

enum { W_DEAD = 0, W_STARTING, W_READY, W_STOPPING };

typedef struct {
  master_t *m;
  unsigned id; /* 1..N */
  int state;
  uv_process_t proc; /* while proc_open */
  uv_pipe_t ipc;     /* while ipc_open */
  int proc_open, ipc_open;
  int pid;
  uv_timer_t restart_timer;
  uint64_t restarts[YOLK_CLUSTER_MAX_RESTARTS]; /* when the last restarts were, a ring */
  unsigned restart_next;
  /* sticky */
  int listen_fd; /* its Unix socket, bound and listening here; -1 */
  char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  unsigned sessions; /* as the worker last reported */
  unsigned routed;   /* handshakes routed to it since */
  yolk_list_t idle;  /* upstream_t.node */
  size_t nidle;
  yolk_sb_t in; /* bytes from the worker not yet parsed */
  size_t in_off;
  uint64_t last_heard; /* uv_now when its pipe last brought something */
  int blocked;         /* killed by the master for a blocked loop */
  uint64_t restarted; /* times it was restarted after it died (metrics) */
} worker_t;

struct yolk_cluster_master_s {
  uv_loop_t *loop;
  unsigned n;
  int sticky;
  char *host;
  int port;
  char **args; /* exe, worker args..., "--cluster-worker", id, ["--sticky"], NULL */
  size_t nargs, id_arg;
  char *eio_path;
  size_t eio_path_len;
  void (*on_fatal)(void *ud);
  void *ud;
  worker_t workers[YOLK_CLUSTER_MAX_WORKERS];
  int tcp_fd;                 /* not sticky: the shared listening socket; -1 */
  yolk_http_server_t *http;   /* sticky: the public listener */
  char sock_dir[84];          /* sticky: the workers' sockets live here (sun_path is short) */
  uv_timer_t kill_timer, reload_timer, fatal_timer;
  uv_timer_t watch_timer; /* blocked_restart_ms: looks for silent workers */
  unsigned blocked_restart_ms;
  unsigned rr; /* round-robin start among equally loaded workers */
  unsigned reload_id, reload_pos;
  int reload_again;
  int ready_once; /* every worker has been ready once: later exits are crashes */
  int stopping, final_started, finished, fatal, unclean;
  size_t live;
  char *metrics_path;  /* sticky: the metrics endpoint, answered here; NULL */
  yolk_list_t scrapes; /* scrape_t waiting for the workers' figures */
  uint32_t next_scrape_id;
  llhttp_settings_t up_settings;
  void (*done)(void *arg, int status);
  void *done_arg;
  char read_buf[64 * 1024]; /* shared: libuv calls alloc_cb and read_cb back to back */
};

static void maybe_finish(master_t *m);
static int worker_spawn(worker_t *w);
static void scrape_start(master_t *m, yolk_http_req_t *req, unsigned relay_wid, uint32_t relay_id);

/* ---- small helpers ----------------------------------------------------------------- */

static void live_closed(uv_handle_t *h) {
  master_t *m = h->data;
  m->live--;
  maybe_finish(m);
}

static void worker_handle_closed(uv_handle_t *h) {
  worker_t *w = h->data;
  w->m->live--;
  maybe_finish(w->m);
}

static const char *exit_text(int64_t status, int sig, char *buf, size_t len) {
  if (sig) snprintf(buf, len, "was killed by signal %d (%s)", sig, strsignal(sig));
  else snprintf(buf, len, "exited with status %d", (int)status);
  return buf;
}

static int alive(const worker_t *w) {
  return w->state == W_STARTING || w->state == W_READY || uv_is_active((const uv_handle_t *)&w->restart_timer);
}

/* The owner stops the master (from the loop: never inside our callbacks). */
static void fatal_fired(uv_timer_t *t) {
  master_t *m = t->data;
  if (m->on_fatal) m->on_fatal(m->ud);
}
static void fatal(master_t *m) {
  if (m->fatal || m->stopping) return;
  m->fatal = 1;
  uv_timer_start(&m->fatal_timer, fatal_fired, 0, 0);
}

/* ---- upstream connections (sticky: proxied requests) ------------------------------- */

typedef struct {
  yolk_list_t node; /* in its worker's idle pool */
  master_t *m;
  unsigned wid;
  uv_pipe_t pipe;
  uv_connect_t connect_req;
  uv_write_t write_req;
  llhttp_t parser;
  yolk_http_req_t *req; /* the client request being served, NULL when idle */
  yolk_sb_t out;        /* the request as sent (kept until written) */
  yolk_sb_t field, value, hdrs, body;
  int last_was_value;
  unsigned connected : 1, writing : 1, complete : 1, closing : 1, head_only : 1, keep_alive : 1;
} upstream_t;

static void upstream_closed(uv_handle_t *h) {
  upstream_t *u = h->data;
  master_t *m = u->m;
  yolk__sb_free(&u->out);
  yolk__sb_free(&u->field);
  yolk__sb_free(&u->value);
  yolk__sb_free(&u->hdrs);
  yolk__sb_free(&u->body);
  free(u);
  m->live--;
  maybe_finish(m);
}

static void upstream_close(upstream_t *u) {
  if (u->closing) return;
  u->closing = 1;
  if (yolk__list_linked(&u->node)) {
    yolk__list_remove(&u->node);
    u->m->workers[u->wid - 1].nidle--;
  }
  uv_close((uv_handle_t *)&u->pipe, upstream_closed);
}

static void proxy_aborted(yolk_http_req_t *req) {
  /* The client went away with its request out: so does this connection, and
   * the worker sees the abort as a direct client's. */
  upstream_t *u = req->data;
  u->req = NULL;
  upstream_close(u);
}

static void upstream_fail(upstream_t *u, const char *why) {
  if (u->req) {
    yolk_http_req_t *req = u->req;
    u->req = NULL;
    req->on_abort = NULL;
    req->data = NULL;
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s %s %s: worker %u: %s, answering 502", req->remote_addr, req->method,
              req->url, u->wid, why);
    static const char msg[] = "Bad Gateway";
    yolk__http_respond(req, 502, "Content-Type: text/plain\r\n", msg, sizeof(msg) - 1);
  }
  upstream_close(u);
}

/* The response is complete and the request written: back to the pool. */
static void upstream_idle(upstream_t *u) {
  master_t *m = u->m;
  worker_t *w = &m->workers[u->wid - 1];
  u->complete = 0;
  if (!u->keep_alive || m->stopping || w->state != W_READY || w->nidle >= POOL_MAX_IDLE) {
    upstream_close(u);
    return;
  }
  /* keep the builders' memory, unless a large body went through */
  u->out.len = u->body.len = u->hdrs.len = 0;
  if (u->out.cap > 64 * 1024) yolk__sb_free(&u->out);
  if (u->body.cap > 64 * 1024) yolk__sb_free(&u->body);
  yolk__list_push_front(&w->idle, &u->node);
  w->nidle++;
}

static void upstream_deliver(upstream_t *u) {
  yolk_http_req_t *req = u->req;
  u->req = NULL;
  u->complete = 1;
  u->keep_alive = llhttp_should_keep_alive(&u->parser) ? 1 : 0;
  int status = u->parser.status_code;
  if (req) {
    req->on_abort = NULL;
    req->data = NULL;
    yolk__http_respond(req, status, u->hdrs.len ? u->hdrs.data : NULL, u->body.data, u->body.len);
  }
  if (!u->writing) upstream_idle(u);
}

static void upstream_written(uv_write_t *wr, int status) {
  upstream_t *u = wr->data;
  u->writing = 0;
  if (u->closing) return;
  if (status < 0) {
    upstream_fail(u, uv_strerror(status));
    return;
  }
  if (u->complete) upstream_idle(u);
}

static void upstream_send(upstream_t *u) {
  uv_buf_t b = uv_buf_init(u->out.data, (unsigned)u->out.len);
  u->write_req.data = u;
  int r = uv_write(&u->write_req, (uv_stream_t *)&u->pipe, &b, 1, upstream_written);
  if (r < 0) {
    upstream_fail(u, uv_strerror(r));
    return;
  }
  u->writing = 1;
}

static void upstream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  upstream_t *u = h->data;
  buf->base = u->m->read_buf;
  buf->len = sizeof(u->m->read_buf);
}

static void upstream_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  upstream_t *u = s->data;
  if (nread == 0 || u->closing) return;
  if (nread < 0) {
    upstream_fail(u, nread == UV_EOF ? "connection closed before the response" : uv_strerror((int)nread));
    return;
  }
  if (!u->req || u->complete) {
    upstream_fail(u, "bytes outside a response"); /* idle: nothing may come */
    return;
  }
  llhttp_errno_t err = llhttp_execute(&u->parser, buf->base, (size_t)nread);
  if (err == HPE_PAUSED && u->complete == 0) {
    const char *pos = llhttp_get_error_pos(&u->parser);
    if (pos != buf->base + nread) {
      upstream_fail(u, "bytes after the response");
      return;
    }
    upstream_deliver(u);
  } else if (err != HPE_OK) {
    upstream_fail(u, llhttp_errno_name(err));
  }
}

static void upstream_connected(uv_connect_t *cr, int status) {
  upstream_t *u = cr->data;
  if (u->closing) return;
  if (status < 0) {
    upstream_fail(u, uv_strerror(status));
    return;
  }
  u->connected = 1;
  uv_read_start((uv_stream_t *)&u->pipe, upstream_alloc, upstream_read);
  if (u->req) upstream_send(u);
}

/* llhttp, response side: headers worth relaying, the body, the end. */
static void up_push_header(upstream_t *u) {
  static const char *const skip[] = {"content-length", "connection", "keep-alive", "date", "transfer-encoding"};
  yolk__sb_putc(&u->field, '\0');
  yolk__sb_putc(&u->value, '\0');
  int keep = 1;
  for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
    if (strcasecmp(u->field.data, skip[i]) == 0) keep = 0;
  if (keep) {
    yolk__sb_append(&u->hdrs, u->field.data, u->field.len - 1);
    yolk__sb_puts(&u->hdrs, ": ");
    yolk__sb_append(&u->hdrs, u->value.data, u->value.len - 1);
    yolk__sb_puts(&u->hdrs, "\r\n");
  }
  u->field.len = u->value.len = 0;
}

static int up_on_header_field(llhttp_t *p, const char *at, size_t len) {
  upstream_t *u = p->data;
  if (u->last_was_value) up_push_header(u);
  u->last_was_value = 0;
  yolk__sb_append(&u->field, at, len);
  return 0;
}

static int up_on_header_value(llhttp_t *p, const char *at, size_t len) {
  upstream_t *u = p->data;
  u->last_was_value = 1;
  yolk__sb_append(&u->value, at, len);
  return 0;
}

static int up_on_headers_complete(llhttp_t *p) {
  upstream_t *u = p->data;
  if (u->last_was_value) up_push_header(u);
  u->last_was_value = 0;
  return u->head_only ? 1 : 0; /* a HEAD response says Content-Length but has no body */
}

static int up_on_body(llhttp_t *p, const char *at, size_t len) {
  yolk__sb_append(&((upstream_t *)p->data)->body, at, len);
  return 0;
}

static int up_on_message_complete(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED; /* one response per request: stop right here */
}

static upstream_t *upstream_new(master_t *m, worker_t *w) {
  upstream_t *u = yolk__calloc(1, sizeof(*u));
  u->m = m;
  u->wid = w->id;
  yolk__list_node_init(&u->node);
  uv_pipe_init(m->loop, &u->pipe, 0);
  u->pipe.data = u;
  m->live++;
  u->connect_req.data = u;
  uv_pipe_connect(&u->connect_req, &u->pipe, w->sock_path, upstream_connected);
  return u;
}

/* ---- routing (sticky) ------------------------------------------------------------------ */

/* The bytes of req as a worker is to read them: the request line, the headers
 * (names lower-cased by the parser), the body with its length. proxy: for
 * the worker's trusted socket (hop-by-hop headers go, the client's address
 * comes in YOLK_HTTP_PEER_HEADER); else for a handed-over connection (the
 * upgrade headers stay). A client's own YOLK_HTTP_PEER_HEADER never passes. */
static void request_bytes(yolk_sb_t *sb, const yolk_http_req_t *req, int proxy) {
  static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                                    "expect"};
  yolk__sb_printf(sb, "%s %s HTTP/1.1\r\n", req->method, req->url);
  for (size_t i = 0; i < req->nheaders; i++) {
    const char *name = req->headers[i].name;
    if (!strcmp(name, YOLK_HTTP_PEER_HEADER) || !strcmp(name, "content-length") ||
        !strcmp(name, "transfer-encoding"))
      continue;
    int skip = 0;
    if (proxy)
      for (size_t k = 0; k < sizeof(hop) / sizeof(hop[0]); k++) skip |= !strcmp(name, hop[k]);
    if (skip) continue;
    yolk__sb_printf(sb, "%s: %s\r\n", name, req->headers[i].value);
  }
  if (proxy) yolk__sb_printf(sb, "%s: %s\r\n", YOLK_HTTP_PEER_HEADER, req->remote_addr);
  if (proxy || req->body_len) yolk__sb_printf(sb, "content-length: %zu\r\n", req->body_len);
  yolk__sb_puts(sb, "\r\n");
  if (req->body_len) yolk__sb_append(sb, req->body, req->body_len);
}

/* A ready worker whose loop has said nothing for this long is busy in a
 * callback (or stuck in one): new sessions go to the others meanwhile. */
#define SILENT_MS 1000

static worker_t *least_loaded(master_t *m) {
  worker_t *best = NULL;
  unsigned best_load = 0, best_k = 0;
  int best_silent = 0;
  uint64_t now = uv_now(m->loop);
  for (unsigned i = 0; i < m->n; i++) {
    unsigned k = (m->rr + i) % m->n;
    worker_t *w = &m->workers[k];
    if (w->state != W_READY) continue;
    unsigned load = w->sessions + w->routed;
    int silent = now - w->last_heard > SILENT_MS;
    if (!best || silent < best_silent || (silent == best_silent && load < best_load)) {
      best = w;
      best_load = load;
      best_k = k;
      best_silent = silent;
    }
  }
  if (best) m->rr = (best_k + 1) % m->n;
  return best;
}

static void proxy(master_t *m, worker_t *w, yolk_http_req_t *req) {
  upstream_t *u = NULL;
  yolk_list_t *n = yolk__list_first(&w->idle);
  if (n) {
    u = yolk__list_entry(n, upstream_t, node);
    yolk__list_remove(n);
    w->nidle--;
  } else {
    u = upstream_new(m, w);
  }
  u->req = req;
  req->data = u;
  req->on_abort = proxy_aborted;
  u->head_only = strcmp(req->method, "HEAD") == 0;
  u->complete = 0;
  u->last_was_value = 0;
  u->out.len = u->hdrs.len = u->body.len = u->field.len = u->value.len = 0;
  llhttp_init(&u->parser, HTTP_RESPONSE, &m->up_settings);
  u->parser.data = u;
  request_bytes(&u->out, req, 1);
  if (u->connected) upstream_send(u);
}

typedef struct {
  master_t *m;
  unsigned wid;
  yolk_sb_t frame;
  uv_tcp_t tcp;
  uv_write_t write_req;
} handoff_t;

static void handoff_free(handoff_t *h) {
  master_t *m = h->m;
  yolk__sb_free(&h->frame);
  free(h);
  m->live--;
  maybe_finish(m);
}

static void handoff_closed(uv_handle_t *h) { handoff_free(h->data); }

static void handoff_written(uv_write_t *wr, int status) {
  handoff_t *h = wr->data;
  if (status < 0)
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "cannot hand a connection to worker %u: %s", h->wid, uv_strerror(status));
  /* the worker has its own descriptor now; ours goes */
  uv_close((uv_handle_t *)&h->tcp, handoff_closed);
}

/* The released connection's socket, once the master's writes to it are out. */
static void handoff_ready(void *owner, int fd, const char *rest, size_t len) {
  handoff_t *h = owner;
  master_t *m = h->m;
  worker_t *w = &m->workers[h->wid - 1];
  if (fd < 0) {
    handoff_free(h);
    return;
  }
  if (m->stopping || w->state != W_READY || !w->ipc_open) {
    close(fd); /* the worker went away meanwhile: the client reconnects */
    handoff_free(h);
    return;
  }
  yolk__sb_append(&h->frame, rest, len);
  yolk__cluster_msg_finish(&h->frame, 0);
  uv_tcp_init(m->loop, &h->tcp);
  h->tcp.data = h;
  if (uv_tcp_open(&h->tcp, fd) < 0) {
    close(fd);
    uv_close((uv_handle_t *)&h->tcp, handoff_closed);
    return;
  }
  uv_buf_t b = uv_buf_init(h->frame.data, (unsigned)h->frame.len);
  h->write_req.data = h;
  int r = uv_write2(&h->write_req, (uv_stream_t *)&w->ipc, &b, 1, (uv_stream_t *)&h->tcp, handoff_written);
  if (r < 0) handoff_written(&h->write_req, r);
}

static void handoff(master_t *m, worker_t *w, yolk_http_req_t *req) {
  handoff_t *h = yolk__calloc(1, sizeof(*h));
  h->m = m;
  h->wid = w->id;
  yolk__sb_init(&h->frame);
  yolk__cluster_msg_begin(&h->frame, YOLK_CLUSTER_MSG_CONN);
  request_bytes(&h->frame, req, 0);
  m->live++;
  if (yolk__http_release(req, handoff_ready, h) < 0) handoff_free(h);
}

/* As a worker answers a sid it does not know (eio.c's respond_error). */
static void unknown_sid(yolk_http_req_t *req) {
  static const char msg[] = "Session ID unknown";
  static const char json[] = "{\"code\":1,\"message\":\"Session ID unknown\"}";
  yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s %s %s: %s (no live worker owns this sid)", req->remote_addr,
            req->method, req->url, msg);
  if (req->upgrade) yolk__http_respond_close(req, 400, "Content-Type: text/html\r\n", msg, sizeof(msg) - 1);
  else yolk__http_respond(req, 400, "Content-Type: application/json\r\n", json, sizeof(json) - 1);
}

/* The sid of an Engine.IO request, decoded as the Engine.IO layer decodes it
 * (the same query-string reader): 1 when there is one. */
static int request_sid(const yolk_http_req_t *req, char *sid, size_t len) {
  return yolk_query_get(req->query, "sid", sid, len) > 0;
}

static void on_request(yolk_http_req_t *req, void *ud) {
  master_t *m = ud;
  worker_t *w = NULL;
  if (m->metrics_path && !m->stopping && !req->upgrade &&
      (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) && strcmp(req->path, m->metrics_path) == 0) {
    scrape_start(m, req, 0, 0);
    return;
  }
  int is_eio = strncmp(req->url, m->eio_path, m->eio_path_len) == 0;
  char sid[64];
  if (!m->stopping && is_eio && request_sid(req, sid, sizeof(sid))) {
    const char *at = memchr(yolk__id_alphabet, sid[0], sizeof(yolk__id_alphabet));
    unsigned k = at ? (unsigned)(at - yolk__id_alphabet) : m->n;
    if (k >= m->n || m->workers[k].state != W_READY) {
      unknown_sid(req);
      return;
    }
    w = &m->workers[k];
  } else if (!m->stopping) {
    w = least_loaded(m);
    if (w && is_eio) {
      w->routed++;
      yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s %s: to worker %u (%u sessions + %u new)", req->method, req->url,
                w->id, w->sessions, w->routed);
    }
  }
  if (!w) {
    static const char msg[] = "Service Unavailable";
    yolk__http_respond(req, 503, "Content-Type: text/plain\r\nRetry-After: 1\r\n", msg, sizeof(msg) - 1);
    return;
  }
  if (req->upgrade) handoff(m, w, req);
  else proxy(m, w, req);
}

/* ---- metrics: one scrape of the whole cluster --------------------------------------------- */

/* A request for the cluster's metrics: the master's own endpoint (sticky),
 * or one a worker relayed for its client (not sticky). Every ready worker is
 * asked for its figures over its pipe; the answer is made once all have
 * answered or SCRAPE_TIMEOUT_MS ran out. Workers add their "worker" label
 * themselves, so their texts are merged family by family as they come. */
typedef struct {
  yolk_list_t node; /* in m->scrapes */
  master_t *m;
  uint32_t id;
  yolk_http_req_t *req; /* the client's request (sticky); NULL once aborted */
  unsigned relay_wid;   /* else the worker that relayed it, */
  uint32_t relay_id;    /* and the request's id there */
  unsigned waiting;     /* workers asked that have not answered */
  unsigned char asked[YOLK_CLUSTER_MAX_WORKERS], answered[YOLK_CLUSTER_MAX_WORKERS];
  yolk_sb_t texts[YOLK_CLUSTER_MAX_WORKERS];
  uv_timer_t timer;
  int done;
} scrape_t;

static void scrape_closed(uv_handle_t *h) {
  scrape_t *sc = h->data;
  master_t *m = sc->m;
  for (size_t i = 0; i < YOLK_CLUSTER_MAX_WORKERS; i++) yolk__sb_free(&sc->texts[i]);
  free(sc);
  m->live--;
  maybe_finish(m);
}

static void scrape_aborted(yolk_http_req_t *req) {
  scrape_t *sc = req->data;
  sc->req = NULL; /* freed by the HTTP layer right after this returns */
}

/* The master's own figures: which workers answered, and their restarts. */
static void scrape_master_families(const scrape_t *sc, yolk_metrics_writer_t *w) {
  master_t *m = sc->m;
  char id[12];
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "yolk_cluster_worker_up",
                      "1 when the worker answered this scrape within 1 s; 0 when it did not (not running, "
                      "restarting, or its loop busy)");
  for (unsigned i = 0; i < m->n; i++) {
    snprintf(id, sizeof(id), "%u", i + 1);
    yolk_metrics_sample(w, "worker", id, sc->answered[i] ? 1 : 0);
  }
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "yolk_cluster_worker_restarts_total",
                      "Times the master restarted the worker after it died");
  for (unsigned i = 0; i < m->n; i++) {
    snprintf(id, sizeof(id), "%u", i + 1);
    yolk_metrics_sample(w, "worker", id, (double)m->workers[i].restarted);
  }
}

static void scrape_finish(scrape_t *sc) {
  if (sc->done) return;
  sc->done = 1;
  master_t *m = sc->m;
  yolk__list_remove(&sc->node);
  uv_timer_stop(&sc->timer);
  yolk_metrics_writer_t *w = yolk__metrics_begin(NULL);
  for (unsigned i = 0; i < m->n; i++)
    if (sc->answered[i]) yolk__metrics_add_text(w, sc->texts[i].data, sc->texts[i].len);
  scrape_master_families(sc, w);
  yolk_sb_t out;
  yolk__sb_init(&out);
  yolk__metrics_end(w, &out);
  if (sc->req) {
    yolk_http_req_t *req = sc->req;
    sc->req = NULL;
    req->on_abort = NULL;
    req->data = NULL;
    yolk__http_respond(req, 200, "Content-Type: " YOLK_METRICS_CONTENT_TYPE "\r\nCache-Control: no-store\r\n",
                       out.data ? out.data : "", out.len);
  } else if (sc->relay_wid) {
    worker_t *rw = &m->workers[sc->relay_wid - 1];
    /* a frame the worker would take for a broken peer is not sent: it
     * answers 503 to an empty one */
    size_t len = out.len + 9 > YOLK_CLUSTER_MSG_MAX ? 0 : out.len;
    if (!len && out.len)
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "metrics: %zu bytes are too many to relay to worker %u", out.len,
                rw->id);
    if (rw->ipc_open) yolk__cluster_msg_send_id(&rw->ipc, YOLK_CLUSTER_MSG_METRICS_ANSWER, sc->relay_id, out.data, len);
  }
  yolk__sb_free(&out);
  uv_close((uv_handle_t *)&sc->timer, scrape_closed);
}

static void scrape_timeout(uv_timer_t *t) {
  scrape_t *sc = t->data;
  for (unsigned i = 0; i < sc->m->n; i++)
    if (sc->asked[i] && !sc->answered[i])
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "metrics: worker %u did not answer within %d ms", i + 1,
                SCRAPE_TIMEOUT_MS);
  scrape_finish(sc);
}

/* req: the client's request (answered here); or relay_wid, relay_id: a
 * worker's relayed one (answered over its pipe). */
static void scrape_start(master_t *m, yolk_http_req_t *req, unsigned relay_wid, uint32_t relay_id) {
  scrape_t *sc = yolk__calloc(1, sizeof(*sc));
  sc->m = m;
  sc->id = ++m->next_scrape_id;
  sc->relay_wid = relay_wid;
  sc->relay_id = relay_id;
  for (size_t i = 0; i < YOLK_CLUSTER_MAX_WORKERS; i++) yolk__sb_init(&sc->texts[i]);
  uv_timer_init(m->loop, &sc->timer);
  sc->timer.data = sc;
  m->live++; /* until scrape_closed */
  yolk__list_push_back(&m->scrapes, &sc->node);
  if (req) {
    sc->req = req;
    req->data = sc;
    req->on_abort = scrape_aborted;
  }
  for (unsigned i = 0; i < m->n; i++) {
    worker_t *w = &m->workers[i];
    if (w->state != W_READY || !w->ipc_open) continue;
    if (yolk__cluster_msg_send_id(&w->ipc, YOLK_CLUSTER_MSG_METRICS_ASK, sc->id, NULL, 0) != 0) continue;
    sc->asked[i] = 1;
    sc->waiting++;
  }
  if (!sc->waiting) {
    scrape_finish(sc);
    return;
  }
  uv_timer_start(&sc->timer, scrape_timeout, SCRAPE_TIMEOUT_MS, 0);
}

/* A worker's figures for scrape id. */
static void scrape_answer(master_t *m, worker_t *w, uint32_t id, const char *text, size_t len) {
  yolk_list_t *n;
  yolk__list_foreach(n, &m->scrapes) {
    scrape_t *sc = yolk__list_entry(n, scrape_t, node);
    if (sc->id != id) continue;
    unsigned i = w->id - 1;
    if (!sc->asked[i] || sc->answered[i]) return;
    yolk__sb_append(&sc->texts[i], text, len);
    sc->answered[i] = 1;
    if (--sc->waiting == 0) scrape_finish(sc);
    return;
  }
}

/* ---- the pipes to the workers ------------------------------------------------------------ */

static void reload_next(master_t *m);

static void all_ready_check(master_t *m) {
  if (m->ready_once) return;
  for (unsigned i = 0; i < m->n; i++)
    if (m->workers[i].state != W_READY) return;
  m->ready_once = 1;
  yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "%u worker%s ready on http://%s:%d/%s", m->n, m->n > 1 ? "s" : "",
            m->host, m->port,
            m->sticky ? " (sticky: the master routes each request to the worker of its session)" : "");
}

static void on_message(worker_t *w, int type, const char *p, size_t len) {
  master_t *m = w->m;
  switch (type) {
  case YOLK_CLUSTER_MSG_READY:
    if (w->state != W_STARTING) break;
    w->state = W_READY;
    yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "worker %u (pid %d) ready", w->id, w->pid);
    all_ready_check(m);
    break;
  case YOLK_CLUSTER_MSG_LOAD: {
    uint32_t n;
    if (!yolk__cluster_msg_id(p, len, &n)) break;
    w->sessions = n;
    w->routed = 0;
    break;
  }
  case YOLK_CLUSTER_MSG_RELOADED:
    if (m->reload_id != w->id) break;
    if (len >= 1 && p[0]) yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "worker %u reloaded", w->id);
    else yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "worker %u: reload failed, it keeps its running code", w->id);
    uv_timer_stop(&m->reload_timer);
    reload_next(m);
    break;
  case YOLK_CLUSTER_MSG_METRICS: {
    uint32_t id;
    if (yolk__cluster_msg_id(p, len, &id)) scrape_answer(m, w, id, p + 4, len - 4);
    break;
  }
  case YOLK_CLUSTER_MSG_METRICS_RELAY: {
    uint32_t id;
    if (!yolk__cluster_msg_id(p, len, &id)) break;
    if (m->stopping) yolk__cluster_msg_send_id(&w->ipc, YOLK_CLUSTER_MSG_METRICS_ANSWER, id, NULL, 0);
    else scrape_start(m, NULL, w->id, id);
    break;
  }
  default: break;
  }
}

static void ipc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  worker_t *w = h->data;
  buf->base = w->m->read_buf;
  buf->len = sizeof(w->m->read_buf);
}

static void ipc_close(worker_t *w) {
  if (!w->ipc_open) return;
  w->ipc_open = 0;
  uv_close((uv_handle_t *)&w->ipc, worker_handle_closed);
}

static void ipc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  worker_t *w = s->data;
  if (nread == 0) return;
  if (nread < 0) {
    /* the worker is exiting (its exit_cb follows): route nothing more to it */
    if (w->state == W_READY) w->state = W_STOPPING;
    ipc_close(w);
    return;
  }
  w->last_heard = uv_now(w->m->loop);
  yolk__sb_append(&w->in, buf->base, (size_t)nread);
  int type, r;
  const char *payload;
  size_t len;
  while ((r = yolk__cluster_msg_next(&w->in, &w->in_off, &type, &payload, &len)) == 1) on_message(w, type, payload, len);
  if (r < 0) {
    yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT, "worker %u (pid %d): malformed message, stopping it", w->id, w->pid);
    if (w->proc_open) uv_process_kill(&w->proc, SIGTERM);
    w->state = W_STOPPING;
    ipc_close(w);
    return;
  }
  if (w->in_off == w->in.len) w->in.len = w->in_off = 0;
}

/* ---- the worker processes ----------------------------------------------------------------- */

static void pool_close(worker_t *w) {
  yolk_list_t *n;
  while ((n = yolk__list_first(&w->idle))) upstream_close(yolk__list_entry(n, upstream_t, node));
}

static void restart_fired(uv_timer_t *t) {
  worker_t *w = t->data;
  master_t *m = w->m;
  if (m->stopping) return;
  if (worker_spawn(w) < 0) {
    int any = 0;
    for (unsigned i = 0; i < m->n; i++) any |= alive(&m->workers[i]);
    if (!any) {
      yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT, "no worker left: stopping");
      fatal(m);
    }
  }
}

static void worker_exited(uv_process_t *proc, int64_t status, int sig) {
  worker_t *w = proc->data;
  master_t *m = w->m;
  char how[96];
  exit_text(status, sig, how, sizeof(how));
  int was = w->state;
  w->state = W_DEAD;
  w->sessions = w->routed = 0;
  w->proc_open = 0;
  uv_close((uv_handle_t *)&w->proc, worker_handle_closed);
  ipc_close(w);
  pool_close(w);
  if (m->stopping) {
    if (status == 0 && sig == 0) {
      yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "worker %u (pid %d) stopped", w->id, w->pid);
    } else {
      m->unclean = 1;
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "worker %u (pid %d) %s while stopping", w->id, w->pid, how);
    }
    maybe_finish(m);
    return;
  }
  if (m->reload_id == w->id) {
    uv_timer_stop(&m->reload_timer);
    reload_next(m);
  }
  if (was == W_STARTING && !m->ready_once) {
    yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT, "worker %u (pid %d) %s before it was ready: stopping", w->id, w->pid,
              how);
    fatal(m);
    return;
  }
  /* a crash: restart it, unless it keeps crashing */
  uint64_t now = uv_now(m->loop);
  unsigned recent = 0;
  for (unsigned i = 0; i < YOLK_CLUSTER_MAX_RESTARTS; i++)
    if (w->restarts[i] && now - w->restarts[i] < RESTART_WINDOW_MS) recent++;
  if (recent >= YOLK_CLUSTER_MAX_RESTARTS) {
    yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT,
              "worker %u (pid %d) %s; it was restarted %u times in the last minute: not restarting it", w->id, w->pid,
              how, recent);
    int any = 0;
    for (unsigned i = 0; i < m->n; i++) any |= alive(&m->workers[i]);
    if (!any) {
      yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT, "no worker left: stopping");
      fatal(m);
    }
    return;
  }
  yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "worker %u (pid %d) %s%s: restarting it (its clients reconnect to the others)",
            w->id, w->pid, w->blocked ? "blocked, " : "", how);
  w->restarted++;
  w->restarts[w->restart_next] = now ? now : 1;
  w->restart_next = (w->restart_next + 1) % YOLK_CLUSTER_MAX_RESTARTS;
  uv_timer_start(&w->restart_timer, restart_fired, RESTART_DELAY_MS, 0);
}

static int worker_spawn(worker_t *w) {
  master_t *m = w->m;
  char id[12];
  snprintf(id, sizeof(id), "%u", w->id);
  m->args[m->id_arg] = id;
  uv_pipe_init(m->loop, &w->ipc, 1);
  w->ipc.data = w;
  uv_stdio_container_t stdio[5];
  memset(stdio, 0, sizeof(stdio));
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 1;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  stdio[3].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
  stdio[3].data.stream = (uv_stream_t *)&w->ipc;
  stdio[4].flags = UV_INHERIT_FD;
  stdio[4].data.fd = m->sticky ? w->listen_fd : m->tcp_fd;
  uv_process_options_t po;
  memset(&po, 0, sizeof(po));
  po.exit_cb = worker_exited;
  po.file = m->args[0];
  po.args = m->args;
  po.stdio_count = 5;
  po.stdio = stdio;
  /* its own session: a Ctrl-C in the terminal reaches the master only,
   * which stops the workers in order */
  po.flags = UV_PROCESS_DETACHED;
  w->proc.data = w;
  m->live += 2; /* process and pipe handles, closed through worker_handle_closed */
  int r = uv_spawn(m->loop, &w->proc, &po);
  m->args[m->id_arg] = NULL;
  if (r < 0) {
    yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT, "cannot start worker %u (%s): %s", w->id, po.file, uv_strerror(r));
    uv_close((uv_handle_t *)&w->proc, worker_handle_closed);
    uv_close((uv_handle_t *)&w->ipc, worker_handle_closed);
    w->state = W_DEAD;
    return r;
  }
  w->proc_open = w->ipc_open = 1;
  w->pid = w->proc.pid;
  w->state = W_STARTING;
  w->blocked = 0;
  w->last_heard = uv_now(m->loop);
  w->sessions = w->routed = 0;
  w->in.len = w->in_off = 0;
  uv_read_start((uv_stream_t *)&w->ipc, ipc_alloc, ipc_read);
  yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "worker %u started (pid %d)", w->id, w->pid);
  return 0;
}

/* ---- blocked workers ----------------------------------------------------------------------- */

/* A ready worker whose loop has said nothing for blocked_restart_ms is stuck
 * in a callback that does not return (its own watchdog has been logging which
 * one). SIGTERM would wait for that loop: SIGKILL, and worker_exited restarts
 * it like any crash (its clients reconnect to the others meanwhile). */
static void watch_fired(uv_timer_t *t) {
  master_t *m = t->data;
  if (m->stopping) return;
  uint64_t now = uv_now(m->loop);
  for (unsigned i = 0; i < m->n; i++) {
    worker_t *w = &m->workers[i];
    if (w->state != W_READY || !w->proc_open || now - w->last_heard <= m->blocked_restart_ms) continue;
    if (m->reload_id == w->id) continue; /* reloading its code: reload_timeout watches that */
    yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT,
              "worker %u (pid %d) has not been heard from for %.1f s: its loop is blocked "
              "(config.lua.blockedRestart = %u ms); killing it",
              w->id, w->pid, (double)(now - w->last_heard) / 1000, m->blocked_restart_ms);
    w->blocked = 1;
    w->state = W_STOPPING; /* route nothing more to it */
    pool_close(w);
    uv_process_kill(&w->proc, SIGKILL);
  }
}

/* ---- reload (SIGHUP) ----------------------------------------------------------------------- */

static void reload_timeout(uv_timer_t *t) {
  master_t *m = t->data;
  yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "worker %u did not report its reload within %d ms; going on", m->reload_id,
            RELOAD_TIMEOUT_MS);
  reload_next(m);
}

static void reload_next(master_t *m) {
  m->reload_id = 0;
  while (!m->stopping && m->reload_pos < m->n) {
    worker_t *w = &m->workers[m->reload_pos++];
    if (w->state != W_READY || !w->proc_open) continue;
    if (uv_process_kill(&w->proc, SIGHUP) != 0) continue;
    m->reload_id = w->id;
    uv_timer_start(&m->reload_timer, reload_timeout, RELOAD_TIMEOUT_MS, 0);
    return;
  }
  if (m->stopping) return;
  yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "reload done");
  if (m->reload_again) {
    m->reload_again = 0;
    yolk__cluster_master_reload(m);
  }
}

void yolk__cluster_master_reload(master_t *m) {
  if (m->stopping) return;
  if (m->reload_id) {
    m->reload_again = 1; /* once this round is over, from the first worker again */
    return;
  }
  yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "reloading the workers' code, one worker at a time");
  m->reload_pos = 0;
  reload_next(m);
}

/* ---- start and stop --------------------------------------------------------------------------- */

/* The shared socket of the workers (not sticky): bound and listening here,
 * accepted from in the workers only. */
static int bind_tcp(const char *host, int port, int *out) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  int r = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
                            : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (r < 0) return r;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  socklen_t sl = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 511) < 0) {
    r = -errno;
    close(fd);
    return r;
  }
  *out = fd;
  return 0;
}

/* A worker's Unix socket (sticky), in the master's private directory. */
static int bind_unix(const char *path, int *out) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(sa.sun_path)) return UV_ENAMETOOLONG;
  memcpy(sa.sun_path, path, strlen(path));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 511) < 0) {
    int r = -errno;
    close(fd);
    return r;
  }
  *out = fd;
  return 0;
}

static void master_free(master_t *m) {
  if (m->tcp_fd >= 0) close(m->tcp_fd);
  for (unsigned i = 0; i < m->n; i++) {
    worker_t *w = &m->workers[i];
    if (w->listen_fd >= 0) close(w->listen_fd);
    if (w->sock_path[0]) unlink(w->sock_path);
    yolk__sb_free(&w->in);
  }
  if (m->sock_dir[0]) rmdir(m->sock_dir);
  for (size_t i = 0; i < m->nargs; i++)
    if (i != m->id_arg) free(m->args[i]);
  free(m->args);
  free(m->host);
  free(m->eio_path);
  free(m->metrics_path);
  free(m);
}

static void http_closed(void *arg) {
  master_t *m = arg;
  m->http = NULL;
  m->live--;
  maybe_finish(m);
}

static void maybe_finish(master_t *m) {
  if (!m->stopping || m->finished) return;
  if (!m->final_started) {
    for (unsigned i = 0; i < m->n; i++)
      if (m->workers[i].proc_open) return;
    /* every worker is gone: close the rest (clients still connected to the
     * master, timers) */
    m->final_started = 1;
    for (unsigned i = 0; i < m->n; i++) {
      pool_close(&m->workers[i]);
      uv_close((uv_handle_t *)&m->workers[i].restart_timer, worker_handle_closed);
    }
    uv_close((uv_handle_t *)&m->kill_timer, live_closed);
    uv_close((uv_handle_t *)&m->reload_timer, live_closed);
    uv_close((uv_handle_t *)&m->fatal_timer, live_closed);
    uv_close((uv_handle_t *)&m->watch_timer, live_closed);
    if (m->http) yolk__http_server_close(m->http, http_closed, m);
    return; /* the close callbacks come back here */
  }
  if (m->live) return;
  m->finished = 1;
  int status = m->unclean || m->fatal ? 1 : 0;
  void (*done)(void *, int) = m->done;
  void *arg = m->done_arg;
  master_free(m);
  if (done) done(arg, status);
}

static void kill_fired(uv_timer_t *t) {
  master_t *m = t->data;
  for (unsigned i = 0; i < m->n; i++) {
    worker_t *w = &m->workers[i];
    if (!w->proc_open) continue;
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "worker %u (pid %d) did not stop within %d ms: killing it", w->id, w->pid,
              YOLK_CLUSTER_STOP_MS);
    uv_process_kill(&w->proc, SIGKILL);
    m->unclean = 1;
  }
}

void yolk__cluster_master_stop(master_t *m, void (*done)(void *arg, int status), void *arg) {
  if (m->stopping) return;
  m->stopping = 1;
  m->done = done;
  m->done_arg = arg;
  unsigned running = 0;
  for (unsigned i = 0; i < m->n; i++) running += m->workers[i].proc_open;
  yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "stopping (%u worker%s running)", running, running == 1 ? "" : "s");
  /* no new connections: the master's listener, or our copy of the shared
   * socket (the workers close theirs as they stop) */
  if (m->http) yolk__http_server_unlisten(m->http);
  if (m->tcp_fd >= 0) {
    close(m->tcp_fd);
    m->tcp_fd = -1;
  }
  uv_timer_stop(&m->reload_timer);
  uv_timer_stop(&m->fatal_timer);
  uv_timer_stop(&m->watch_timer);
  /* scrapes waiting for workers that are about to go: answered with what came */
  yolk_list_t *sn;
  while ((sn = yolk__list_first(&m->scrapes))) scrape_finish(yolk__list_entry(sn, scrape_t, node));
  for (unsigned i = 0; i < m->n; i++) {
    worker_t *w = &m->workers[i];
    uv_timer_stop(&w->restart_timer);
    pool_close(w);
    if (w->proc_open) {
      uv_process_kill(&w->proc, SIGTERM);
      w->state = W_STOPPING;
    }
  }
  uv_timer_start(&m->kill_timer, kill_fired, YOLK_CLUSTER_STOP_MS, 0);
  maybe_finish(m);
}

/* The executable of this process, to start the workers with. */
static char *self_exe(void) {
  if (access("/proc/self/exe", X_OK) == 0) return yolk__strndup("/proc/self/exe", 14);
  char buf[PATH_MAX];
  size_t len = sizeof(buf);
  if (uv_exepath(buf, &len) != 0) return NULL;
  return yolk__strndup(buf, len);
}

int yolk__cluster_master_start(uv_loop_t *loop, const yolk_cluster_options_t *o, master_t **out, char *err,
                               size_t errlen) {
  *out = NULL;
  if (o->workers < 1 || o->workers > YOLK_CLUSTER_MAX_WORKERS) {
    snprintf(err, errlen, "--workers: 1 to %d", YOLK_CLUSTER_MAX_WORKERS);
    return UV_EINVAL;
  }
  char *exe = self_exe();
  if (!exe) {
    snprintf(err, errlen, "cannot find the yolk executable to start the workers with");
    return UV_ENOENT;
  }
  yolk__log_set_process("master");
  master_t *m = yolk__calloc(1, sizeof(*m));
  m->loop = loop;
  m->n = o->workers;
  m->sticky = o->sticky;
  const char *host = o->host && *o->host && strcmp(o->host, "localhost") != 0 ? o->host : "127.0.0.1";
  m->host = yolk__strndup(host, strlen(host));
  m->port = o->port;
  m->on_fatal = o->on_fatal;
  m->ud = o->ud;
  m->blocked_restart_ms = o->blocked_restart_ms;
  m->tcp_fd = -1;
  yolk__list_init(&m->scrapes);
  if (o->sticky && o->metrics_path && *o->metrics_path)
    m->metrics_path = yolk__strndup(o->metrics_path, strlen(o->metrics_path));
  /* the Engine.IO path as eio.c normalises it: no trailing slash, then one */
  const char *path = o->eio_path ? o->eio_path : "/socket.io/";
  size_t pl = strlen(path);
  while (pl > 0 && path[pl - 1] == '/') pl--;
  m->eio_path = yolk__malloc(pl + 2);
  memcpy(m->eio_path, path, pl);
  memcpy(m->eio_path + pl, "/", 2);
  m->eio_path_len = pl + 1;
  size_t nwa = 0;
  while (o->worker_args && o->worker_args[nwa]) nwa++;
  m->args = yolk__calloc(nwa + 6, sizeof(char *));
  m->args[m->nargs++] = exe;
  for (size_t i = 0; i < nwa; i++) m->args[m->nargs++] = yolk__strndup(o->worker_args[i], strlen(o->worker_args[i]));
  m->args[m->nargs++] = yolk__strndup("--cluster-worker", 16);
  m->id_arg = m->nargs++; /* filled in for each spawn */
  if (m->sticky) m->args[m->nargs++] = yolk__strndup("--sticky", 8);
  llhttp_settings_init(&m->up_settings);
  m->up_settings.on_header_field = up_on_header_field;
  m->up_settings.on_header_value = up_on_header_value;
  m->up_settings.on_headers_complete = up_on_headers_complete;
  m->up_settings.on_body = up_on_body;
  m->up_settings.on_message_complete = up_on_message_complete;
  for (unsigned i = 0; i < m->n; i++) {
    worker_t *w = &m->workers[i];
    w->m = m;
    w->id = i + 1;
    w->listen_fd = -1;
    yolk__list_init(&w->idle);
    yolk__sb_init(&w->in);
  }

  /* First what can fail and needs no handle (nothing to close
   * asynchronously on the way out): the sockets. */
  int r = 0;
  if (m->sticky) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 60) tmp = "/tmp"; /* sun_path is short */
    snprintf(m->sock_dir, sizeof(m->sock_dir), "%s/yolk-cluster-XXXXXX", tmp);
    if (!mkdtemp(m->sock_dir)) {
      r = -errno;
      snprintf(err, errlen, "cannot make a directory for the workers' sockets (%s): %s", m->sock_dir, uv_strerror(r));
      m->sock_dir[0] = '\0';
      goto fail;
    }
    for (unsigned i = 0; i < m->n && r == 0; i++) {
      worker_t *w = &m->workers[i];
      snprintf(w->sock_path, sizeof(w->sock_path), "%.83s/worker%u.sock", m->sock_dir, w->id);
      r = bind_unix(w->sock_path, &w->listen_fd);
      if (r < 0) {
        snprintf(err, errlen, "%s: %s", w->sock_path, uv_strerror(r));
        w->sock_path[0] = '\0';
        goto fail;
      }
    }
  }
  r = bind_tcp(m->host, m->port, &m->tcp_fd);
  if (r < 0) {
    snprintf(err, errlen, "cannot listen on %s:%d: %s: %s", m->host, m->port, uv_err_name(r), uv_strerror(r));
    goto fail;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  if (getsockname(m->tcp_fd, (struct sockaddr *)&ss, &sl) == 0)
    m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);

  uv_timer_t *timers[] = {&m->kill_timer, &m->reload_timer, &m->fatal_timer, &m->watch_timer};
  for (size_t i = 0; i < 4; i++) {
    uv_timer_init(loop, timers[i]);
    timers[i]->data = m;
    m->live++;
  }
  for (unsigned i = 0; i < m->n; i++) {
    worker_t *w = &m->workers[i];
    uv_timer_init(loop, &w->restart_timer);
    w->restart_timer.data = w;
    m->live++;
  }
  *out = m;
  if (m->sticky) {
    /* the master serves the socket: its HTTP layer reads each request and
     * on_request routes it */
    yolk_http_config_t cfg;
    yolk__http_config_init(&cfg);
    cfg.on_request = on_request;
    cfg.ud = m;
    if (o->max_body_size > cfg.max_body_size) cfg.max_body_size = o->max_body_size;
    r = yolk__http_server_init(loop, &m->http, &cfg);
    if (r == 0) {
      m->live++; /* until http_closed */
      int fd = m->tcp_fd;
      m->tcp_fd = -1; /* the server's from now on */
      r = yolk__http_server_listen_fd(m->http, fd, 0);
    } else {
      m->http = NULL;
    }
    if (r < 0) {
      yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT, "cannot serve http://%s:%d/: %s", m->host, m->port, uv_strerror(r));
      fatal(m); /* the owner stops us from the loop */
      return 0;
    }
  }
  yolk__log(YOLK_LOG_INFO, LOG_COMPONENT, "listening on http://%s:%d/, starting %u worker%s%s", m->host, m->port, m->n,
            m->n > 1 ? "s" : "", m->sticky ? " (sticky sessions)" : "");
  if (m->blocked_restart_ms) {
    unsigned every = m->blocked_restart_ms / 4 < YOLK_CLUSTER_BEAT_MS ? YOLK_CLUSTER_BEAT_MS : m->blocked_restart_ms / 4;
    uv_timer_start(&m->watch_timer, watch_fired, every, every);
  }
  for (unsigned i = 0; i < m->n; i++)
    if (worker_spawn(&m->workers[i]) < 0) {
      fatal(m);
      break;
    }
  return 0;

fail:
  master_free(m);
  yolk__log_set_process(NULL);
  return r;
}
