/* lua_core.c - the `yolk.core` Lua module: the whole boundary between the C
 * core and the Lua framework (the .lua files under lua/yolk/).
 *
 * THE CONTRACT. yolk.core is deliberately thin: one function per libyolk
 * capability. Everything egg-like (loader, config, ctx, middleware, router,
 * controllers, coroutines, egg-socket.io's socket and namespace objects) is
 * Lua built on top of it. The runtime registers it in package.preload, so
 * `local core = require('yolk.core')` works in every script the runtime runs.
 *
 * Values (lua_json.c, lua_buffer.c)
 *   core.null            JSON null: a unique lightuserdata (yolk.null re-exports it).
 *   core.array_mt, core.object_mt
 *                        metatables marking a table's JSON kind. core.array(t) and
 *                        core.object(t) set them and return t (a new table if t is
 *                        nil); core.is_array(v) / core.is_object(v) test them.
 *                        Every decoded table has one, so [] and {} round-trip. An
 *                        unmarked table is an array when its keys are exactly 1..n
 *                        (n >= 1), else an object; an unmarked empty table is {}.
 *                        A marked array's length is t.n when that is a number, else #t
 *                        (holes become null).
 *   numbers              integral values with |x| < 2^53 are written without fraction
 *                        or exponent; others in the shortest form that reads back the
 *                        same double (at most 17 significant digits); NaN/inf -> null.
 *   strings              UTF-8. \uXXXX escapes and surrogate pairs decode to UTF-8.
 *                        Bytes that are not UTF-8 are written as U+FFFD, so the output
 *                        is always valid JSON.
 *   core.buffer(s)       binary data (userdata): #b, b:tostring(), tostring(b), b:sub(i,j),
 *                        b:byte(i), b1 == b2; core.is_buffer(v). Buffers inside emitted
 *                        arguments travel as Socket.IO attachments; received
 *                        attachments come back as buffers at their places.
 *   core.json_encode(v [, pretty]) -> string   (raises on buffers, functions, cycles)
 *   core.json_decode(s) -> v | nil, err
 *
 * Loop, time, logging (lua_runtime.c, lua_timer.c)
 *   core.now() -> ms (the loop's cached time), core.hrtime() -> ns.
 *   core.timer(ms, fn) -> timer: fn runs once, from the loop. timer:stop() -> true
 *                        if it was still pending; timer:active().
 *   core.log(level, component, msg): level 10 debug, 20 info, 30 warn, 40 error (or
 *                        the names 'debug'..'error'; core.DEBUG..core.ERROR).
 *                        core.set_log_level(n), core.get_log_level(),
 *                        core.set_log_file(path|nil) -> true | nil, err (appends; every
 *                        log line, C's included, is written there too).
 *   Every call from C into Lua goes through one pcall wrapper that adds a traceback; an
 *   error there is logged at ERROR (component "lua") and never stops the loop.
 *   core.on_signal(name, fn|nil) for "SIGHUP", "SIGINT", "SIGTERM". SIGINT and SIGTERM
 *                        stop gracefully by default; a handler runs first, and returning
 *                        false from it skips the default. A second SIGINT/SIGTERM while
 *                        stopping exits at once. SIGHUP only calls the handler.
 *   core.stop()          graceful stop: closes the servers, cancels pending timers; the
 *                        loop then ends when the last handle is closed (or after 10 s).
 *   os.exit([code|bool]) unwinds to the runtime, which closes everything and exits with
 *                        code; no Lua code runs after it. Inside a coroutine it shows up
 *                        as an error value that prints "os.exit() called".
 *   core.version
 *
 * The Lua heap (lua_mem.c)
 *   core.memory() -> { used, limit, refused }: the bytes in the Lua heap (garbage not yet
 *                        collected included), its cap, the allocations refused so far.
 *   core.set_memory_limit(size) -> the previous cap: bytes or "512mb", at least 8 MB
 *                        (default 1 GB). An allocation that would take the heap past it
 *                        fails with "not enough memory" in the code that made it (inside
 *                        a protected call; never in C code pushing a callback's
 *                        arguments). yolk.boot sets config.lua.memoryLimit.
 *
 * The watchdog (lua_watchdog.c)
 *   core.watchdog(ms)    a thread warns (WARN, component "lua") when one callback from the
 *                        loop into Lua has run longer than ms (0: no warnings); yolk.boot
 *                        sets config.lua.blockedWarning. It cannot interrupt the callback.
 *   core.doing(kind, name, place)  what the running callback handles, for those warnings:
 *                        ('event', 'chat', '/live'), ('request', 'GET', '/path'), ...
 *
 * Files (lua_fs.c): for loading the application, never on a request's path
 *   core.fs_scandir(path) -> sorted names | nil, err ; core.fs_stat(path) -> { type =
 *   'file'|'directory'|'other', size, mtime } | nil, err ; core.fs_realpath(path) ;
 *   core.fs_mkdir(path [, mode]) (an existing directory is fine). Synchronous (uv_fs_*).
 *
 * File watching (lua_fs_watch.c)
 *   core.watch(path, fn(filename, events, err)) -> watch | nil, err: a libuv fs-event
 *                        watcher on a file or directory. NOT recursive on Linux: it
 *                        reports entries directly inside a watched directory. filename
 *                        is relative to path (nil if the OS does not say); events is
 *                        "change", "rename" or "rename,change". On an error fn gets
 *                        (nil, nil, message) once and the watch stops. No debouncing.
 *                        watch:stop() -> true if it was active; watch:active();
 *                        watch:path(). A graceful stop closes every watch.
 *
 * HTTP server (lua_http.c)
 *   core.server{ max_body_size, max_header_size, header_timeout_ms,
 *                keepalive_timeout_ms } -> server  (sizes: bytes, or strings like "100kb",
 *                "1mb" as egg configs write them; so is socketio's maxHttpBufferSize)
 *   server:listen(host, port) -> true | nil, err ;  server:port() ;  server:close()
 *   server:on_request(fn(req)) for requests Socket.IO does not claim. req is a table:
 *     { method, url, path, query (raw string), headers = { [lower-case name] = value },
 *       body (string or nil), remote_addr }
 *     with req:respond(status, headers|nil, body string|buffer|nil) -> true; only the first
 *     call counts (later ones return false). If the client goes away first,
 *     req.aborted becomes true (respond is then a no-op) and req.on_abort(req) is called
 *     if the framework set it. A header value may be an array (several header lines);
 *     Content-Length, Connection, Date and Transfer-Encoding are written by the HTTP layer
 *     (given ones are ignored); a name or value that would break the header raises.
 *     A handler that raises before answering gets a 500 sent for it. Repeated request
 *     headers are joined with ", " ("; " for cookie), as Node does.
 *
 * Socket.IO (lua_socketio.c)
 *   server:socketio{ path, pingInterval, pingTimeout, upgradeTimeout, maxHttpBufferSize,
 *     connectTimeout, transports = {'polling','websocket'}, allowEIO3, allowUpgrades,
 *     cors = { origin = '*' | 'http://a' | {'http://a', ...} | true, credentials },
 *     clientDistDir, maxAttachments, generateId = fn(handshake) -> string (nil or an
 *     error: a random id; called for protocol 5 clients only) } -> sio (one per server;
 *     calling it again returns the same object). Sizes accept "1mb" strings too.
 *   sio:of(name) -> nsp (created on first use; the same object every time); nsp:name()
 *   nsp:set_handler{ connect = fn(sock), event = fn(sock, args, ack_id|nil),
 *                    disconnecting = fn(sock, reason), close = fn(sock, reason) }
 *     args is an array: args[1] the event name, then the arguments (buffers restored),
 *     args.n = count. Handlers are plain calls, not coroutines. With no connect handler
 *     sockets are admitted at once; a connect handler must call sock:admit() or
 *     sock:refuse() (now or later). If it raises before doing so the socket is refused.
 *   sock (userdata; after close every method is a no-op returning false/nil):
 *     sock:id(), sock:nsp(), sock:protocol() (5|4), sock:connected(), sock:alive(),
 *     sock:handshake() -> { headers, query (parsed), auth, address, url, time (as
 *       Date.toString), issued (ms), xdomain, secure }
 *     sock:admit(), sock:refuse(err) (a string or { message, data })
 *     sock:emit(args, opts) -> true|false; args = { event, ..., n = count };
 *       opts = { volatile = bool, ack = fn(err, args), timeout = ms }. ack is called
 *       exactly once: with (nil, args) on the answer, or ("timeout"|"socket
 *       disconnected", nil). If emit returns false, ack is never called.
 *     sock:ack(ack_id, args) (args nil: no arguments), sock:join(room | {rooms}),
 *     sock:leave(room | {rooms}), sock:rooms() -> array, sock:disconnect(close),
 *     sock:set_data(v) (socket.data as fetch_sockets reports it; JSON values only)
 *   target = { rooms = {...}|string, except = {...}|string, volatile = bool,
 *              ['local'] = bool } (all optional; nil means everyone)
 *   nsp:broadcast(target, args), nsp:fetch_sockets(target, fn(err, list)) with items
 *   { id, rooms, handshake, data }, nsp:sockets_join(target, rooms),
 *   nsp:sockets_leave(target, rooms), nsp:disconnect_sockets(target, close),
 *   nsp:socket(id) -> sock|nil, nsp:server_side_emit(args), nsp:on_server_event(fn(args)).
 *   socketio's sidPrefix = 'A': every Engine.IO session id starts with it (a cluster
 *   worker's routing key, yolk_eio_options_t.sid_prefix).
 *
 * Cluster (lua_cluster.c; core/cluster.h)
 *   core.cluster_master{ workers, sticky, host, port, path (Engine.IO), max_body_size,
 *     max_payload (the workers' limits: the larger counts), blocked_restart (ms: a
 *     worker silent that long, its loop blocked, is killed and restarted; 0: never),
 *     args = { 'start', '--baseDir', dir, ... } } -> master | nil, err: listens, starts
 *     the workers (`<exe> <args> --cluster-worker K [--sticky]`) and keeps them running.
 *     master:reload() (each worker reloads in turn), master:close(). A graceful stop
 *     stops the workers; the exit status is 1 when one did not stop cleanly, or when
 *     the master could not go on (a worker that fails to start: it stops itself).
 *   core.cluster_worker(k, sticky) -> worker | nil, err (in a process a master started):
 *     worker:sid_prefix(), worker:serve(server) -> true | nil, err (instead of
 *     server:listen; tells the master it is ready), worker:reloaded(ok). The
 *     runtime stops when the master goes away.
 *
 * Redis (lua_redis.c, on core/redis.h; lua/yolk/redis.lua makes app.redis of it)
 *   core.redis{ url = 'redis://[[user]:password@]host[:port][/db]', host, port, username,
 *     password, db, connectTimeout (ms, default 2000), name (for log lines),
 *     connectionName (CLIENT SETNAME) } -> conn | nil, err (invalid options). The url's
 *     parts win over the other fields. It connects in the background and reconnects by
 *     itself (backoff 100 ms doubling to 5 s); AUTH/SELECT are redone each time. Lost and
 *     back are logged once each (component "redis").
 *   conn:command(fn, name, args...) -> true | nil, err: args are strings, numbers or
 *     buffers (anything else raises). nil, err when it cannot be sent: Redis is down
 *     ("redis: not connected (...)": commands never wait for a connection that is down;
 *     only the very first connection is waited for, at most connectTimeout), the
 *     connection is closed, or (P)SUBSCRIBE/MONITOR. Otherwise fn(reply, err) runs once,
 *     later: strings (bulk and status, binary-safe), numbers, arrays (core.array_mt tables;
 *     a nil inside is core.null, an error inside { err = message }), nil for a nil reply;
 *     fn(nil, message) for an error reply or when no reply came (connection lost, closed).
 *   conn:status() -> 'connecting' | 'ready' | 'down' | 'closed'; conn:name();
 *   conn:close() -> true if it was open (pending commands get their error now). A
 *     graceful stop closes every connection.
 *
 * Entry point (core/bin/yolk.c, lua_runtime.c)
 *   `yolk dev|start [--baseDir DIR] [--port N] [--env ENV] [--workers N [--sticky]]`
 *   calls require('yolk.boot').main{ command, baseDir (absolute), port, env,
 *   framework_dir, workers, sticky, worker (--cluster-worker K) } and runs the loop.
 *   Unknown options and stray arguments are refused (usage, status 2).
 *   `yolk lua FILE [args...]` runs a script
 *   with `arg` set. package.path starts with <lua>/?.lua;<lua>/?/init.lua where <lua>
 *   is $YOLK_LUA_DIR, else the source tree's lua/ (build tree), else
 *   <prefix>/share/yolk/lua. The app's baseDir is not on package.path.
 */
#include "lua_core.h"

int yolk__luaopen_core(lua_State *L) {
  lua_newtable(L);
  yolk__lua_open_runtime(L);
  yolk__lua_open_mem(L);
  yolk__lua_open_watchdog(L);
  yolk__lua_open_json(L);
  yolk__lua_open_buffer(L);
  yolk__lua_open_timer(L);
  yolk__lua_open_fs(L);
  yolk__lua_open_fs_watch(L);
  yolk__lua_open_http(L);
  yolk__lua_open_cluster(L);
  yolk__lua_open_socketio(L);
  yolk__lua_open_redis(L);
  return 1;
}
