/* lua_runtime.h - one LuaJIT state on one libuv loop: what the `yolk`
 * executable (core/bin/yolk.c) and the tests use to run Lua code.
 *
 * A runtime owns its loop and its lua_State. yolk.core is in
 * package.preload; package.path starts with the framework's Lua directory
 * (yolk__lua_framework_dir). Typical use:
 *
 *   yolk_lua_rt_t *rt = yolk__lua_rt_new();
 *   int rc = yolk__lua_rt_run_file(rt, "script.lua", argc, argv);  // or _boot
 *   if (rc == 0) rc = yolk__lua_rt_loop(rt);
 *   yolk__lua_rt_free(rt);   // closes what is left, then lua_close
 */
#ifndef YOLK_LUA_RUNTIME_H
#define YOLK_LUA_RUNTIME_H

#include <lua.h>
#include <stdio.h>
#include <uv.h>

typedef struct yolk_lua_rt_s yolk_lua_rt_t;

/* The framework's Lua directory: $YOLK_LUA_DIR, else the source tree's lua/
 * when it exists (running from a build tree), else the install location. */
const char *yolk__lua_framework_dir(void);
const char *yolk__lua_version(void);

/* A new runtime: loop, state, standard libraries, package.path, yolk.core
 * preload, os.exit override, SIGINT/SIGTERM/SIGHUP watchers. Aborts on OOM. */
yolk_lua_rt_t *yolk__lua_rt_new(void);
lua_State *yolk__lua_rt_state(yolk_lua_rt_t *rt);
uv_loop_t *yolk__lua_rt_loop_handle(yolk_lua_rt_t *rt);

/* Runs the script file with the global `arg` = { [0] = file, argv[0..argc) }.
 * Returns 0, or 1 if it failed to load or raised (the traceback is printed to
 * stderr), or the os.exit() code if the script called it (the runtime then
 * counts as stopped: yolk__lua_rt_loop returns that code at once). */
int yolk__lua_rt_run_file(yolk_lua_rt_t *rt, const char *file, int argc, char **argv);

/* Calls require('yolk.boot').main(opts) with the table
 * { command, baseDir, port (number or nil), env (string or nil),
 *   framework_dir, workers, sticky, worker (each nil when not given) }.
 * Returns 0, or 1 (message printed). */
typedef struct {
  const char *command;  /* "dev" | "start" */
  const char *base_dir; /* absolute */
  int port;             /* -1: not given */
  const char *env;      /* NULL: not given */
  int workers;          /* --workers N: run the cluster master; 0: one process */
  int sticky;           /* --sticky */
  int worker;           /* --cluster-worker K (1-based): run as worker K of a master; 0: not */
} yolk_lua_boot_t;
int yolk__lua_rt_boot(yolk_lua_rt_t *rt, const yolk_lua_boot_t *boot);

/* Runs the loop until nothing is left to do, core.stop() has finished, or
 * os.exit(). Returns the exit code (os.exit's, else 0). */
int yolk__lua_rt_loop(yolk_lua_rt_t *rt);

/* Closes every handle still open (without calling Lua any more), runs the
 * loop until their close callbacks ran, closes the loop and the state. */
void yolk__lua_rt_free(yolk_lua_rt_t *rt);

#endif
