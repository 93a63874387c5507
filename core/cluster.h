/* cluster.h - `yolk start --workers N [--sticky]`: a master process and N
 * worker processes on one port (internal; the yolk executable and its Lua
 * binding, core/lua/lua_cluster.c, use it).
 *
 * Each worker is a whole yolk (its own loop, Lua state and Socket.IO server),
 * started by the master as `<exe> start --baseDir ... --cluster-worker K`
 * with two extra descriptors: fd 3, an IPC pipe to the master, and fd 4, the
 * socket it serves. Workers are numbered 1..N.
 *
 * Without --sticky, fd 4 is the public TCP socket, bound and listening in the
 * master, shared by every worker: the kernel hands each new connection to one
 * of them (as Node's cluster with SCHED_NONE). A polling Engine.IO session
 * would send its requests to any worker, so this mode is for WebSocket-only
 * clients. The master only starts, watches and signals the workers.
 *
 * With --sticky, the master accepts the connections and routes each HTTP
 * request. Worker K makes session ids starting with yolk__id_alphabet[K-1]
 * (yolk_eio_options_t.sid_prefix), so the sid of a request names its worker:
 * no table. A request without sid (a handshake, any other request) goes to
 * the least loaded worker (open sessions as the worker last reported them,
 * plus the handshakes routed to it since), preferring those heard from in
 * the last second (a silent one is busy in a callback, or blocked). Then:
 *  - a WebSocket upgrade: the master gives the TCP connection itself to the
 *    worker (uv_write2 over the IPC pipe, with the request's bytes; the worker
 *    adopts it, http.h), and is out of the way from then on;
 *  - any other request (polling, the application's routes, the client
 *    bundle): proxied over the worker's Unix socket (fd 4; the master keeps a
 *    pool of idle connections per worker), with the client's address in
 *    YOLK_HTTP_PEER_HEADER, which only that socket honours. Requests of one
 *    client connection may go to different workers, one after the other: the
 *    routing is per request, never per connection.
 *
 * Lifetimes: the master restarts a worker that dies (at most
 * YOLK_CLUSTER_MAX_RESTARTS per worker per minute) and routes nothing to it
 * meanwhile; its sessions are gone (their requests get "Session ID unknown",
 * their clients reconnect). A worker whose loop stays silent on the pipe for
 * blocked_restart_ms (a callback that never returns) is killed (SIGKILL: a
 * blocked loop would not see SIGTERM) and restarted the same way. A worker
 * whose master goes away (the IPC pipe's EOF) stops by itself.
 *
 * The IPC messages are frames: a 4-byte little-endian length (of what
 * follows), a type byte, the payload. */
#ifndef YOLK_CLUSTER_H
#define YOLK_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "yolk.h"

/* A worker's loop writes to the master at least this often (a load report
 * or a heartbeat): silence means the loop is blocked. */
#define YOLK_CLUSTER_BEAT_MS 250
/* One sid prefix character per worker. */
#define YOLK_CLUSTER_MAX_WORKERS 64
#define YOLK_CLUSTER_MAX_RESTARTS 5 /* per worker per minute */
/* The descriptors a worker finds its master's pipe and its socket on. */
enum { YOLK_CLUSTER_IPC_FD = 3, YOLK_CLUSTER_LISTEN_FD = 4 };

/* ---- the master ---------------------------------------------------------- */

typedef struct yolk_cluster_master_s yolk_cluster_master_t;

typedef struct {
  unsigned workers; /* 1..YOLK_CLUSTER_MAX_WORKERS */
  int sticky;
  const char *host; /* literal address, as yolk__http_server_listen takes it */
  int port;
  /* The command line of a worker after the executable, e.g. { "start",
   * "--baseDir", dir, "--env", env, NULL }; the master adds
   * "--cluster-worker K" (and "--sticky"). Copied. */
  const char *const *worker_args;
  /* --sticky: the Engine.IO path ("/socket.io/"), and the HTTP limits of the
   * workers (the master reads whole requests before it routes them). */
  const char *eio_path;
  size_t max_body_size;
  /* A ready worker not heard from for this long has a blocked loop (an
   * application callback that does not return): the master kills it and
   * starts another. 0: never. Workers send something every
   * YOLK_CLUSTER_BEAT_MS. */
  unsigned blocked_restart_ms;
  /* --sticky: the metrics endpoint (config.metrics.path), answered by the
   * master with every worker's figures; NULL: none (requests of that path
   * go to a worker like any other). Without --sticky the workers relay it. */
  const char *metrics_path;
  /* The master cannot go on (a worker failed to start, or none is left):
   * the owner should stop it (yolk__cluster_master_stop) and exit 1. */
  void (*on_fatal)(void *ud);
  void *ud;
} yolk_cluster_options_t;

/* Binds (sticky: listens), then starts the workers. 0, or a libuv error with
 * a message in err. */
