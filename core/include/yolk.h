/* yolk.h - the public API of libyolk, the C core of the yolk Socket.IO server.
 *
 * An embedding program creates a yolk_server_t (an HTTP/1.1 listener on a
 * libuv loop), attaches an Engine.IO server to it (and, above that, Socket.IO),
 * and runs the loop. Everything runs on that one loop thread; no call blocks.
 *
 * Ownership rules, once for the whole API:
 *  - strings and bytes passed in are copied unless a function says otherwise;
 *  - pointers handed to callbacks are valid only during the callback, unless
 *    the callback's comment says otherwise;
 *  - objects returned by *_new have one reference, released with *_unref.
 */
#ifndef YOLK_H
#define YOLK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- logging ------------------------------------------------------------- */

enum { YOLK_LOG_DEBUG = 10, YOLK_LOG_INFO = 20, YOLK_LOG_WARN = 30, YOLK_LOG_ERROR = 40 };
typedef void (*yolk_log_sink_cb)(int level, const char *line, size_t len, void *ud);
void yolk_log_set_level(int level);
int yolk_log_get_level(void);
/* Every formatted line (already written to stderr) is also passed to cb. */
void yolk_log_set_sink(yolk_log_sink_cb cb, void *ud);
void yolk_log_write(int level, const char *component, const char *msg);

/* ---- HTTP server ----------------------------------------------------------- */

typedef struct yolk_server_s yolk_server_t;
typedef struct yolk_http_req_s yolk_http_req_t; /* one HTTP request; see the accessors below */

typedef struct {
  size_t max_header_size;        /* 16 KiB */
  size_t max_body_size;          /* 1e6; raised to the Engine.IO maxHttpBufferSize if larger */
  unsigned header_timeout_ms;    /* 10000 */
  unsigned keepalive_timeout_ms; /* 5000 */
} yolk_server_options_t;

void yolk_server_options_init(yolk_server_options_t *opts);
int yolk_server_new(uv_loop_t *loop, const yolk_server_options_t *opts, yolk_server_t **out);
/* Binds host:port (port 0: any free port) and listens. 0 or a libuv error code. */
int yolk_server_listen(yolk_server_t *srv, const char *host, int port);
int yolk_server_port(yolk_server_t *srv);
/* Handler for HTTP requests that no attached protocol claims. It must answer
 * each request exactly once with yolk_http_respond (now or later). Without a
 * handler such requests get 404. */
typedef void (*yolk_http_handler_cb)(yolk_http_req_t *req, void *ud);
void yolk_server_set_handler(yolk_server_t *srv, yolk_http_handler_cb cb, void *ud);
/* Closes the listener and all connections; cb runs once everything is freed. */
void yolk_server_close(yolk_server_t *srv, void (*cb)(void *arg), void *arg);
uv_loop_t *yolk_server_loop(yolk_server_t *srv);

/* Request accessors (valid until the request is answered). */
const char *yolk_http_req_method(const yolk_http_req_t *req);
const char *yolk_http_req_url(const yolk_http_req_t *req);
const char *yolk_http_req_path(const yolk_http_req_t *req);
const char *yolk_http_req_query(const yolk_http_req_t *req);
const char *yolk_http_req_header(const yolk_http_req_t *req, const char *name);
/* The i-th header (names lower-case); returns 0 past the end. */
int yolk_http_req_header_at(const yolk_http_req_t *req, size_t i, const char **name, const char **value);
const char *yolk_http_req_body(const yolk_http_req_t *req, size_t *len);
const char *yolk_http_req_remote_addr(const yolk_http_req_t *req);
/* headers: extra header lines each ending in "\r\n", or NULL. Frees req. */
void yolk_http_respond(yolk_http_req_t *req, int status, const char *headers, const void *body, size_t len);
/* Called if the connection closes before the request was answered; the
 * request is freed right after cb returns. */
void yolk_http_req_on_abort(yolk_http_req_t *req, void (*cb)(yolk_http_req_t *req, void *ud), void *ud);

/* ---- Engine.IO ------------------------------------------------------------- */

typedef struct yolk_eio_server_s yolk_eio_server_t;
typedef struct yolk_eio_socket_s yolk_eio_socket_t;
typedef struct yolk_eio_msg_s yolk_eio_msg_t;

enum { YOLK_TRANSPORT_POLLING = 1, YOLK_TRANSPORT_WEBSOCKET = 2 };

/* Engine.IO error codes, as the reference server sends them in
 * {"code":N,"message":...}. */
