/* cluster_worker.c - the worker's side of the cluster (see cluster.h): the
 * pipe to the master, serving the socket it made, adopting the connections it
 * hands over, reporting readiness, load and reloads, and its metrics: its
 * figures when the master asks (labelled with its number), and, on the
 * shared socket (not sticky), its clients' metrics requests relayed to the
 * master, which answers for the whole cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "id.h"
#include "list.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define LOG_COMPONENT "cluster"
/* How often the worker tells the master its session count. Every time, not
 * only when it changed: the master counts the handshakes it routed since the
 * last report, and a count that went 0 -> 3 -> 0 between two looks must still
 * tell it that those three were handled. */
#define LOAD_REPORT_MS YOLK_CLUSTER_BEAT_MS

struct yolk_cluster_worker_s {
  uv_loop_t *loop;
  unsigned id;
  int sticky;
  char sid_prefix[2];
  uv_pipe_t ipc;      /* fd 3 */
  uv_timer_t load_timer;
  int open_handles;
  int closing;
  int master_gone;
  yolk_server_t *srv; /* once serving */
  yolk_eio_server_t *eio;
  yolk_sb_t in; /* bytes from the master not yet parsed */
  size_t in_off;
  yolk_list_t relayed; /* relayed_t: metrics requests waiting for the master's answer */
  uint32_t next_relay_id;
  void (*on_master_gone)(void *ud);
  void *ud;
  void (*close_cb)(void *arg);
  void *close_arg;
  char read_buf[64 * 1024];
};

const char *yolk__cluster_worker_sid_prefix(const yolk_cluster_worker_t *w) { return w->sid_prefix; }

/* A handed-over connection that nothing can serve: taken off the pipe (so the
 * next one is not mistaken for it) and closed. */
static void dropped_closed(uv_handle_t *h) { free(h); }
static void drop_pending(yolk_cluster_worker_t *w) {
  while (uv_pipe_pending_count(&w->ipc) > 0) {
    uv_handle_type t = uv_pipe_pending_type(&w->ipc);
    uv_stream_t *s;
    if (t == UV_TCP) {
      uv_tcp_t *tcp = yolk__malloc(sizeof(*tcp));
      uv_tcp_init(w->loop, tcp);
      s = (uv_stream_t *)tcp;
    } else if (t == UV_NAMED_PIPE) {
      uv_pipe_t *p = yolk__malloc(sizeof(*p));
      uv_pipe_init(w->loop, p, 0);
      s = (uv_stream_t *)p;
    } else {
      return; /* nothing the master sends */
    }
    uv_accept((uv_stream_t *)&w->ipc, s);
    uv_close((uv_handle_t *)s, dropped_closed);
  }
}

static void master_gone(yolk_cluster_worker_t *w, const char *why) {
  if (w->master_gone || w->closing) return;
  w->master_gone = 1;
  uv_read_stop((uv_stream_t *)&w->ipc);
  yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "the master went away (%s): stopping", why);
  if (w->on_master_gone) w->on_master_gone(w->ud);
}

/* ---- metrics ------------------------------------------------------------------------------ */

/* A client's metrics request on the shared socket, waiting for the master. */
typedef struct {
  yolk_list_t node; /* in w->relayed */
  yolk_cluster_worker_t *w;
  uint32_t id;
  yolk_http_req_t *req;
} relayed_t;

static void relayed_aborted(yolk_http_req_t *req) {
  relayed_t *r = req->data;
  yolk__list_remove(&r->node);
  free(r);
}

static void relayed_unavailable(relayed_t *r) {
  yolk_http_req_t *req = r->req;
  req->on_abort = NULL;
  req->data = NULL;
  yolk__list_remove(&r->node);
  free(r);
  static const char msg[] = "Service Unavailable";
  yolk__http_respond(req, 503, "Content-Type: text/plain\r\nRetry-After: 1\r\n", msg, sizeof(msg) - 1);
}

/* The server's metrics endpoint, not sticky: the master answers for all. */
static void metrics_relay(yolk_http_req_t *req, void *ud) {
  yolk_cluster_worker_t *w = ud;
  relayed_t *r = yolk__calloc(1, sizeof(*r));
  r->w = w;
  r->id = ++w->next_relay_id;
  r->req = req;
  req->data = r;
  req->on_abort = relayed_aborted;
  yolk__list_push_back(&w->relayed, &r->node);
  if (w->closing || w->master_gone ||
      yolk__cluster_msg_send_id(&w->ipc, YOLK_CLUSTER_MSG_METRICS_RELAY, r->id, NULL, 0) != 0)
    relayed_unavailable(r);
}