int yolk__cluster_master_start(uv_loop_t *loop, const yolk_cluster_options_t *opts, yolk_cluster_master_t **out,
                               char *err, size_t errlen);
/* SIGHUP: each ready worker in turn gets SIGHUP (it reloads its Lua code)
 * and the next one follows once it has said it is done. */
void yolk__cluster_master_reload(yolk_cluster_master_t *m);
/* Stops accepting, sends SIGTERM to every worker (each closes its clients),
 * SIGKILLs those still running after YOLK_CLUSTER_STOP_MS, then closes
 * everything. done(arg, status) runs once all is closed and the master is
 * freed (maybe before this returns): status 0 when every worker exited
 * cleanly, else 1. */
enum { YOLK_CLUSTER_STOP_MS = 8000 };
void yolk__cluster_master_stop(yolk_cluster_master_t *m, void (*done)(void *arg, int status), void *arg);

/* ---- a worker --------------------------------------------------------------- */

typedef struct yolk_cluster_worker_s yolk_cluster_worker_t;

/* Opens the master's pipe (fd 3) for worker id (1..N). on_master_gone runs
 * when the master went away (the owner should stop the process). 0, or -1
 * with a message in err (not started by a master). */
int yolk__cluster_worker_new(uv_loop_t *loop, unsigned id, int sticky, void (*on_master_gone)(void *ud), void *ud,
                             yolk_cluster_worker_t **out, char *err, size_t errlen);
/* The sid prefix of this worker (sticky), as a string. */
const char *yolk__cluster_worker_sid_prefix(const yolk_cluster_worker_t *w);
/* Serves srv on fd 4 (and, sticky, the connections the master hands over)
 * and tells the master the worker is ready. eio: the server's Engine.IO
 * (its session count is the worker's load), or NULL. */
int yolk__cluster_worker_serve(yolk_cluster_worker_t *w, yolk_server_t *srv, yolk_eio_server_t *eio);
/* Tells the master that a reload (SIGHUP) is done. */
void yolk__cluster_worker_reloaded(yolk_cluster_worker_t *w, int ok);
/* Closes the pipe; done(arg) once every handle is closed and w is freed. */
void yolk__cluster_worker_close(yolk_cluster_worker_t *w, void (*done)(void *arg), void *arg);

/* ---- the pipe between them (cluster_ipc.c) -------------------------------------- */

enum {
  YOLK_CLUSTER_MSG_READY = 1,    /* worker -> master: serving */
  YOLK_CLUSTER_MSG_LOAD = 2,     /* worker -> master: 4 bytes LE, its open Engine.IO sessions */
  YOLK_CLUSTER_MSG_RELOADED = 3, /* worker -> master: 1 byte, 1 when the reload worked */
  YOLK_CLUSTER_MSG_CONN = 4,     /* master -> worker: a TCP socket rides along; the bytes read from it */
  YOLK_CLUSTER_MSG_BEAT = 5,     /* worker -> master: its loop is running (when it has no load to report) */
  /* metrics: the master asks every worker for its figures (a scrape of its
   * endpoint, or one a worker relayed); each payload starts with the
   * scrape's 4-byte LE id */
  YOLK_CLUSTER_MSG_METRICS_ASK = 6,    /* master -> worker: id */
  YOLK_CLUSTER_MSG_METRICS = 7,        /* worker -> master: id, the worker's exposition text */
  YOLK_CLUSTER_MSG_METRICS_RELAY = 8,  /* worker -> master: id (the worker's): a client asked it */
  YOLK_CLUSTER_MSG_METRICS_ANSWER = 9, /* master -> worker: id (the worker's), the whole cluster's text */
};
#define YOLK_CLUSTER_MSG_MAX (4u << 20) /* larger frames are a broken peer */

/* Starts a frame at the end of sb (its start is sb->len before the call):
 * append the payload, then yolk__cluster_msg_finish writes the length. */
void yolk__cluster_msg_begin(yolk_sb_t *sb, int type);
void yolk__cluster_msg_finish(yolk_sb_t *sb, size_t start);
/* Takes the next complete frame off in (bytes read so far, from in_off).
 * 1: *type, *payload, *len set (valid until in changes); 0: incomplete;
 * -1: malformed. */
int yolk__cluster_msg_next(yolk_sb_t *in, size_t *in_off, int *type, const char **payload, size_t *len);
/* Sends a small frame with uv_write (buffer and request allocated here). */
int yolk__cluster_msg_send(uv_pipe_t *pipe, int type, const void *payload, size_t len);
/* The same with a 4-byte LE id before the payload; and reading it back
 * (0 when the payload is too short). */
int yolk__cluster_msg_send_id(uv_pipe_t *pipe, int type, uint32_t id, const void *payload, size_t len);
int yolk__cluster_msg_id(const char *payload, size_t len, uint32_t *id);

#endif
