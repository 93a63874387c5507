/* http.h - HTTP/1.1 server on libuv + llhttp (internal).
 *
 * One yolk_http_server_t listens; each accepted TCP connection parses
 * requests with llhttp. Requests on a connection are handled one at a time, in
 * order: while a request waits for its response (an Engine.IO long-poll can
 * wait for seconds), later pipelined requests stay buffered and are parsed
 * after the response is written.
 *
 * Limits: header bytes > max_header_size -> 431 and close; body bytes >
 * max_body_size -> 413 and close; headers not complete within
 * header_timeout_ms -> 408 and close; malformed request -> 400 and close.
 * Each gets a log line. Idle keep-alive connections close after
 * keepalive_timeout_ms.
 *
 * Ownership: a yolk_http_req_t and every string in it belong to the HTTP
 * layer. They stay valid from on_request until the handler answers with
 * yolk__http_respond*() (exactly once; the request is freed inside that call)
 * or, if the connection closes first, until req->on_abort returns (the
 * request is freed right after; the handler must forget it). Answering from
 * inside on_abort is allowed and does nothing. All strings of a request share
 * its allocation (the body apart): never free them.
 *
 * Connections close gracefully: after the last byte we send FIN and discard
 * input until the peer's EOF (at most 1 s), so an error response is not
 * destroyed by a TCP reset. SIGPIPE is ignored by yolk__http_server_init
 * unless the program installed a handler (libuv writes with write(2)).
 */
#ifndef YOLK_HTTP_H
#define YOLK_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "yolk.h"

typedef struct yolk_http_server_s yolk_http_server_t;
typedef struct yolk_http_conn_s yolk_http_conn_t;

typedef struct {
  char *name; /* lower-cased, NUL-terminated */
  char *value; /* NUL-terminated, surrounding whitespace trimmed */
} yolk_http_header_t;

struct yolk_http_req_s {
  yolk_http_conn_t *conn;
  const char *method; /* "GET", "POST", ... */
  char *url;          /* raw request target, e.g. "/engine.io/?EIO=4&transport=polling" */
  char *path;         /* url before '?', not decoded */
  char *query;        /* url after '?', not decoded; "" when absent */
  yolk_http_header_t *headers;
  size_t nheaders;
  char *body;         /* NUL-terminated for convenience; body_len bytes */
  size_t body_len;
  int http_major, http_minor;
  int keep_alive;     /* the connection may be reused after the response */
  int upgrade;        /* this is a WebSocket upgrade request (Upgrade: websocket) */
  char remote_addr[64]; /* peer IP as text */
  uint64_t start_ms;  /* uv_now when the request completed */

  /* Set by the handler if it keeps the request pending: called when the
   * connection goes away before a response was sent. */
  void (*on_abort)(yolk_http_req_t *req);
  void *data; /* the handler's */
};

typedef struct {
  /* A complete request (headers and body). Answer now or later. For an
   * upgrade request (req->upgrade), answer with yolk__ws_accept() or with
   * an error response (the connection then closes). */
  void (*on_request)(yolk_http_req_t *req, void *ud);
  void *ud;
  size_t max_header_size;        /* default 16 KiB */
  size_t max_body_size;          /* default 1 MB */
  unsigned header_timeout_ms;    /* default 10000 */
  unsigned keepalive_timeout_ms; /* default 5000 */
} yolk_http_config_t;

void yolk__http_config_init(yolk_http_config_t *cfg);

int yolk__http_server_init(uv_loop_t *loop, yolk_http_server_t **out, const yolk_http_config_t *cfg);
/* Binds and listens; returns 0 or a libuv error. host is a literal IPv4 or
 * IPv6 address ("127.0.0.1", "0.0.0.0", "::1", "::"); "localhost", "" and
 * NULL mean 127.0.0.1. port 0 picks a free port. */
int yolk__http_server_listen(yolk_http_server_t *srv, const char *host, int port);
/* The bound port (after listen on TCP), else -1. */
int yolk__http_server_port(yolk_http_server_t *srv);
/* Serves fd, an already connected stream socket, as if it had been accepted
 * (in-process tests and the fuzzer hand it one end of a socketpair). Returns
 * 0 (the connection owns fd from then on), or a libuv error (fd is still the
 * caller's). */
