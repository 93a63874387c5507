/* http.c - HTTP/1.1 server on libuv + llhttp; see http.h for the contract.
 *
 * Per connection: one uv_tcp_t and one uv_timer_t (header timeout, keep-alive
 * idle timeout, deferred resume; after a takeover the timer belongs to the new
 * owner through yolk__conn_set_timeout). Reads land in one buffer shared by
 * the server and are appended to conn->in (which keeps its memory), parsed
 * from there; while a request is pending llhttp stays paused and later
 * pipelined bytes simply wait in conn->in until the response is out.
 *
 * Writes: a ring of shared buffer references. Writes are corked for the
 * rest of the loop iteration: the connection joins the server's flush list,
 * and a prepare/check handle pair flushes every listed connection with one
 * uv_try_write of all its queued buffers (so ten messages to one client in
 * one tick cost one syscall, not ten). What the kernel refuses is sent with
 * one uv_write (its uv_write_t and uv_buf_t array live in the connection, so
 * steady-state writing does not allocate). References are released once
 * written.
 *
 * Lifetime: a connection is never freed inside its own callbacks. Closing
 * marks it and closes both handles; the memory goes (and on_abort / the owner's
 * on_close run) in the last close callback.
 *
 * Cluster mode (core/cluster.h) adds three ways in and one way out: a
 * listener on a socket another process bound (TCP, or the Unix socket through
 * which a master proxies requests: "trusted", see YOLK_HTTP_PEER_HEADER),
 * connections adopted from an IPC pipe with the bytes the master already read,
 * and yolk__http_release, which hands a connection's socket to the caller.
 */
#include "http.h"

#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "list.h"
#include "log.h"

#define LOG_COMPONENT "http"
/* Bytes buffered while a request is pending before we stop reading (back-pressure
 * on pipelining clients); reading resumes once the backlog is parsed. */
#define MAX_BACKLOG (256 * 1024)
#define READ_BUF_SIZE (64 * 1024)

enum {
  TIMER_NONE,
  TIMER_HEADER, /* waiting for a complete request head (or body bytes): 408 */
  TIMER_IDLE,   /* keep-alive connection with nothing in flight: close quietly */
  TIMER_RESUME, /* 0 ms: parse buffered bytes outside the caller's stack */
  TIMER_OWNER,  /* after takeover: the owner's timeout */
  TIMER_LINGER, /* write side shut down, waiting for the peer's EOF */
};
/* After our last byte, how long we keep reading (and discarding) before the
 * final close. Closing with unread input makes the kernel send RST, which
 * can destroy the error response we just wrote (e.g. a 413 while the client
 * is still sending its body). */
#define LINGER_MS 1000

struct yolk_http_server_s {
  uv_loop_t *loop;
  union {
    uv_tcp_t listener;        /* yolk__http_server_listen, or a TCP socket from listen_fd */
    uv_pipe_t listener_pipe;  /* a Unix-domain socket from listen_fd */
  };
  int listener_inited;        /* the handle above was initialised (and must be closed) */
  int listener_closing;
  uv_handle_type listener_type;
  unsigned listener_flags;    /* YOLK_HTTP_LISTEN_* */
  int listening;
  int closing;
  int listener_closed;
  int flushers_closed; /* prepare + check, closed with the server */
  uv_prepare_t flush_prepare; /* flushes writes made by timers and before the loop runs */
  uv_check_t flush_check;     /* flushes writes made by I/O callbacks */
  yolk_list_t flush_list; /* connections with corked writes (conn.flush_node) */
  int flushers_active;
  uint64_t accept_warned_ms;
  yolk_http_config_t cfg;
  llhttp_settings_t settings;
  yolk_list_t conns; /* live connections (conn.node); freed by conn_free */
  uint64_t bytes_read, bytes_written; /* yolk__http_server_stats: one addition per read and per write */
  void (*close_cb)(void *arg);
  void *close_arg;
  char read_buf[READ_BUF_SIZE]; /* shared: libuv calls alloc_cb and read_cb back to back */
};

struct yolk_http_conn_s {
  /* The connection's socket. Both kinds start like a uv_stream_t, which is
   * how everything below uses `tcp`; only accepting tells them apart. */
  union {
    uv_tcp_t tcp;   /* a TCP client (accepted here, or adopted from another process) */
    uv_pipe_t pipe; /* a connection to a Unix-domain listener (a cluster master) */
  };
  uv_timer_t timer;
  yolk_http_server_t *srv;
  yolk_list_t node;       /* in srv->conns */
  yolk_list_t flush_node; /* in srv->flush_list while writes are corked */
  int open_handles;
  char remote_addr[64]; /* IP only */
  char peer[80];        /* "ip:port" for log lines */

  /* state flags */
  unsigned closing : 1;           /* handles are closing; nothing more is done */
  unsigned close_after_write : 1; /* close once the write queue is empty */
  unsigned reading : 1;
  unsigned taken_over : 1;
  unsigned in_process : 1;   /* conn_process is on the stack */
  unsigned parse_failed : 1; /* error response sent; ignore further input */
  unsigned headers_done : 1; /* of the request being parsed */
  unsigned in_message : 1;   /* llhttp is between message begin and complete */
  unsigned upgrade_wait : 1; /* an upgrade request is out; later bytes belong to its answer */
  unsigned lingering : 1;    /* shutdown sent; discarding input until EOF */
  unsigned peer_eof : 1;     /* the peer closed its side */
  unsigned write_progress : 1; /* a write completed since the idle timer was armed */
  unsigned trusted : 1;  /* from a YOLK_HTTP_LISTEN_TRUSTED listener: the master's proxy */
  unsigned released : 1; /* given up with yolk__http_release */
  size_t wq_mark; /* libuv's unwritten bytes when the idle timer was armed */
  int timer_mode;

  /* parsing */
  llhttp_t parser;
  yolk_sb_t in; /* bytes read but not yet parsed */
  size_t in_off;
  /* The request being parsed. Completed headers are kept as "name\0value\0"
   * in hdrbuf; at the end everything but the body is laid out in one
   * allocation with the request (see on_message_complete). These builders
   * keep their memory between requests. */
  yolk_sb_t url, field, value, hdrbuf, body;
  int last_was_value;
  size_t head_bytes;
  size_t nhdrs;
  int expect_continue;
  int user_error; /* status to answer when a callback failed (413, 431, 505) */
  yolk_http_req_t *ready; /* completed by on_message_complete, not yet dispatched */
  yolk_http_req_t *pending; /* dispatched, waiting for its response */

  /* writing */
  yolk_buf_t **q; /* ring of queued buffers */
  size_t q_cap, q_head, q_count;
  size_t q_off; /* bytes of q[q_head] already written */
  size_t pending_bytes;
  size_t max_backlog;            /* yolk__conn_limit_backlog; 0: none */
  void (*backlog_over)(void *owner);
  uv_write_t wreq;
  uv_shutdown_t shutreq;
  int writing;
  size_t w_count; /* buffers in the in-flight uv_write */
  uv_buf_t *wbufs;
  size_t wbufs_cap;

