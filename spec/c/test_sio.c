/* test_sio.c - the Socket.IO server in process, under the sanitizers: a yolk
 * server with Socket.IO attached runs on a libuv loop on the main thread; a
 * helper thread plays raw WebSocket clients with blocking sockets. Covers the
 * lifetimes the end-to-end tests cannot see: on_connect/on_disconnecting/
 * on_close exactly once each and when, disconnect and refuse deferred out of
 * the callback that asked, server->client ack callbacks called exactly once
 * (answer, timeout, disconnect), emits before admission delivered after the
 * CONNECT ack, a WARN line for invalid input, and server shutdown. Every
 * scenario ends with uv_loop_close() == 0 (no handle leaked). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "test_client.h"
#include "test_loop.h"
#include "yolk.h"

/* ---- the event log (written on the loop thread, read by the client thread) -------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char events[16384];

static void ev(const char *fmt, const char *a, const char *b) {
  char line[512];
  snprintf(line, sizeof(line), fmt, a ? a : "", b ? b : "");
  pthread_mutex_lock(&log_mu);
  if (strlen(events) + strlen(line) + 2 < sizeof(events)) {
    strcat(events, line);
    strcat(events, "\n");
  }
  pthread_mutex_unlock(&log_mu);
}

static int count_events(const char *needle) {
  pthread_mutex_lock(&log_mu);
  int n = 0;
  for (const char *p = events; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  pthread_mutex_unlock(&log_mu);
  return n;
}

/* Waits until needle was logged at least n times; 1 on success. */
static int wait_event(const char *needle, int n, int ms) {
  for (int t = 0; t < ms; t += 5) {
    if (count_events(needle) >= n) return 1;
    tc_msleep(5);
  }
  fprintf(stderr, "  no '%s' (x%d) in:\n%s\n", needle, n, events);
  return 0;
}

static char warn_lines[8192];
static void log_sink(int level, const char *line, size_t len, void *ud) {
  (void)ud;
  if (level < YOLK_LOG_WARN) return;
  pthread_mutex_lock(&log_mu);
  if (strlen(warn_lines) + len + 1 < sizeof(warn_lines)) strncat(warn_lines, line, len);
  pthread_mutex_unlock(&log_mu);
}

static int warned(const char *needle) {
  pthread_mutex_lock(&log_mu);
  int r = strstr(warn_lines, needle) != NULL;
  pthread_mutex_unlock(&log_mu);
  return r;
}

/* ---- server side (loop thread) -------------------------------------------------------- */

static yolk_server_t *srv;
static yolk_sio_server_t *sio;
static uv_loop_t *loop;
static int n_connects, n_closes;

typedef struct {
  char id[64];
  int closed;      /* on_close seen */
  int disconnects; /* on_disconnecting calls */
} rec_t;

static yolk_sio_args_t text(const char *json) {
  yolk_sio_args_t a = {json, strlen(json), NULL, 0};
  return a;
}

static void emit0(yolk_sio_socket_t *s, const char *json, yolk_sio_ack_cb cb, void *ud, unsigned timeout) {
  yolk_sio_args_t a = text(json);
  yolk_sio_socket_emit(s, &a, 0, cb, ud, timeout);
}

static void ack_cb(void *ud, const char *err, const yolk_sio_args_t *args) {
  char a[256] = "";
  if (args) snprintf(a, sizeof(a), "%.*s", (int)args->len, args->json);
  ev("ack %s:%s", (const char *)ud, err ? err : a);
}

typedef struct {
  uv_timer_t t;
  yolk_sio_socket_t *s; /* valid: the socket's on_close cancels the timer */
} admit_timer_t;

static void admit_closed(uv_handle_t *h) { free(h->data); }

static void admit_fire(uv_timer_t *t) {
  admit_timer_t *at = t->data;
  yolk_sio_socket_t *s = at->s;
  rec_t *r = yolk_sio_socket_get_data(s);
  yolk_sio_socket_admit(s);
  emit0(s, "[\"after\"]", NULL, NULL, 0);
  ev("admitted %s%s", r->id, "");
  uv_close((uv_handle_t *)&at->t, admit_closed);
  yolk_sio_socket_set_data(s, r);
}

