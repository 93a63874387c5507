/* lua_mem.c - the Lua heap's cap (config.lua.memoryLimit): LuaJIT's own
 * allocator, wrapped to count the bytes and refuse those above the limit.
 *
 * How. The state is made by luaL_newstate() with LuaJIT's allocator; the
 * runtime then puts count_alloc in front of it (lua_setallocf). A custom
 * allocator given to lua_newstate() would do too on GC64 builds (Debian 12's
 * libluajit-5.1 and libluajit2-5.1 on x86-64 are both GC64), but a non-GC64
 * x86-64 LuaJIT refuses it ("Must use luaL_newstate() for 64 bit target"):
 * its objects must live in the low 2 GB, which only its own allocator
 * ensures. Wrapping that allocator works with every build, and costs an
 * indirect call and a comparison per allocation.
 *
 * A refused allocation makes LuaJIT raise "not enough memory" (LUA_ERRMEM)
 * right there, in the code that allocated: the coroutine of the packet or
 * request that runs away, or whatever Lua code crosses the limit. Lua never
 * calls an xpcall message handler for a memory error (the handler would need
 * memory itself): the error arrives at the catching pcall as the bare string,
 * without the stack it came from (scheduler.lua's caught() says so in the log).
 *
 * Rules:
 *  - Only inside a protected call (depth > 0: yolk__lua_pcall, a script, the
 *    boot). C code that pushes a callback's arguments before calling Lua runs
 *    unprotected: a memory error there would be a panic (abort), so its
 *    allocations are never refused. Nor are those of C code that holds C
 *    buffers while it makes Lua values (core.json_decode: yolk__lua_mem_hold
 *    / _release); if the heap ended over its ceiling, the release refuses
 *    then, once the buffers are gone, so the heap can exceed the ceiling
 *    by one such value. Only growth is refused: a free or a
 *    shrink always goes through, and so does LuaJIT's garbage collector.
 *  - After a refusal the ceiling rises by a reserve (limit / 16, 1 to 64 MB)
 *    so that the code catching the error can still log it and answer the
 *    client (the runaway's garbage is still in the heap: it is unreachable
 *    once the error unwound its stack, but not collected yet). The heap never
 *    holds more than limit + reserve.
 *  - The safe point (yolk__lua_mem_safe_point, after each callback from the
 *    loop, outside any Lua code) runs a full collection after refusals and
 *    says what happened (while live data fills the heap, at most once a
 *    second), and takes the reserve back as soon as the heap is below the
 *    limit. While live data keeps it above (a leak), the reserve stays lent:
 *    handlers fail at their first sizeable allocation, but can still report
 *    it, and one that lets go of the data can run. It also collects when the
 *    heap has grown by limit / 8 since
 *    the last full collection while above half the limit: LuaJIT lets its heap
 *    double between two cycles and never collects before failing an
 *    allocation (Lua 5.2+ does), so near the limit garbage alone could fill
 *    it. Below half the limit this costs nothing but one comparison.
 *  - The count is LuaJIT's own (lua_gc(L, LUA_GCCOUNT)): objects, strings,
 *    tables, buffers, JIT bookkeeping; garbage until it is collected. Not the
 *    compiled machine code (mmap'd by LuaJIT itself) nor C-side memory. */
#include <stdint.h>
#include <string.h>

#include "lua_core.h"

#define MB (1024.0 * 1024.0)
/* The smallest limit accepted: the framework itself needs a few MB. */
#define MEM_MIN_LIMIT ((size_t)8 << 20)
/* A refused allocation's aftermath is reported at most this often. */
#define MEM_REPORT_MS 1000

static void *count_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  yolk__lua_mem_t *m = ud;
  if (nsize > osize && m->depth > 0 && m->total - osize + nsize > m->ceiling) {
    m->refused++;
    m->refused_total++;
    m->ceiling = m->limit + m->reserve;
    return NULL;
  }
  void *q = m->alloc(m->alloc_ud, p, osize, nsize);
  if (q || nsize == 0) m->total = m->total - osize + nsize;
  return q;
}

yolk__lua_mem_t *yolk__lua_mem_of(lua_State *L) {
  void *ud;
  return lua_getallocf(L, &ud) == count_alloc ? ud : NULL;
}

unsigned yolk__lua_mem_hold(lua_State *L) {
  yolk__lua_mem_t *m = yolk__lua_mem_of(L);
  if (!m) return 0;
  unsigned depth = m->depth;
  m->depth = 0;
  return depth;
}

void yolk__lua_mem_release(lua_State *L, unsigned held) {
  yolk__lua_mem_t *m = yolk__lua_mem_of(L);
  if (!m) return;
  m->depth = held;
  /* an allocation now is refused as any would be: the same error, counted */
  if (held && m->total > m->ceiling) lua_newuserdata(L, 0);
}

static size_t reserve_for(size_t limit) {
  size_t r = limit / 16;
  if (r < ((size_t)1 << 20)) r = (size_t)1 << 20;
  if (r > ((size_t)64 << 20)) r = (size_t)64 << 20;
  return r;
}

