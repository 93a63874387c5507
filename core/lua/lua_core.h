/* lua_core.h - what the files behind the `yolk.core` Lua module share.
 *
 * The module's contract with the Lua framework is documented at the top of
 * lua_core.c. This header holds the plumbing every binding file needs: the
 * runtime (one lua_State on one libuv loop), the single pcall wrapper through
 * which every call from C into Lua goes, the "box" pattern for userdata that
 * point at C objects, and the JSON / buffer conversions.
 *
 * Lifetimes (see /work/shared/STYLE.md, "C and Lua together"):
 *  - A C object exposed to Lua (timer, server, namespace, socket) is reached
 *    from Lua through a box: a userdata holding only a pointer to it. The C
 *    object keeps a registry reference to its box for as long as it lives, so
 *    the box cannot be collected first. When the C object dies it clears the
 *    box's pointer (yolk__lua_box_kill): from then on the Lua methods see NULL
 *    and are harmless no-ops. A box never holds a dangling pointer.
 *  - Lua functions stored by C (handlers, ack callbacks) are registry refs,
 *    released exactly once by whoever owns them.
 */
#ifndef YOLK_LUA_CORE_H
#define YOLK_LUA_CORE_H

#include <lauxlib.h>
#include <lua.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../buf.h"
#include "../list.h"
#include "../log.h"
#include "yolk.h"
#include "lua_runtime.h"

/* ---- runtime ------------------------------------------------------------- */

typedef struct yolk__lua_server_s yolk__lua_server_t;

/* The Lua heap's cap (lua_mem.c): LuaJIT's allocator wrapped to count. */
typedef struct {
  lua_Alloc alloc;  /* LuaJIT's own allocator, which does the work */
  void *alloc_ud;
  size_t total;     /* bytes in the Lua heap (LuaJIT's gc count, garbage included) */
  size_t limit;     /* config.lua.memoryLimit */
  size_t reserve;   /* lent after a refusal, for reporting it */
  size_t ceiling;   /* growth past it is refused: limit, or limit + reserve */
  size_t gc_mark;   /* the safe point runs a full collection above it */
  unsigned depth;   /* protected calls running (refusals only inside one) */
  unsigned refused; /* since the last safe point that reported */
  int full;         /* the last report found live data filling the heap */
  uint64_t refused_total;
  uint64_t last_report_ms;
} yolk__lua_mem_t;

/* What the watchdog thread sees of the loop (lua_watchdog.c). The loop
 * writes active and what_seq without a lock; kind/name/place change under
 * mu, as does everything the thread keeps. */
typedef struct {
  _Atomic uint64_t active;   /* the number of the running callback; 0: none */
  _Atomic uint64_t warned;   /* the callback the thread last warned about */
  _Atomic uint64_t since;    /* when the thread first saw it running (uv_hrtime) */
  _Atomic uint64_t warn_ns;  /* config.lua.blockedWarning; 0: off */
  _Atomic uint64_t what_seq; /* the callback core.doing() was last called in */
  uint64_t seq;              /* callbacks begun (the loop's) */
  uv_mutex_t mu;
  uv_cond_t cond;            /* wakes the thread to stop or re-read warn_ns */
  uv_thread_t thread;
  int started, stop;
  char kind[24], name[96], place[160];
} yolk__lua_watch_t;

struct yolk_lua_rt_s {
  lua_State *L;
  uv_loop_t loop;
  int stopping;        /* core.stop() or a signal: servers closing, timers cancelled */
  int exiting;         /* os.exit() or teardown: no more Lua code runs */
  int exit_code;
  uv_signal_t sig_hup;
  uv_async_t sig_async; /* SIGINT/SIGTERM, posted by our own handler (lua_runtime.c) */
  int owns_signals;     /* this runtime installed the SIGINT/SIGTERM handlers */
  uv_timer_t stop_deadline; /* bounds a graceful stop that would otherwise hang */
  int stop_deadline_started;
  int sig_refs[3];     /* Lua handlers for SIGINT, SIGTERM, SIGHUP (LUA_NOREF if none) */
  yolk_list_t resources; /* every open yolk__lua_res_t (timers, watches, servers, ...) */
  yolk_sb_t scratch;      /* yolk__lua_scratch */
  int shape_count;        /* ordered-object shapes cached (lua_json.c) */
  const void *json_mts[2]; /* the array and object marker metatables (lua_json.c), once known */
  int json_keys_ref;       /* the string "__keys" (lua_json.c; 0: not made yet) */
  int json_dec_refs[3];    /* the array and object marker metatables and the shape cache, as
                            * registry refs for the decoder (lua_json.c; 0: not made yet) */
  int json_last_shape_ref; /* the shape the decoder used last, when cached (0: none) */
  size_t json_last_shape_len;
  char json_last_shape[96]; /* its key record (lua_json.c) */
  int traceback_ref;      /* the pcall message handler (0: not made yet) */
  FILE *log_file;
  yolk__lua_mem_t mem;
  yolk__lua_watch_t watch;
  /* metrics (yolk__lua_rt_collect): bugs in Lua code (yolk__lua_pcall's
   * errors and the framework's, core.count_lua_error), reloads */
  uint64_t lua_errors, reloads, reload_failures;
};

