/* floor.c - `bench-floor`: the benchmark's events answered in C, below the
 * Lua application, to show what each layer of yolk costs (bench/README.md,
 * "Below the Lua layer").
 *
 *   bench-floor PORT MODE LEVEL
 *
 * MODE is "" or "mw" as for the other servers (bench/run.mjs); LEVEL says how
 * much of yolk answers:
 *   sio  libyolk's Socket.IO layer with C handlers (yolk.h): `echo` emits the
 *        same arguments back, `echo-ack` acks them, `left` acks the count of
 *        departures; in "mw" mode a connecting socket joins `members` and
 *        gets `welcome` with its id, as from bench/app's middleware.
 *   eio  libyolk's Engine.IO layer alone, with a handler that answers the few
 *        Socket.IO packets the benchmark's clients send by looking at their
 *        first bytes (no Socket.IO parsing, no JSON): CONNECT to '/', the
 *        three events above, DISCONNECT. It serves only bench/client.mjs.
 * Both use only the public API, like the programs in core/examples. Phases:
 * echo8, echo1, ack, churn and polling (run.mjs skips the others for these
 * servers).
 * Prints "bench-floor listening on 127.0.0.1:PORT"; SIGINT/SIGTERM stop it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"
#include "yolk.h"

static yolk_server_t *server;
static int mw;            /* "mw" mode: welcome on connect, departures counted */
static unsigned long left; /* departures of connected sockets ("mw" mode's count) */

/* The text after `"<event>",` in an event's JSON (its first argument on), or
 * NULL when the event is not that one. */
static const char *after_event(const char *json, size_t len, const char *event, size_t *rest) {
  size_t n = strlen(event);
  if (len < n + 4 || json[0] != '[' || json[1] != '"' || memcmp(json + 2, event, n) != 0 || json[2 + n] != '"')
    return NULL;
  size_t at = 3 + n;
  if (json[at] == ',') at++;
  *rest = len - at;
  return json + at;
}

/* ---- sio: Socket.IO with C handlers ------------------------------------------------------- */

static void sio_connect(yolk_sio_socket_t *s, void *ud) {
  (void)ud;
  yolk_sio_socket_admit(s);
  if (!mw) return;
  yolk_sio_socket_join(s, "members");
  char json[64];
  int n = snprintf(json, sizeof(json), "[\"welcome\",\"%s\"]", yolk_sio_socket_id(s));
  yolk_sio_args_t a = {json, (size_t)n, NULL, 0};
  yolk_sio_socket_emit(s, &a, 0, NULL, NULL, 0);
}

static void sio_event(yolk_sio_socket_t *s, const yolk_sio_args_t *args, int64_t ack_id, void *ud) {
  (void)ud;
  size_t rest;
  const char *p;
  if (ack_id < 0 && after_event(args->json, args->len, "echo", &rest)) {
    yolk_sio_socket_emit(s, args, 0, NULL, NULL, 0);
  } else if (ack_id >= 0 && (p = after_event(args->json, args->len, "echo-ack", &rest)) != NULL) {
    char small[256];
    char *json = rest + 1 <= sizeof(small) ? small : malloc(rest + 1);
    if (!json) abort();
    json[0] = '[';
    memcpy(json + 1, p, rest);
    yolk_sio_args_t a = {json, rest + 1, args->bins, args->nbins};
    yolk_sio_socket_ack(s, ack_id, &a);
    if (json != small) free(json);
  } else if (ack_id >= 0 && after_event(args->json, args->len, "left", &rest)) {
    char json[32];
    int n = snprintf(json, sizeof(json), "[%lu]", left);
    yolk_sio_args_t a = {json, (size_t)n, NULL, 0};
    yolk_sio_socket_ack(s, ack_id, &a);
  }
}

static void sio_close(yolk_sio_socket_t *s, const char *reason, void *ud) {
  (void)reason;
  (void)ud;
  if (mw && yolk_sio_socket_admitted(s)) left++;
}

static const yolk_sio_nsp_handler_t sio_handler = {sio_connect, sio_event, NULL, sio_close, NULL};

/* ---- eio: Engine.IO with the benchmark's packets answered by their bytes ------------------ */

typedef struct {
  int connected; /* got CONNECT to '/' */
} eio_conn_t;

static void eio_send_text(yolk_eio_socket_t *s, const char *text, size_t len) { yolk_eio_send(s, 0, text, len); }