int yolk__http_server_adopt(yolk_http_server_t *srv, uv_os_sock_t fd);
/* Stops listening, closes every connection (pending requests get on_abort),
 * and frees the server once every handle is closed; then calls cb. */
void yolk__http_server_close(yolk_http_server_t *srv, void (*cb)(void *arg), void *arg);

/* What the server has carried since it started, and what waits now (for
 * metrics; the totals cost one addition per read and per write, the rest is
 * counted by walking the connections when asked). */
typedef struct {
  uint64_t bytes_read;    /* read from its connections' sockets (WebSocket traffic included) */
  uint64_t bytes_written; /* written to them: taken by the kernel */
  size_t connections;     /* open connections */
  size_t queued_bytes;    /* queued on them, not yet taken by the kernel */
} yolk_http_stats_t;
void yolk__http_server_stats(const yolk_http_server_t *srv, yolk_http_stats_t *st);

/* Case-insensitive header lookup; the value or NULL. */
const char *yolk__http_req_header(const yolk_http_req_t *req, const char *name);

/* Sends the response and frees req. headers: extra header lines, each ending
 * "\r\n" (may be NULL); Content-Length, Date and Connection are added here.
 * The body is copied. */
void yolk__http_respond(yolk_http_req_t *req, int status, const char *headers, const void *body, size_t len);
/* Same, with a shared body buffer: adds its own reference to body (the caller
 * still owns and releases its reference), so one buffer can answer many. */
void yolk__http_respond_buf(yolk_http_req_t *req, int status, const char *headers, yolk_buf_t *body);
/* Responds and closes the connection after the write (errors on bad input). */
void yolk__http_respond_close(yolk_http_req_t *req, int status, const char *headers, const void *body, size_t len);

const char *yolk__http_status_text(int status);

/* Request headers as Node's IncomingMessage shows them (req.headers): once per
 * distinct name, in first-appearance order, with repeated lines joined by
 * ", " ("; " for cookie), only the first kept for the headers Node keeps
 * single (host, content-type, user-agent, ...), and set-cookie as an array:
 * cb is then called once per line with multi = 1. Names are lower-case. */
typedef void (*yolk_header_cb)(void *ud, const char *name, const char *value, size_t len, int multi);
void yolk__http_headers_each(const char *const *names, const char *const *values, size_t n, yolk_header_cb cb,
                             void *ud);
/* 1 when the comma-separated header value contains token (case-insensitive),
 * e.g. yolk__http_has_token("keep-alive, Upgrade", "upgrade"). */
int yolk__http_has_token(const char *value, const char *token);

/* ---- used by the WebSocket layer to take over a connection ---------------- */

/* Callbacks for a protocol that takes the connection over (WebSocket). */
typedef struct {
  void (*on_read)(void *owner, const char *data, size_t len); /* bytes from the peer */
  void (*on_close)(void *owner);                               /* the TCP connection is closed */
} yolk_conn_handler_t;

/* Detaches the connection from HTTP parsing, writes the raw response bytes in
 * head (e.g. the 101), frees req, and routes every later byte (including any
 * already read past the request) to handler (kept by reference: it must
 * outlive the connection). Returns the connection, or NULL
 * if it is already closing (req is freed; handler is never called). Bytes
 * read past the request are delivered from the loop after this returns, never
 * from inside it. handler->on_close is called exactly once, from a libuv close
 * callback; the connection is freed right after it returns. */
yolk_http_conn_t *yolk__http_takeover(yolk_http_req_t *req, const char *head, size_t head_len,
                                      const yolk_conn_handler_t *handler, void *owner);
/* Queues a shared buffer: the connection adds its own reference (released when
 * written); the caller keeps and later drops its own. 0, or -1 if closed (no
 * reference taken). Writes are corked until the end of the current loop
 * iteration, so everything queued in one tick leaves in one syscall. */
