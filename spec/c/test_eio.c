/* test_eio.c - the Engine.IO server in process: a yolk server with Engine.IO
 * attached runs on a libuv loop on the main thread; a helper thread plays the
 * client with blocking sockets (raw HTTP polling and a minimal WebSocket
 * client). Covers what eio-echo cannot show from outside: server-initiated
 * close (flush then close packet), volatile sends, one shared WebSocket frame
 * per message for every recipient, on_close exactly once with its reason,
 * server shutdown, the upgrade timeout and packets buffered across an upgrade.
 * Every scenario ends with uv_loop_close() == 0 (no handle leaked). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eio.h"
#include "test.h"
#include "test_client.h"
#include "test_loop.h"

/* ---- server side (loop thread) ---------------------------------------------------------- */

#define MAXS 16
typedef struct {
  yolk_eio_socket_t *s;
  int closes;
} conn_t;

static yolk_server_t *srv;
static yolk_eio_server_t *eio;
static conn_t *live[MAXS];
static int n_closes, n_drains, n_connections;
static char close_reasons[256];
static int frame_shared_ok; /* broadcast: every recipient saw the same frame buffer */
static int frame3_ok;

static void live_remove(conn_t *c) {
  for (int i = 0; i < MAXS; i++)
    if (live[i] == c) live[i] = NULL;
}

static void broadcast(int binary) {
  static const char bin[] = {1, 2, 3};
  yolk_eio_msg_t *m = binary ? yolk_eio_msg_new(1, bin, 3) : yolk_eio_msg_new(0, "B", 1);
  yolk_buf_t *f4 = NULL, *f3 = NULL;
  frame_shared_ok = 1;
  for (int i = 0; i < MAXS; i++) {
    if (!live[i]) continue;
    yolk_eio_send_msg(live[i]->s, m, 0);
    if (yolk_eio_socket_protocol(live[i]->s) == 4 && strcmp(yolk_eio_socket_transport(live[i]->s), "websocket") == 0) {
      if (!f4) f4 = m->frame4;
      if (!f4 || m->frame4 != f4) frame_shared_ok = 0;
    }
    if (yolk_eio_socket_protocol(live[i]->s) == 3) {
      if (!f3) f3 = m->frame3;
      if (!f3 || m->frame3 != f3) frame_shared_ok = 0;
    }
  }
  /* text frames are the same for both revisions; binary ones differ (0x04) */
  frame3_ok = binary ? (f3 && f3 != f4 && f3->data[2] == 4) : (f3 == NULL || f3 == f4);
  yolk_eio_msg_unref(m);
}

static void on_message(yolk_eio_socket_t *s, int binary, const char *data, size_t len, void *ud) {
  (void)binary;
  char cmd[64];
  if (len >= sizeof(cmd)) len = sizeof(cmd) - 1;
  memcpy(cmd, data, len);
  cmd[len] = '\0';
  (void)ud;
  if (strncmp(cmd, "echo:", 5) == 0) {
    yolk_eio_send(s, 0, cmd + 5, strlen(cmd + 5));
  } else if (strcmp(cmd, "close") == 0) {
    yolk_eio_send(s, 0, "bye", 3);
    yolk_eio_socket_close(s);
    /* after close nothing more is accepted */
    CHECK(yolk_eio_send(s, 0, "late", 4) == -1);
  } else if (strcmp(cmd, "vol") == 0) {
    yolk_eio_msg_t *m = yolk_eio_msg_new(0, "v", 1);
    yolk_eio_send_msg(s, m, YOLK_EIO_SEND_VOLATILE);
    yolk_eio_msg_unref(m);
    yolk_eio_send(s, 0, "n", 1);
  } else if (strcmp(cmd, "bcast") == 0) {
    broadcast(0);
  } else if (strcmp(cmd, "bbin") == 0) {
    broadcast(1);
  } else if (strcmp(cmd, "shutdown") == 0) {
    yolk_server_close(srv, tl_on_server_closed, NULL);
  } else if (strcmp(cmd, "count") == 0) {
    char out[32];
    snprintf(out, sizeof(out), "%zu", yolk_eio_clients_count(eio));
    yolk_eio_send(s, 0, out, strlen(out));
  } else if (strcmp(cmd, "hs") == 0) {
    const yolk_eio_handshake_t *hs = yolk_eio_socket_handshake(s);
    const char *v = "(none)";
    for (size_t i = 0; i < hs->nheaders; i++)
      if (strcmp(hs->headers[i], "x-test") == 0) v = yolk_eio_header_value(hs->headers[i]);
    yolk_eio_send(s, 0, v, strlen(v));
  }
}

