/* yolk.c - the yolk command: runs a yolk application (dev/start) or a Lua
 * script (lua) on the Lua runtime of libyolk (core/lua/lua_runtime.h).
 *
 *   yolk dev   [--baseDir DIR] [--port N] [--env ENV]
 *   yolk start [--baseDir DIR] [--port N] [--env ENV] [--workers N|auto [--sticky]]
 *   yolk lua FILE [args...]
 *   yolk --version | --help
 *
 * The command line is strict: an unknown option or a stray argument prints
 * the usage and exits with status 2. dev/start hand the options to the Lua
 * framework's yolk.boot.main, which runs the application, or with --workers
 * the cluster master (yolk.cluster). `--cluster-worker K` is internal: the
 * master starts its workers with it (core/cluster.h). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lua/lua_runtime.h"
#include "../cluster.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: yolk dev   [--baseDir DIR] [--port N] [--env ENV]\n"
          "       yolk start [--baseDir DIR] [--port N] [--env ENV] [--workers N|auto [--sticky]]\n"
          "       yolk lua FILE [args...]\n"
          "       yolk --version | --help\n"
          "\n"
          "  dev        run the application in baseDir (default: the current directory), env 'local'\n"
          "  start      run it for production, env 'prod' unless --env says otherwise\n"
          "  lua        run a Lua script with yolk.core available, then the event loop\n"
          "\n"
          "  --workers  a master process and N workers on one port (auto: one per core, at most %d);\n"
          "             more than one needs config.io.redis\n"
          "  --sticky   the master routes every request of an Engine.IO session to the worker that\n"
          "             owns it (needed for polling clients); without it workers share the socket\n"
          "\n"
          "The framework's Lua files are found in $YOLK_LUA_DIR, else %s.\n",
          YOLK_CLUSTER_MAX_WORKERS, yolk__lua_framework_dir());
}

/* A usage error: the message, the usage, status 2. */
static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "yolk: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n");
  usage(stderr);
  return 2;
}

/* Matches "--name value" and "--name=value"; advances *i past what it used. */
static int take_option(int argc, char **argv, int *i, const char *name, const char **value) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) exit(usage_error("%s needs a value", name));
  *value = argv[++*i];
  return 1;
}

/* A number in [lo, hi], or -1. */
static long parse_count(const char *s, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < lo || v > hi) return -1;
  return v;
}

static int run_app(const char *command, int argc, char **argv) {
  yolk_lua_boot_t boot = {command, NULL, -1, NULL, 0, 0, 0};
  const char *base = NULL, *port = NULL, *workers = NULL, *worker = NULL;
  int is_start = strcmp(command, "start") == 0;
  for (int i = 0; i < argc; i++) {
    const char *v;
    const char *a = argv[i];
    if (take_option(argc, argv, &i, "--baseDir", &v) || take_option(argc, argv, &i, "--base-dir", &v))
      base = v;
    else if (take_option(argc, argv, &i, "--port", &v) || take_option(argc, argv, &i, "-p", &v))
      port = v;
    else if (take_option(argc, argv, &i, "--env", &v))
      boot.env = v;
    else if (is_start && take_option(argc, argv, &i, "--workers", &v))
      workers = v;
    else if (is_start && !strcmp(a, "--sticky"))
      boot.sticky = 1;
    else if (is_start && take_option(argc, argv, &i, "--cluster-worker", &v))
      worker = v;
    else if (!is_start && (!strncmp(a, "--workers", 9) || !strcmp(a, "--sticky")))
      return usage_error("%s: only yolk start runs several processes", a);
    else if (a[0] == '-' && a[1] != '\0')
      return usage_error("unknown option '%s'", a);
    else
      return usage_error("unexpected argument '%s'", a);
  }
  if (port) {
    long p = parse_count(port, 0, 65535);
    if (p < 0) return usage_error("--port %s: not a port number", port);
    boot.port = (int)p;
  }
  if (workers) {
    long n = !strcmp(workers, "auto") ? (long)uv_available_parallelism() : parse_count(workers, 1, 1000000);
    if (n < 1) return usage_error("--workers %s: not a number of workers (1 or more, or auto)", workers);
    if (n > YOLK_CLUSTER_MAX_WORKERS) {
      if (strcmp(workers, "auto") != 0) {
        fprintf(stderr, "yolk: --workers %s: at most %d workers\n", workers, YOLK_CLUSTER_MAX_WORKERS);
        return 2;
      }
      n = YOLK_CLUSTER_MAX_WORKERS;
    }
    boot.workers = (int)n;
  }
  if (boot.sticky && !workers && !worker) return usage_error("%s needs --workers", "--sticky");
  if (worker) {
    long k = parse_count(worker, 1, YOLK_CLUSTER_MAX_WORKERS);
    if (k < 0 || workers) return usage_error("--cluster-worker %s: internal option of the cluster master", worker);
    boot.worker = (int)k;
  }
  char dir[PATH_MAX];
  if (!realpath(base ? base : ".", dir)) {
    fprintf(stderr, "yolk: --baseDir %s: %s\n", base ? base : ".", strerror(errno));
    return 1;
  }
  boot.base_dir = dir;

  yolk_lua_rt_t *rt = yolk__lua_rt_new();
  int rc = yolk__lua_rt_boot(rt, &boot);
  if (rc == 0) rc = yolk__lua_rt_loop(rt);
  yolk__lua_rt_free(rt);
  return rc;
}

static int run_script(int argc, char **argv) {
  if (argc < 1) {
    fprintf(stderr, "yolk: lua needs a FILE\n");
    return 2;
  }
  yolk_lua_rt_t *rt = yolk__lua_rt_new();
  int rc = yolk__lua_rt_run_file(rt, argv[0], argc - 1, argv + 1);
  if (rc == 0) rc = yolk__lua_rt_loop(rt);
  yolk__lua_rt_free(rt);
  return rc;
}

int main(int argc, char **argv) {
  /* a peer closing its socket must be an EPIPE error on that connection,
   * not the end of the process */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "-v") || !strcmp(cmd, "version")) {
    printf("yolk %s\n", yolk__lua_version());
    return 0;
  }
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "lua")) return run_script(argc - 2, argv + 2);
  if (!strcmp(cmd, "dev") || !strcmp(cmd, "start")) return run_app(cmd, argc - 2, argv + 2);
  fprintf(stderr, "yolk: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
