/* test_lua_runtime.c - the Lua runtime's C API (core/lua/lua_runtime.h): the
 * framework directory and package.path, script exit codes (errors, os.exit,
 * core.stop), callbacks that raise, and teardown with handles still open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua/lua_core.h"
#include "test.h"

static char dir[] = "/tmp/yolk-test-lua-XXXXXX";

static const char *write_script(const char *name, const char *code) {
  static char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return path;
  fputs(code, f);
  fclose(f);
  return path;
}

/* Runs code as a script (then the loop); returns the exit code. */
static int run(const char *code) {
  const char *file = write_script("script.lua", code);
  yolk_lua_rt_t *rt = yolk__lua_rt_new();
  int rc = yolk__lua_rt_run_file(rt, file, 0, NULL);
  if (rc == 0) rc = yolk__lua_rt_loop(rt);
  yolk__lua_rt_free(rt);
  return rc;
}

static void test_paths(void) {
  setenv("YOLK_LUA_DIR", dir, 1);
  CHECK_STR(yolk__lua_framework_dir(), dir);
  /* a module in the framework directory, found through package.path */
  char sub[600];
  snprintf(sub, sizeof(sub), "%s/yolk", dir);
  CHECK(mkdir(sub, 0700) == 0);
  write_script("yolk/probe.lua", "return { answer = 42 }");
  snprintf(sub, sizeof(sub), "%s/yolk/pkg", dir);
  mkdir(sub, 0700);
  write_script("yolk/pkg/init.lua", "return 'init'");
  CHECK_EQ_INT(run("assert(require('yolk.probe').answer == 42)\n"
                   "assert(require('yolk.pkg') == 'init')\n"
                   "assert(package.path:find(os.getenv('YOLK_LUA_DIR') .. '/?.lua;', 1, true) == 1)\n"
                   "assert(package.preload['yolk.core'])\n"),
               0);
  unsetenv("YOLK_LUA_DIR");
  CHECK(strcmp(yolk__lua_framework_dir(), dir) != 0);
}

static void test_exit_codes(void) {
  CHECK_EQ_INT(run("local x = 1"), 0);
  CHECK_EQ_INT(run("error('expected failure of a script')"), 1);
  CHECK_EQ_INT(run("this is not Lua"), 1);
  CHECK_EQ_INT(run("os.exit(5)"), 5);
  CHECK_EQ_INT(run("os.exit(false)"), 1);
  CHECK_EQ_INT(run("os.exit(true)"), 0);
  /* os.exit from a callback: the loop stops, nothing after it runs */
  CHECK_EQ_INT(run("local core = require('yolk.core')\n"
                   "core.timer(1, function() os.exit(9) end)\n"
                   "core.timer(50, function() os.exit(10) end)\n"),
               9);
  /* a raising callback is logged; the loop goes on */
  CHECK_EQ_INT(run("local core = require('yolk.core')\n"
                   "core.timer(1, function() error('expected failure in a callback') end)\n"
                   "core.timer(5, function() os.exit(4) end)\n"),
               4);
  /* core.stop() cancels timers; the loop then ends with 0 */
  CHECK_EQ_INT(run("local core = require('yolk.core')\n"
                   "core.timer(1e7, function() os.exit(2) end)\n"
                   "core.timer(1, function() core.stop() end)\n"),
               0);
  /* os.exit inside a coroutine unwinds it with a printable sentinel */
  CHECK_EQ_INT(run("local co = coroutine.create(function() os.exit(6) end)\n"
                   "local ok, e = coroutine.resume(co)\n"
                   "assert(not ok and tostring(e) == 'os.exit() called')\n"
                   "error(e, 0)\n"),
               6);
}

static void test_teardown_with_open_handles(void) {
  /* a listening server and pending timers when the runtime is freed (what
   * happens after os.exit): closed without calling Lua, no leak (ASan) */
  CHECK_EQ_INT(run("local core = require('yolk.core')\n"
                   "local s = core.server()\n"
                   "assert(s:listen('127.0.0.1', 0))\n"
                   "s:on_request(function() end)\n"
                   "core.timer(1e6, function() end)\n"
                   "core.timer(1, function() os.exit(3) end)\n"),
               3);
}

static void test_boot(void) {
  char sub[600];
  snprintf(sub, sizeof(sub), "%s/yolk", dir);
  mkdir(sub, 0700);
  write_script("yolk/boot.lua", "return { main = function(o)\n"
                                "  assert(o.command == 'dev' and o.baseDir == '/app' and o.port == 0)\n"
                                "  assert(o.env == nil and o.args == nil)\n"
                                "  assert(o.workers == 3 and o.sticky == true and o.worker == nil)\n"
                                "  require('yolk.core').timer(1, function() os.exit(8) end)\n"
                                "end }\n");
  setenv("YOLK_LUA_DIR", dir, 1);
  yolk_lua_boot_t boot = {"dev", "/app", 0, NULL, 3, 1, 0};
  yolk_lua_rt_t *rt = yolk__lua_rt_new();
  int rc = yolk__lua_rt_boot(rt, &boot);
  CHECK_EQ_INT(rc, 0);
  if (rc == 0) CHECK_EQ_INT(yolk__lua_rt_loop(rt), 8);
  yolk__lua_rt_free(rt);

  write_script("yolk/boot.lua", "return { main = function(o) error('expected boot failure') end }\n");
  rt = yolk__lua_rt_new();
  CHECK_EQ_INT(yolk__lua_rt_boot(rt, &boot), 1);
  yolk__lua_rt_free(rt);
  unsetenv("YOLK_LUA_DIR");
}

int main(void) {
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_paths();
  test_exit_codes();
  test_teardown_with_open_handles();
  test_boot();
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  TEST_MAIN_END();
}