static void on_connect(yolk_sio_socket_t *s, void *ud) {
  (void)ud;
  n_connects++;
  rec_t *r = calloc(1, sizeof(*r));
  snprintf(r->id, sizeof(r->id), "%s", yolk_sio_socket_id(s));
  yolk_sio_socket_set_data(s, r);
  const char *nsp = yolk_sio_nsp_name(yolk_sio_socket_nsp(s));
  ev("connect %s%s", nsp, "");
  CHECK(!yolk_sio_socket_connected(s));
  if (strcmp(nsp, "/refuse") == 0) {
    yolk_sio_socket_refuse(s, "no", "{\"why\":1}", 9);
    CHECK(!r->closed); /* on_close comes after this callback */
    ev("refuse-returned %s%s", r->closed ? "closed" : "open", "");
  } else if (strcmp(nsp, "/slow") == 0) {
    emit0(s, "[\"early\"]", NULL, NULL, 0); /* buffered until the CONNECT ack */
    admit_timer_t *at = calloc(1, sizeof(*at));
    at->s = s;
    uv_timer_init(loop, &at->t);
    at->t.data = at;
    uv_timer_start(&at->t, admit_fire, 30, 0);
  } else {
    yolk_sio_socket_admit(s);
    CHECK(yolk_sio_socket_connected(s));
    yolk_sio_socket_join(s, "all");
  }
}

/* The event name of ["name", ...] (the tests send plain names). */
static void event_name(const yolk_sio_args_t *args, char *out, size_t outlen) {
  const char *q = memchr(args->json, '"', args->len);
  const char *e = q ? memchr(q + 1, '"', args->len - (size_t)(q + 1 - args->json)) : NULL;
  snprintf(out, outlen, "%.*s", q && e ? (int)(e - q - 1) : 0, q ? q + 1 : "");
}

static void on_event(yolk_sio_socket_t *s, const yolk_sio_args_t *args, int64_t ack_id, void *ud) {
  (void)ud;
  rec_t *r = yolk_sio_socket_get_data(s);
  char name[64];
  event_name(args, name, sizeof(name));
  ev("event %s%s", name, "");
  if (strcmp(name, "echo") == 0 && ack_id >= 0) {
    /* the same arguments without the name: [ + what follows "echo", */
    const char *rest = strchr(args->json, ',');
    char out[256];
    snprintf(out, sizeof(out), "[%.*s", (int)(args->len - (size_t)(rest + 1 - args->json)), rest + 1);
    yolk_sio_args_t a = {out, strlen(out), args->bins, args->nbins};
    yolk_sio_socket_ack(s, ack_id, &a);
  } else if (strcmp(name, "ask") == 0) {
    emit0(s, "[\"q\"]", ack_cb, "answered", 2000);
  } else if (strcmp(name, "ask-timeout") == 0) {
    emit0(s, "[\"q2\"]", ack_cb, "timed", 50);
  } else if (strcmp(name, "ask-pending") == 0) {
    emit0(s, "[\"q3\"]", ack_cb, "pending", 0);
  } else if (strcmp(name, "bye") == 0) {
    yolk_sio_socket_disconnect(s, 0);
    yolk_sio_socket_disconnect(s, 0); /* twice: still one disconnect */
    CHECK(!r->closed && !yolk_sio_socket_connected(s));
    ev("bye-returned %s%s", r->closed ? "closed" : "open", "");
    emit0(s, "[\"last words\"]", NULL, NULL, 0); /* still delivered before the DISCONNECT */
  } else if (strcmp(name, "bcast") == 0) {
    yolk_sio_args_t out = text("[\"news\",\"\xe4\xbd\xa0\xe5\xa5\xbd\"]");
    const char *room = "all";
    yolk_sio_target_t to = {&room, 1, NULL, 0, 0};
    CHECK_EQ_INT(yolk_sio_broadcast(yolk_sio_socket_nsp(s), &to, &out), 0);
    yolk_sio_args_t reserved = text("[\"disconnect\"]");
    CHECK_EQ_INT(yolk_sio_broadcast(yolk_sio_socket_nsp(s), &to, &reserved), -1);
  } else if (strcmp(name, "shutdown") == 0) {
    yolk_sio_close(sio);
  }
}

