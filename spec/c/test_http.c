/* test_http.c - a real yolk HTTP server on 127.0.0.1 (port 0) in a libuv
 * loop on the main thread, driven by plain blocking POSIX sockets from a
 * helper thread. Each scenario gets a fresh loop and server and must end with
 * uv_loop_close() == 0 (no handle leaked). Covers HTTP/1.1 (keep-alive,
 * pipelining with a deferred first response, bodies, limits, timeouts,
 * aborts) and WebSocket connections end to end. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "test.h"
#include "test_client.h"
#include "ws.h"

/* ---- server side (loop thread) ------------------------------------------------------- */

typedef struct {
  uv_timer_t timer;
  yolk_http_req_t *req;
} deferred_t;

static int n_requests, n_aborts, n_ws_open, n_ws_close, last_ws_close_code, n_ws_messages;
static yolk_http_server_t *server;
static uv_async_t done_async;
static int server_closed;

static void deferred_closed(uv_handle_t *h) { free(h->data); }

static void deferred_fire(uv_timer_t *t) {
  deferred_t *d = t->data;
  if (d->req) {
    d->req->on_abort = NULL;
    yolk__http_respond(d->req, 200, "Content-Type: text/plain\r\n", "slow", 4);
  }
  uv_close((uv_handle_t *)&d->timer, deferred_closed);
}

static void deferred_abort(yolk_http_req_t *req) {
  deferred_t *d = req->data;
  d->req = NULL;
}

static void hold_abort(yolk_http_req_t *req) {
  (void)req;
  __atomic_fetch_add(&n_aborts, 1, __ATOMIC_SEQ_CST);
}

/* A request answered only when the server shuts down (see on_done). */
static yolk_http_req_t *held_req;
static void held_abort(yolk_http_req_t *req) {
  (void)req;
  held_req = NULL;
}

/* A handler that (wrongly but plausibly) answers from inside on_abort. */
static void answer_in_abort(yolk_http_req_t *req) {
  __atomic_fetch_add(&n_aborts, 1, __ATOMIC_SEQ_CST);
  yolk__http_respond(req, 200, NULL, "late", 4);
}

static void ws_echo_message(yolk_ws_t *ws, int binary, const char *data, size_t len, void *ud) {
  (void)ud;
  __atomic_fetch_add(&n_ws_messages, 1, __ATOMIC_SEQ_CST);
  if (len == 5 && memcmp(data, "close", 5) == 0) {
    yolk__ws_close(ws, 4000, "asked");
    return;
  }
  if (len == 5 && memcmp(data, "flood", 5) == 0) {
    /* More than the socket buffers hold: most of it must queue. */
    yolk_buf_t *f = yolk__ws_frame_alloc(YOLK_WS_OP_BINARY, 65536, &(size_t){0});
    memset(f->data + 10, 'f', 65536);
    for (int i = 0; i < 100; i++) yolk__ws_send_frame(ws, f);
    yolk__buf_unref(f);
    CHECK(yolk__ws_pending(ws) > 0);
    yolk__ws_send(ws, YOLK_WS_OP_TEXT, "end", 3);
    return;
  }
  if (len == 9 && memcmp(data, "broadcast", 9) == 0) {
    /* One frame queued twice on the same connection: shared, not copied. */
    yolk_buf_t *f = yolk__ws_frame_new(YOLK_WS_OP_TEXT, "shared", 6);
    size_t before = yolk__ws_pending(ws);
    CHECK_EQ_INT(yolk__ws_send_frame(ws, f), 0);
    CHECK_EQ_INT(yolk__ws_send_frame(ws, f), 0);
    /* corked until the end of this loop iteration, then one write for both */
    CHECK_EQ_INT(yolk__ws_pending(ws), before + 2 * f->len);
    CHECK_EQ_INT(f->refs, 3);
    yolk__buf_unref(f);
    return;
  }
  yolk__ws_send(ws, binary ? YOLK_WS_OP_BINARY : YOLK_WS_OP_TEXT, data, len);
}

static void ws_echo_close(yolk_ws_t *ws, int code, void *ud) {
  (void)ws;
  (void)ud;
  __atomic_store_n(&last_ws_close_code, code, __ATOMIC_SEQ_CST);
  __atomic_fetch_add(&n_ws_close, 1, __ATOMIC_SEQ_CST);
}

static const yolk_ws_handler_t ws_echo = {ws_echo_message, ws_echo_close, NULL, 0, 0};
static const yolk_ws_handler_t ws_small = {ws_echo_message, ws_echo_close, NULL, 10, 0};