  /* takeover */
  yolk_conn_handler_t handler;
  void *owner;
  void (*owner_timeout)(void *owner);
  yolk_http_release_cb release_cb; /* until called (exactly once) */
  uint64_t owner_timeout_ms; /* armed after the leftover bytes are delivered */
  int owner_timeout_deferred;
};

/* ---- small helpers ------------------------------------------------------- */

void yolk__http_config_init(yolk_http_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->max_header_size = 16 * 1024;
  cfg->max_body_size = 1000 * 1000;
  cfg->header_timeout_ms = 10000;
  cfg->keepalive_timeout_ms = 5000;
}

const char *yolk__http_status_text(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 411: return "Length Required";
  case 413: return "Payload Too Large";
  case 414: return "URI Too Long";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

/* The Date header value, formatted at most once per second. */
static const char *http_date(void) {
  static char buf[40];
  static time_t last;
  time_t now = time(NULL);
  if (now != last || !buf[0]) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    last = now;
  }
  return buf;
}

/* Everything but the body shares the request's allocation. */
static void req_free(yolk_http_req_t *req) {
  if (!req) return;
  free(req->body);
  free(req);
}

const char *yolk__http_req_header(const yolk_http_req_t *req, const char *name) {
  for (size_t i = 0; i < req->nheaders; i++)
    if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
  return NULL;
}

/* The headers whose repeats Node drops (http's matchKnownFields). */
static int single_header(const char *name) {
  static const char *const single[] = {
      "age",    "authorization",      "content-length", "content-type",  "etag",    "expires",
      "from",   "host",               "if-modified-since", "if-unmodified-since", "last-modified",
      "location", "max-forwards",     "proxy-authorization", "referer",   "retry-after", "server",
      "user-agent",
  };
  for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
    if (strcmp(name, single[i]) == 0) return 1;
  return 0;
}

void yolk__http_headers_each(const char *const *names, const char *const *values, size_t n, yolk_header_cb cb,
                             void *ud) {
  yolk_sb_t joined;
  yolk__sb_init(&joined);
  for (size_t i = 0; i < n; i++) {
    int seen = 0;
    for (size_t k = 0; k < i && !seen; k++) seen = strcmp(names[k], names[i]) == 0;
    if (seen) continue;
    if (strcmp(names[i], "set-cookie") == 0) {
      for (size_t k = i; k < n; k++)
        if (strcmp(names[k], names[i]) == 0) cb(ud, names[i], values[k], strlen(values[k]), 1);
      continue;
    }
    if (single_header(names[i])) {
      cb(ud, names[i], values[i], strlen(values[i]), 0);
      continue;
    }
    const char *sep = strcmp(names[i], "cookie") == 0 ? "; " : ", ";
    joined.len = 0;
    yolk__sb_puts(&joined, values[i]);
    for (size_t k = i + 1; k < n; k++) {
      if (strcmp(names[k], names[i]) != 0) continue;
      yolk__sb_puts(&joined, sep);
      yolk__sb_puts(&joined, values[k]);
    }
    cb(ud, names[i], joined.data, joined.len, 0);
  }
  yolk__sb_free(&joined);
}

int yolk__http_has_token(const char *value, const char *token) {
  size_t tl = strlen(token);
  const char *p = value;
  while (p && *p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *end = p;
    while (*end && *end != ',') end++;
    const char *e = end;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if ((size_t)(e - p) == tl && strncasecmp(p, token, tl) == 0) return 1;
    p = end;
  }
  return 0;
}

/* ---- connection lifetime --------------------------------------------------- */

static void conn_process(yolk_http_conn_t *c);
static void conn_write_bufs(yolk_http_conn_t *c, yolk_buf_t **bufs, size_t n);
static void server_maybe_finish(yolk_http_server_t *srv);

static void timer_set(yolk_http_conn_t *c, int mode, uint64_t ms);
static void idle_arm(yolk_http_conn_t *c);
static void conn_start_reading(yolk_http_conn_t *c);

static void parse_state_reset(yolk_http_conn_t *c) {
  c->url.len = c->field.len = c->value.len = c->hdrbuf.len = 0;
  yolk__sb_free(&c->body); /* moved into each request, so usually empty */
  c->nhdrs = 0;
  c->expect_continue = 0;
  c->last_was_value = 0;
  c->head_bytes = 0;
  c->headers_done = 0;
}

static void conn_free(yolk_http_conn_t *c) {
  yolk_http_server_t *srv = c->srv;
  /* Every handle is closed; now the request and the owner may learn about it. */
  if (c->pending) {
    yolk_http_req_t *req = c->pending;
    c->pending = NULL;
    req->conn = NULL;
    if (req->on_abort) req->on_abort(req);
    req_free(req);
  }
  req_free(c->ready);
  c->ready = NULL;
  if (c->release_cb) {
    /* released, but it failed before its socket could be handed over */
    yolk_http_release_cb cb = c->release_cb;
    c->release_cb = NULL;
    cb(c->owner, -1, NULL, 0);
  }
  if (c->taken_over && c->handler.on_close) c->handler.on_close(c->owner);
  while (c->q_count) {
    yolk__buf_unref(c->q[c->q_head]);
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_count--;
  }
  free(c->q);
  free(c->wbufs);
  yolk__sb_free(&c->url);
  yolk__sb_free(&c->field);
  yolk__sb_free(&c->value);
  yolk__sb_free(&c->hdrbuf);
  yolk__sb_free(&c->body);
  yolk__sb_free(&c->in);
  yolk__list_remove(&c->flush_node);
  yolk__list_remove(&c->node);
  free(c);
  server_maybe_finish(srv);
}

static void conn_handle_closed(uv_handle_t *h) {
  yolk_http_conn_t *c = h->data;
  if (--c->open_handles == 0) conn_free(c);
}

/* Closes both handles now; queued writes are cancelled (their write callback
 * runs with UV_ECANCELED before the close callbacks). */
static void conn_close_now(yolk_http_conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  yolk_http_conn_t *c = req->data;
  if (status < 0 && !c->closing) conn_close_now(c);
}

/* Everything is written: send FIN, then read and discard until the peer's
 * EOF (or LINGER_MS) before closing. */