int yolk__conn_write(yolk_http_conn_t *conn, yolk_buf_t *buf);
/* Bytes queued and not yet written. */
size_t yolk__conn_pending(yolk_http_conn_t *conn);
/* 1 while the kernel has not taken everything written before this loop
 * iteration (a write is in flight): the peer is not keeping up right now. */
int yolk__conn_backlogged(yolk_http_conn_t *conn);
/* Calls over(owner) once when, after the writes of a loop iteration went to
 * the kernel, more than max bytes are still waiting (a peer that stopped
 * reading). Called from the end of the iteration, never inside a write. */
void yolk__conn_limit_backlog(yolk_http_conn_t *conn, size_t max, void (*over)(void *owner));
/* Closes after queued writes are flushed; on_close follows asynchronously. */
void yolk__conn_close(yolk_http_conn_t *conn);
/* Closes now, dropping queued writes. */
void yolk__conn_abort(yolk_http_conn_t *conn);
uv_loop_t *yolk__conn_loop(yolk_http_conn_t *conn);
/* "ip:port" of the peer, for log lines. */
const char *yolk__conn_peer(yolk_http_conn_t *conn);
/* One-shot timer owned by the taker-over (the connection's own timer, idle
 * after a takeover): cb(owner) after ms; a new call replaces the previous one,
 * cb NULL stops it. Never fires after the connection started closing. */
void yolk__conn_set_timeout(yolk_http_conn_t *conn, uint64_t ms, void (*cb)(void *owner));

/* ---- cluster mode: connections that cross processes (core/cluster.h) ---------- */

/* A request header that a yolk cluster master adds to every request it proxies
 * to a worker: the client's address. Only a YOLK_HTTP_LISTEN_TRUSTED listener
 * honours it (elsewhere it is an ordinary header); there it becomes
 * req->remote_addr and is removed from the request's headers. */
#define YOLK_HTTP_PEER_HEADER "x-yolk-peer"

enum {
  /* The listener's connections come from the cluster master, which speaks
   * for its clients: YOLK_HTTP_PEER_HEADER is honoured, and idle connections
   * are not timed out (the master pools them and closes them itself). */
  YOLK_HTTP_LISTEN_TRUSTED = 1,
};

/* Listens on fd, a socket another process bound (and may have put in the
 * listening state): TCP, or Unix domain. flags: YOLK_HTTP_LISTEN_*. The
 * server owns fd from this call on, also when it fails. 0 or a libuv error. */
int yolk__http_server_listen_fd(yolk_http_server_t *srv, int fd, unsigned flags);
/* Stops accepting: the listener closes, the connections stay. */
void yolk__http_server_unlisten(yolk_http_server_t *srv);
/* Accepts the connection pending on ipc (an IPC pipe on which another process
 * sent a TCP socket; uv_pipe_pending_count > 0) as a new connection whose
 * first bytes are pre[0..len) (copied): the request that process read and
 * parsed before it handed the connection over, and what it read after it.
 * They are parsed from the loop, as if just read. Takes the pending handle
 * off the pipe in any case. 0 or a libuv error. */
int yolk__http_server_adopt_ipc(yolk_http_server_t *srv, uv_pipe_t *ipc, const char *pre, size_t len);

/* The other end of adopt_ipc: gives req's connection up instead of answering
 * it (req is freed; the server forgets the connection). Once everything
 * queued on it has been written (an earlier response), cb(owner, fd, rest,
 * rest_len) runs, from the loop and never inside this call: fd is a
 * duplicate of the connection's socket, owned by the callee from then on
 * (e.g. to send it to another process over an IPC pipe), and rest the bytes
 * read past the request (valid during the call; reading stopped when the
 * request was released, the rest is still in the kernel). If the connection
 * fails first, cb runs with fd -1. Returns 0 (cb runs exactly once), or -1
 * when the connection is already closing (req is freed; cb never runs). */
typedef void (*yolk_http_release_cb)(void *owner, int fd, const char *rest, size_t rest_len);
int yolk__http_release(yolk_http_req_t *req, yolk_http_release_cb cb, void *owner);

#endif