static void on_request(yolk_http_req_t *req, void *ud) {
  (void)ud;
  __atomic_fetch_add(&n_requests, 1, __ATOMIC_SEQ_CST);
  const char *path = req->path;
  if (req->upgrade) {
    const yolk_ws_handler_t *h = strcmp(path, "/wssmall") == 0 ? &ws_small : &ws_echo;
    int close_now = strcmp(path, "/wsclose") == 0; /* req is freed by the accept */
    yolk_ws_t *ws = yolk__ws_accept(req, h, NULL);
    if (ws) {
      __atomic_fetch_add(&n_ws_open, 1, __ATOMIC_SEQ_CST);
      if (close_now) yolk__ws_close(ws, 1001, "going away");
    }
    return;
  }
  if (strcmp(path, "/hello") == 0) {
    yolk__http_respond(req, 200, "Content-Type: text/plain\r\n", "hello", 5);
  } else if (strcmp(path, "/echo") == 0) {
    char hdr[256];
    const char *last = req->nheaders ? req->headers[req->nheaders - 1].name : "-";
    snprintf(hdr, sizeof(hdr), "X-Method: %s\r\nX-Test: %s\r\nX-Count: %zu\r\nX-Last: %s=%s\r\nX-Query: %s\r\n",
             req->method, yolk__http_req_header(req, "x-test") ? yolk__http_req_header(req, "X-TEST") : "-",
             req->nheaders, last, req->nheaders ? req->headers[req->nheaders - 1].value : "-", req->query);
    yolk__http_respond(req, 200, hdr, req->body, req->body_len);
  } else if (strcmp(path, "/slow") == 0) {
    deferred_t *d = calloc(1, sizeof(*d));
    d->req = req;
    req->data = d;
    req->on_abort = deferred_abort;
    uv_timer_init(yolk__conn_loop(req->conn), &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, deferred_fire, 200, 0);
  } else if (strcmp(path, "/hold") == 0) {
    req->on_abort = hold_abort;
  } else if (strcmp(path, "/holdbye") == 0) {
    held_req = req;
    req->on_abort = held_abort;
  } else if (strcmp(path, "/hold2") == 0) {
    req->on_abort = answer_in_abort;
  } else if (strcmp(path, "/big") == 0 || strcmp(path, "/huge") == 0) {
    size_t n = path[1] == 'b' ? 4u << 20 : 24u << 20;
    yolk_buf_t *b = yolk__buf_new(n);
    for (size_t i = 0; i < n; i++) b->data[i] = (char)('a' + i % 26);
    yolk__http_respond_buf(req, 200, NULL, b);
    yolk__buf_unref(b);
  } else if (strcmp(path, "/q") == 0) {
    char v[64];
    int n = yolk_query_get(req->query, "a", v, sizeof(v));
    yolk__http_respond(req, 200, NULL, n < 0 ? "absent" : v, n < 0 ? 6 : (size_t)n);
  } else {
    yolk__http_respond(req, 404, NULL, "not found", 9);
  }
}

static void on_server_closed(void *arg) {
  (void)arg;
  server_closed = 1;
}

static void on_done(uv_async_t *a) {
  uv_close((uv_handle_t *)a, NULL);
  /* answered in the same tick as the shutdown: must still reach the client */
  if (held_req) yolk__http_respond(held_req, 200, NULL, "bye", 3);
  held_req = NULL;
  yolk__http_server_close(server, on_server_closed, NULL);
}

/* ---- client side (helper thread) ------------------------------------------------------ */

typedef struct {
  int fd;
  char buf[(1 << 16) + 1]; /* one spare byte for a NUL after the data */
  size_t len;
} client_t;

static int use_ipv6;

static client_t *cl_connect(int port) {
  client_t *c = calloc(1, sizeof(*c));
  if (use_ipv6) {
    c->fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa6;
    memset(&sa6, 0, sizeof(sa6));
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = htons((uint16_t)port);
    sa6.sin6_addr = in6addr_loopback;
    if (connect(c->fd, (struct sockaddr *)&sa6, sizeof(sa6)) != 0) perror("connect6");
    return c;
  }
  c->fd = tc_connect(port);
  return c;
}

static void cl_close(client_t *c) {
  close(c->fd);
  free(c);
}