static void conn_linger(yolk_http_conn_t *c) {
  if (c->closing || c->lingering) return;
  if (c->peer_eof) {
    conn_close_now(c);
    return;
  }
  c->lingering = 1;
  c->shutreq.data = c;
  if (uv_shutdown(&c->shutreq, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
    conn_close_now(c);
    return;
  }
  conn_start_reading(c);
  timer_set(c, TIMER_LINGER, LINGER_MS);
}

/* Input from now on is discarded (see read_cb). */
static void conn_close_after_write(yolk_http_conn_t *c) {
  if (c->closing) return;
  c->close_after_write = 1;
  if (!c->writing && c->q_count == 0) {
    conn_linger(c);
  } else if (c->timer_mode != TIMER_IDLE) {
    idle_arm(c); /* a peer that stops reading must not keep us waiting forever */
  }
}

/* ---- writing ----------------------------------------------------------------- */

/* Buffers handed to one writev by conn_flush (Linux's IOV_MAX is 1024). */
#define FLUSH_MAX_BUFS 1024

static void q_push(yolk_http_conn_t *c, yolk_buf_t *b) {
  if (c->q_count == c->q_cap) {
    /* Grow and straighten the ring. In-flight uv_bufs point at buffer data,
     * not at the ring, so moving the pointers is safe. */
    size_t ncap = c->q_cap ? c->q_cap * 2 : 8;
    yolk_buf_t **nq = yolk__malloc(ncap * sizeof(*nq));
    for (size_t i = 0; i < c->q_count; i++) nq[i] = c->q[(c->q_head + i) % c->q_cap];
    free(c->q);
    c->q = nq;
    c->q_cap = ncap;
    c->q_head = 0;
  }
  c->q[(c->q_head + c->q_count) % c->q_cap] = b;
  c->q_count++;
}

static void write_cb(uv_write_t *wr, int status);
static void check_backlog(yolk_http_conn_t *c);

/* Points c->wbufs at the first n queued buffers (from the unwritten offset
 * of the first). The array belongs to the connection and only grows, so a
 * steady flow of writes costs no allocation. */
static size_t fill_wbufs(yolk_http_conn_t *c, size_t n) {
  if (c->wbufs_cap < n) {
    size_t ncap = c->wbufs_cap ? c->wbufs_cap : 8;
    while (ncap < n) ncap *= 2;
    free(c->wbufs);
    c->wbufs = yolk__malloc(ncap * sizeof(*c->wbufs));
    c->wbufs_cap = ncap;
  }
  for (size_t i = 0; i < n; i++) {
    yolk_buf_t *b = c->q[(c->q_head + i) % c->q_cap];
    size_t off = i == 0 ? c->q_off : 0;
    c->wbufs[i] = uv_buf_init(b->data + off, (unsigned)(b->len - off));
  }
  return n;
}

static void start_write(yolk_http_conn_t *c) {
  if (c->writing || c->q_count == 0 || c->closing) return;
  c->w_count = fill_wbufs(c, c->q_count);
  int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, c->wbufs, (unsigned)c->w_count, write_cb);
  if (r < 0) {
    c->w_count = 0;
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "write to %s failed: %s", c->peer, uv_strerror(r));
    conn_close_now(c);
    return;
  }
  c->writing = 1;
}

static void write_cb(uv_write_t *wr, int status) {
  yolk_http_conn_t *c = wr->data;
  c->writing = 0;
  size_t written = 0;
  for (size_t i = 0; i < c->w_count; i++) {
    yolk_buf_t *b = c->q[c->q_head];
    written += b->len - c->q_off;
    c->pending_bytes -= b->len - c->q_off;
    c->q_off = 0;
    yolk__buf_unref(b);
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_count--;
  }
  c->w_count = 0;
  if (status >= 0) c->srv->bytes_written += written;
  if (c->closing) return;
  c->write_progress = 1;
  if (status < 0) {
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "write to %s failed: %s", c->peer, uv_strerror(status));
    conn_close_now(c);
    return;
  }
  if (c->q_count) start_write(c);
  else if (c->close_after_write) conn_linger(c);
  else if (c->released) timer_set(c, TIMER_RESUME, 0);
}

/* Writes what is queued: one uv_try_write of everything, then one uv_write
 * for what the kernel did not take. */
static void conn_flush(yolk_http_conn_t *c) {
  if (c->closing || c->q_count == 0) return;
  if (c->writing) { /* the kernel has not taken the earlier writes yet */
    check_backlog(c);
    return;
  }
  /* Everything queued in one writev (up to the kernel's iovec limit): a
   * broadcast burst queues dozens of frames per connection per iteration,
   * and leaving most of them to uv_write would cost a second system call,
   * an allocation inside libuv and an epoll_ctl per recipient. */
  size_t m = fill_wbufs(c, c->q_count < FLUSH_MAX_BUFS ? c->q_count : FLUSH_MAX_BUFS);
  int r = uv_try_write((uv_stream_t *)&c->tcp, c->wbufs, (unsigned)m);
  if (r < 0 && r != UV_EAGAIN && r != UV_ENOSYS) {
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "write to %s failed: %s", c->peer, uv_strerror(r));
    conn_close_now(c);
    return;
  }
  size_t done = r > 0 ? (size_t)r : 0;
  c->pending_bytes -= done;
  c->srv->bytes_written += done;
  if (done) c->write_progress = 1;
  while (c->q_count) {
    yolk_buf_t *b = c->q[c->q_head];
    size_t left = b->len - c->q_off;
    if (done < left) {
      c->q_off += done;
      break;
    }
    done -= left;
    c->q_off = 0;
    yolk__buf_unref(b);
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_count--;
  }
  if (c->q_count) start_write(c);
  else if (c->close_after_write) conn_linger(c);
  else if (c->released) timer_set(c, TIMER_RESUME, 0);
  check_backlog(c);
}

static void flush_all(yolk_http_server_t *srv) {
  yolk_list_t *n;
  while ((n = yolk__list_first(&srv->flush_list))) {
    yolk_http_conn_t *c = yolk__list_entry(n, yolk_http_conn_t, flush_node);
    yolk__list_remove(n);
    conn_flush(c);
  }
  if (srv->flushers_active && !srv->closing) {
    uv_prepare_stop(&srv->flush_prepare);
    uv_check_stop(&srv->flush_check);
  }
  srv->flushers_active = 0;
}

static void on_flush_prepare(uv_prepare_t *h) { flush_all(h->data); }
static void on_flush_check(uv_check_t *h) { flush_all(h->data); }

/* Queues bufs (one new reference each); they go out at the end of this loop
 * iteration, together with anything else written to this connection. */
static void conn_write_bufs(yolk_http_conn_t *c, yolk_buf_t **bufs, size_t n) {
  if (c->closing) return;
  for (size_t k = 0; k < n; k++) {
    q_push(c, yolk__buf_ref(bufs[k]));
    c->pending_bytes += bufs[k]->len;
  }
  if (yolk__list_linked(&c->flush_node)) return; /* the flush takes it */
  /* a write in flight: its callback takes the rest, unless the peer is
   * over its backlog limit, which the end-of-iteration flush reports */
  if (c->writing && !(c->max_backlog && c->pending_bytes > c->max_backlog)) return;
  yolk_http_server_t *srv = c->srv;
  yolk__list_push_back(&srv->flush_list, &c->flush_node);
  if (!srv->flushers_active && !srv->closing) {
    srv->flushers_active = 1;
    uv_prepare_start(&srv->flush_prepare, on_flush_prepare);
    uv_check_start(&srv->flush_check, on_flush_check);
  }
}