static void on_sock_close(yolk_eio_socket_t *s, const char *reason, void *ud) {
  conn_t *c = ud;
  (void)s;
  c->closes++;
  n_closes++;
  if (strlen(close_reasons) + strlen(reason) + 2 < sizeof(close_reasons)) {
    strcat(close_reasons, reason);
    strcat(close_reasons, ";");
  }
  live_remove(c);
  free(c); /* a second on_close would be a use after free: ASan would say so */
}

static void on_drain(yolk_eio_socket_t *s, void *ud) {
  (void)s;
  (void)ud;
  n_drains++;
}

static const yolk_eio_socket_handler_t handler = {on_message, on_sock_close, on_drain};

static void on_connection(yolk_eio_socket_t *s, void *ud) {
  (void)ud;
  conn_t *c = calloc(1, sizeof(*c));
  c->s = s;
  for (int i = 0; i < MAXS; i++)
    if (!live[i]) {
      live[i] = c;
      break;
    }
  n_connections++;
  yolk_eio_socket_set_handler(s, &handler, c);
}

/* ---- client side (helper thread) --------------------------------------------------------- */

static int port;

/* Sends one HTTP request on a new connection; returns the fd. */
static int http_send(const char *method, const char *query, const char *extra, const char *body, size_t blen) {
  int fd = tc_connect(port);
  char head[1024];
  int n = snprintf(head, sizeof(head),
                   "%s /engine.io/?%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   method, query, extra ? extra : "", blen);
  tc_send(fd, head, (size_t)n);
  if (blen) tc_send(fd, body, blen);
  return fd;
}

/* Reads the whole response (Connection: close); the body into body (NUL-terminated). */
static int http_read(int fd, char *body, size_t cap, size_t *blen) {
  static char buf[1 << 16];
  size_t len = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
    if (r <= 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  int status = 0;
  if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) return -1;
  char *sep = strstr(buf, "\r\n\r\n");
  size_t off = sep ? (size_t)(sep + 4 - buf) : len;
  size_t n = len - off < cap - 1 ? len - off : cap - 1;
  memcpy(body, buf + off, n);
  body[n] = '\0';
  if (blen) *blen = n;
  return status;
}

static int http(const char *method, const char *query, const char *body, char *out, size_t cap) {
  int fd = http_send(method, query, NULL, body, body ? strlen(body) : 0);
  return http_read(fd, out, cap, NULL);
}

static void handshake_v4(char sid[32]) {
  char body[512];
  CHECK_EQ_INT(http("GET", "EIO=4&transport=polling", NULL, body, sizeof(body)), 200);
  char *p = strstr(body, "\"sid\":\"");
  sid[0] = '\0';
  if (p) {
    memcpy(sid, p + 7, 20);
    sid[20] = '\0';
  }
  CHECK(strlen(sid) == 20);
}

static void q(char *out, size_t cap, const char *sid, int protocol) {
  snprintf(out, cap, "EIO=%d&transport=polling&sid=%s", protocol, sid);
}

/* A WebSocket on the Engine.IO path (query: EIO=..&transport=websocket..). */
static int ws_open(const char *query) {
  char target[512];
  snprintf(target, sizeof(target), "/engine.io/?%s", query);
  return tc_ws_open(port, target);
}

/* Reads frames until a data frame; its text in out. */
static int ws_recv_data(int fd, char *out, size_t cap, size_t *len) {
  for (;;) {
    int op = tc_ws_recv(fd, out, cap, len);
    if (op != YOLK_WS_OP_PING && op != YOLK_WS_OP_PONG) return op;
  }
}

/* 1 when the server closes: a close frame or EOF, skipping data. */
static int ws_wait_close(int fd) {
  char buf[256];
  for (;;) {
    int op = tc_ws_recv(fd, buf, sizeof(buf), NULL);
    if (op == -1 || op == YOLK_WS_OP_CLOSE) return 1;
  }
}

/* ---- scenarios (helper thread) ------------------------------------------------------------- */

static void scenario_polling_close(void) {
  char sid[32], qs[128], body[512];
  handshake_v4(sid);
  q(qs, sizeof(qs), sid, 4);
  CHECK_EQ_INT(http("POST", qs, "4close", body, sizeof(body)), 200);
  CHECK_STR(body, "ok");
  /* what was queued first, alone; then the close packet on the next GET
   * (clients act on a close at once, before the packets sharing its payload) */
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 200);
  CHECK_STR(body, "4bye");
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 200);
  CHECK_STR(body, "1");
  tc_msleep(50);
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 400);
  CHECK_STR(body, "{\"code\":1,\"message\":\"Session ID unknown\"}");
}