static void cl_send(client_t *c, const void *p, size_t n) {
  const char *s = p;
  while (n) {
    ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void cl_puts(client_t *c, const char *s) { cl_send(c, s, strlen(s)); }

/* Reads more into buf; returns bytes read, 0 on EOF, -1 on error/timeout. */
static ssize_t cl_fill(client_t *c) {
  if (c->len >= sizeof(c->buf) - 1) return -1;
  ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
  if (r > 0) c->len += (size_t)r;
  return r < 0 ? -1 : r;
}

static void cl_consume(client_t *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

/* Reads exactly n bytes into out (NULL: discard). 0 or -1. */
static int cl_read_exact(client_t *c, char *out, size_t n) {
  while (n) {
    if (!c->len && cl_fill(c) <= 0) return -1;
    size_t k = c->len < n ? c->len : n;
    if (out) memcpy(out, c->buf, k), out += k;
    cl_consume(c, k);
    n -= k;
  }
  return 0;
}

typedef struct {
  int status;
  char head[8192];
  char *body;
  size_t body_len;
} resp_t;

static const char *resp_header(resp_t *r, const char *name) {
  static char val[256];
  size_t nl = strlen(name);
  for (char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
    char *line = p + 2;
    if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      char *v = line + nl + 1;
      while (*v == ' ') v++;
      char *e = strstr(v, "\r\n");
      size_t l = e ? (size_t)(e - v) : strlen(v);
      if (l >= sizeof(val)) l = sizeof(val) - 1;
      memcpy(val, v, l);
      val[l] = '\0';
      return val;
    }
  }
  return NULL;
}

/* Reads one response (status line, headers, Content-Length body unless head_only).
 * 0, or -1 when the connection ended or timed out first. */
static int cl_read_response(client_t *c, resp_t *r, int head_only) {
  memset(r, 0, sizeof(*r));
  char *end;
  for (;;) {
    c->buf[c->len] = '\0';
    end = c->len ? strstr(c->buf, "\r\n\r\n") : NULL;
    if (end) break;
    if (cl_fill(c) <= 0) return -1;
  }
  size_t hl = (size_t)(end - c->buf) + 4;
  memcpy(r->head, c->buf, hl < sizeof(r->head) - 1 ? hl : sizeof(r->head) - 1);
  cl_consume(c, hl);
  r->status = atoi(r->head + 9);
  const char *cl = resp_header(r, "Content-Length");
  size_t n = cl && !head_only ? (size_t)strtoull(cl, NULL, 10) : 0;
  r->body = malloc(n + 1);
  r->body_len = n;
  if (cl_read_exact(c, r->body, n) != 0) return -1;
  r->body[n] = '\0';
  return 0;
}

static void resp_free(resp_t *r) {
  free(r->body);
  r->body = NULL;
}

/* 1 when the server closed the connection (EOF) within the receive timeout,
 * discarding anything before it. */
static int cl_wait_closed(client_t *c) {
  c->len = 0;
  for (;;) {
    ssize_t r = cl_fill(c);
    if (r == 0) return 1;
    if (r < 0) return 0;
    c->len = 0;
  }
}

static int wait_counter(int *counter, int value, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (__atomic_load_n(counter, __ATOMIC_SEQ_CST) >= value) return 1;
    tc_msleep(10);
  }
  return __atomic_load_n(counter, __ATOMIC_SEQ_CST) >= value;
}

/* WebSocket client helpers */
static void ws_send_frame(client_t *c, int fin, int opcode, int masked, const void *payload, size_t len) {
  unsigned char h[14];
  size_t hl = 0;
  h[hl++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
  unsigned char m = masked ? 0x80 : 0;
  if (len < 126) {
    h[hl++] = (unsigned char)(m | len);
  } else if (len <= 0xFFFF) {
    h[hl++] = m | 126;
    h[hl++] = (unsigned char)(len >> 8);
    h[hl++] = (unsigned char)len;
  } else {
    h[hl++] = m | 127;
    for (int i = 0; i < 8; i++) h[hl++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
  }
  unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) memcpy(h + hl, key, 4), hl += 4;
  char *buf = malloc(hl + len);
  memcpy(buf, h, hl);
  for (size_t i = 0; i < len; i++) buf[hl + i] = (char)(((const unsigned char *)payload)[i] ^ (masked ? key[i & 3] : 0));
  cl_send(c, buf, hl + len);
  free(buf);
}

/* Reads one server frame; returns the opcode (-1 on EOF/timeout). */
static int ws_read_frame(client_t *c, char *payload, size_t cap, size_t *len) {
  unsigned char h[2];
  if (cl_read_exact(c, (char *)h, 2) != 0) return -1;
  CHECK((h[1] & 0x80) == 0); /* never masked */
  uint64_t n = h[1] & 0x7F;
  if (n == 126) {
    unsigned char e[2];
    if (cl_read_exact(c, (char *)e, 2)) return -1;
    n = ((uint64_t)e[0] << 8) | e[1];
  } else if (n == 127) {
    unsigned char e[8];
    if (cl_read_exact(c, (char *)e, 8)) return -1;
    n = 0;
    for (int i = 0; i < 8; i++) n = (n << 8) | e[i];
  }
  if (n > cap) return -1;
  if (cl_read_exact(c, payload, (size_t)n)) return -1;
  *len = (size_t)n;
  return h[0] & 0x0F;
}

static const char ws_upgrade_fmt[] =
    "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

static client_t *ws_connect(int port, const char *path) {
  client_t *c = cl_connect(port);
  char req[512];
  snprintf(req, sizeof(req), ws_upgrade_fmt, path);
  cl_puts(c, req);
  resp_t r;
  CHECK_EQ_INT(cl_read_response(c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 101);
  const char *acc = resp_header(&r, "Sec-WebSocket-Accept");
  CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  resp_free(&r);
  return c;
}

/* Expects a close frame with code, then EOF. */
static void ws_expect_close(client_t *c, int code) {
  char pl[256];
  size_t n = 0;
  int op = ws_read_frame(c, pl, sizeof(pl), &n);
  CHECK_EQ_INT(op, YOLK_WS_OP_CLOSE);
  CHECK(n >= 2);
  if (n >= 2) CHECK_EQ_INT(((unsigned char)pl[0] << 8) | (unsigned char)pl[1], code);
  CHECK(cl_wait_closed(c));
}

/* Expects an empty close frame (the echo of one), then EOF. */
static void ws_expect_close_empty(client_t *c) {
  char pl[256];
  size_t n = 99;
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_CLOSE);
  CHECK_EQ_INT(n, 0);
  CHECK(cl_wait_closed(c));
}

/* ---- scenarios (run on the helper thread) --------------------------------------------------- */

/* One request alone on a new connection: checks the answer's status and,
 * when closed, that the server then closes the connection. */
static void expect_status(int port, const char *req, int status, int closed) {
  client_t *c = cl_connect(port);
  cl_puts(c, req);
  resp_t r;
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, status);
  resp_free(&r);
  if (closed) CHECK(cl_wait_closed(c));
  cl_close(c);
}

/* A WebSocket on path that sends one bad frame: the server closes with code. */
static void ws_expect_refused(int port, const char *path, int opcode, int masked, const char *payload, size_t len,
                              int code) {
  client_t *c = ws_connect(port, path);
  ws_send_frame(c, 1, opcode, masked, payload, len);
  ws_expect_close(c, code);
  cl_close(c);
}

static void t_simple_get(int port) {
  client_t *c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  resp_t r;
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, "hello");
  CHECK_STR(resp_header(&r, "Content-Length"), "5");
  CHECK_STR(resp_header(&r, "Connection"), "keep-alive");
  CHECK_STR(resp_header(&r, "Content-Type"), "text/plain");
  CHECK(resp_header(&r, "Date") != NULL);
  resp_free(&r);
  cl_close(c);
}