int yolk__conn_write(yolk_http_conn_t *c, yolk_buf_t *buf) {
  if (!c || c->closing || c->close_after_write) return -1;
  conn_write_bufs(c, &buf, 1);
  return c->closing ? -1 : 0;
}

size_t yolk__conn_pending(yolk_http_conn_t *c) { return c ? c->pending_bytes : 0; }

void yolk__http_server_stats(const yolk_http_server_t *srv, yolk_http_stats_t *st) {
  memset(st, 0, sizeof(*st));
  st->bytes_read = srv->bytes_read;
  st->bytes_written = srv->bytes_written;
  /* walked at a scrape, so that writing keeps no running total */
  const yolk_list_t *n;
  yolk__list_foreach(n, &srv->conns) {
    const yolk_http_conn_t *c = yolk__list_entry(n, yolk_http_conn_t, node);
    if (c->closing) continue;
    st->connections++;
    st->queued_bytes += c->pending_bytes;
  }
}

int yolk__conn_backlogged(yolk_http_conn_t *c) { return c && c->writing; }

void yolk__conn_limit_backlog(yolk_http_conn_t *c, size_t max, void (*over)(void *owner)) {
  c->max_backlog = max;
  c->backlog_over = over;
}

/* After a flush: a peer that leaves more than its limit unread is reported
 * once (its owner closes it). */
static void check_backlog(yolk_http_conn_t *c) {
  if (!c->max_backlog || c->pending_bytes <= c->max_backlog || !c->backlog_over || c->closing) return;
  void (*over)(void *) = c->backlog_over;
  c->backlog_over = NULL;
  over(c->owner);
}

void yolk__conn_close(yolk_http_conn_t *c) { conn_close_after_write(c); }

void yolk__conn_abort(yolk_http_conn_t *c) { conn_close_now(c); }

uv_loop_t *yolk__conn_loop(yolk_http_conn_t *c) { return c->srv->loop; }

const char *yolk__conn_peer(yolk_http_conn_t *c) { return c->peer; }

/* ---- timers -------------------------------------------------------------------- */

static void send_error_and_close(yolk_http_conn_t *c, int status);
static void release_ready(yolk_http_conn_t *c);

static void timer_cb(uv_timer_t *t) {
  yolk_http_conn_t *c = t->data;
  int mode = c->timer_mode;
  c->timer_mode = TIMER_NONE;
  if (c->closing) return;
  switch (mode) {
  case TIMER_HEADER:
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: request not received within %u ms, answering 408", c->peer,
              c->srv->cfg.header_timeout_ms);
    send_error_and_close(c, 408);
    break;
  case TIMER_IDLE:
    if (c->writing || c->q_count) {
      /* Still sending to a slow reader: not idle while bytes move. One
       * uv_write completes only at its end, so partial progress is seen in
       * libuv's unwritten byte count. */
      size_t wq = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
      if (c->write_progress || wq < c->wq_mark) {
        idle_arm(c);
        break;
      }
    }
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: %s, closing", c->peer,
              c->writing || c->q_count ? "peer stopped reading" : "idle keep-alive connection");
    conn_close_now(c);
    break;
  case TIMER_RESUME:
    if (c->released) {
      release_ready(c);
    } else if (c->taken_over) {
      /* Bytes that arrived with the upgrade request, delivered now that
       * the new owner has returned from its accept call. */
      size_t n = c->in.len - c->in_off;
      if (n && c->handler.on_read) {
        yolk_sb_t tmp = c->in;
        size_t off = c->in_off;
        yolk__sb_init(&c->in);
        c->in_off = 0;
        c->handler.on_read(c->owner, tmp.data + off, n);
        yolk__sb_free(&tmp);
      }
      if (c->owner_timeout_deferred && !c->closing && !c->close_after_write) {
        c->owner_timeout_deferred = 0;
        timer_set(c, TIMER_OWNER, c->owner_timeout_ms);
      }
    } else {
      conn_process(c);
    }
    break;
  case TIMER_OWNER:
    if (c->owner_timeout) c->owner_timeout(c->owner);
    break;
  case TIMER_LINGER: conn_close_now(c); break;
  default: break;
  }
}

static void idle_arm(yolk_http_conn_t *c) {
  c->write_progress = 0;
  c->wq_mark = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
  timer_set(c, TIMER_IDLE, c->srv->cfg.keepalive_timeout_ms);
}

static void timer_set(yolk_http_conn_t *c, int mode, uint64_t ms) {
  if (c->closing) return;
  c->timer_mode = mode;
  if (mode == TIMER_NONE) {
    uv_timer_stop(&c->timer);
    return;
  }
  uv_timer_start(&c->timer, timer_cb, ms, 0);
}

void yolk__conn_set_timeout(yolk_http_conn_t *c, uint64_t ms, void (*cb)(void *owner)) {
  if (!c || c->closing || !c->taken_over || c->close_after_write) return;
  c->owner_timeout = cb;
  if (c->timer_mode == TIMER_RESUME) {
    /* Leftover bytes are still to be delivered on the (shared) timer. */
    c->owner_timeout_deferred = cb != NULL;
    c->owner_timeout_ms = ms;
    return;
  }
  timer_set(c, cb ? TIMER_OWNER : TIMER_NONE, ms);
}

/* ---- llhttp callbacks ------------------------------------------------------------ */

static int head_grow(yolk_http_conn_t *c, size_t n) {
  c->head_bytes += n;
  if (c->head_bytes > c->srv->cfg.max_header_size) {
    c->user_error = 431;
    return -1;
  }
  return 0;
}

static void push_header(yolk_http_conn_t *c) {
  if (!c->field.len && !c->value.len) return;
  size_t name_at = c->hdrbuf.len;
  yolk__sb_append(&c->hdrbuf, c->field.data ? c->field.data : "", c->field.len);
  yolk__sb_putc(&c->hdrbuf, '\0');
  for (char *p = c->hdrbuf.data + name_at; *p; p++) *p = (char)tolower((unsigned char)*p);
  const char *v = c->value.data ? c->value.data : "";
  size_t vl = c->value.len;
  while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
  if (c->field.len == 6 && strcasecmp(c->hdrbuf.data + name_at, "expect") == 0 && vl == 12 &&
      strncasecmp(v, "100-continue", 12) == 0)
    c->expect_continue = 1;
  yolk__sb_append(&c->hdrbuf, v, vl);
  yolk__sb_putc(&c->hdrbuf, '\0');
  c->nhdrs++;
  c->field.len = 0;
  c->value.len = 0;
}

