/* test_lua_runtime.c - the Lua runtime's C API (core/lua/lua_runtime.h): the
 * framework directory and package.path, script exit codes (errors, os.exit,
 * core.stop), callbacks that raise, teardown with handles still open, and
 * the Lua heap's cap. */
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

/* The Lua heap's cap (lua_mem.c): growth past it is refused inside a
 * protected call (a memory error there, caught), never in C code that pushes
 * values before one (that would be a panic); the safe point after the
 * callback collects and takes the reserve back. */
static int fill(lua_State *L) {
  /* a table of 1 KB strings until refused: the memory error escapes */
  lua_newtable(L);
  char chunk[1024];
  memset(chunk, 'x', sizeof(chunk));
  for (int i = 1;; i++) {
    chunk[0] = (char)('a' + i % 26);
    chunk[1] = (char)('a' + i / 26 % 26);
    chunk[2] = (char)('a' + i / 676 % 26);
    chunk[3] = (char)('a' + i / 17576 % 26);
    lua_pushlstring(L, chunk, sizeof(chunk));
    lua_rawseti(L, -2, i);
  }
  return 0;
}

static int keep_then_fill(lua_State *L) {
  /* live data: the table stays in the registry when the error unwinds */
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "test_kept");
  char chunk[1024];
  memset(chunk, 'y', sizeof(chunk));
  for (int i = 1;; i++) {
    snprintf(chunk, 16, "%015d", i);
    lua_pushlstring(L, chunk, sizeof(chunk));
    lua_rawseti(L, -2, i);
  }
  return 0;
}

static void test_memory_cap(void) {
  yolk_lua_rt_t *rt = yolk__lua_rt_new();
  lua_State *L = yolk__lua_rt_state(rt);
  yolk__lua_mem_set_limit(&rt->mem, 8u << 20);
  CHECK(rt->mem.total < (2u << 20));
  /* a callback that allocates without end: LUA_ERRMEM, logged, contained */
  lua_pushcfunction(L, fill);
  CHECK_EQ_INT(yolk__lua_pcall(L, 0, 0), LUA_ERRMEM);
  CHECK_EQ_INT(lua_gettop(L), 0);
  CHECK(rt->mem.refused_total == 1);
  /* the safe point after it collected and took the reserve back */
  CHECK(rt->mem.total < (2u << 20));
  CHECK(rt->mem.ceiling == rt->mem.limit);
  /* live data up to the limit; then C code pushes more, outside any call:
   * never refused (it would be a panic), even past limit + reserve */
  lua_pushcfunction(L, keep_then_fill);
  CHECK_EQ_INT(yolk__lua_pcall(L, 0, 0), LUA_ERRMEM);
  CHECK(rt->mem.total > (7u << 20));
  char *big = calloc(1, 4u << 20);
  lua_pushlstring(L, big, 4u << 20);
  free(big);
  CHECK(rt->mem.total > rt->mem.limit + rt->mem.reserve);
  lua_pop(L, 1);
  /* what a Lua call allocates is refused while the heap is that full */
  CHECK_EQ_INT(luaL_loadstring(L, "return string.rep('z', 2 * 1024 * 1024)"), 0);
  CHECK_EQ_INT(yolk__lua_pcall(L, 0, 1), LUA_ERRMEM);
  /* released: all is well again */
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "test_kept");
  lua_gc(L, LUA_GCCOLLECT, 0);
  CHECK_EQ_INT(luaL_loadstring(L, "return #string.rep('z', 2 * 1024 * 1024)"), 0);
  CHECK_EQ_INT(yolk__lua_pcall(L, 0, 1), 0);
  CHECK_EQ_INT((int)lua_tointeger(L, -1), 2 * 1024 * 1024);
  lua_pop(L, 1);
  yolk__lua_rt_free(rt);
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
  test_memory_cap();
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  TEST_MAIN_END();
}