static void on_disconnecting(yolk_sio_socket_t *s, const char *reason, void *ud) {
  (void)ud;
  rec_t *r = yolk_sio_socket_get_data(s);
  r->disconnects++;
  CHECK(!r->closed);
  ev("disconnecting %s%s", reason, "");
}

static void on_close(yolk_sio_socket_t *s, const char *reason, void *ud) {
  (void)ud;
  rec_t *r = yolk_sio_socket_get_data(s);
  CHECK(!r->closed);
  r->closed = 1;
  n_closes++;
  yolk_sio_args_t late = text("[\"late\"]");
  CHECK(yolk_sio_socket_emit(s, &late, 0, NULL, NULL, 0) == -1);
  CHECK(yolk_sio_socket_admitted(s) == (strcmp(reason, "refused") != 0));
  ev("close %s%s", reason, "");
  free(r); /* a second on_close would be a use after free: ASan says so */
}

static const yolk_sio_nsp_handler_t handler = {on_connect, on_event, on_disconnecting, on_close, NULL};

/* ---- client side (helper thread) ------------------------------------------------------ */

static int port;

/* Opens a v4 WebSocket session (its open packet is read by the caller). */
static int ws_open(void) { return tc_ws_open(port, "/socket.io/?EIO=4&transport=websocket"); }

static void ws_send(int fd, const char *text) { tc_ws_send(fd, 0x1, text, strlen(text)); }

/* The next data frame's text (Engine.IO type included), skipping pings; NULL
 * on close/EOF. */
static const char *ws_next(int fd) {
  static char out[4096];
  for (;;) {
    int op = tc_ws_recv(fd, out, sizeof(out), NULL);
    if (op == -1 || op == 8) return NULL;
    if (op == 1 && strcmp(out, "2") == 0) continue; /* Engine.IO ping */
    if (op == 1 || op == 2) return out;
  }
}

static int expect(int fd, const char *want) {
  const char *got = ws_next(fd);
  if (got && strcmp(got, want) == 0) return 1;
  fprintf(stderr, "  expected '%s', got '%s'\n", want, got ? got : "(closed)");
  return 0;
}

static int expect_prefix(int fd, const char *want) {
  const char *got = ws_next(fd);
  if (got && strncmp(got, want, strlen(want)) == 0) return 1;
  fprintf(stderr, "  expected '%s...', got '%s'\n", want, got ? got : "(closed)");
  return 0;
}

static int wait_closed(int fd) {
  while (ws_next(fd)) {
  }
  return 1;
}

/* ---- scenarios ---------------------------------------------------------------------------- */

static void scenario_admission_and_acks(void) {
  int fd = ws_open();
  CHECK(expect_prefix(fd, "0{\"sid\":"));
  ws_send(fd, "40/slow,");
  /* the CONNECT ack comes first, then what was emitted before admission */
  CHECK(expect_prefix(fd, "40/slow,{\"sid\":\""));
  CHECK(expect(fd, "42/slow,[\"early\"]"));
  CHECK(expect(fd, "42/slow,[\"after\"]"));
  CHECK(wait_event("admitted", 1, 1000));
  ws_send(fd, "42/slow,5[\"echo\",1,\"\xf0\x9f\x98\x80\"]");
  CHECK(expect(fd, "43/slow,5[1,\"\xf0\x9f\x98\x80\"]"));
  /* server -> client: answered */
  ws_send(fd, "42/slow,[\"ask\"]");
  CHECK(expect(fd, "42/slow,0[\"q\"]"));
  ws_send(fd, "43/slow,0[\"answer\",2]");
  CHECK(wait_event("ack answered:[\"answer\",2]", 1, 1000));
  ws_send(fd, "43/slow,0[\"again\"]"); /* a second answer is ignored */
  /* timeout */
  ws_send(fd, "42/slow,[\"ask-timeout\"]");
  CHECK(expect(fd, "42/slow,1[\"q2\"]"));
  CHECK(wait_event("ack timed:timeout", 1, 1000));
  ws_send(fd, "43/slow,1[\"late\"]"); /* after the timeout: ignored */
  /* pending when the client goes away */
  ws_send(fd, "42/slow,[\"ask-pending\"]");
  CHECK(expect(fd, "42/slow,2[\"q3\"]"));
  close(fd);
  CHECK(wait_event("close transport close", 1, 2000));
  CHECK(wait_event("ack pending:socket disconnected", 1, 100));
  tc_msleep(100);
  CHECK_EQ_INT(count_events("ack answered"), 1);
  CHECK_EQ_INT(count_events("ack timed"), 1);
  CHECK_EQ_INT(count_events("ack pending"), 1);
  CHECK_EQ_INT(count_events("disconnecting transport close"), 1);
}