static int on_message_begin(llhttp_t *p) {
  yolk_http_conn_t *c = p->data;
  parse_state_reset(c);
  c->in_message = 1;
  /* The keep-alive idle wait is over; the head must now arrive in time. */
  if (c->timer_mode != TIMER_HEADER) timer_set(c, TIMER_HEADER, c->srv->cfg.header_timeout_ms);
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  yolk_http_conn_t *c = p->data;
  if (head_grow(c, len)) return -1;
  yolk__sb_append(&c->url, at, len);
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  yolk_http_conn_t *c = p->data;
  if (head_grow(c, len + (c->last_was_value ? 4 : 0))) return -1;
  if (c->headers_done) return 0; /* trailers: size-checked, not kept */
  if (c->last_was_value) push_header(c);
  c->last_was_value = 0;
  yolk__sb_append(&c->field, at, len);
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  yolk_http_conn_t *c = p->data;
  if (head_grow(c, len)) return -1;
  if (c->headers_done) return 0;
  c->last_was_value = 1;
  yolk__sb_append(&c->value, at, len);
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  yolk_http_conn_t *c = p->data;
  if (c->last_was_value) push_header(c);
  c->last_was_value = 0;
  c->headers_done = 1;
  if (p->http_major != 1) {
    /* llhttp takes "GET /" without a version as HTTP/0.9, which has no
     * headers and no status line: nothing this server speaks */
    c->user_error = 505;
    return -1;
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->srv->cfg.max_body_size) {
    c->user_error = 413;
    return -1;
  }
  /* A body may still be slow to come: keep a timeout running, restarted by reads. */
  timer_set(c, TIMER_HEADER, c->srv->cfg.header_timeout_ms);
  /* Clients that sent "Expect: 100-continue" wait for this before the body. */
  if (c->expect_continue && p->http_major == 1 && p->http_minor >= 1) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    yolk_buf_t *b = yolk__buf_copy(cont, sizeof(cont) - 1);
    conn_write_bufs(c, &b, 1);
    yolk__buf_unref(b);
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  yolk_http_conn_t *c = p->data;
  if (c->body.len + len > c->srv->cfg.max_body_size) {
    c->user_error = 413;
    return -1;
  }
  yolk__sb_append(&c->body, at, len);
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  yolk_http_conn_t *c = p->data;
  /* One allocation: [request][header array][url\0][path\0][query\0][header strings]. */
  const char *url = c->url.data ? c->url.data : "";
  size_t ulen = c->url.len;
  const char *q = memchr(url, '?', ulen);
  size_t plen = q ? (size_t)(q - url) : ulen;
  size_t qlen = q ? ulen - plen - 1 : 0;
  size_t hsize = c->nhdrs * sizeof(yolk_http_header_t);
  size_t size = sizeof(yolk_http_req_t) + hsize + (ulen + 1) + (plen + 1) + (qlen + 1) + c->hdrbuf.len;
  char *mem = yolk__malloc(size);
  yolk_http_req_t *req = (yolk_http_req_t *)mem;
  memset(req, 0, sizeof(*req));
  req->headers = (yolk_http_header_t *)(mem + sizeof(*req));
  char *str = mem + sizeof(*req) + hsize;
  req->url = str;
  memcpy(str, url, ulen);
  str[ulen] = '\0';
  str += ulen + 1;
  req->path = str;
  memcpy(str, url, plen);
  str[plen] = '\0';
  str += plen + 1;
  req->query = str;
  if (qlen) memcpy(str, q + 1, qlen);
  str[qlen] = '\0';
  str += qlen + 1;
  if (c->hdrbuf.len) memcpy(str, c->hdrbuf.data, c->hdrbuf.len);
  if (c->trusted) snprintf(c->remote_addr, sizeof(c->remote_addr), "?");
  size_t nh = 0;
  for (size_t i = 0; i < c->nhdrs; i++) {
    char *name = str;
    str += strlen(str) + 1;
    char *value = str;
    str += strlen(str) + 1;
    if (c->trusted && strcmp(name, YOLK_HTTP_PEER_HEADER) == 0) {
      /* the master says who the client is; the application never sees the header */
      snprintf(c->remote_addr, sizeof(c->remote_addr), "%s", value);
      snprintf(c->peer, sizeof(c->peer), "%.46s (via the master)", c->remote_addr);
      continue;
    }
    req->headers[nh].name = name;
    req->headers[nh].value = value;
    nh++;
  }
  req->nheaders = nh;
  req->conn = c;
  req->method = llhttp_method_name((llhttp_method_t)p->method);
  if (c->body.data) {
    req->body = c->body.data;
    req->body_len = c->body.len;
    yolk__sb_init(&c->body);
  } else {
    req->body = yolk__strndup("", 0);
  }
  req->http_major = p->http_major;
  req->http_minor = p->http_minor;
  req->keep_alive = llhttp_should_keep_alive(p);
  if (p->upgrade) {
    const char *up = yolk__http_req_header(req, "upgrade");
    req->upgrade = up && yolk__http_has_token(up, "websocket");
    req->keep_alive = 0; /* after any answer but a takeover, the connection closes */
    c->upgrade_wait = 1;
  }
  memcpy(req->remote_addr, c->remote_addr, sizeof(req->remote_addr));
  req->start_ms = uv_now(c->srv->loop);
  c->ready = req;
  c->in_message = 0;
  parse_state_reset(c);
  /* Stop here: the request is dispatched after llhttp returns, and the
   * next pipelined request is parsed only after this one is answered. */
  return HPE_PAUSED;
}

/* ---- request processing ------------------------------------------------------------ */

static void send_error_and_close(yolk_http_conn_t *c, int status) {
  c->parse_failed = 1;
  if (c->pending) {
    /* A response is owed to an earlier request; an error now cannot be
     * ordered after it, so just close. */
    conn_close_now(c);
    return;
  }
  char body[128];
  int blen = snprintf(body, sizeof(body), "%d %s\n", status, yolk__http_status_text(status));
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_printf(&sb,
                  "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                  "Connection: close\r\n\r\n",
                  status, yolk__http_status_text(status), http_date(), blen);
  yolk__sb_append(&sb, body, (size_t)blen);
  yolk_buf_t *b = yolk__sb_to_buf(&sb);
  timer_set(c, TIMER_NONE, 0);
  conn_write_bufs(c, &b, 1);
  yolk__buf_unref(b);
  conn_close_after_write(c);
}

/* Parses buffered bytes until a request is complete, then hands it over.
 * Loops while handlers answer synchronously. */