static void eio_message(yolk_eio_socket_t *s, int binary, const char *data, size_t len, void *ud) {
  eio_conn_t *c = ud;
  /* data is an Engine.IO message: one Socket.IO packet, its type first */
  if (binary || len < 1) return;
  const char *sid = yolk_eio_socket_id(s);
  char out[256];
  if (data[0] == '0' && (len == 1 || data[1] == '{')) { /* CONNECT to '/' */
    c->connected = 1;
    eio_send_text(s, out, (size_t)snprintf(out, sizeof(out), "0{\"sid\":\"%s\"}", sid));
    if (mw) eio_send_text(s, out, (size_t)snprintf(out, sizeof(out), "2[\"welcome\",\"%s\"]", sid));
    return;
  }
  if (data[0] == '1') { /* DISCONNECT */
    if (c->connected && mw) left++;
    c->connected = 0;
    return;
  }
  if (data[0] != '2') return;
  /* EVENT: 2[id]["name",...] */
  size_t i = 1;
  while (i < len && data[i] >= '0' && data[i] <= '9') i++;
  const char *id = data + 1;
  size_t id_len = i - 1, rest;
  const char *p;
  if (id_len == 0 && after_event(data + i, len - i, "echo", &rest)) {
    eio_send_text(s, data, len);
  } else if (id_len && (p = after_event(data + i, len - i, "echo-ack", &rest)) != NULL) {
    char small[256];
    size_t n = 1 + id_len + 1 + rest;
    char *ack = n <= sizeof(small) ? small : malloc(n);
    if (!ack) abort();
    ack[0] = '3';
    memcpy(ack + 1, id, id_len);
    ack[1 + id_len] = '[';
    memcpy(ack + 2 + id_len, p, rest);
    eio_send_text(s, ack, n);
    if (ack != small) free(ack);
  } else if (id_len && after_event(data + i, len - i, "left", &rest)) {
    int n = snprintf(out, sizeof(out), "3%.*s[%lu]", (int)id_len, id, left);
    eio_send_text(s, out, (size_t)n);
  }
}

static void eio_close(yolk_eio_socket_t *s, const char *reason, void *ud) {
  (void)s;
  (void)reason;
  eio_conn_t *c = ud;
  if (c->connected && mw) left++;
  free(c);
}

static const yolk_eio_socket_handler_t eio_handler = {eio_message, eio_close, NULL};

static void eio_connection(yolk_eio_socket_t *s, void *ud) {
  (void)ud;
  eio_conn_t *c = calloc(1, sizeof(*c));
  if (!c) abort();
  yolk_eio_socket_set_handler(s, &eio_handler, c);
}

/* ---- main ------------------------------------------------------------------------------------ */

static void stop(void) { yolk_server_close(server, example_signals_close, NULL); }

static void usage(void) {
  fprintf(stderr, "usage: bench-floor PORT MODE LEVEL   (MODE: \"\" or mw; LEVEL: sio or eio)\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc != 4) usage();
  int port = (int)example_num_arg("bench-floor", "PORT", argv[1], usage);
  mw = strcmp(argv[2], "mw") == 0;
  int sio = strcmp(argv[3], "sio") == 0;
  if (!sio && strcmp(argv[3], "eio") != 0) usage();
  yolk_log_set_level(YOLK_LOG_WARN);

  uv_loop_t *loop = uv_default_loop();
  yolk_server_options_t sopts;
  yolk_server_options_init(&sopts);
  if (yolk_server_new(loop, &sopts, &server) != 0) return 1;
  /* as bench/app: heartbeats every 60 s, out of the measurements */
  if (sio) {
    yolk_sio_options_t o;
    yolk_sio_options_init(&o);
    o.eio.ping_interval_ms = 60000;
    o.eio.ping_timeout_ms = 60000;
    yolk_sio_server_t *s = yolk_sio_attach(server, &o);
    yolk_sio_nsp_set_handler(yolk_sio_of(s, "/"), &sio_handler, NULL);
  } else {
    yolk_eio_options_t o;
    yolk_eio_options_init(&o);
    o.path = "/socket.io/";
    o.ping_interval_ms = 60000;
    o.ping_timeout_ms = 60000;
    o.on_connection = eio_connection;
    yolk_eio_attach(server, &o);
  }
  int r = yolk_server_listen(server, "127.0.0.1", port);
  if (r != 0) {
    fprintf(stderr, "bench-floor: cannot listen on 127.0.0.1:%d: %s\n", port, uv_strerror(r));
    return 1;
  }
  printf("bench-floor listening on 127.0.0.1:%d\n", yolk_server_port(server));
  fflush(stdout);
  example_handle_signals(loop, stop);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
