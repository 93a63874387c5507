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

/* The commands run on a thread with a STACK_MB stack. LuaJIT checks the
 * depth of its own stack ("stack overflow", a Lua error yolk contains) but not
 * of the C stack: a Lua function that recurses through a C function
 * (string.gsub calling it back) uses ~9 KB of C stack per level and
 * overflows the main thread's usual 8 MB, a segfault, long before LuaJIT's
 * limit (about 6,000 such levels, ~55 MB). With this much room LuaJIT's error
 * comes first. Stack that is never touched costs no memory; a thread (rather
 * than a higher RLIMIT_STACK) leaves the stacks of libuv's pool and of child
 * processes as they were. When the thread cannot be made, the command runs on
 * the main thread. */
#define STACK_MB 128

typedef struct {
  int (*fn)(int argc, char **argv, const char *cmd);
  int argc;
  char **argv;
  const char *cmd;
  int rc;
} command_t;

static void command_thread(void *arg) {
  command_t *c = arg;
  c->rc = c->fn(c->argc, c->argv, c->cmd);
}

static int run_command(int (*fn)(int, char **, const char *), int argc, char **argv, const char *cmd) {
  command_t c = {fn, argc, argv, cmd, 0};
  uv_thread_t t;
  uv_thread_options_t opts = {UV_THREAD_HAS_STACK_SIZE, (size_t)STACK_MB << 20};
  if (uv_thread_create_ex(&t, &opts, command_thread, &c) != 0) return fn(argc, argv, cmd);
  uv_thread_join(&t);
  return c.rc;
}

static int script_command(int argc, char **argv, const char *cmd) {
  (void)cmd;
  return run_script(argc, argv);
}

static int app_command(int argc, char **argv, const char *cmd) { return run_app(cmd, argc, argv); }

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
  if (!strcmp(cmd, "lua")) return run_command(script_command, argc - 2, argv + 2, cmd);
  if (!strcmp(cmd, "dev") || !strcmp(cmd, "start")) return run_command(app_command, argc - 2, argv + 2, cmd);
  fprintf(stderr, "yolk: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