static void metrics_answer(yolk_cluster_worker_t *w, uint32_t id, const char *text, size_t len) {
  yolk_list_t *n;
  yolk__list_foreach(n, &w->relayed) {
    relayed_t *r = yolk__list_entry(n, relayed_t, node);
    if (r->id != id) continue;
    if (!len) {
      relayed_unavailable(r); /* the master could not gather them */
      return;
    }
    yolk_http_req_t *req = r->req;
    req->on_abort = NULL;
    req->data = NULL;
    yolk__list_remove(&r->node);
    free(r);
    yolk__server_metrics_respond(req, text, len);
    return;
  }
}

/* The master asks for this worker's figures. */
static void metrics_ask(yolk_cluster_worker_t *w, uint32_t id) {
  if (!w->srv) return; /* not serving: the master counts it as not up */
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__metrics_render(yolk_server_metrics(w->srv), &sb);
  if (sb.len + 9 > YOLK_CLUSTER_MSG_MAX) /* the master would take the frame for a broken peer */
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "metrics: %zu bytes are too many for the master's pipe", sb.len);
  else
    yolk__cluster_msg_send_id(&w->ipc, YOLK_CLUSTER_MSG_METRICS, id, sb.data, sb.len);
  yolk__sb_free(&sb);
}

/* ---- the pipe --------------------------------------------------------------------------------- */

static void on_frame(yolk_cluster_worker_t *w, int type, const char *payload, size_t len) {
  uint32_t id;
  if (type == YOLK_CLUSTER_MSG_METRICS_ASK) {
    if (yolk__cluster_msg_id(payload, len, &id)) metrics_ask(w, id);
    return;
  }
  if (type == YOLK_CLUSTER_MSG_METRICS_ANSWER) {
    if (yolk__cluster_msg_id(payload, len, &id)) metrics_answer(w, id, payload + 4, len - 4);
    return;
  }
  if (type != YOLK_CLUSTER_MSG_CONN) return; /* nothing else comes this way */
  if (uv_pipe_pending_count(&w->ipc) <= 0) {
    yolk__log(YOLK_LOG_ERROR, LOG_COMPONENT, "a connection from the master came without its socket");
    return;
  }
  int r = w->srv ? yolk__server_adopt_ipc(w->srv, &w->ipc, payload, len) : UV_ECANCELED;
  if (r == UV_ECANCELED) drop_pending(w); /* not serving (yet, or any more) */
  else if (r < 0) yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "cannot adopt a connection: %s", uv_strerror(r));
}

static void ipc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  yolk_cluster_worker_t *w = h->data;
  buf->base = w->read_buf;
  buf->len = sizeof(w->read_buf);
}

static void ipc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  yolk_cluster_worker_t *w = s->data;
  if (nread == 0 || w->closing) return;
  if (nread < 0) {
    master_gone(w, nread == UV_EOF ? "its pipe closed" : uv_strerror((int)nread));
    return;
  }
  yolk__sb_append(&w->in, buf->base, (size_t)nread);
  int type, r;
  const char *payload;
  size_t len;
  while ((r = yolk__cluster_msg_next(&w->in, &w->in_off, &type, &payload, &len)) == 1) {
    on_frame(w, type, payload, len);
    if (w->closing || w->master_gone) return;
  }
  if (r < 0) {
    master_gone(w, "malformed message");
    return;
  }
  if (w->in_off == w->in.len) {
    w->in.len = w->in_off = 0;
    if (w->in.cap > 256 * 1024) yolk__sb_free(&w->in);
  }
}

/* Every LOAD_REPORT_MS, from the loop: the load (sticky: the master routes
 * by it), else a heartbeat. Either tells the master the loop is running. */
static void load_tick(uv_timer_t *t) {
  yolk_cluster_worker_t *w = t->data;
  if (w->closing || w->master_gone) return;
  if (!w->sticky || !w->eio) {
    yolk__cluster_msg_send(&w->ipc, YOLK_CLUSTER_MSG_BEAT, NULL, 0);
    return;
  }
  /* the session count, as the little-endian number that leads an id message */
  yolk__cluster_msg_send_id(&w->ipc, YOLK_CLUSTER_MSG_LOAD, (uint32_t)yolk_eio_clients_count(w->eio), NULL, 0);
}