static void conn_process(yolk_http_conn_t *c) {
  if (c->in_process) return;
  c->in_process = 1;
  while (!c->closing && !c->close_after_write && !c->taken_over && !c->pending && !c->parse_failed) {
    if (c->ready) {
      yolk_http_req_t *req = c->ready;
      c->ready = NULL;
      c->pending = req;
      timer_set(c, TIMER_NONE, 0); /* the handler owns the timing of a pending request */
      c->srv->cfg.on_request(req, c->srv->cfg.ud);
      continue;
    }
    size_t avail = c->in.len - c->in_off;
    if (!avail || c->upgrade_wait) break;
    const char *data = c->in.data + c->in_off;
    if (llhttp_get_errno(&c->parser) == HPE_PAUSED) llhttp_resume(&c->parser);
    llhttp_errno_t err = llhttp_execute(&c->parser, data, avail);
    size_t used = avail;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
      const char *pos = llhttp_get_error_pos(&c->parser);
      if (pos && pos >= data && pos <= data + avail) used = (size_t)(pos - data);
    } else if (err != HPE_OK) {
      if (c->user_error == 431) {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: request head over %zu bytes, answering 431", c->peer,
                  c->srv->cfg.max_header_size);
        send_error_and_close(c, 431);
      } else if (c->user_error == 413) {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: request body over %zu bytes, answering 413", c->peer,
                  c->srv->cfg.max_body_size);
        send_error_and_close(c, 413);
      } else if (c->user_error == 505) {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: HTTP/%d.%d request, answering 505", c->peer,
                  c->parser.http_major, c->parser.http_minor);
        send_error_and_close(c, 505);
      } else {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: malformed request (%s: %s), answering 400", c->peer,
                  llhttp_errno_name(err), llhttp_get_error_reason(&c->parser));
        send_error_and_close(c, 400);
      }
      break;
    }
    c->in_off += used;
    if (!c->ready) break; /* need more bytes */
  }
  /* Compact the backlog so it does not grow without bound; after a big
   * body, give the memory back rather than keep it per idle connection. */
  if (c->in_off && c->in_off == c->in.len) {
    c->in.len = c->in_off = 0;
    if (c->in.cap > 64 * 1024) yolk__sb_free(&c->in);
  } else if (c->in_off > 4096 && c->in_off * 2 > c->in.len) {
    memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
    c->in.len -= c->in_off;
    c->in_off = 0;
  }
  if (!c->taken_over && c->in.len - c->in_off < MAX_BACKLOG) conn_start_reading(c);
  c->in_process = 0;
}

/* ---- reading ------------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  /* One buffer per server is enough: libuv calls read_cb right after
   * alloc_cb, and whatever we keep is copied out before read_cb returns. */
  yolk_http_conn_t *c = h->data;
  yolk_http_server_t *srv = c->srv;
  buf->base = srv->read_buf;
  buf->len = sizeof(srv->read_buf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  yolk_http_conn_t *c = s->data;
  if (nread == 0 || c->closing) return;
  if (nread < 0) {
    if (nread != UV_EOF)
      yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: read error: %s", c->peer, uv_strerror((int)nread));
    /* The peer is gone (or half-closed, which HTTP/1.1 clients do not do
     * while they still expect an answer worth waiting for). Flush what is
     * already queued if we can; a pending request is aborted. */
    c->peer_eof = 1;
    if (!c->pending && !c->lingering && (c->writing || c->q_count)) conn_close_after_write(c);
    else conn_close_now(c);
    return;
  }
  c->srv->bytes_read += (uint64_t)nread;
  if (c->close_after_write) return; /* closing: input no longer matters */
  if (c->taken_over) {
    if (c->handler.on_read) c->handler.on_read(c->owner, buf->base, (size_t)nread);
    return;
  }
  if (c->parse_failed) return;
  yolk__sb_append(&c->in, buf->base, (size_t)nread);
  if (c->timer_mode == TIMER_HEADER && c->headers_done)
    timer_set(c, TIMER_HEADER, c->srv->cfg.header_timeout_ms); /* body progress */
  if (c->pending || c->upgrade_wait) {
    if (c->in.len - c->in_off >= MAX_BACKLOG) {
      uv_read_stop(s);
      c->reading = 0;
    }
    return;
  }
  conn_process(c);
}

static void conn_start_reading(yolk_http_conn_t *c) {
  if (c->reading || c->closing) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0) c->reading = 1;
}

/* ---- responding ---------------------------------------------------------------- */

/* After a response: continue with the next pipelined request (from the
 * timer, so handlers never re-enter) or wait idle for one. */
static void after_response(yolk_http_conn_t *c, int keep_alive) {
  if (c->closing) return;
  if (!keep_alive) {
    conn_close_after_write(c);
    return;
  }
  conn_start_reading(c);
  if (c->in.len - c->in_off > 0 || c->ready) {
    timer_set(c, TIMER_RESUME, 0);
  } else if (c->in_message) {
    timer_set(c, TIMER_HEADER, c->srv->cfg.header_timeout_ms);
  } else if (!c->trusted) {
    idle_arm(c); /* (the master pools its idle connections to us and closes them itself) */
  }
}

static void respond(yolk_http_req_t *req, int status, const char *headers, const void *body, size_t len,
                    yolk_buf_t *shared, int force_close) {
  yolk_http_conn_t *c = req->conn;
  if (!c) return; /* answered from inside on_abort: freed right after it */
  if (c->pending != req || c->closing) {
    /* Connection closing: nothing to send, and no on_abort will follow. */
    if (c->pending == req) c->pending = NULL;
    req_free(req);
    return;
  }
  c->pending = NULL;
  int keep_alive = req->keep_alive && !force_close && !c->close_after_write;
  int head_only = strcmp(req->method, "HEAD") == 0;
  int no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
  size_t blen = shared ? shared->len : len;
  int copy_body = !shared && !head_only && !no_body && len;
  /* The head (and a copied body) go into one buffer sized up front. */
  char clen[48] = "";
  if (!no_body) snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", blen);
  static const char fmt[] = "HTTP/1.1 %d %s\r\n%sDate: %s\r\n%sConnection: %s\r\n\r\n";
  const char *st = yolk__http_status_text(status), *date = http_date(), *extra = headers ? headers : "";
  const char *conn_hdr = keep_alive ? "keep-alive" : "close";
  int hl = snprintf(NULL, 0, fmt, status, st, extra, date, clen, conn_hdr);
  yolk_buf_t *bufs[2];
  size_t n = 0;
  bufs[n] = yolk__buf_new((size_t)hl + (copy_body ? len : 0));
  snprintf(bufs[n]->data, (size_t)hl + 1, fmt, status, st, extra, date, clen, conn_hdr);
  if (copy_body) memcpy(bufs[n]->data + hl, body, len);
  n++;
  if (shared && !head_only && !no_body && shared->len) bufs[n++] = shared;
  conn_write_bufs(c, bufs, n);
  yolk__buf_unref(bufs[0]);
  req_free(req);
  after_response(c, keep_alive);
}