/* A metrics collector (ud: the runtime): Lua errors, reloads, Lua memory. */
void yolk__lua_rt_collect(yolk_metrics_writer_t *w, void *ud);

/* The runtime that owns L (stored in L's registry). */
yolk_lua_rt_t *yolk__lua_rt(lua_State *L);

/* Calls the function at the top of the stack below its nargs arguments, in
 * protected mode with a traceback. On error the message and traceback are
 * logged at ERROR (component "lua") and nothing is left on the stack; on
 * success nresults values are. Returns 0 on success. An os.exit() raised
 * inside is not an error: it stops the runtime with the given code (and
 * returns non-zero so the caller does not read results). When the runtime is
 * exiting the function is not called at all. */
int yolk__lua_pcall(lua_State *L, int nargs, int nresults);
/* Same, but leaves the error message (with traceback) on the stack instead of
 * logging it; returns the lua_pcall status. Used for the main script. */
int yolk__lua_pcall_keep_error(lua_State *L, int nargs, int nresults);

/* Pushes the Lua function behind a registry ref and calls it through
 * yolk__lua_pcall with nargs arguments already pushed (the function is
 * inserted below them). Returns 0 on success. If ref is LUA_NOREF the
 * arguments are popped and -1 returned. */
int yolk__lua_call_ref(lua_State *L, int ref, int nargs, int nresults);

/* Graceful stop: close servers, cancel timers; the loop then ends by itself. */
void yolk__lua_rt_stop(yolk_lua_rt_t *rt);

/* ---- runaway code (lua_mem.c, lua_watchdog.c) -------------------------------- */

/* The default of config.lua.memoryLimit. */
#define YOLK_LUA_MEMORY_LIMIT ((size_t)1 << 30)
/* Puts the counting allocator in front of L's own (right after luaL_newstate). */
void yolk__lua_mem_install(lua_State *L, yolk__lua_mem_t *m, size_t limit);
/* The counter installed in L's state (any of its threads), or NULL. */
yolk__lua_mem_t *yolk__lua_mem_of(lua_State *L);
/* Around C code that holds C buffers while it makes Lua values (a refusal's
 * error would jump past their release): nothing is refused in between, and
 * if the heap is then over its ceiling, the end refuses (raises "not enough
 * memory") once the buffers are gone. */
unsigned yolk__lua_mem_hold(lua_State *L);
void yolk__lua_mem_release(lua_State *L, unsigned held);
void yolk__lua_mem_set_limit(yolk__lua_mem_t *m, size_t limit);
/* Between callbacks, outside Lua code: collects and reports after a refusal,
 * or when the heap grew near the limit. */
void yolk__lua_mem_safe_point(yolk_lua_rt_t *rt);
void yolk__lua_watch_init(yolk__lua_watch_t *w);
/* Stops and joins the thread (if it was started). */
void yolk__lua_watch_free(yolk__lua_watch_t *w);
/* Around each callback from the loop into Lua (the outermost pcall). */
void yolk__lua_watch_begin(yolk_lua_rt_t *rt);
void yolk__lua_watch_end(yolk_lua_rt_t *rt);
/* What the running (or last) callback handles, as core.doing() said. */
void yolk__lua_watch_describe(yolk_lua_rt_t *rt, char *buf, size_t len);