static void scenario_polling_volatile(void) {
  char sid[32], qs[128], body[512];
  handshake_v4(sid);
  q(qs, sizeof(qs), sid, 4);
  /* no GET waiting: the volatile message is dropped, the normal one kept */
  CHECK_EQ_INT(http("POST", qs, "4vol", body, sizeof(body)), 200);
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 200);
  CHECK_STR(body, "4n");
  /* a GET waiting: the volatile message goes out at once */
  int g = http_send("GET", qs, NULL, NULL, 0);
  tc_msleep(50);
  CHECK_EQ_INT(http("POST", qs, "4vol", body, sizeof(body)), 200);
  CHECK_EQ_INT(http_read(g, body, sizeof(body), NULL), 200);
  CHECK_STR(body, "4v");
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 200);
  CHECK_STR(body, "4n");
}

static void scenario_ws_broadcast(void) {
  char buf[256];
  size_t len;
  int a = ws_open("EIO=4&transport=websocket");
  int b = ws_open("EIO=4&transport=websocket");
  int c = ws_open("EIO=3&transport=websocket");
  int all[3] = {a, b, c};
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(ws_recv_data(all[i], buf, sizeof(buf), &len), YOLK_WS_OP_TEXT);
    CHECK(buf[0] == '0' && strstr(buf, "\"upgrades\":[]"));
  }
  tc_ws_send(a, YOLK_WS_OP_TEXT, "4bcast", 6);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(ws_recv_data(all[i], buf, sizeof(buf), &len), YOLK_WS_OP_TEXT);
    CHECK_STR(buf, "4B");
  }
  tc_ws_send(a, YOLK_WS_OP_TEXT, "4bbin", 5);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(ws_recv_data(all[i], buf, sizeof(buf), &len), YOLK_WS_OP_BINARY);
    if (i < 2) CHECK(len == 3 && memcmp(buf, "\x01\x02\x03", 3) == 0);
    else CHECK(len == 4 && memcmp(buf, "\x04\x01\x02\x03", 4) == 0);
  }
  /* server-initiated close: queued message first, then the close frame */
  tc_ws_send(b, YOLK_WS_OP_TEXT, "4close", 6);
  CHECK_EQ_INT(ws_recv_data(b, buf, sizeof(buf), &len), YOLK_WS_OP_TEXT);
  CHECK_STR(buf, "4bye");
  CHECK_EQ_INT(ws_recv_data(b, buf, sizeof(buf), &len), YOLK_WS_OP_CLOSE);
  tc_ws_send(c, YOLK_WS_OP_TEXT, "4count", 6);
  CHECK_EQ_INT(ws_recv_data(c, buf, sizeof(buf), &len), YOLK_WS_OP_TEXT);
  CHECK_STR(buf, "42"); /* a and c */
  for (int i = 0; i < 3; i++) close(all[i]);
}

