/* eio_echo.c - `eio-echo`: an Engine.IO server that echoes every message
 * (text as text, binary as binary) at /engine.io/, v4 and v3 clients alike.
 * It is the server the official Engine.IO protocol suites and yolk's
 * end-to-end tests run against.
 *
 *   eio-echo [--host 127.0.0.1] [--port 3000] [--ping-interval ms]
 *            [--ping-timeout ms] [--max-payload bytes] [--cors-origin origin]
 *            [--cors-credentials] [--forbid-param name]
 *            [--log-level debug|info|warn|error]
 *
 * --forbid-param refuses (403, allowRequest) handshakes whose query has that
 * parameter: the end-to-end tests use it to see the hook at work.
 * Prints "eio-echo listening on <host>:<port>" once listening (--port 0 picks
 * a free port). SIGINT/SIGTERM close every session and exit.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolk.h"

static yolk_server_t *server;
static const char *forbid_param;
static uv_signal_t sigint_h, sigterm_h;

static void on_message(yolk_eio_socket_t *s, int binary, const char *data, size_t len, void *ud) {
  (void)ud;
  yolk_eio_send(s, binary, data, len);
}

static void on_close(yolk_eio_socket_t *s, const char *reason, void *ud) {
  (void)s;
  (void)reason;
  (void)ud;
}

static const yolk_eio_socket_handler_t handler = {on_message, on_close, NULL};

static void on_connection(yolk_eio_socket_t *s, void *ud) {
  (void)ud;
  yolk_eio_socket_set_handler(s, &handler, NULL);
}

static int allow_request(const yolk_http_req_t *req, void *ud) {
  (void)ud;
  size_t n = strlen(forbid_param);
  for (const char *q = yolk_http_req_query(req); q && *q;) {
    if (strncmp(q, forbid_param, n) == 0 && (q[n] == '=' || q[n] == '&' || q[n] == '\0'))
      return YOLK_EIO_ERR_FORBIDDEN;
    q = strchr(q, '&');
    if (q) q++;
  }
  return -1;
}

static void closed(void *arg) {
  (void)arg;
  uv_close((uv_handle_t *)&sigint_h, NULL);
  uv_close((uv_handle_t *)&sigterm_h, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  uv_signal_stop(&sigint_h);
  uv_signal_stop(&sigterm_h);
  yolk_server_close(server, closed, NULL);
}

static void usage(void) {
  fprintf(stderr,
          "usage: eio-echo [--host H] [--port N] [--ping-interval MS] [--ping-timeout MS]\n"
          "                [--max-payload BYTES] [--cors-origin ORIGIN] [--cors-credentials]\n"
          "                [--forbid-param NAME] [--log-level debug|info|warn|error]\n");
  exit(2);
}

static long num_arg(const char *flag, const char *v) {
  char *end;
  long n = v ? strtol(v, &end, 10) : -1;
  if (!v || *end || n < 0) {
    fprintf(stderr, "eio-echo: %s needs a non-negative number\n", flag);
    usage();
  }
  return n;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 3000;
  yolk_eio_options_t opts;
  yolk_eio_options_init(&opts);
  opts.path = "/engine.io/";
  opts.allow_eio3 = 1;
  opts.on_connection = on_connection;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--host") == 0 && v) host = v, i++;
    else if (strcmp(a, "--port") == 0) port = (int)num_arg(a, v), i++;
    else if (strcmp(a, "--ping-interval") == 0) opts.ping_interval_ms = (unsigned)num_arg(a, v), i++;
    else if (strcmp(a, "--ping-timeout") == 0) opts.ping_timeout_ms = (unsigned)num_arg(a, v), i++;
    else if (strcmp(a, "--max-payload") == 0) opts.max_http_buffer_size = (size_t)num_arg(a, v), i++;
    else if (strcmp(a, "--cors-origin") == 0 && v) opts.cors_origin = v, i++;
    else if (strcmp(a, "--cors-credentials") == 0) opts.cors_credentials = 1;
    else if (strcmp(a, "--forbid-param") == 0 && v) forbid_param = v, i++;
    else if (strcmp(a, "--log-level") == 0 && v) {
      i++;
      if (strcmp(v, "debug") == 0) yolk_log_set_level(YOLK_LOG_DEBUG);
      else if (strcmp(v, "info") == 0) yolk_log_set_level(YOLK_LOG_INFO);
      else if (strcmp(v, "warn") == 0) yolk_log_set_level(YOLK_LOG_WARN);
      else if (strcmp(v, "error") == 0) yolk_log_set_level(YOLK_LOG_ERROR);
      else usage();
    } else {
      usage();
    }
  }

  if (forbid_param) opts.allow_request = allow_request;
  uv_loop_t *loop = uv_default_loop();
  yolk_server_options_t sopts;
  yolk_server_options_init(&sopts);
  if (yolk_server_new(loop, &sopts, &server) != 0) return 1;
  yolk_eio_attach(server, &opts);
  int r = yolk_server_listen(server, host, port);
  if (r != 0) {
    fprintf(stderr, "eio-echo: cannot listen on %s:%d: %s\n", host, port, uv_strerror(r));
    yolk_server_close(server, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return 1;
  }
  printf("eio-echo listening on %s:%d\n", host, yolk_server_port(server));
  fflush(stdout);

  signal(SIGPIPE, SIG_IGN);
  uv_signal_init(loop, &sigint_h);
  uv_signal_init(loop, &sigterm_h);
  uv_signal_start(&sigint_h, on_signal, SIGINT);
  uv_signal_start(&sigterm_h, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