void yolk__http_respond(yolk_http_req_t *req, int status, const char *headers, const void *body, size_t len) {
  respond(req, status, headers, body, len, NULL, 0);
}

void yolk__http_respond_buf(yolk_http_req_t *req, int status, const char *headers, yolk_buf_t *body) {
  respond(req, status, headers, NULL, 0, body, 0);
}

void yolk__http_respond_close(yolk_http_req_t *req, int status, const char *headers, const void *body,
                              size_t len) {
  respond(req, status, headers, body, len, NULL, 1);
}

yolk_http_conn_t *yolk__http_takeover(yolk_http_req_t *req, const char *head, size_t head_len,
                                      const yolk_conn_handler_t *handler, void *owner) {
  yolk_http_conn_t *c = req->conn;
  if (!c) return NULL; /* inside on_abort */
  if (c->pending != req || c->closing) {
    if (c->pending == req) c->pending = NULL;
    req_free(req);
    return NULL;
  }
  c->pending = NULL;
  req_free(req);
  c->taken_over = 1;
  c->upgrade_wait = 0;
  c->handler = *handler;
  c->owner = owner;
  timer_set(c, TIMER_NONE, 0);
  if (head_len) {
    yolk_buf_t *b = yolk__buf_copy(head, head_len);
    conn_write_bufs(c, &b, 1);
    yolk__buf_unref(b);
  }
  if (c->closing) return c; /* write failed: on_close follows */
  conn_start_reading(c);
  /* Bytes read past the request go to the owner once it has returned. */
  if (c->in.len - c->in_off > 0) timer_set(c, TIMER_RESUME, 0);
  return c;
}

/* ---- handing a connection over ----------------------------------------------------- */

int yolk__http_release(yolk_http_req_t *req, yolk_http_release_cb cb, void *owner) {
  yolk_http_conn_t *c = req->conn;
  if (!c) return -1; /* inside on_abort: the caller frees req */
  if (c->pending != req || c->closing) {
    if (c->pending == req) c->pending = NULL;
    req_free(req);
    return -1;
  }
  c->pending = NULL;
  req_free(req);
  c->taken_over = 1;
  c->released = 1;
  c->upgrade_wait = 0;
  memset(&c->handler, 0, sizeof(c->handler));
  c->owner = owner;
  c->release_cb = cb;
  /* What the client sends from now on is for the new owner: leave it in
   * the kernel. */
  if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
  timer_set(c, TIMER_NONE, 0);
  /* Handed over once what we queued before (an earlier response) is out;
   * the write callback or the flush resumes it otherwise. */
  if (!c->writing && c->q_count == 0) timer_set(c, TIMER_RESUME, 0);
  return 0;
}

static void release_ready(yolk_http_conn_t *c) {
  yolk_http_release_cb cb = c->release_cb;
  if (!cb || c->closing) return;
  c->release_cb = NULL;
  uv_os_fd_t fd;
  int dup_fd = -1;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: cannot hand the connection over", c->peer);
  size_t n = c->in.len - c->in_off;
  cb(c->owner, dup_fd, c->in.data ? c->in.data + c->in_off : "", n);
  /* our descriptor goes; the socket lives on in dup_fd (no FIN, no RST) */
  conn_close_now(c);
}

/* ---- accepting ------------------------------------------------------------------ */

/* A connection with its stream handle initialised as `type` (a TCP socket
 * or a Unix socket), not yet connected, linked into the server's list;
 * conn_start finishes it. */
static yolk_http_conn_t *conn_new(yolk_http_server_t *srv, uv_handle_type type) {
  yolk_http_conn_t *c = yolk__calloc(1, sizeof(*c));
  c->srv = srv;
  if (type == UV_NAMED_PIPE) uv_pipe_init(srv->loop, &c->pipe, 0);
  else uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  c->open_handles = 1;
  yolk__list_node_init(&c->flush_node);
  yolk__list_push_back(&srv->conns, &c->node);
  return c;
}

/* The stream is connected: timer, peer address, parser, reading. */
static void conn_start(yolk_http_conn_t *c, uv_handle_type type, unsigned flags) {
  yolk_http_server_t *srv = c->srv;
  uv_timer_init(srv->loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 2;
  c->wreq.data = c;
  c->trusted = (flags & YOLK_HTTP_LISTEN_TRUSTED) != 0;
  snprintf(c->remote_addr, sizeof(c->remote_addr), "?");
  snprintf(c->peer, sizeof(c->peer), type == UV_NAMED_PIPE ? "unix socket" : "?");
  struct sockaddr_storage ss;
  int sl = sizeof(ss);
  if (type != UV_NAMED_PIPE && uv_tcp_nodelay(&c->tcp, 1) == 0 &&
      uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
    int port = 0;
    if (ss.ss_family == AF_INET) {
      uv_ip4_name((struct sockaddr_in *)&ss, c->remote_addr, sizeof(c->remote_addr));
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      snprintf(c->peer, sizeof(c->peer), "%s:%d", c->remote_addr, port);
    } else if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote_addr, sizeof(c->remote_addr));
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      snprintf(c->peer, sizeof(c->peer), "[%s]:%d", c->remote_addr, port);
    }
  }
  llhttp_init(&c->parser, HTTP_REQUEST, &srv->settings);
  c->parser.data = c;
  timer_set(c, TIMER_HEADER, srv->cfg.header_timeout_ms);
  conn_start_reading(c);
}

/* A new connection accepted from `from` (a listener, or an IPC pipe with a
 * pending handle) into a handle of the given type. NULL when accepting failed. */
static yolk_http_conn_t *conn_accept(yolk_http_server_t *srv, uv_stream_t *from, uv_handle_type type,
                                     unsigned flags) {
  yolk_http_conn_t *c = conn_new(srv, type);
  if (uv_accept(from, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    c->closing = 1;
    return NULL;
  }
  conn_start(c, type, flags);
  return c;
}

static void on_connection(uv_stream_t *server, int status) {
  yolk_http_server_t *srv = server->data;
  if (status < 0) {
    /* Out of descriptors comes in storms: one line per second is enough. */
    uint64_t now = uv_now(srv->loop);
    if (!srv->accept_warned_ms || now - srv->accept_warned_ms >= 1000) {
      srv->accept_warned_ms = now ? now : 1;
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "accept failed: %s", uv_strerror(status));
    }
    return;
  }
  if (srv->closing) return;
  conn_accept(srv, server, srv->listener_type, srv->listener_flags);
}