static void scenario_shutdown(void) {
  char sid[32], qs[128], buf[256];
  size_t len;
  handshake_v4(sid);
  q(qs, sizeof(qs), sid, 4);
  int g = http_send("GET", qs, NULL, NULL, 0);
  int w = ws_open("EIO=4&transport=websocket");
  CHECK_EQ_INT(ws_recv_data(w, buf, sizeof(buf), &len), YOLK_WS_OP_TEXT);
  tc_msleep(30);
  tc_ws_send(w, YOLK_WS_OP_TEXT, "4shutdown", 9);
  CHECK_EQ_INT(http_read(g, buf, sizeof(buf), NULL), 200);
  CHECK_STR(buf, "1");
  CHECK(ws_wait_close(w));
  close(w);
}

static void scenario_upgrade(void) {
  char sid[32], qs[128], wq[128], body[512], buf[256];
  size_t len;
  /* handshake headers are kept for the application */
  int fd = http_send("GET", "EIO=4&transport=polling", "X-Test: hello\r\n", NULL, 0);
  CHECK_EQ_INT(http_read(fd, body, sizeof(body), NULL), 200);
  char *p = strstr(body, "\"sid\":\"");
  CHECK(p != NULL);
  if (!p) return;
  memcpy(sid, p + 7, 20);
  sid[20] = '\0';
  q(qs, sizeof(qs), sid, 4);
  CHECK_EQ_INT(http("POST", qs, "4hs", body, sizeof(body)), 200);
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 200);
  CHECK_STR(body, "4hello");

  snprintf(wq, sizeof(wq), "EIO=4&transport=websocket&sid=%s", sid);
  int w = ws_open(wq);
  tc_ws_send(w, YOLK_WS_OP_TEXT, "2probe", 6);
  CHECK_EQ_INT(ws_recv_data(w, buf, sizeof(buf), &len), YOLK_WS_OP_TEXT);
  CHECK_STR(buf, "3probe");
  /* upgrading: a GET is ended with a noop at once */
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 200);
  CHECK_STR(body, "6");
  /* replies to these wait for a transport: they must come over the WebSocket, in order */
  CHECK_EQ_INT(http("POST", qs, "4echo:a\x1e" "4echo:b", body, sizeof(body)), 200);
  tc_ws_send(w, YOLK_WS_OP_TEXT, "5", 1);
  tc_ws_send(w, YOLK_WS_OP_TEXT, "4echo:c", 7);
  const char *want[] = {"4a", "4b", "4c"};
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(ws_recv_data(w, buf, sizeof(buf), &len), YOLK_WS_OP_TEXT);
    CHECK_STR(buf, want[i]);
  }
  /* polling is over for this session */
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 400);
  CHECK_STR(body, "{\"code\":3,\"message\":\"Bad request\"}");
  close(w); /* the transport closes: "transport close" */
  tc_msleep(50);
}

static void scenario_upgrade_timeout(void) {
  char sid[32], qs[128], wq[128], body[512];
  handshake_v4(sid);
  q(qs, sizeof(qs), sid, 4);
  snprintf(wq, sizeof(wq), "EIO=4&transport=websocket&sid=%s", sid);
  int w = ws_open(wq);
  /* no probe: the upgrade timeout (300 ms here) closes the WebSocket */
  CHECK(ws_wait_close(w));
  close(w);
  /* the session goes on over polling */
  CHECK_EQ_INT(http("POST", qs, "4echo:still", body, sizeof(body)), 200);
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 200);
  CHECK_STR(body, "4still");
}

/* Sessions of a server with a sid prefix (the sticky cluster's routing key). */
static void scenario_sid_prefix(void) {
  char sid[32], qs[128], body[512];
  for (int i = 0; i < 3; i++) {
    handshake_v4(sid);
    CHECK(sid[0] == 'Q' && sid[1] == 'z');
    q(qs, sizeof(qs), sid, 4);
    CHECK_EQ_INT(http("POST", qs, "4echo:p", body, sizeof(body)), 200);
    CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 200);
    CHECK_STR(body, "4p");
  }
}

/* The query's Engine.IO parameters: the first value of a repeated name
 * counts, names and values are percent-decoded, an overlong sid is unknown. */
