/* http.c - HTTP/1.1 server on libuv + llhttp; see http.h for the contract.
 *
 * Per connection: one uv_tcp_t and one timeout in the server's timeq (header
 * timeout, keep-alive idle timeout, deferred resume; after a takeover the
 * timeout belongs to the new owner through yolk__conn_set_timeout). What
 * parsing needs (llhttp, the request builders, the unparsed bytes) is a
 * separate allocation that goes when the connection is taken over: an idle
 * WebSocket keeps only the socket, its write queue and a few flags. Reads
 * land in one buffer shared by the server and, while HTTP is spoken, are
 * appended to the parsing state's `in` (which keeps its memory), parsed
 * from there; while a request is pending llhttp stays paused and later
 * pipelined bytes simply wait in `in` until the response is out.
 *
 * Writes: a ring of shared buffer references (two slots in the connection,
 * more on the heap once needed). Writes are corked for the rest of the loop
 * iteration: the connection joins the server's flush list, and a
 * prepare/check handle pair flushes every listed connection with one
 * uv_try_write of all its queued buffers (so ten messages to one client in
 * one tick cost one syscall, not ten). What the kernel refuses is sent with
 * one uv_write, whose request is allocated while it is in flight (the iovec
 * array is the server's: libuv copies it). References are released once
 * written.
 *
 * Lifetime: a connection is never freed inside its own callbacks. Closing
 * marks it, stops its timeout and closes the socket; the memory goes (and
 * on_abort / the owner's on_close run) in the close callback.
 *
 * Cluster mode (core/cluster.h) adds three ways in and one way out: a
 * listener on a socket another process bound (TCP, or the Unix socket through
 * which a master proxies requests: "trusted", see YOLK_HTTP_PEER_HEADER),
 * connections adopted from an IPC pipe with the bytes the master already read,
 * and yolk__http_release, which hands a connection's socket to the caller.
 */
#include "http.h"

#include <arpa/inet.h>
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
#include "timeq.h"

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
  int timeq_closed;
  yolk_timeq_t timeq; /* the connections' timeouts */
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
  /* The iovecs of one write: uv_try_write is synchronous and uv_write
   * copies them, so one array serves every connection. Only grows. */
  uv_buf_t *wbufs;
  size_t wbufs_cap;
  /* shared: libuv calls alloc_cb and read_cb back to back; one byte more
   * than is ever read, so a layer above may put a NUL after what it got */
  char read_buf[READ_BUF_SIZE + 1];
};

/* What parsing HTTP takes. A connection has it from its start until it is
 * taken over (once the bytes read past the upgrade request are delivered)
 * or released; an idle WebSocket keeps none of it. */
typedef struct {
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
  yolk_http_release_cb release_cb; /* until called (exactly once) */
  uint64_t owner_timeout_ms; /* armed after the leftover bytes are delivered */
  int owner_timeout_deferred;
  yolk_http_req_t *ready; /* completed by on_message_complete, not yet dispatched */
  yolk_http_req_t *pending; /* dispatched, waiting for its response */
  /* the peer's IP as req->remote_addr carries it, formatted for the first
   * request and copied into the next ones ("" until then) */
  char remote_addr[64];
} http_parse_t;

struct yolk_http_conn_s {
  yolk_timeout_t timer; /* in srv->timeq; see timer_mode */
  yolk_http_server_t *srv;
  yolk_list_t node;       /* in srv->conns */
  yolk_list_t flush_node; /* in srv->flush_list while writes are corked */
  http_parse_t *http;     /* NULL once taken over */
  /* Trusted connections (the master's proxy): the client address the
   * master named in the last request (malloc'd), else NULL. */
  char *via;

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
  unsigned writing : 1;  /* a uv_write is in flight (wreq) */
  unsigned is_pipe : 1;  /* the stream is a uv_pipe_t */
  uint8_t timer_mode;
  /* The peer's address, for log lines and req->remote_addr: AF_INET or
   * AF_INET6 with its address and port, else AF_UNSPEC. */
  uint8_t peer_family;
  uint16_t peer_port;
  unsigned char peer_ip[16];
  size_t wq_mark; /* libuv's unwritten bytes when the idle timer was armed */

