/* example_common.h - what the example programs share: reading numeric and
 * --log-level arguments, and stopping cleanly on SIGINT/SIGTERM.
 *
 * Header-only because CMake builds each .c file in core/examples as a
 * program of its own from that one file. Only public libyolk API (yolk.h) is
 * used here, as in the examples themselves. */
#ifndef YOLK_EXAMPLE_COMMON_H
#define YOLK_EXAMPLE_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolk.h"

/* The value of a flag that needs a non-negative number; otherwise a message
 * naming prog and flag, then usage() (which exits). */
static inline long example_num_arg(const char *prog, const char *flag, const char *v, void (*usage)(void)) {
  char *end;
  long n = v ? strtol(v, &end, 10) : -1;
  if (!v || *end || n < 0) {
    fprintf(stderr, "%s: %s needs a non-negative number\n", prog, flag);
    usage();
  }
  return n;
}

/* YOLK_LOG_* for "debug", "info", "warn" or "error"; -1 for anything else. */
static inline int example_log_level(const char *name) {
  return strcmp(name, "debug") == 0   ? YOLK_LOG_DEBUG
         : strcmp(name, "info") == 0  ? YOLK_LOG_INFO
         : strcmp(name, "warn") == 0  ? YOLK_LOG_WARN
         : strcmp(name, "error") == 0 ? YOLK_LOG_ERROR
                                      : -1;
}

/* ---- stopping on SIGINT/SIGTERM --------------------------------------------------- */

static uv_signal_t example_sigint, example_sigterm;
static void (*example_stop)(void);

/* A yolk_server_close callback: once the server is closed, the signal handles
 * go too, so uv_run returns. */
static inline void example_signals_close(void *arg) {
  (void)arg;
  uv_close((uv_handle_t *)&example_sigint, NULL);
  uv_close((uv_handle_t *)&example_sigterm, NULL);
}

static inline void example_on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  /* the first signal starts the shutdown; the handles stay until it is done */
  uv_signal_stop(&example_sigint);
  uv_signal_stop(&example_sigterm);
  example_stop();
}

/* Ignores SIGPIPE (a write to a vanished peer then fails with EPIPE instead of
 * killing the process) and calls stop on the first SIGINT or SIGTERM; stop
 * closes the server with example_signals_close as its callback. */
static inline void example_handle_signals(uv_loop_t *loop, void (*stop)(void)) {
  signal(SIGPIPE, SIG_IGN);
  example_stop = stop;
  uv_signal_init(loop, &example_sigint);
  uv_signal_init(loop, &example_sigterm);
  uv_signal_start(&example_sigint, example_on_signal, SIGINT);
  uv_signal_start(&example_sigterm, example_on_signal, SIGTERM);
}

#endif