static void scenario_query(void) {
  char body[512], qs[256], sid[32];
  CHECK_EQ_INT(http("GET", "transport=polling&EIO=4&transport=websocket", NULL, body, sizeof(body)), 200);
  CHECK(strncmp(body, "0{\"sid\":", 7) == 0);
  /* transport=websocket first: a handshake without an Upgrade header */
  CHECK_EQ_INT(http("GET", "EIO=4&transport=websocket&transport=polling", NULL, body, sizeof(body)), 400);
  CHECK_STR(body, "{\"code\":3,\"message\":\"Bad request\"}");
  /* EIO=3 first: a v3 session (its payload has length prefixes) */
  CHECK_EQ_INT(http("GET", "EIO=3&EIO=4&transport=polling", NULL, body, sizeof(body)), 200);
  CHECK(strstr(body, ":0{\"sid\":") != NULL);
  CHECK_EQ_INT(http("GET", "%45IO=4&transport=poll%69ng", NULL, body, sizeof(body)), 200);
  CHECK(strncmp(body, "0{\"sid\":", 7) == 0);
  handshake_v4(sid);
  snprintf(qs, sizeof(qs), "EIO=4&transport=polling&sid=%s&sid=nope", sid);
  CHECK_EQ_INT(http("POST", qs, "4hi", body, sizeof(body)), 200);
  CHECK_STR(body, "ok");
  snprintf(qs, sizeof(qs), "EIO=4&transport=polling&sid=%s%s%s%s", sid, sid, sid, sid);
  CHECK_EQ_INT(http("GET", qs, NULL, body, sizeof(body)), 400);
  CHECK_STR(body, "{\"code\":1,\"message\":\"Session ID unknown\"}");
}

/* ---- runner ---------------------------------------------------------------------------------- */

static const char *run_sid_prefix; /* yolk_eio_options_t.sid_prefix of the next run */

static void run(const char *name, void (*fn)(void)) {
  fprintf(stderr, "--- %s\n", name);
  n_closes = n_drains = n_connections = 0;
  close_reasons[0] = '\0';
  memset(live, 0, sizeof(live));
  uv_loop_t loop;
  uv_loop_init(&loop);
  yolk_server_options_t so;
  yolk_server_options_init(&so);
  CHECK_EQ_INT(yolk_server_new(&loop, &so, &srv), 0);
  yolk_eio_options_t eo;
  yolk_eio_options_init(&eo);
  eo.allow_eio3 = 1;
  eo.ping_interval_ms = 10000;
  eo.ping_timeout_ms = 10000;
  eo.upgrade_timeout_ms = 300;
  eo.on_connection = on_connection;
  eo.sid_prefix = run_sid_prefix;
  eio = yolk_eio_attach(srv, &eo);
  CHECK_EQ_INT(yolk_server_listen(srv, "127.0.0.1", 0), 0);
  port = yolk_server_port(srv);
  CHECK(port > 0);
  tl_run(&loop, srv, fn);
  /* every session got exactly one on_close (the handler frees its record) */
  CHECK_EQ_INT(n_closes, n_connections);
}

int main(void) {
  run("polling: server close flushes then sends close", scenario_polling_close);
  CHECK_STR(close_reasons, "forced close;");
  CHECK(n_drains > 0);

  run("polling: volatile sends", scenario_polling_volatile);

  run("websocket: one shared frame per message, server close", scenario_ws_broadcast);
  CHECK(frame_shared_ok);
  CHECK(frame3_ok);
  CHECK(strncmp(close_reasons, "forced close;", 13) == 0);
  CHECK_EQ_INT(n_connections, 3);

  run("server shutdown closes every session", scenario_shutdown);
  CHECK_STR(close_reasons, "server shutting down;server shutting down;");

  run("upgrade: buffered packets follow over the WebSocket", scenario_upgrade);
  CHECK_STR(close_reasons, "transport close;");

  run("upgrade timeout closes the probe, polling goes on", scenario_upgrade_timeout);

  run("query: first values, decoded; an overlong sid is unknown", scenario_query);

  run_sid_prefix = "Qz";
  run("sid_prefix: every session id starts with it", scenario_sid_prefix);
  run_sid_prefix = NULL;
  TEST_MAIN_END();
}