  /* writing: a ring of queued buffers, two slots in the connection itself
   * (enough for what an idle connection is ever sent in one iteration),
   * more on the heap once needed */
  yolk_buf_t **q;
  yolk_buf_t *q_inline[2];
  uint32_t q_cap, q_head, q_count;
  uint32_t w_count; /* buffers in the in-flight uv_write */
  size_t q_off; /* bytes of q[q_head] already written */
  size_t pending_bytes;
  size_t max_backlog;            /* yolk__conn_limit_backlog; 0: none */
  void (*backlog_over)(void *owner);
  /* Requests in flight, allocated for their time: a uv_write of what the
   * kernel refused (while writing), or the shutdown (while lingering, once
   * everything is written). Never both. */
  union {
    uv_write_t *wreq;
    uv_shutdown_t *shutreq;
  };

  /* takeover */
  const yolk_conn_handler_t *handler;
  void *owner;
  void (*owner_timeout)(void *owner);

  /* The connection's socket, last: a TCP connection is allocated without
   * the bytes a uv_pipe_t has beyond a uv_tcp_t. Both start like a
   * uv_stream_t, which is how everything below uses `tcp`; only accepting
   * tells them apart. */
  union {
    uv_tcp_t tcp;   /* a TCP client (accepted here, or adopted from another process) */
    uv_pipe_t pipe; /* a connection to a Unix-domain listener (a cluster master) */
  };
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

/* The request waiting for its response (HTTP only). */
static yolk_http_req_t *conn_pending(const yolk_http_conn_t *c) { return c->http ? c->http->pending : NULL; }

static void parse_state_reset(yolk_http_conn_t *c) {
  http_parse_t *p = c->http;
  p->url.len = p->field.len = p->value.len = p->hdrbuf.len = 0;
  yolk__sb_free(&p->body); /* moved into each request, so usually empty */
  p->nhdrs = 0;
  p->expect_continue = 0;
  p->last_was_value = 0;
  p->head_bytes = 0;
  c->headers_done = 0;
}

static void parse_state_free(yolk_http_conn_t *c) {
  http_parse_t *p = c->http;
  if (!p) return;
  c->http = NULL;
  yolk__sb_free(&p->url);
  yolk__sb_free(&p->field);
  yolk__sb_free(&p->value);
  yolk__sb_free(&p->hdrbuf);
  yolk__sb_free(&p->body);
  yolk__sb_free(&p->in);
  free(p);
}

/* The peer as log lines show it: "ip:port", "unix socket", or the client
 * the master named (trusted connections). Formatted on demand into a buffer
 * shared by every connection: use it before asking again. */
static const char *conn_peer(const yolk_http_conn_t *c) {
  static char buf[80];
  char ip[64];
  if (c->via) {
    snprintf(buf, sizeof(buf), "%.46s (via the master)", c->via);
  } else if (c->peer_family == AF_INET && inet_ntop(AF_INET, c->peer_ip, ip, sizeof(ip))) {
    snprintf(buf, sizeof(buf), "%s:%d", ip, c->peer_port);
  } else if (c->peer_family == AF_INET6 && inet_ntop(AF_INET6, c->peer_ip, ip, sizeof(ip))) {
    snprintf(buf, sizeof(buf), "[%s]:%d", ip, c->peer_port);
  } else {
    snprintf(buf, sizeof(buf), "%s", c->is_pipe ? "unix socket" : "?");
  }
  return buf;
}

/* The peer's IP as requests carry it (req->remote_addr), "?" when unknown. */
static void conn_remote_addr(const yolk_http_conn_t *c, char *out, size_t size) {
  int af = c->peer_family;
  if (af == AF_INET && size >= 16) {
    /* dotted quad by hand: glibc's inet_ntop formats IPv4 with sprintf */
    char *p = out;
    for (int i = 0; i < 4; i++) {
      if (i) *p++ = '.';
      p += yolk__u64_dec(p, c->peer_ip[i]);
    }
    *p = '\0';
    return;
  }
  if ((af != AF_INET && af != AF_INET6) || !inet_ntop(af, c->peer_ip, out, (socklen_t)size))
    snprintf(out, size, "?");
}

static void conn_free(yolk_http_conn_t *c) {
  yolk_http_server_t *srv = c->srv;
  /* Every handle is closed; now the request and the owner may learn about it. */
  if (conn_pending(c)) {
    yolk_http_req_t *req = c->http->pending;
    c->http->pending = NULL;
    req->conn = NULL;
    if (req->on_abort) req->on_abort(req);
    req_free(req);
  }
  if (c->http) {
    req_free(c->http->ready);
    c->http->ready = NULL;
  }
  if (c->http && c->http->release_cb) {
    /* released, but it failed before its socket could be handed over */
    yolk_http_release_cb cb = c->http->release_cb;
    c->http->release_cb = NULL;
    cb(c->owner, -1, NULL, 0);
  }
  if (c->taken_over && c->handler && c->handler->on_close) c->handler->on_close(c->owner);
  while (c->q_count) {
    yolk__buf_unref(c->q[c->q_head]);
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_count--;
  }
  if (c->q != c->q_inline) free(c->q);
  parse_state_free(c);
  free(c->via);
  yolk__list_remove(&c->flush_node);
  yolk__list_remove(&c->node);
  free(c);
  server_maybe_finish(srv);
}

static void conn_handle_closed(uv_handle_t *h) { conn_free(h->data); }

/* Closes the socket now; queued writes are cancelled (their write callback
 * runs with UV_ECANCELED before the close callback). */
static void conn_close_now(yolk_http_conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
  yolk__timeout_stop(&c->timer);
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  yolk_http_conn_t *c = req->data;
  free(req);
  c->shutreq = NULL;
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
  c->shutreq = yolk__malloc(sizeof(*c->shutreq));
  c->shutreq->data = c;
  if (uv_shutdown(c->shutreq, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
    free(c->shutreq);
    c->shutreq = NULL;
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
     * not at the ring, so moving the pointers is safe. The heap ring is
     * kept from then on: a connection that once queued many buffers will
     * again, and re-allocating it per burst would cost per recipient. */
    uint32_t ncap = c->q_cap * 2;
    yolk_buf_t **nq = yolk__malloc(ncap * sizeof(*nq));
    for (uint32_t i = 0; i < c->q_count; i++) nq[i] = c->q[(c->q_head + i) % c->q_cap];
    if (c->q != c->q_inline) free(c->q);
    c->q = nq;
    c->q_cap = ncap;
    c->q_head = 0;
  }
  c->q[(c->q_head + c->q_count) % c->q_cap] = b;
  c->q_count++;
}

static void write_cb(uv_write_t *wr, int status);
static void check_backlog(yolk_http_conn_t *c);

/* Points the server's iovec array at the first n queued buffers (from the
 * unwritten offset of the first). */
static uv_buf_t *fill_wbufs(yolk_http_conn_t *c, size_t n) {
  yolk_http_server_t *srv = c->srv;
  if (srv->wbufs_cap < n) {
    size_t ncap = srv->wbufs_cap ? srv->wbufs_cap : 64;
    while (ncap < n) ncap *= 2;
    free(srv->wbufs);
    srv->wbufs = yolk__malloc(ncap * sizeof(*srv->wbufs));
    srv->wbufs_cap = ncap;
  }
  for (size_t i = 0; i < n; i++) {
    yolk_buf_t *b = c->q[(c->q_head + i) % c->q_cap];
    size_t off = i == 0 ? c->q_off : 0;
    srv->wbufs[i] = uv_buf_init(b->data + off, (unsigned)(b->len - off));
  }
  return srv->wbufs;
}

/* The kernel did not take everything: the rest goes with one uv_write
 * (which copies the iovecs; its request is allocated while it is in flight). */
static void start_write(yolk_http_conn_t *c) {
  if (c->writing || c->q_count == 0 || c->closing) return;
  uv_buf_t *bufs = fill_wbufs(c, c->q_count);
  c->w_count = c->q_count;
  c->wreq = yolk__malloc(sizeof(*c->wreq));
  c->wreq->data = c;
  int r = uv_write(c->wreq, (uv_stream_t *)&c->tcp, bufs, c->w_count, write_cb);
  if (r < 0) {
    free(c->wreq);
    c->wreq = NULL;
    c->w_count = 0;
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "write to %s failed: %s", conn_peer(c), uv_strerror(r));
    conn_close_now(c);
    return;
  }
  c->writing = 1;
}

static void write_cb(uv_write_t *wr, int status) {
  yolk_http_conn_t *c = wr->data;
  free(wr);
  c->wreq = NULL;
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
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "write to %s failed: %s", conn_peer(c), uv_strerror(status));
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
  size_t m = c->q_count < FLUSH_MAX_BUFS ? c->q_count : FLUSH_MAX_BUFS;
  int r = uv_try_write((uv_stream_t *)&c->tcp, fill_wbufs(c, m), (unsigned)m);
  if (r < 0 && r != UV_EAGAIN && r != UV_ENOSYS) {
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "write to %s failed: %s", conn_peer(c), uv_strerror(r));
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

const char *yolk__conn_peer(yolk_http_conn_t *c) { return conn_peer(c); }

/* ---- timers -------------------------------------------------------------------- */

static void send_error_and_close(yolk_http_conn_t *c, int status);
static void release_ready(yolk_http_conn_t *c);

static void timer_cb(yolk_timeout_t *t) {
  yolk_http_conn_t *c = yolk__timeout_owner(t, yolk_http_conn_t, timer);
  int mode = c->timer_mode;
  c->timer_mode = TIMER_NONE;
  if (c->closing) return;
  switch (mode) {
  case TIMER_HEADER:
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: request not received within %u ms, answering 408", conn_peer(c),
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
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: %s, closing", conn_peer(c),
              c->writing || c->q_count ? "peer stopped reading" : "idle keep-alive connection");
    conn_close_now(c);
    break;
  case TIMER_RESUME:
    if (c->released) {
      release_ready(c);
    } else if (c->taken_over) {
      /* Bytes that arrived with the upgrade request, delivered now that
       * the new owner has returned from its accept call; then the parsing
       * state goes. */
      http_parse_t *p = c->http;
      if (!p) break;
      yolk_sb_t tmp = p->in;
      size_t off = p->in_off;
      yolk__sb_init(&p->in);
      p->in_off = 0;
      if (tmp.len > off && c->handler && c->handler->on_read) c->handler->on_read(c->owner, tmp.data + off, tmp.len - off);
      yolk__sb_free(&tmp);
      int deferred = p->owner_timeout_deferred;
      uint64_t ms = p->owner_timeout_ms;
      parse_state_free(c);
      if (deferred && !c->closing && !c->close_after_write) timer_set(c, TIMER_OWNER, ms);
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
  c->timer_mode = (uint8_t)mode;
  if (mode == TIMER_NONE) {
    yolk__timeout_stop(&c->timer);
    return;
  }
  yolk__timeout_start(&c->srv->timeq, &c->timer, ms, timer_cb);
}

void yolk__conn_set_timeout(yolk_http_conn_t *c, uint64_t ms, void (*cb)(void *owner)) {
  if (!c || c->closing || !c->taken_over || c->close_after_write) return;
  c->owner_timeout = cb;
  if (c->timer_mode == TIMER_RESUME && c->http) {
    /* Leftover bytes are still to be delivered on the (shared) timer. */
    c->http->owner_timeout_deferred = cb != NULL;
    c->http->owner_timeout_ms = ms;
    return;
  }
  timer_set(c, cb ? TIMER_OWNER : TIMER_NONE, ms);
}

/* ---- llhttp callbacks ------------------------------------------------------------ */

static int head_grow(yolk_http_conn_t *c, size_t n) {
  http_parse_t *h = c->http;
  h->head_bytes += n;
  if (h->head_bytes > c->srv->cfg.max_header_size) {
    h->user_error = 431;
    return -1;
  }
  return 0;
}

static void push_header(yolk_http_conn_t *c) {
  http_parse_t *h = c->http;
  if (!h->field.len && !h->value.len) return;
  size_t name_at = h->hdrbuf.len;
  yolk__sb_append(&h->hdrbuf, h->field.data ? h->field.data : "", h->field.len);
  yolk__sb_putc(&h->hdrbuf, '\0');
  for (char *p = h->hdrbuf.data + name_at; *p; p++) *p = (char)tolower((unsigned char)*p);
  const char *v = h->value.data ? h->value.data : "";
  size_t vl = h->value.len;
  while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
  if (h->field.len == 6 && strcasecmp(h->hdrbuf.data + name_at, "expect") == 0 && vl == 12 &&
      strncasecmp(v, "100-continue", 12) == 0)
    h->expect_continue = 1;
  yolk__sb_append(&h->hdrbuf, v, vl);
  yolk__sb_putc(&h->hdrbuf, '\0');
  h->nhdrs++;
  h->field.len = 0;
  h->value.len = 0;
}

static int on_message_begin(llhttp_t *lp) {
  yolk_http_conn_t *c = lp->data;
  parse_state_reset(c);
  c->in_message = 1;
  /* The keep-alive idle wait is over; the head must now arrive in time. */
  if (c->timer_mode != TIMER_HEADER) timer_set(c, TIMER_HEADER, c->srv->cfg.header_timeout_ms);
  return 0;
}

static int on_url(llhttp_t *lp, const char *at, size_t len) {
  yolk_http_conn_t *c = lp->data;
  http_parse_t *h = c->http;
  if (head_grow(c, len)) return -1;
  yolk__sb_append(&h->url, at, len);
  return 0;
}

static int on_header_field(llhttp_t *lp, const char *at, size_t len) {
  yolk_http_conn_t *c = lp->data;
  http_parse_t *h = c->http;
  if (head_grow(c, len + (h->last_was_value ? 4 : 0))) return -1;
  if (c->headers_done) return 0; /* trailers: size-checked, not kept */
  if (h->last_was_value) push_header(c);
  h->last_was_value = 0;
  yolk__sb_append(&h->field, at, len);
  return 0;
}

static int on_header_value(llhttp_t *lp, const char *at, size_t len) {
  yolk_http_conn_t *c = lp->data;
  http_parse_t *h = c->http;
  if (head_grow(c, len)) return -1;
  if (c->headers_done) return 0;
  h->last_was_value = 1;
  yolk__sb_append(&h->value, at, len);
  return 0;
}

static int on_headers_complete(llhttp_t *lp) {
  yolk_http_conn_t *c = lp->data;
  http_parse_t *h = c->http;
  if (h->last_was_value) push_header(c);
  h->last_was_value = 0;
  c->headers_done = 1;
  if (lp->http_major != 1) {
    /* llhttp takes "GET /" without a version as HTTP/0.9, which has no
     * headers and no status line: nothing this server speaks */
    h->user_error = 505;
    return -1;
  }
  if ((lp->flags & F_CONTENT_LENGTH) && lp->content_length > c->srv->cfg.max_body_size) {
    h->user_error = 413;
    return -1;
  }
  /* A body may still be slow to come: keep a timeout running, restarted by reads. */
  timer_set(c, TIMER_HEADER, c->srv->cfg.header_timeout_ms);
  /* Clients that sent "Expect: 100-continue" wait for this before the body. */
  if (h->expect_continue && lp->http_major == 1 && lp->http_minor >= 1) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    yolk_buf_t *b = yolk__buf_copy(cont, sizeof(cont) - 1);
    conn_write_bufs(c, &b, 1);
    yolk__buf_unref(b);
  }
  return 0;
}

static int on_body(llhttp_t *lp, const char *at, size_t len) {
  yolk_http_conn_t *c = lp->data;
  http_parse_t *h = c->http;
  if (h->body.len + len > c->srv->cfg.max_body_size) {
    h->user_error = 413;
    return -1;
  }
  yolk__sb_append(&h->body, at, len);
  return 0;
}

static int on_message_complete(llhttp_t *lp) {
  yolk_http_conn_t *c = lp->data;
  http_parse_t *h = c->http;
  /* One allocation: [request][header array][url\0][path\0][query\0][header strings]. */
  const char *url = h->url.data ? h->url.data : "";
  size_t ulen = h->url.len;
  const char *q = memchr(url, '?', ulen);
  size_t plen = q ? (size_t)(q - url) : ulen;
  size_t qlen = q ? ulen - plen - 1 : 0;
  size_t hsize = h->nhdrs * sizeof(yolk_http_header_t);
  size_t size = sizeof(yolk_http_req_t) + hsize + (ulen + 1) + (plen + 1) + (qlen + 1) + h->hdrbuf.len;
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
  if (h->hdrbuf.len) memcpy(str, h->hdrbuf.data, h->hdrbuf.len);
  if (c->trusted) {
    memcpy(req->remote_addr, "?", 2);
  } else {
    if (!h->remote_addr[0]) conn_remote_addr(c, h->remote_addr, sizeof(h->remote_addr));
    _Static_assert(sizeof(req->remote_addr) == sizeof(h->remote_addr), "one size");
    memcpy(req->remote_addr, h->remote_addr, sizeof(h->remote_addr));
  }
  size_t nh = 0;
  for (size_t i = 0; i < h->nhdrs; i++) {
    char *name = str;
    str += strlen(str) + 1;
    char *value = str;
    str += strlen(str) + 1;
    if (c->trusted && strcmp(name, YOLK_HTTP_PEER_HEADER) == 0) {
      /* the master says who the client is; the application never sees the header */
      snprintf(req->remote_addr, sizeof(req->remote_addr), "%s", value);
      free(c->via);
      c->via = yolk__strndup(req->remote_addr, strlen(req->remote_addr));
      continue;
    }
    req->headers[nh].name = name;
    req->headers[nh].value = value;
    nh++;
  }
  req->nheaders = nh;
  req->conn = c;
  req->method = llhttp_method_name((llhttp_method_t)lp->method);
  if (h->body.data) {
    req->body = h->body.data;
    req->body_len = h->body.len;
    yolk__sb_init(&h->body);
  } else {
    req->body = yolk__strndup("", 0);
  }
  req->http_major = lp->http_major;
  req->http_minor = lp->http_minor;
  req->keep_alive = llhttp_should_keep_alive(lp);
  if (lp->upgrade) {
    const char *up = yolk__http_req_header(req, "upgrade");
    req->upgrade = up && yolk__http_has_token(up, "websocket");
    req->keep_alive = 0; /* after any answer but a takeover, the connection closes */
    c->upgrade_wait = 1;
  }
  req->start_ms = uv_now(c->srv->loop);
  h->ready = req;
  c->in_message = 0;
  parse_state_reset(c);
  /* Stop here: the request is dispatched after llhttp returns, and the
   * next pipelined request is parsed only after this one is answered. */
  return HPE_PAUSED;
}

/* ---- request processing ------------------------------------------------------------ */

static void send_error_and_close(yolk_http_conn_t *c, int status) {
  c->parse_failed = 1;
  if (conn_pending(c)) {
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

/* After a takeover: the parsing state goes, unless bytes read past the
 * request still wait for the new owner (TIMER_RESUME delivers them and
 * frees it then). */
static void takeover_done(yolk_http_conn_t *c) {
  http_parse_t *h = c->http;
  if (h && c->taken_over && !c->released && h->in.len == h->in_off) parse_state_free(c);
}

/* Parses buffered bytes until a request is complete, then hands it over.
 * Loops while handlers answer synchronously. */
static void conn_process(yolk_http_conn_t *c) {
  if (c->in_process) return;
  c->in_process = 1;
  http_parse_t *h = c->http;
  while (!c->closing && !c->close_after_write && !c->taken_over && !h->pending && !c->parse_failed) {
    if (h->ready) {
      yolk_http_req_t *req = h->ready;
      h->ready = NULL;
      h->pending = req;
      timer_set(c, TIMER_NONE, 0); /* the handler owns the timing of a pending request */
      c->srv->cfg.on_request(req, c->srv->cfg.ud);
      continue;
    }
    size_t avail = h->in.len - h->in_off;
    if (!avail || c->upgrade_wait) break;
    const char *data = h->in.data + h->in_off;
    if (llhttp_get_errno(&h->parser) == HPE_PAUSED) llhttp_resume(&h->parser);
    llhttp_errno_t err = llhttp_execute(&h->parser, data, avail);
    size_t used = avail;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
      const char *pos = llhttp_get_error_pos(&h->parser);
      if (pos && pos >= data && pos <= data + avail) used = (size_t)(pos - data);
    } else if (err != HPE_OK) {
      if (h->user_error == 431) {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: request head over %zu bytes, answering 431", conn_peer(c),
                  c->srv->cfg.max_header_size);
        send_error_and_close(c, 431);
      } else if (h->user_error == 413) {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: request body over %zu bytes, answering 413", conn_peer(c),
                  c->srv->cfg.max_body_size);
        send_error_and_close(c, 413);
      } else if (h->user_error == 505) {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: HTTP/%d.%d request, answering 505", conn_peer(c),
                  h->parser.http_major, h->parser.http_minor);
        send_error_and_close(c, 505);
      } else {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: malformed request (%s: %s), answering 400", conn_peer(c),
                  llhttp_errno_name(err), llhttp_get_error_reason(&h->parser));
        send_error_and_close(c, 400);
      }
      break;
    }
    h->in_off += used;
    if (!h->ready) break; /* need more bytes */
  }
  /* Compact the backlog so it does not grow without bound; after a big
   * body, give the memory back rather than keep it per idle connection. */
  if (h->in_off && h->in_off == h->in.len) {
    h->in.len = h->in_off = 0;
    if (h->in.cap > 64 * 1024) yolk__sb_free(&h->in);
  } else if (h->in_off > 4096 && h->in_off * 2 > h->in.len) {
    memmove(h->in.data, h->in.data + h->in_off, h->in.len - h->in_off);
    h->in.len -= h->in_off;
    h->in_off = 0;
  }
  if (!c->taken_over && h->in.len - h->in_off < MAX_BACKLOG) conn_start_reading(c);
  c->in_process = 0;
  takeover_done(c);
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
      yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: read error: %s", conn_peer(c), uv_strerror((int)nread));
    /* The peer is gone (or half-closed, which HTTP/1.1 clients do not do
     * while they still expect an answer worth waiting for). Flush what is
     * already queued if we can; a pending request is aborted. */
    c->peer_eof = 1;
    if (!conn_pending(c) && !c->lingering && (c->writing || c->q_count)) conn_close_after_write(c);
    else conn_close_now(c);
    return;
  }
  c->srv->bytes_read += (uint64_t)nread;
  if (c->close_after_write) return; /* closing: input no longer matters */
  if (c->taken_over) {
    if (c->handler && c->handler->on_read) c->handler->on_read(c->owner, buf->base, (size_t)nread);
    return;
  }
  if (c->parse_failed) return;
  http_parse_t *h = c->http;
  yolk__sb_append(&h->in, buf->base, (size_t)nread);
  if (c->timer_mode == TIMER_HEADER && c->headers_done)
    timer_set(c, TIMER_HEADER, c->srv->cfg.header_timeout_ms); /* body progress */
  if (h->pending || c->upgrade_wait) {
    if (h->in.len - h->in_off >= MAX_BACKLOG) {
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
  if (c->http->in.len - c->http->in_off > 0 || c->http->ready) {
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
  if (conn_pending(c) != req || c->closing) {
    /* Connection closing: nothing to send, and no on_abort will follow. */
    if (conn_pending(c) == req) c->http->pending = NULL;
    req_free(req);
    return;
  }
  c->http->pending = NULL;
  int keep_alive = req->keep_alive && !force_close && !c->close_after_write;
  int head_only = strcmp(req->method, "HEAD") == 0;
  int no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
  size_t blen = shared ? shared->len : len;
  int copy_body = !shared && !head_only && !no_body && len;
  /* The head (and a copied body) go into one buffer sized up front:
   * "HTTP/1.1 <status> <text>\r\n<headers>Date: <date>\r\n"
   * ["Content-Length: <n>\r\n"] "Connection: keep-alive|close\r\n\r\n",
   * put together without printf (a polling exchange is two responses). */
  const char *st = yolk__http_status_text(status), *date = http_date(), *extra = headers ? headers : "";
  const char *conn_hdr = keep_alive ? "keep-alive" : "close";
  char sdig[20], cdig[20];
  size_t sn = yolk__u64_dec(sdig, status < 0 ? 0 : (unsigned)status), cn = no_body ? 0 : yolk__u64_dec(cdig, blen);
  size_t stl = strlen(st), el = strlen(extra), dl = strlen(date), chl = strlen(conn_hdr);
  size_t hl = 9 + sn + 1 + stl + 2 + el + 6 + dl + 2 + (no_body ? 0 : 16 + cn + 2) + 12 + chl + 4;
  yolk_buf_t *bufs[2];
  size_t n = 0;
  bufs[n] = yolk__buf_new(hl + (copy_body ? len : 0));
  char *p = bufs[n]->data;
#define PUT(s, l) (memcpy(p, (s), (l)), p += (l))
  PUT("HTTP/1.1 ", 9);
  PUT(sdig, sn);
  PUT(" ", 1);
  PUT(st, stl);
  PUT("\r\n", 2);
  PUT(extra, el);
  PUT("Date: ", 6);
  PUT(date, dl);
  PUT("\r\n", 2);
  if (!no_body) {
    PUT("Content-Length: ", 16);
    PUT(cdig, cn);
    PUT("\r\n", 2);
  }
  PUT("Connection: ", 12);
  PUT(conn_hdr, chl);
  PUT("\r\n\r\n", 4);
#undef PUT
  if (copy_body) memcpy(p, body, len);
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
  if (conn_pending(c) != req || c->closing) {
    if (conn_pending(c) == req) c->http->pending = NULL;
    req_free(req);
    return NULL;
  }
  c->http->pending = NULL;
  req_free(req);
  c->taken_over = 1;
  c->upgrade_wait = 0;
  c->handler = handler;
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
  if (c->http->in.len - c->http->in_off > 0) timer_set(c, TIMER_RESUME, 0);
  else if (!c->in_process) takeover_done(c);
  return c;
}

/* ---- handing a connection over ----------------------------------------------------- */

int yolk__http_release(yolk_http_req_t *req, yolk_http_release_cb cb, void *owner) {
  yolk_http_conn_t *c = req->conn;
  if (!c) return -1; /* inside on_abort: the caller frees req */
  if (conn_pending(c) != req || c->closing) {
    if (conn_pending(c) == req) c->http->pending = NULL;
    req_free(req);
    return -1;
  }
  c->http->pending = NULL;
  req_free(req);
  c->taken_over = 1;
  c->released = 1;
  c->upgrade_wait = 0;
  c->handler = NULL;
  c->owner = owner;
  c->http->release_cb = cb;
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
  yolk_http_release_cb cb = c->http->release_cb;
  if (!cb || c->closing) return;
  c->http->release_cb = NULL;
  uv_os_fd_t fd;
  int dup_fd = -1;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: cannot hand the connection over", conn_peer(c));
  http_parse_t *h = c->http;
  size_t n = h->in.len - h->in_off;
  cb(c->owner, dup_fd, h->in.data ? h->in.data + h->in_off : "", n);
  /* our descriptor goes; the socket lives on in dup_fd (no FIN, no RST) */
  conn_close_now(c);
}

/* ---- accepting ------------------------------------------------------------------ */

/* A connection with its stream handle initialised as `type` (a TCP socket
 * or a Unix socket), not yet connected, linked into the server's list;
 * conn_start finishes it. */
static yolk_http_conn_t *conn_new(yolk_http_server_t *srv, uv_handle_type type) {
  size_t size = offsetof(yolk_http_conn_t, tcp) + (type == UV_NAMED_PIPE ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t));
  yolk_http_conn_t *c = yolk__calloc(1, size);
  c->srv = srv;
  c->is_pipe = type == UV_NAMED_PIPE;
  if (c->is_pipe) uv_pipe_init(srv->loop, &c->pipe, 0);
  else uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  yolk__timeout_init(&c->timer);
  c->q = c->q_inline;
  c->q_cap = sizeof(c->q_inline) / sizeof(c->q_inline[0]);
  yolk__list_node_init(&c->flush_node);
  yolk__list_push_back(&srv->conns, &c->node);
  return c;
}

/* The stream is connected: peer address, parser, timeout, reading. */
static void conn_start(yolk_http_conn_t *c, uv_handle_type type, unsigned flags) {
  yolk_http_server_t *srv = c->srv;
  c->trusted = (flags & YOLK_HTTP_LISTEN_TRUSTED) != 0;
  struct sockaddr_storage ss;
  int sl = sizeof(ss);
  if (type != UV_NAMED_PIPE && uv_tcp_nodelay(&c->tcp, 1) == 0 &&
      uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
      c->peer_family = AF_INET;
      c->peer_port = ntohs(a->sin_port);
      memcpy(c->peer_ip, &a->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
      c->peer_family = AF_INET6;
      c->peer_port = ntohs(a->sin6_port);
      memcpy(c->peer_ip, &a->sin6_addr, 16);
    }
  }
  c->http = yolk__calloc(1, sizeof(*c->http));
  llhttp_init(&c->http->parser, HTTP_REQUEST, &srv->settings);
  c->http->parser.data = c;
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
    yolk__sb_append(&c->http->in, pre, len);
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
  yolk__timeq_init(&srv->timeq, loop);
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
  if (!srv->closing || !srv->listener_closed || srv->flushers_closed < 2 || !srv->timeq_closed ||
      !yolk__list_empty(&srv->conns))
    return;
  void (*cb)(void *) = srv->close_cb;
  void *arg = srv->close_arg;
  free(srv->wbufs);
  free(srv);
  if (cb) cb(arg);
}

static void flusher_closed(uv_handle_t *h) {
  yolk_http_server_t *srv = h->data;
  srv->flushers_closed++;
  server_maybe_finish(srv);
}

static void timeq_closed(void *arg) {
  yolk_http_server_t *srv = arg;
  srv->timeq_closed = 1;
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
  yolk__timeq_close(&srv->timeq, timeq_closed, srv);
  uv_close((uv_handle_t *)&srv->flush_prepare, flusher_closed);
  uv_close((uv_handle_t *)&srv->flush_check, flusher_closed);
}

void yolk__http_server_unlisten(yolk_http_server_t *srv) {
  if (!srv->listener_inited || srv->listener_closing) return;
  srv->listener_closing = 1;
  srv->listening = 0;
  uv_close((uv_handle_t *)&srv->listener, listener_closed);
}