static void t_keepalive(int port) {
  client_t *c = cl_connect(port);
  resp_t r;
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "hello");
  resp_free(&r);
  cl_puts(c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 404);
  resp_free(&r);
  /* HEAD: the length of the body, but no body; the next response must parse */
  cl_puts(c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(resp_header(&r, "Content-Length"), "5");
  resp_free(&r);
  cl_puts(c, "GET /q?a=x%20y+z%2b&b=2 HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "x y z+");
  resp_free(&r);
  cl_close(c);
  CHECK_EQ_INT(n_requests, 4);
}

static void t_pipelined(int port) {
  client_t *c = cl_connect(port);
  /* The first answer is deferred (200 ms timer); the others must wait for it. */
  cl_puts(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  resp_t r;
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "slow");
  resp_free(&r);
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "hello");
  resp_free(&r);
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "abc");
  resp_free(&r);
  /* A big response (written in parts) followed by a pipelined one. */
  cl_puts(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  tc_msleep(100); /* let the server's socket buffer fill up */
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.body_len, 4u << 20);
  int ok = r.body_len == (4u << 20);
  size_t bad_at = 0;
  for (size_t i = 0; ok && i < r.body_len; i++) ok = r.body[i] == (char)('a' + i % 26), bad_at = i;
  if (!ok) fprintf(stderr, "big body differs at %zu\n", bad_at);
  CHECK(ok);
  resp_free(&r);
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "hello");
  resp_free(&r);
  cl_close(c);
}