int yolk__http_server_adopt_ipc(yolk_http_server_t *srv, uv_pipe_t *ipc, const char *pre, size_t len) {
  if (uv_pipe_pending_count(ipc) <= 0) return UV_EINVAL;
  uv_handle_type type = uv_pipe_pending_type(ipc);
  if (type != UV_TCP && type != UV_NAMED_PIPE) return UV_EINVAL;
  yolk_http_conn_t *c = conn_accept(srv, (uv_stream_t *)ipc, type, 0);
  if (!c) return UV_EIO;
  if (srv->closing) {
    conn_close_now(c); /* taken off the pipe all the same, so the next one is not mistaken for it */
    return UV_ECANCELED;
  }
  if (len) {
    yolk__sb_append(&c->in, pre, len);
    timer_set(c, TIMER_RESUME, 0); /* parsed from the loop, as if just read */
  }
  return 0;
}

int yolk__http_server_adopt(yolk_http_server_t *srv, uv_os_sock_t fd) {
  if (srv->closing) return UV_EINVAL;
  yolk_http_conn_t *c = conn_new(srv, UV_TCP);
  int r = uv_tcp_open(&c->tcp, fd);
  if (r != 0) {
    /* libuv did not take fd: it stays the caller's, the handle closes empty */
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    c->closing = 1;
    return r;
  }
  conn_start(c, UV_TCP, 0);
  return 0;
}

int yolk__http_server_init(uv_loop_t *loop, yolk_http_server_t **out, const yolk_http_config_t *cfg) {
  /* libuv writes with write(2): a peer that reset the connection would kill
   * the process with SIGPIPE. Ignore it unless the program chose a handler. */
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  yolk_http_server_t *srv = yolk__calloc(1, sizeof(*srv));
  srv->loop = loop;
  yolk__list_init(&srv->conns);
  yolk__list_init(&srv->flush_list);
  srv->cfg = *cfg;
  yolk_http_config_t def;
  yolk__http_config_init(&def);
  if (!srv->cfg.max_header_size) srv->cfg.max_header_size = def.max_header_size;
  if (!srv->cfg.max_body_size) srv->cfg.max_body_size = def.max_body_size;
  if (!srv->cfg.header_timeout_ms) srv->cfg.header_timeout_ms = def.header_timeout_ms;
  if (!srv->cfg.keepalive_timeout_ms) srv->cfg.keepalive_timeout_ms = def.keepalive_timeout_ms;
  llhttp_settings_init(&srv->settings);
  srv->settings.on_message_begin = on_message_begin;
  srv->settings.on_url = on_url;
  srv->settings.on_header_field = on_header_field;
  srv->settings.on_header_value = on_header_value;
  srv->settings.on_headers_complete = on_headers_complete;
  srv->settings.on_body = on_body;
  srv->settings.on_message_complete = on_message_complete;
  uv_prepare_init(loop, &srv->flush_prepare);
  srv->flush_prepare.data = srv;
  uv_check_init(loop, &srv->flush_check);
  srv->flush_check.data = srv;
  *out = srv;
  return 0;
}

int yolk__http_server_listen(yolk_http_server_t *srv, const char *host, int port) {
  struct sockaddr_storage ss;
  int r;
  /* Only literal addresses (no blocking name lookups on the loop), but the
   * one name every config file uses is understood. */
  if (!host || !*host || strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (strchr(host, ':')) r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
  else r = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (r < 0) return r;
  if (srv->listener_inited) return UV_EALREADY;
  r = uv_tcp_init(srv->loop, &srv->listener);
  if (r < 0) return r;
  srv->listener_inited = 1;
  srv->listener.data = srv;
  srv->listener_type = UV_TCP;
  r = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0);
  if (r < 0) return r;
  r = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
  if (r < 0) return r;
  srv->listening = 1;
  return 0;
}

int yolk__http_server_listen_fd(yolk_http_server_t *srv, int fd, unsigned flags) {
  if (srv->listener_inited || srv->closing) {
    close(fd);
    return UV_EALREADY;
  }
  uv_handle_type type = uv_guess_handle(fd);
  if (type != UV_TCP && type != UV_NAMED_PIPE) {
    close(fd);
    return UV_ENOTSOCK;
  }
  int r = type == UV_TCP ? uv_tcp_init(srv->loop, &srv->listener) : uv_pipe_init(srv->loop, &srv->listener_pipe, 0);
  if (r < 0) {
    close(fd);
    return r;
  }
  srv->listener_inited = 1; /* closed with the server from now on */
  srv->listener.data = srv;
  r = type == UV_TCP ? uv_tcp_open(&srv->listener, fd) : uv_pipe_open(&srv->listener_pipe, fd);
  if (r < 0) {
    close(fd); /* the handle did not take it */
    return r;
  }
  srv->listener_type = type;
  srv->listener_flags = flags;
  r = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
  if (r < 0) return r;
  srv->listening = 1;
  return 0;
}

int yolk__http_server_port(yolk_http_server_t *srv) {
  struct sockaddr_storage ss;
  int sl = sizeof(ss);
  if (!srv->listener_inited || srv->listener_type != UV_TCP) return -1;
  if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &sl) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return -1;
}

static void server_maybe_finish(yolk_http_server_t *srv) {
  if (!srv->closing || !srv->listener_closed || srv->flushers_closed < 2 || !yolk__list_empty(&srv->conns)) return;
  void (*cb)(void *) = srv->close_cb;
  void *arg = srv->close_arg;
  free(srv);
  if (cb) cb(arg);
}

static void flusher_closed(uv_handle_t *h) {
  yolk_http_server_t *srv = h->data;
  srv->flushers_closed++;
  server_maybe_finish(srv);
}

static void listener_closed(uv_handle_t *h) {
  yolk_http_server_t *srv = h->data;
  srv->listener_closed = 1;
  server_maybe_finish(srv);
}

void yolk__http_server_close(yolk_http_server_t *srv, void (*cb)(void *arg), void *arg) {
  if (srv->closing) return;
  srv->close_cb = cb;
  srv->close_arg = arg;
  /* Bytes handed to us before the close (e.g. the close packet answering a
   * pending long-poll) get one direct write attempt; then every connection
   * closes at once. */
  flush_all(srv);
  srv->closing = 1;
  if (!srv->listener_inited) srv->listener_closed = 1;
  else if (!srv->listener_closing) uv_close((uv_handle_t *)&srv->listener, listener_closed);
  srv->listener_closing = 1;
  yolk_list_t *n;
  yolk__list_foreach(n, &srv->conns) conn_close_now(yolk__list_entry(n, yolk_http_conn_t, node));
  uv_close((uv_handle_t *)&srv->flush_prepare, flusher_closed);
  uv_close((uv_handle_t *)&srv->flush_check, flusher_closed);
}

void yolk__http_server_unlisten(yolk_http_server_t *srv) {
  if (!srv->listener_inited || srv->listener_closing) return;
  srv->listener_closing = 1;
  srv->listening = 0;
  uv_close((uv_handle_t *)&srv->listener, listener_closed);
}
