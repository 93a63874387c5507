/* test_http_handover.c - the HTTP layer's cluster entry points (http.h), in
 * one process: server A (the "master", TCP) releases a connection after a
 * request (yolk__http_release) and sends its socket over an IPC pipe with
 * uv_write2; server B (the "worker") adopts it with the bytes A read
 * (yolk__http_server_adopt_ipc) and serves the rest of the connection. B also
 * listens on a Unix socket it did not bind itself (yolk__http_server_listen_fd,
 * trusted: x-yolk-peer is the client's address, idle connections stay).
 * A helper thread plays the clients with blocking sockets; the run ends with
 * uv_loop_close() == 0 (no handle leaked). */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "test.h"
#include "test_client.h"

static yolk_http_server_t *srv_a, *srv_b;
static uv_pipe_t ipc_send, ipc_recv;
static uv_async_t done_async;
static int closed_servers, released_fds, release_failures;
static char sock_path[108];
static int port_a;

/* ---- B: answers with what it knows of the request --------------------------------- */

static void on_request_b(yolk_http_req_t *req, void *ud) {
  (void)ud;
  const char *peer = yolk__http_req_header(req, YOLK_HTTP_PEER_HEADER);
  char body[256];
  int n = snprintf(body, sizeof(body), "B %s %s %s", req->path, req->remote_addr, peer ? peer : "-");
  yolk__http_respond(req, 200, NULL, body, (size_t)n);
}

/* ---- the pipe between A and B ---------------------------------------------------------- */

typedef struct {
  uv_tcp_t tcp;
  uv_write_t wr;
  yolk_sb_t bytes;
} handover_t;

static void handover_closed(uv_handle_t *h) {
  handover_t *ho = h->data;
  yolk__sb_free(&ho->bytes);
  free(ho);
}

static void handover_written(uv_write_t *wr, int status) {
  handover_t *ho = wr->data;
  CHECK_EQ_INT(status, 0);
  uv_close((uv_handle_t *)&ho->tcp, handover_closed); /* B has its own descriptor */
}

/* A's release callback: the socket and the bytes read past the request. The
 * request itself is written anew (as a cluster master does). */
static void released(void *owner, int fd, const char *rest, size_t len) {
  (void)owner;
  if (fd < 0) {
    release_failures++;
    return;
  }
  released_fds++;
  handover_t *ho = calloc(1, sizeof(*ho));
  yolk__sb_init(&ho->bytes);
  char head[64];
  int hl = snprintf(head, sizeof(head), "GET /adopted HTTP/1.1\r\nHost: b\r\n\r\n");
  uint32_t total = (uint32_t)(hl + (int)len);
  yolk__sb_append(&ho->bytes, &total, 4); /* a length first: B reads until it has it all */
  yolk__sb_append(&ho->bytes, head, (size_t)hl);
  yolk__sb_append(&ho->bytes, rest, len);
  uv_tcp_init(ipc_send.loop, &ho->tcp);
  ho->tcp.data = ho;
  CHECK_EQ_INT(uv_tcp_open(&ho->tcp, fd), 0);
  uv_buf_t b = uv_buf_init(ho->bytes.data, (unsigned)ho->bytes.len);
  ho->wr.data = ho;
  CHECK_EQ_INT(uv_write2(&ho->wr, (uv_stream_t *)&ipc_send, &b, 1, (uv_stream_t *)&ho->tcp, handover_written), 0);
}

static yolk_sb_t ipc_in;
static char ipc_buf[4096];

static void ipc_alloc(uv_handle_t *h, size_t s, uv_buf_t *buf) {
  (void)h;
  (void)s;
  *buf = uv_buf_init(ipc_buf, sizeof(ipc_buf));
}

static void ipc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)s;
  if (n <= 0) return;
  yolk__sb_append(&ipc_in, buf->base, (size_t)n);
  while (ipc_in.len >= 4) {
    uint32_t total;
    memcpy(&total, ipc_in.data, 4);
    if (ipc_in.len < 4 + total) return;
    CHECK(uv_pipe_pending_count(&ipc_recv) > 0);
    CHECK_EQ_INT(yolk__http_server_adopt_ipc(srv_b, &ipc_recv, ipc_in.data + 4, total), 0);
    memmove(ipc_in.data, ipc_in.data + 4 + total, ipc_in.len - 4 - total);
    ipc_in.len -= 4 + total;
  }
}

/* ---- A: "/give" is handed to B, anything else answered here ------------------------------- */

static void on_request_a(yolk_http_req_t *req, void *ud) {
  (void)ud;
  if (strcmp(req->path, "/give") == 0) {
    CHECK_EQ_INT(yolk__http_release(req, released, NULL), 0);
    return;
  }
  yolk__http_respond(req, 200, NULL, "A", 1);
}

/* ---- clients ---------------------------------------------------------------------------- */

/* Reads one response with a Content-Length body into body; returns the status. */
static int read_response(int fd, char *body, size_t cap) {
  char head[2048];
  size_t hl = 0;
  while (hl < sizeof(head) - 1) {
    if (recv(fd, head + hl, 1, 0) != 1) return -1;
    hl++;
    if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0) break;
  }
  head[hl] = '\0';
  const char *cl = strstr(head, "Content-Length: ");
  size_t n = cl ? (size_t)atoi(cl + 16) : 0;
  if (n >= cap) return -1;
  if (tc_recv_exact(fd, (unsigned char *)body, n) != 0) return -1;
  body[n] = '\0';
  return atoi(head + 9);
}