void yolk__lua_mem_set_limit(yolk__lua_mem_t *m, size_t limit) {
  if (limit < MEM_MIN_LIMIT) limit = MEM_MIN_LIMIT;
  m->limit = limit;
  m->reserve = reserve_for(limit);
  m->ceiling = m->total > limit ? limit + m->reserve : limit;
  m->gc_mark = limit / 2;
}

void yolk__lua_mem_install(lua_State *L, yolk__lua_mem_t *m, size_t limit) {
  m->alloc = lua_getallocf(L, &m->alloc_ud);
  /* what LuaJIT allocated so far (the state itself): every free passes its
   * size, so the count must start where LuaJIT's does */
  m->total = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
  yolk__lua_mem_set_limit(m, limit);
  lua_setallocf(L, count_alloc, m);
}

static int full_gc(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}

void yolk__lua_mem_safe_point(yolk_lua_rt_t *rt) {
  yolk__lua_mem_t *m = &rt->mem;
  if (!m->refused && m->total <= m->gc_mark) {
    /* LuaJIT's own collector got the heap back under the limit */
    if (m->ceiling > m->limit && m->total <= m->limit) m->ceiling = m->limit;
    return;
  }
  uint64_t now = uv_now(&rt->loop);
  if (m->refused && m->full && m->total <= m->gc_mark && now - m->last_report_ms < MEM_REPORT_MS) {
    /* the heap stays full of live data, and that was said less than a
     * second ago: not a full collection after every callback */
    if (m->total <= m->limit) m->ceiling = m->limit;
    return;
  }
  lua_State *L = rt->L;
  size_t before = m->total;
  /* Protected, since LuaJIT passes a finalizer's error on to whoever
   * collected; at depth 0, so that nothing in there is refused (lua_cpcall
   * itself allocates a closure, and a finalizer may allocate). */
  if (lua_cpcall(L, full_gc, NULL) != 0) {
    const char *msg = lua_tostring(L, -1);
    yolk__log(YOLK_LOG_ERROR, "lua", "error in a finalizer (__gc) during a full collection: %s", msg ? msg : "?");
    lua_pop(L, 1);
  }
  size_t after = m->total;
  m->gc_mark = after + m->limit / 8 > m->limit / 2 ? after + m->limit / 8 : m->limit / 2;
  m->ceiling = after <= m->limit ? m->limit : m->limit + m->reserve;
  if (!m->refused) return;
  m->last_report_ms = now;
  m->full = after > m->limit - m->limit / 8;
  char what[200];
  yolk__lua_watch_describe(rt, what, sizeof(what));
  /* a collection that frees the runaway's garbage: a WARN (its ERROR came
   * from the code that caught it); one that leaves the heap nearly full:
   * live data, a leak, which every handler will now run into */
  if (!m->full)
    yolk__log(YOLK_LOG_WARN, "lua",
              "the Lua heap reached config.lua.memoryLimit (%.1f MB) while running %s: %u allocation%s refused "
              "(\"not enough memory\"); %.1f MB before a full collection, %.1f MB after",
              m->limit / MB, what, m->refused, m->refused == 1 ? "" : "s", before / MB, after / MB);
  else
    yolk__log(YOLK_LOG_ERROR, "lua",
              "the Lua heap reached config.lua.memoryLimit (%.1f MB) while running %s: %u allocation%s refused, "
              "and it still holds %.1f MB after a full collection: the application keeps that much reachable (a "
              "leak?), and what needs more memory fails until it lets go",
              m->limit / MB, what, m->refused, m->refused == 1 ? "" : "s", after / MB);
  m->refused = 0;
}

/* core.memory() -> { used = bytes, limit = bytes, refused = count } */
static int l_memory(lua_State *L) {
  yolk__lua_mem_t *m = &yolk__lua_rt(L)->mem;
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, (lua_Number)m->total);
  lua_setfield(L, -2, "used");
  lua_pushnumber(L, (lua_Number)m->limit);
  lua_setfield(L, -2, "limit");
  lua_pushnumber(L, (lua_Number)m->refused_total);
  lua_setfield(L, -2, "refused");
  return 1;
}

/* core.set_memory_limit(size) -> the previous limit (bytes). size: bytes or
 * "64mb"; at least 8 MB. */
static int l_set_memory_limit(lua_State *L) {
  yolk__lua_mem_t *m = &yolk__lua_rt(L)->mem;
  double v = yolk__lua_parse_size(L, 1);
  luaL_argcheck(L, v >= (double)MEM_MIN_LIMIT && v < 1e18, 1, "a size of at least 8 MB (a number, or a string such as \"512mb\")");
  lua_pushnumber(L, (lua_Number)m->limit);
  yolk__lua_mem_set_limit(m, (size_t)v);
  return 1;
}

void yolk__lua_open_mem(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"memory", l_memory},
      {"set_memory_limit", l_set_memory_limit},
      {NULL, NULL},
  };
  luaL_register(L, NULL, fns);
}