/* ---- resources ---------------------------------------------------------------
 *
 * Every C object that Lua code holds and that keeps the loop busy (a pending
 * timer, an fs watch, a server, a Redis connection) starts with a
 * yolk__lua_res_t. While open it is on the runtime's one list, so a graceful
 * stop and the runtime's teardown close them all the same way, whatever
 * they are: yolk__lua_close_all calls each one's class close function.
 *
 * Lifetime: yolk__lua_res_open links the resource and gives it a box (pushed
 * on the stack; the resource holds the box's ref). The class's close starts
 * closing it (it may finish later, e.g. after libuv close callbacks) and
 * must, by the time it is done, call yolk__lua_res_release, which unlinks
 * the resource and kills its box: from then on Lua sees a dead handle whose
 * methods are harmless no-ops. close is called at most once (closing is set
 * first). */
typedef struct yolk__lua_res_s yolk__lua_res_t;
typedef struct {
  const char *tname;                  /* its metatable's name, e.g. "yolk.timer" */
  void (*close)(yolk__lua_res_t *r);  /* start closing (graceful stop, teardown, or the Lua method) */
} yolk__lua_res_class_t;
struct yolk__lua_res_s {
  yolk_list_t node; /* in rt->resources while open */
  const yolk__lua_res_class_t *cls;
  yolk_lua_rt_t *rt;
  int box_ref;
  int closing;
};
/* Links r (the caller has allocated it, zeroed) and pushes its new box. */
void yolk__lua_res_open(lua_State *L, yolk__lua_res_t *r, const yolk__lua_res_class_t *cls);
/* Starts closing r, once (no-op when already closing). */
void yolk__lua_res_close(yolk__lua_res_t *r);
/* Unlinks r and kills its box (the C object may be freed afterwards). */
void yolk__lua_res_release(yolk__lua_res_t *r);
/* The open resource behind the box at idx (checked against tname; raises if
 * idx is not such a box), or NULL when it is closing or gone. */
void *yolk__lua_res_check(lua_State *L, int idx, const char *tname);
/* Closes every open resource (a graceful stop, the teardown). */
void yolk__lua_close_all(yolk_lua_rt_t *rt);

/* Registers a class of userdata: the metatable tname with the methods under
 * __index and the metamethods (__gc, __len, ...) in meta (either may be
 * NULL). */
void yolk__lua_new_class(lua_State *L, const char *tname, const luaL_Reg *methods, const luaL_Reg *meta);

/* ---- boxes ----------------------------------------------------------------- */

typedef struct {
  void *p; /* the C object, NULL once it is gone */
} yolk__lua_box_t;

/* Pushes a new box for p with the metatable registered under tname, and
 * returns a registry ref to it (the caller owns the ref). */
int yolk__lua_box_new(lua_State *L, void *p, const char *tname);
/* Pushes the box behind ref. */
void yolk__lua_box_push(lua_State *L, int ref);
/* Clears the box's pointer and releases ref. */
void yolk__lua_box_kill(lua_State *L, int ref);
/* The pointer in the box at idx (checked against tname; raises if it is not
 * such a box). NULL when the C object is gone. */
void *yolk__lua_box_get(lua_State *L, int idx, const char *tname);

/* ---- values ---------------------------------------------------------------- */

/* Registry keys (their addresses) of the array / object marker metatables and
 * of the null sentinel's identity. */
extern const char yolk__lua_array_mt_key;
extern const char yolk__lua_object_mt_key;
extern const char yolk__lua_null_tag;
/* core.null: a lightuserdata whose value is this unique address. */
#define YOLK_LUA_NULL ((void *)&yolk__lua_null_tag)

/* Binary attachments collected while converting Lua -> JSON: the data
 * pointers point into buffer userdata that stay referenced from the Lua stack
 * while the converted text is used (the caller keeps the value there). */
typedef struct {
  yolk_sio_bin_t *v;
  size_t n, cap;
} yolk__lua_bins_t;
void yolk__lua_bins_free(yolk__lua_bins_t *bins);

/* Appends the JSON text of the Lua value at idx to sb (lua_json.c for the
 * rules). With bins, buffers become placeholders {"_placeholder":true,
 * "num":i} and are appended to bins; without, a buffer is an error. Returns
 * 0, or -1 with an error message pushed. Runs no Lua code. */
int yolk__lua_write_json(lua_State *L, int idx, yolk_sb_t *sb, yolk__lua_bins_t *bins);
/* The same for an argument list table (an array: length t.n if set, else
 * #t; holes become null; nil is the empty list). */
int yolk__lua_write_args(lua_State *L, int idx, yolk_sb_t *sb, yolk__lua_bins_t *bins);
/* The stack values first..last as a JSON array (event arguments passed to a
 * C function as varargs: no table is made for them). */