static int unix_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) perror("connect unix");
  return fd;
}

static void *client_thread(void *arg) {
  (void)arg;
  char body[512];
  /* 1. A answers /first, releases on /give; /next was read with /give and
   * reaches B with it: the answers arrive in order, A's first */
  int fd = tc_connect(port_a);
  const char *three = "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
                      "GET /give HTTP/1.1\r\nHost: a\r\n\r\n"
                      "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  tc_send(fd, three, strlen(three));
  CHECK_EQ_INT(read_response(fd, body, sizeof(body)), 200);
  CHECK_STR(body, "A");
  CHECK_EQ_INT(read_response(fd, body, sizeof(body)), 200);
  CHECK_STR(body, "B /adopted 127.0.0.1 -");
  CHECK_EQ_INT(read_response(fd, body, sizeof(body)), 200);
  CHECK_STR(body, "B /next 127.0.0.1 -");
  /* 2. the connection is B's now; on an adopted (untrusted) connection the
   * peer header is an ordinary header */
  const char *more = "GET /more HTTP/1.1\r\nHost: a\r\nx-yolk-peer: 6.6.6.6\r\n\r\n";
  tc_send(fd, more, strlen(more));
  CHECK_EQ_INT(read_response(fd, body, sizeof(body)), 200);
  CHECK_STR(body, "B /more 127.0.0.1 6.6.6.6");
  close(fd);

  /* 3. B's trusted Unix socket: the header is the client's address, and
   * is gone from the request; idle connections are not timed out */
  int u = unix_connect(sock_path);
  const char *t1 = "GET /t1 HTTP/1.1\r\nHost: b\r\nx-yolk-peer: 10.1.2.3\r\n\r\n";
  tc_send(u, t1, strlen(t1));
  CHECK_EQ_INT(read_response(u, body, sizeof(body)), 200);
  CHECK_STR(body, "B /t1 10.1.2.3 -");
  tc_msleep(500); /* B's keepalive_timeout_ms is 200 */
  const char *t2 = "GET /t2 HTTP/1.1\r\nHost: b\r\n\r\n";
  tc_send(u, t2, strlen(t2));
  CHECK_EQ_INT(read_response(u, body, sizeof(body)), 200);
  CHECK_STR(body, "B /t2 ? -"); /* no header: not the previous request's address */
  close(u);

  /* 4. a released connection whose client is gone before the handover
   * ends with fd -1 (or is handed over and then closed): no leak either way */
  fd = tc_connect(port_a);
  const char *give = "GET /give HTTP/1.1\r\nHost: a\r\n\r\n";
  tc_send(fd, give, strlen(give));
  close(fd);
  tc_msleep(100);
  uv_async_send(&done_async);
  return NULL;
}

/* ---- runner ---------------------------------------------------------------------------------- */

static void server_closed(void *arg) {
  (void)arg;
  closed_servers++;
}

static void on_done(uv_async_t *a) {
  uv_close((uv_handle_t *)a, NULL);
  uv_close((uv_handle_t *)&ipc_send, NULL);
  uv_close((uv_handle_t *)&ipc_recv, NULL);
  yolk__http_server_close(srv_a, server_closed, NULL);
  yolk__http_server_close(srv_b, server_closed, NULL);
}

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  yolk_http_config_t cfg;
  yolk__http_config_init(&cfg);
  cfg.on_request = on_request_a;
  CHECK_EQ_INT(yolk__http_server_init(&loop, &srv_a, &cfg), 0);
  CHECK_EQ_INT(yolk__http_server_listen(srv_a, "127.0.0.1", 0), 0);
  port_a = yolk__http_server_port(srv_a);
  cfg.on_request = on_request_b;
  cfg.keepalive_timeout_ms = 200;
  CHECK_EQ_INT(yolk__http_server_init(&loop, &srv_b, &cfg), 0);

  /* B's socket, bound here as a cluster master does it */
  char dir[] = "/tmp/yolk-test-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  snprintf(sock_path, sizeof(sock_path), "%s/b.sock", dir);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
  CHECK_EQ_INT(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  CHECK_EQ_INT(yolk__http_server_listen_fd(srv_b, lfd, YOLK_HTTP_LISTEN_TRUSTED), 0);
  CHECK_EQ_INT(yolk__http_server_port(srv_b), -1); /* not TCP */
  /* a second listener is refused (and the descriptor closed) */
  int extra = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_EQ_INT(yolk__http_server_listen_fd(srv_b, extra, 0), UV_EALREADY);
  CHECK(fcntl(extra, F_GETFD) < 0);

  int sv[2];
  CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  uv_pipe_init(&loop, &ipc_send, 1);
  uv_pipe_init(&loop, &ipc_recv, 1);
  CHECK_EQ_INT(uv_pipe_open(&ipc_send, sv[0]), 0);
  CHECK_EQ_INT(uv_pipe_open(&ipc_recv, sv[1]), 0);
  yolk__sb_init(&ipc_in);
  uv_read_start((uv_stream_t *)&ipc_recv, ipc_alloc, ipc_read);
  uv_async_init(&loop, &done_async, on_done);

  pthread_t th;
  pthread_create(&th, NULL, client_thread, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK_EQ_INT(closed_servers, 2);
  CHECK_EQ_INT(released_fds + release_failures, 2);
  CHECK(released_fds >= 1);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  yolk__sb_free(&ipc_in);
  unlink(sock_path);
  rmdir(dir);
  TEST_MAIN_END();
}