static void t_bodies(int port) {
  client_t *c = cl_connect(port);
  resp_t r;
  cl_puts(c, "POST /echo HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\nContent-Length: 11\r\n\r\nhello world");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "hello world");
  CHECK_STR(resp_header(&r, "X-Method"), "POST");
  CHECK_STR(resp_header(&r, "X-Test"), "yes");
  CHECK_STR(resp_header(&r, "X-Count"), "3");
  CHECK_STR(resp_header(&r, "X-Last"), "content-length=11");
  CHECK_STR(resp_header(&r, "X-Query"), "");
  resp_free(&r);
  /* many headers, values trimmed, names lower-cased, a query string */
  cl_puts(c, "GET /echo?x=1&y=%20 HTTP/1.1\r\nHost: x\r\n");
  for (int i = 0; i < 30; i++) {
    char line[64];
    snprintf(line, sizeof(line), "X-H%d:   v%d \t\r\n", i, i);
    cl_puts(c, line);
  }
  cl_puts(c, "X-Test:yes\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(resp_header(&r, "X-Count"), "32");
  CHECK_STR(resp_header(&r, "X-Last"), "x-test=yes");
  CHECK_STR(resp_header(&r, "X-Query"), "x=1&y=%20");
  resp_free(&r);
  cl_puts(c, "GET /echo HTTP/1.1\r\nX-Spaced:   a b  \r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(resp_header(&r, "X-Last"), "x-spaced=a b");
  resp_free(&r);
  /* chunked, sent in pieces */
  cl_puts(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  tc_msleep(50);
  cl_puts(c, "6\r\n world\r\n0\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "hello world");
  resp_free(&r);
  /* Expect: 100-continue gets the interim answer first */
  cl_puts(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 100);
  resp_free(&r);
  cl_puts(c, "ok");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "ok");
  resp_free(&r);
  cl_close(c);
  /* HTTP/1.0: answered, then closed */
  c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.0\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(resp_header(&r, "Connection"), "close");
  resp_free(&r);
  CHECK(cl_wait_closed(c));
  cl_close(c);
  /* Connection: close */
  expect_status(port, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, 1);
}

/* limits: run with max_body_size 100, max_header_size 1024, header_timeout 300 ms */
static void t_limits(int port) {
  resp_t r;
  expect_status(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", 413, 1);

  client_t *c = cl_connect(port);
  cl_puts(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  char chunk[80];
  memset(chunk, 'a', sizeof(chunk));
  for (int i = 0; i < 2; i++) {
    cl_puts(c, "50\r\n");
    cl_send(c, chunk, sizeof(chunk));
    cl_puts(c, "\r\n");
  }
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 413);
  resp_free(&r);
  CHECK(cl_wait_closed(c));
  cl_close(c);

  c = cl_connect(port);
  char big[2048];
  memset(big, 'v', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
  cl_puts(c, big);
  cl_puts(c, "\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 431);
  resp_free(&r);
  CHECK(cl_wait_closed(c));
  cl_close(c);

  /* many small headers add up too */
  c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\n");
  for (int i = 0; i < 200; i++) cl_puts(c, "A: b\r\n");
  cl_puts(c, "\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 431);
  resp_free(&r);
  cl_close(c);

  /* slow head: 408 after header_timeout_ms */
  c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n");
  struct timeval t0, t1;
  gettimeofday(&t0, NULL);
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  gettimeofday(&t1, NULL);
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
  CHECK_EQ_INT(r.status, 408);
  CHECK(ms >= 200 && ms < 2000);
  resp_free(&r);
  CHECK(cl_wait_closed(c));
  cl_close(c);

  /* the head timer also runs for the next request on a kept-alive connection */
  c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 408);
  resp_free(&r);
  CHECK(cl_wait_closed(c));
  cl_close(c);
  c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  resp_free(&r);
  tc_msleep(100);
  cl_puts(c, "GET /hello HTTP/1.1\r\n"); /* then stall */
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 408);
  resp_free(&r);
  cl_close(c);

  /* silent connection: 408 as well */
  expect_status(port, "", 408, 0);

  /* garbage: 400 then close */
  expect_status(port, "HELLO\x01 WORLD\r\n\r\n", 400, 1);

  /* no version (llhttp reads HTTP/0.9): 505 then close, not a 200 */
  expect_status(port, "GET /hello\r\n\r\n", 505, 1);

  /* both Content-Length and chunked (request smuggling): 400 */
  expect_status(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "0\r\n\r\n", 400, 0);

  /* a bad request after a good one on the same connection */
  c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 400);
  resp_free(&r);
  CHECK(cl_wait_closed(c));
  cl_close(c);

  /* a slow reader gets all of a response that takes longer than the idle
   * timeout (300 ms) to send; the timer only closes a peer making no progress */
  for (int keep = 0; keep < 2; keep++) {
    c = cl_connect(port);
    cl_puts(c, keep ? "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n"
                    : "GET /huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    size_t total = 0;
    char *tmp = malloc(1 << 16);
    for (;;) {
      ssize_t k = recv(c->fd, tmp, 1 << 16, 0);
      if (k <= 0) break;
      total += (size_t)k;
      if (total > (24u << 20)) break;
      tc_msleep(1);
    }
    free(tmp);
    if (total <= (24u << 20)) fprintf(stderr, "slow reader got %zu bytes\n", total);
    CHECK(total > (24u << 20)); /* head + whole body */
    cl_close(c);
  }

  /* a peer that stops reading is dropped once nothing moves for a while */
  {
    c = cl_connect(port);
    int small = 64 * 1024;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    cl_puts(c, "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n");
    tc_msleep(1500);
    size_t total = 0;
    char *tmp = malloc(1 << 16);
    ssize_t k;
    while ((k = recv(c->fd, tmp, 1 << 16, 0)) > 0) total += (size_t)k;
    free(tmp);
    CHECK(total < (24u << 20));
    cl_close(c);
  }

  /* keep-alive idle timeout (300 ms): the server closes an idle connection */
  c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  resp_free(&r);
  gettimeofday(&t0, NULL);
  CHECK(cl_wait_closed(c));
  gettimeofday(&t1, NULL);
  ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
  CHECK(ms >= 200 && ms < 2000);
  cl_close(c);
}

static void t_abort(int port) {
  client_t *c = cl_connect(port);
  cl_puts(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(wait_counter(&n_requests, 1, 2000));
  CHECK_EQ_INT(n_aborts, 0);
  cl_close(c);
  CHECK(wait_counter(&n_aborts, 1, 2000));
  /* a deferred response whose client left: aborted, the timer must not respond */
  c = cl_connect(port);
  cl_puts(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(wait_counter(&n_requests, 2, 2000));
  cl_close(c);
  tc_msleep(300);
  /* a client that resets while a big response is being written: the
   * server survives (no SIGPIPE) and keeps serving */
  for (int i = 0; i < 3; i++) {
    c = cl_connect(port);
    cl_puts(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    char tmp[1000];
    recv(c->fd, tmp, sizeof(tmp), 0);
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    cl_close(c); /* RST */
  }
  tc_msleep(100);
  c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  resp_t r;
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "hello");
  resp_free(&r);
  cl_close(c);
  /* answering from inside on_abort must not double-free */
  c = cl_connect(port);
  cl_puts(c, "GET /hold2 HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(wait_counter(&n_requests, 7, 2000));
  cl_close(c);
  CHECK(wait_counter(&n_aborts, 2, 2000));
}

/* Random bytes (and random mutations of a valid request) never crash the
 * server: each connection gets some answer or a close. */
static void t_fuzz(int port) {
  unsigned seed = 12345;
  static const char valid[] = "POST /echo?a=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                              "Content-Type: text/plain\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  for (int round = 0; round < 60; round++) {
    client_t *c = cl_connect(port);
    char msg[256];
    size_t n;
    if (round % 2) {
      n = 1 + (size_t)(rand_r(&seed) % sizeof(msg));
      for (size_t i = 0; i < n; i++) msg[i] = (char)rand_r(&seed);
    } else {
      n = sizeof(valid) - 1;
      memcpy(msg, valid, n);
      for (int k = 0; k < 3; k++) msg[rand_r(&seed) % n] = (char)rand_r(&seed);
    }
    cl_send(c, msg, n);
    /* answered (200/400/413/..., 505 for a mutated version) or closed (408 after 300 ms at most) */
    resp_t r;
    if (cl_read_response(c, &r, 0) == 0) CHECK((r.status >= 200 && r.status < 500) || r.status == 505);
    resp_free(&r);
    cl_close(c);
  }
}

static void t_ipv6(int port) {
  client_t *c = cl_connect(port);
  cl_puts(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  resp_t r;
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "hello");
  resp_free(&r);
  cl_close(c);
}

/* the server closes while a request is pending and a WebSocket is open */
static client_t *held[3];
static void t_server_close(int port) {
  held[0] = cl_connect(port);
  cl_puts(held[0], "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  held[1] = ws_connect(port, "/ws");
  held[2] = cl_connect(port);
  cl_puts(held[2], "GET /holdbye HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(wait_counter(&n_requests, 3, 2000));
}

static void t_websocket(int port) {
  client_t *c = ws_connect(port, "/ws");
  char pl[70000];
  size_t n;
  ws_send_frame(c, 1, YOLK_WS_OP_TEXT, 1, "hello", 5);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_TEXT);
  CHECK(n == 5 && memcmp(pl, "hello", 5) == 0);
  /* fragmented, with a ping in between: pong first, then the joined message */
  ws_send_frame(c, 0, YOLK_WS_OP_TEXT, 1, "hel", 3);
  ws_send_frame(c, 1, YOLK_WS_OP_PING, 1, "pp", 2);
  ws_send_frame(c, 1, YOLK_WS_OP_CONT, 1, "lo!", 3);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_PONG);
  CHECK(n == 2 && memcmp(pl, "pp", 2) == 0);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_TEXT);
  CHECK(n == 6 && memcmp(pl, "hello!", 6) == 0);
  /* binary with a 64-bit length */
  char *bin = malloc(66000);
  for (int i = 0; i < 66000; i++) bin[i] = (char)i;
  ws_send_frame(c, 1, YOLK_WS_OP_BINARY, 1, bin, 66000);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_BINARY);
  CHECK(n == 66000 && memcmp(pl, bin, 66000) == 0);
  free(bin);
  /* one shared frame queued twice */
  ws_send_frame(c, 1, YOLK_WS_OP_TEXT, 1, "broadcast", 9);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_TEXT);
  CHECK(n == 6 && memcmp(pl, "shared", 6) == 0);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_TEXT);
  CHECK(n == 6 && memcmp(pl, "shared", 6) == 0);
  /* a flood the client reads late: queued in order behind the socket buffer */
  ws_send_frame(c, 1, YOLK_WS_OP_TEXT, 1, "flood", 5);
  tc_msleep(100);
  int frames = 0, good = 1;
  for (;;) {
    int op = ws_read_frame(c, pl, sizeof(pl), &n);
    if (op == YOLK_WS_OP_BINARY) {
      frames++;
      good = good && n == 65536 && pl[0] == 'f' && pl[65535] == 'f';
      continue;
    }
    CHECK_EQ_INT(op, YOLK_WS_OP_TEXT);
    CHECK(n == 3 && memcmp(pl, "end", 3) == 0);
    break;
  }
  CHECK_EQ_INT(frames, 100);
  CHECK(good);
  /* client-initiated close: echoed, then the server closes TCP */
  ws_send_frame(c, 1, YOLK_WS_OP_CLOSE, 1, "\x03\xe8", 2);
  ws_expect_close(c, 1000);
  cl_close(c);
  CHECK(wait_counter(&n_ws_close, 1, 2000));
  CHECK_EQ_INT(last_ws_close_code, 1000);

  /* a frame sent together with the upgrade request is not lost */
  c = cl_connect(port);
  char req[512];
  snprintf(req, sizeof(req), ws_upgrade_fmt, "/ws");
  send(c->fd, req, strlen(req), MSG_MORE | MSG_NOSIGNAL); /* one segment with the frame */
  ws_send_frame(c, 1, YOLK_WS_OP_TEXT, 1, "early", 5);
  resp_t r;
  CHECK_EQ_INT(cl_read_response(c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 101);
  resp_free(&r);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_TEXT);
  CHECK(n == 5 && memcmp(pl, "early", 5) == 0);
  /* server-initiated close (handler calls yolk__ws_close), client answers */
  ws_send_frame(c, 1, YOLK_WS_OP_TEXT, 1, "close", 5);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_CLOSE);
  CHECK(n == 7 && memcmp(pl, "\x0f\xa0" "asked", 7) == 0);
  ws_send_frame(c, 1, YOLK_WS_OP_CLOSE, 1, "\x0f\xa0", 2);
  CHECK(cl_wait_closed(c));
  cl_close(c);
  CHECK(wait_counter(&n_ws_close, 2, 2000));
  CHECK_EQ_INT(last_ws_close_code, 4000);

  /* server-initiated close, client never answers: dropped after the grace period */
  c = ws_connect(port, "/wsclose");
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_CLOSE);
  CHECK(n >= 2 && (((unsigned char)pl[0] << 8) | (unsigned char)pl[1]) == 1001);
  CHECK(cl_wait_closed(c));
  cl_close(c);
  CHECK(wait_counter(&n_ws_close, 3, 2000));
  CHECK_EQ_INT(last_ws_close_code, 1001);

  /* the client's close frame arrives with the upgrade request while the
   * server closes at once: the handshake completes without the grace timer */
  c = cl_connect(port);
  snprintf(req, sizeof(req), ws_upgrade_fmt, "/wsclose");
  send(c->fd, req, strlen(req), MSG_MORE | MSG_NOSIGNAL); /* one segment with the frame */
  ws_send_frame(c, 1, YOLK_WS_OP_CLOSE, 1, "\x03\xe8", 2);
  struct timeval t0, t1;
  gettimeofday(&t0, NULL);
  CHECK_EQ_INT(cl_read_response(c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 101);
  resp_free(&r);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_CLOSE);
  CHECK(cl_wait_closed(c));
  gettimeofday(&t1, NULL);
  CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000 < 700);
  cl_close(c);
  CHECK(wait_counter(&n_ws_close, 4, 2000));
  CHECK_EQ_INT(last_ws_close_code, 1001);

  /* peer vanishes: 1006 */
  c = ws_connect(port, "/ws");
  cl_close(c);
  CHECK(wait_counter(&n_ws_close, 5, 2000));
  CHECK_EQ_INT(last_ws_close_code, 1006);

  /* protocol errors: each closes with its code */
  ws_expect_refused(port, "/ws", YOLK_WS_OP_TEXT, 0, "hello", 5, 1002); /* unmasked */
  c = ws_connect(port, "/wssmall");
  ws_send_frame(c, 1, YOLK_WS_OP_TEXT, 1, "0123456789", 10); /* exactly the limit: fine */
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_TEXT);
  ws_send_frame(c, 1, YOLK_WS_OP_TEXT, 1, "0123456789abcdefghij", 20);
  ws_expect_close(c, 1009);
  cl_close(c);
  ws_expect_refused(port, "/ws", YOLK_WS_OP_TEXT, 1, "bad \xC3\x28", 6, 1007);
  ws_expect_refused(port, "/ws", 0x3, 1, "", 0, 1002); /* reserved opcode */
  CHECK(wait_counter(&n_ws_close, 9, 2000));

  /* an upgrade pipelined behind a deferred plain request waits for its turn */
  c = cl_connect(port);
  cl_puts(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  snprintf(req, sizeof(req), ws_upgrade_fmt, "/ws");
  cl_puts(c, req);
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_STR(r.body, "slow");
  resp_free(&r);
  CHECK_EQ_INT(cl_read_response(c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 101);
  resp_free(&r);
  ws_send_frame(c, 1, YOLK_WS_OP_BINARY, 1, "after", 5);
  CHECK_EQ_INT(ws_read_frame(c, pl, sizeof(pl), &n), YOLK_WS_OP_BINARY);
  CHECK(n == 5 && memcmp(pl, "after", 5) == 0);
  ws_send_frame(c, 1, YOLK_WS_OP_CLOSE, 1, "", 0);
  ws_expect_close_empty(c);
  cl_close(c);
  CHECK(wait_counter(&n_ws_close, 10, 2000));
  CHECK_EQ_INT(last_ws_close_code, 1005);

  /* a bad handshake gets 400 and a close */
  expect_status(port, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n", 400, 1);
  c = cl_connect(port);
  cl_puts(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
  CHECK_EQ_INT(cl_read_response(c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_STR(resp_header(&r, "Sec-WebSocket-Version"), "13");
  resp_free(&r);
  cl_close(c);
  CHECK_EQ_INT(n_ws_open, 10);
}

/* ---- runner ------------------------------------------------------------------------------- */

typedef struct {
  void (*fn)(int port);
  int port;
} thread_arg_t;

static void *client_thread(void *arg) {
  thread_arg_t *ta = arg;
  ta->fn(ta->port);
  uv_async_send(&done_async);
  return NULL;
}

static void run_on(const char *host, const char *name, void (*fn)(int port), const yolk_http_config_t *cfg_in) {
  fprintf(stderr, "--- %s\n", name);
  n_requests = n_aborts = n_ws_open = n_ws_close = last_ws_close_code = n_ws_messages = 0;
  server_closed = 0;
  uv_loop_t loop;
  uv_loop_init(&loop);
  yolk_http_config_t cfg;
  if (cfg_in) cfg = *cfg_in;
  else yolk__http_config_init(&cfg);
  cfg.on_request = on_request;
  CHECK_EQ_INT(yolk__http_server_init(&loop, &server, &cfg), 0);
  CHECK_EQ_INT(yolk__http_server_listen(server, host, 0), 0);
  int port = yolk__http_server_port(server);
  CHECK(port > 0);
  uv_async_init(&loop, &done_async, on_done);
  thread_arg_t ta = {fn, port};
  pthread_t th;
  pthread_create(&th, NULL, client_thread, &ta);
  uv_run(&loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK(server_closed);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void run(const char *name, void (*fn)(int port), const yolk_http_config_t *cfg_in) {
  run_on("127.0.0.1", name, fn, cfg_in);
}

static void on_server_close_test_done(void) {
  CHECK_EQ_INT(n_aborts, 1);
  CHECK_EQ_INT(n_ws_close, 1);
  CHECK_EQ_INT(last_ws_close_code, 1006);
  resp_t r;
  CHECK_EQ_INT(cl_read_response(held[2], &r, 0), 0);
  CHECK_STR(r.body, "bye");
  resp_free(&r);
  for (int i = 0; i < 3; i++) {
    CHECK(cl_wait_closed(held[i]));
    cl_close(held[i]);
  }
}

static void test_tokens(void) {
  CHECK(yolk__http_has_token("keep-alive, Upgrade", "upgrade"));
  CHECK(!yolk__http_has_token("keep-alive, Upgrades", "upgrade"));
  CHECK_STR(yolk__http_status_text(431), "Request Header Fields Too Large");
}

/* A connected socket handed to the server instead of accepted (what the fuzzer does with one
 * end of a socketpair): the same connection code, no listener, on one thread. */
static void test_adopt(void) {
  fprintf(stderr, "--- adopted socketpair\n");
  n_requests = 0;
  server_closed = 0;
  uv_loop_t loop;
  uv_loop_init(&loop);
  yolk_http_config_t cfg;
  yolk__http_config_init(&cfg);
  cfg.on_request = on_request;
  CHECK_EQ_INT(yolk__http_server_init(&loop, &server, &cfg), 0);
  CHECK(yolk__http_server_adopt(server, -1) < 0); /* not a socket: an error, nothing leaks */
  int sv[2];
  CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  CHECK_EQ_INT(yolk__http_server_adopt(server, sv[0]), 0);
  static const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?q HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
  CHECK_EQ_INT(write(sv[1], req, sizeof(req) - 1), (long)sizeof(req) - 1);
  char out[2048] = "";
  size_t len = 0;
  for (int i = 0; i < 100 && !strstr(out, "\r\n\r\nhi"); i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    ssize_t r = recv(sv[1], out + len, sizeof(out) - 1 - len, MSG_DONTWAIT);
    if (r > 0) len += (size_t)r;
    out[len] = '\0';
  }
  CHECK_EQ_INT(n_requests, 2);
  CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(out, "\r\n\r\nhello") != NULL);
  CHECK(strstr(out, "X-Query: q\r\n") != NULL);
  shutdown(sv[1], SHUT_WR); /* the server sees EOF and closes its end */
  for (int i = 0; i < 100; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (recv(sv[1], out, sizeof(out), MSG_DONTWAIT) == 0) break;
  }
  CHECK_EQ_INT(recv(sv[1], out, sizeof(out), MSG_DONTWAIT), 0);
  close(sv[1]);
  yolk__http_server_close(server, on_server_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(server_closed);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

int main(void) {
  if (getenv("YOLK_TEST_DEBUG")) yolk_log_set_level(YOLK_LOG_DEBUG);
  test_tokens();
  test_adopt();
  run("simple GET", t_simple_get, NULL);
  run("keep-alive", t_keepalive, NULL);
  run("pipelining", t_pipelined, NULL);
  run("bodies", t_bodies, NULL);
  yolk_http_config_t lim;
  yolk__http_config_init(&lim);
  lim.max_body_size = 100;
  lim.max_header_size = 1024;
  lim.header_timeout_ms = 300;
  lim.keepalive_timeout_ms = 300;
  run("limits", t_limits, &lim);
  run("abort", t_abort, NULL);
  run("fuzz", t_fuzz, &lim);
  run("websocket", t_websocket, NULL);
  run("server close", t_server_close, NULL);
  on_server_close_test_done();
  /* IPv6 loopback, when the machine has it */
  int fd6 = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 sa6;
  memset(&sa6, 0, sizeof(sa6));
  sa6.sin6_family = AF_INET6;
  sa6.sin6_addr = in6addr_loopback;
  int have6 = fd6 >= 0 && bind(fd6, (struct sockaddr *)&sa6, sizeof(sa6)) == 0;
  if (fd6 >= 0) close(fd6);
  if (have6) {
    use_ipv6 = 1;
    run_on("::1", "ipv6", t_ipv6, NULL);
    use_ipv6 = 0;
  } else {
    fprintf(stderr, "--- ipv6: skipped (no ::1)\n");
  }
  /* a bad host string is an error, not a crash */
  {
    uv_loop_t loop;
    uv_loop_init(&loop);
    yolk_http_config_t cfg;
    yolk__http_config_init(&cfg);
    cfg.on_request = on_request;
    yolk_http_server_t *s2;
    CHECK_EQ_INT(yolk__http_server_init(&loop, &s2, &cfg), 0);
    CHECK(yolk__http_server_listen(s2, "not-an-ip", 0) < 0);
    CHECK_EQ_INT(yolk__http_server_listen(s2, "localhost", 0), 0);
    CHECK(yolk__http_server_port(s2) > 0);
    /* writes to a vanished peer must not kill the process */
    struct sigaction sa;
    CHECK(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN);
    server_closed = 0;
    yolk__http_server_close(s2, on_server_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(server_closed);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
  }
  TEST_MAIN_END();
}