int yolk__lua_write_values(lua_State *L, int first, int last, yolk_sb_t *sb, yolk__lua_bins_t *bins);
/* Pushes an event's arguments, [event, a, b] in JSON, as two values: the
 * event and the table {a, b, n = 2}. Same error convention. */
int yolk__lua_push_event(lua_State *L, const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins);
/* Pushes the Lua value of JSON text. Placeholders whose num indexes
 * bins[0..nbins) become buffers. Arrays get core.array_mt, objects
 * core.object_mt or their shape (ordered keys). With set_n, the top-level
 * array also gets n = its element count. Returns 0, or -1 with an error
 * message pushed. */
int yolk__lua_push_json(lua_State *L, const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins,
                        int set_n);

/* A scratch string builder of the runtime (emptied), for one conversion at a
 * time; _done gives big ones their memory back. */
yolk_sb_t *yolk__lua_scratch(lua_State *L);
void yolk__lua_scratch_done(lua_State *L);

/* Pushes a new array table (array_mt) / object table (object_mt). */
void yolk__lua_new_array(lua_State *L, int narr);
void yolk__lua_new_object(lua_State *L, int nrec);

/* ---- buffers --------------------------------------------------------------- */

#define YOLK_LUA_BUFFER_MT "yolk.buffer"
void yolk__lua_push_buffer(lua_State *L, const void *data, size_t len);
/* The bytes of the buffer at idx, or NULL if idx is not a buffer. */
const char *yolk__lua_to_buffer(lua_State *L, int idx, size_t *len);

/* ---- the module's parts (each adds its functions to the table at -1) -------- */

void yolk__lua_open_json(lua_State *L);
void yolk__lua_open_buffer(lua_State *L);
void yolk__lua_open_timer(lua_State *L);
void yolk__lua_open_fs(lua_State *L);
void yolk__lua_open_fs_watch(lua_State *L);
void yolk__lua_open_http(lua_State *L);
void yolk__lua_open_cluster(lua_State *L);
void yolk__lua_open_socketio(lua_State *L);
void yolk__lua_open_redis(lua_State *L);
/* Runtime functions: log, now, hrtime, stop, on_signal, version. */
void yolk__lua_open_runtime(lua_State *L);
/* core.memory(), core.set_memory_limit(size) */
void yolk__lua_open_mem(lua_State *L);
/* core.watchdog(ms), core.doing(kind, name, place) */
void yolk__lua_open_watchdog(lua_State *L);
/* lua_CFunction for package.preload['yolk.core']. */
int yolk__luaopen_core(lua_State *L);

/* ---- servers (lua_http.c; Socket.IO parts in lua_socketio.c) ---------------- */

#define YOLK_LUA_SERVER_MT "yolk.server"
typedef struct yolk__lua_nsp_s yolk__lua_nsp_t;

struct yolk__lua_server_s {
  yolk__lua_res_t res;      /* res.closing: yolk_server_close was called */
  yolk_lua_rt_t *rt;
  yolk_server_t *srv;       /* freed by libyolk after close; we drop it in the close callback */
  yolk_sio_server_t *sio;   /* NULL until server:socketio() */
  yolk_sio_redis_t *sio_redis; /* socketio{ redis = ... }: the Redis adapter's bus */
  yolk_sio_redis_streams_t *sio_redis_streams; /* socketio{ redis = { adapter = 'streams' } }: its bus */
  int request_ref;          /* server:on_request handler */
  int sio_box_ref;          /* the sio object's box */
  int generate_id_ref;      /* socketio{ generateId = fn } */
  yolk__lua_nsp_t *nsps;    /* namespace bindings, freed with the server */
  yolk_sb_t data_sb;        /* socket.data as JSON, for fetch_sockets */
  struct lua_static_s *statics; /* the static-file responders req:send_file uses (lua_http.c) */
};

/* A byte size option at idx: a number or "100kb"/"1mb"/"1gb"; -1 if invalid. */
double yolk__lua_parse_size(lua_State *L, int idx);

/* server:socketio(opts) (lua_socketio.c) */
int yolk__lua_server_socketio(lua_State *L);
/* Kills the Socket.IO boxes of a server whose C side is gone and releases
 * their refs (lua_socketio.c). */
void yolk__lua_sio_release(yolk__lua_server_t *s);


#endif