static void scenario_disconnect_and_refuse(void) {
  int fd = ws_open();
  CHECK(expect_prefix(fd, "0{\"sid\":"));
  ws_send(fd, "40/refuse,");
  CHECK(expect(fd, "44/refuse,{\"message\":\"no\",\"data\":{\"why\":1}}"));
  CHECK(wait_event("close refused", 1, 1000));
  CHECK_EQ_INT(count_events("refuse-returned open"), 1);
  CHECK_EQ_INT(count_events("disconnecting"), 0); /* never admitted */
  ws_send(fd, "40");
  CHECK(expect_prefix(fd, "40{\"sid\":"));
  ws_send(fd, "42[\"bye\"]");
  CHECK(expect(fd, "42[\"last words\"]"));
  CHECK(expect(fd, "41"));
  CHECK(wait_event("close server namespace disconnect", 1, 1000));
  CHECK_EQ_INT(count_events("bye-returned open"), 1);
  CHECK_EQ_INT(count_events("disconnecting server namespace disconnect"), 1);
  /* the session stays open after leaving "/" */
  ws_send(fd, "40");
  CHECK(expect_prefix(fd, "40{\"sid\":"));
  /* invalid input: WARN line naming it, connection closed */
  ws_send(fd, "42{}");
  CHECK(wait_closed(fd));
  CHECK(wait_event("close parse error", 1, 1000));
  CHECK(warned("EVENT payload is not an array"));
  close(fd);
}

static void scenario_broadcast_and_shutdown(void) {
  int fds[3];
  for (int i = 0; i < 3; i++) {
    fds[i] = ws_open();
    CHECK(expect_prefix(fds[i], "0{\"sid\":"));
    ws_send(fds[i], "40");
    CHECK(expect_prefix(fds[i], "40{\"sid\":"));
  }
  ws_send(fds[1], "42[\"bcast\"]");
  for (int i = 0; i < 3; i++) CHECK(expect(fds[i], "42[\"news\",\"\xe4\xbd\xa0\xe5\xa5\xbd\"]"));
  ws_send(fds[0], "42[\"shutdown\"]");
  for (int i = 0; i < 3; i++) {
    CHECK(wait_closed(fds[i]));
    close(fds[i]);
  }
  CHECK(wait_event("close server shutting down", 3, 2000));
}

static void run(const char *name, void (*fn)(void)) {
  fprintf(stderr, "--- %s\n", name);
  events[0] = warn_lines[0] = '\0';
  n_connects = n_closes = 0;
  uv_loop_t l;
  loop = &l;
  uv_loop_init(loop);
  CHECK_EQ_INT(yolk_server_new(loop, NULL, &srv), 0);
  yolk_sio_options_t o;
  yolk_sio_options_init(&o);
  o.eio.ping_interval_ms = 10000;
  o.eio.ping_timeout_ms = 10000;
  o.connect_timeout_ms = 5000;
  sio = yolk_sio_attach(srv, &o);
  const char *nsps[] = {"/", "/slow", "/refuse"};
  for (size_t i = 0; i < 3; i++) yolk_sio_nsp_set_handler(yolk_sio_of(sio, nsps[i]), &handler, NULL);
  CHECK_EQ_INT(yolk_server_listen(srv, "127.0.0.1", 0), 0);
  port = yolk_server_port(srv);
  tl_run(loop, srv, fn);
  CHECK_EQ_INT(n_closes, n_connects); /* exactly one on_close per on_connect */
}

int main(void) {
  yolk_log_set_sink(log_sink, NULL);
  run("admission order and server->client acks (answer, timeout, disconnect)", scenario_admission_and_acks);
  run("deferred disconnect and refuse; invalid input", scenario_disconnect_and_refuse);
  run("broadcast and shutdown", scenario_broadcast_and_shutdown);
  TEST_MAIN_END();
}