int yolk__cluster_worker_new(uv_loop_t *loop, unsigned id, int sticky, void (*on_master_gone)(void *ud), void *ud,
                             yolk_cluster_worker_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (id < 1 || id > YOLK_CLUSTER_MAX_WORKERS) {
    snprintf(err, errlen, "worker number %u out of range", id);
    return -1;
  }
  uv_handle_type listen_type = uv_guess_handle(YOLK_CLUSTER_LISTEN_FD);
  if (uv_guess_handle(YOLK_CLUSTER_IPC_FD) != UV_NAMED_PIPE ||
      (listen_type != UV_TCP && listen_type != UV_NAMED_PIPE)) {
    snprintf(err, errlen, "--cluster-worker: not started by a yolk master (no pipe on fd %d, no socket on fd %d)",
             YOLK_CLUSTER_IPC_FD, YOLK_CLUSTER_LISTEN_FD);
    return -1;
  }
  yolk_cluster_worker_t *w = yolk__calloc(1, sizeof(*w));
  w->loop = loop;
  w->id = id;
  w->sticky = sticky;
  w->sid_prefix[0] = yolk__id_alphabet[id - 1];
  w->on_master_gone = on_master_gone;
  w->ud = ud;
  yolk__sb_init(&w->in);
  yolk__list_init(&w->relayed);
  uv_pipe_init(loop, &w->ipc, 1);
  w->ipc.data = w;
  uv_timer_init(loop, &w->load_timer);
  w->load_timer.data = w;
  w->open_handles = 2;
  int r = uv_pipe_open(&w->ipc, YOLK_CLUSTER_IPC_FD);
  if (r == 0) r = uv_read_start((uv_stream_t *)&w->ipc, ipc_alloc, ipc_read);
  /* neither the pipe nor the timer keeps the process alive: the server does */
  uv_unref((uv_handle_t *)&w->ipc);
  uv_unref((uv_handle_t *)&w->load_timer);
  *out = w;
  if (r < 0) {
    snprintf(err, errlen, "the master's pipe (fd %d): %s", YOLK_CLUSTER_IPC_FD, uv_strerror(r));
    return -1; /* the caller closes w */
  }
  char tag[16];
  snprintf(tag, sizeof(tag), "worker%u", id);
  yolk__log_set_process(tag);
  return 0;
}

int yolk__cluster_worker_serve(yolk_cluster_worker_t *w, yolk_server_t *srv, yolk_eio_server_t *eio) {
  if (w->closing || w->srv) return UV_EALREADY;
  int r = yolk__server_listen_fd(srv, YOLK_CLUSTER_LISTEN_FD, w->sticky ? YOLK_HTTP_LISTEN_TRUSTED : 0);
  if (r < 0) return r;
  w->srv = srv;
  w->eio = eio;
  char label[12];
  snprintf(label, sizeof(label), "%u", w->id);
  yolk_metrics_set_label(yolk_server_metrics(srv), "worker", label);
  /* sticky: the master answers the endpoint itself; else its requests
   * reach any worker, which asks the master */
  if (!w->sticky) yolk__server_metrics_relay(srv, metrics_relay, w);
  uv_timer_start(&w->load_timer, load_tick, LOAD_REPORT_MS, LOAD_REPORT_MS);
  return yolk__cluster_msg_send(&w->ipc, YOLK_CLUSTER_MSG_READY, NULL, 0);
}

void yolk__cluster_worker_reloaded(yolk_cluster_worker_t *w, int ok) {
  if (w->closing || w->master_gone) return;
  unsigned char b = ok ? 1 : 0;
  yolk__cluster_msg_send(&w->ipc, YOLK_CLUSTER_MSG_RELOADED, &b, 1);
}

static void handle_closed(uv_handle_t *h) {
  yolk_cluster_worker_t *w = h->data;
  if (--w->open_handles) return;
  void (*cb)(void *) = w->close_cb;
  void *arg = w->close_arg;
  yolk__sb_free(&w->in);
  free(w);
  if (cb) cb(arg);
}

void yolk__cluster_worker_close(yolk_cluster_worker_t *w, void (*done)(void *arg), void *arg) {
  if (w->closing) return;
  w->closing = 1;
  w->close_cb = done;
  w->close_arg = arg;
  if (w->srv) yolk__server_metrics_relay(w->srv, NULL, NULL);
  w->srv = NULL;
  w->eio = NULL;
  yolk_list_t *n;
  while ((n = yolk__list_first(&w->relayed))) relayed_unavailable(yolk__list_entry(n, relayed_t, node));
  uv_close((uv_handle_t *)&w->load_timer, handle_closed);
  uv_close((uv_handle_t *)&w->ipc, handle_closed);
}
