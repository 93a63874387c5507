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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"
#include "yolk.h"

static yolk_server_t *server;
static const char *forbid_param;

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
  char v[8];
  return yolk_query_get(yolk_http_req_query(req), forbid_param, v, sizeof(v)) >= 0 ? YOLK_EIO_ERR_FORBIDDEN : -1;
}

/* On SIGINT/SIGTERM (example_handle_signals): close every session and the server. */
static void stop(void) { yolk_server_close(server, example_signals_close, NULL); }

static void usage(void) {
  fprintf(stderr,
          "usage: eio-echo [--host H] [--port N] [--ping-interval MS] [--ping-timeout MS]\n"
          "                [--max-payload BYTES] [--cors-origin ORIGIN] [--cors-credentials]\n"
          "                [--forbid-param NAME] [--log-level debug|info|warn|error]\n");
  exit(2);
}

static long num_arg(const char *flag, const char *v) { return example_num_arg("eio-echo", flag, v, usage); }

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
      int level = example_log_level(v);
      if (level < 0) usage();
      yolk_log_set_level(level);
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

  example_handle_signals(loop, stop);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