enum {
  YOLK_EIO_ERR_UNKNOWN_TRANSPORT = 0,
  YOLK_EIO_ERR_UNKNOWN_SID = 1,
  YOLK_EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
  YOLK_EIO_ERR_BAD_REQUEST = 3,
  YOLK_EIO_ERR_FORBIDDEN = 4,
  YOLK_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};

typedef struct {
  const char *path;             /* "/engine.io/" (Socket.IO uses "/socket.io/") */
  unsigned ping_interval_ms;    /* 25000 */
  unsigned ping_timeout_ms;     /* 20000 */
  unsigned upgrade_timeout_ms;  /* 10000 */
  size_t max_http_buffer_size;  /* 1e6: max message / POST body, announced as maxPayload */
  int allow_eio3;               /* accept Engine.IO v3 clients (socket.io v2) */
  unsigned transports;          /* YOLK_TRANSPORT_POLLING | YOLK_TRANSPORT_WEBSOCKET */
  int allow_upgrades;           /* 1 */
  /* CORS: NULL (no CORS headers), "*", a comma-separated list of origins, or
   * "reflect" (echo the request's Origin). With credentials, "*" is answered
   * with the request's Origin, as browsers require. */
  const char *cors_origin;
  int cors_credentials;
  /* allowRequest: return -1 to accept, or a YOLK_EIO_ERR_* code to refuse the
   * handshake (answered 403 for FORBIDDEN, else 400). NULL accepts all. */
  int (*allow_request)(const yolk_http_req_t *req, void *ud);
  /* A new session (after the open packet was queued). */
  void (*on_connection)(yolk_eio_socket_t *socket, void *ud);
  void *ud;
} yolk_eio_options_t;

void yolk_eio_options_init(yolk_eio_options_t *opts);
/* Routes requests under opts->path on srv to a new Engine.IO server. Strings
 * in opts are copied. The server is freed with srv. */
yolk_eio_server_t *yolk_eio_attach(yolk_server_t *srv, const yolk_eio_options_t *opts);
size_t yolk_eio_clients_count(const yolk_eio_server_t *eio);

typedef struct {
  /* A message from the client; binary or text. data valid during the call. */
  void (*on_message)(yolk_eio_socket_t *socket, int binary, const char *data, size_t len, void *ud);
  /* The session is closed ("transport close", "ping timeout", "transport
   * error", "forced close", "server shutting down", ...). The socket is freed
   * right after this returns. Called exactly once. */
  void (*on_close)(yolk_eio_socket_t *socket, const char *reason, void *ud);
  /* Everything queued has been handed to the transport (optional). */
  void (*on_drain)(yolk_eio_socket_t *socket, void *ud);
} yolk_eio_socket_handler_t;

void yolk_eio_socket_set_handler(yolk_eio_socket_t *socket, const yolk_eio_socket_handler_t *h, void *ud);
const char *yolk_eio_socket_id(const yolk_eio_socket_t *socket);
int yolk_eio_socket_protocol(const yolk_eio_socket_t *socket); /* 3 or 4 */
const char *yolk_eio_socket_transport(const yolk_eio_socket_t *socket); /* "polling" | "websocket" */
/* The handshake request, kept for the socket's lifetime. */
typedef struct {
  const char *url;          /* e.g. "/socket.io/?EIO=4&transport=polling&t=..." */
  const char *query;        /* raw query string */
  const char *remote_addr;
  uint64_t time_ms;         /* wall-clock ms when the session opened */
  size_t nheaders;
  const char *const *header_names;  /* lower-case */
  const char *const *header_values;
} yolk_eio_handshake_t;
const yolk_eio_handshake_t *yolk_eio_socket_handshake(const yolk_eio_socket_t *socket);

/* Sends one message (copied). 0, or -1 if the socket is closing/closed. */
int yolk_eio_send(yolk_eio_socket_t *socket, int binary, const void *data, size_t len);

/* A message encoded once and sent to many sockets: the WebSocket frames for
 * v4 and v3 are built at most once each and shared by every recipient. */
yolk_eio_msg_t *yolk_eio_msg_new(int binary, const void *data, size_t len);
yolk_eio_msg_t *yolk_eio_msg_ref(yolk_eio_msg_t *msg);
void yolk_eio_msg_unref(yolk_eio_msg_t *msg);
enum { YOLK_EIO_SEND_VOLATILE = 1 /* drop when the transport is not writable now */ };
int yolk_eio_send_msg(yolk_eio_socket_t *socket, yolk_eio_msg_t *msg, int flags);

/* Closes the session (flushes what is queued first). on_close follows later. */
void yolk_eio_socket_close(yolk_eio_socket_t *socket);

#ifdef __cplusplus
}
#endif
#endif
