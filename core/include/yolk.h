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
#include <cjson/cJSON.h>

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
  /* NULL, or the first characters of every session id this server makes
   * (at most YOLK_EIO_SID_PREFIX_MAX of them; random characters follow, 20
   * characters in all). A front that routes requests by their sid uses it:
   * `yolk start --workers N --sticky` gives worker k the prefix
   * "ABC...xyz012...-_"[k - 1], so the master finds a session's worker in
   * the sid itself. Session ids stay unguessable (the rest is random). */
  const char *sid_prefix;
} yolk_eio_options_t;
enum { YOLK_EIO_SID_PREFIX_MAX = 4 };

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
/* 0 queued, 1 dropped (VOLATILE and the transport not writable now: the
 * caller drops the rest of a multi-message packet too), -1 closing/closed. */
int yolk_eio_send_msg(yolk_eio_socket_t *socket, yolk_eio_msg_t *msg, int flags);

/* Closes the session: what is queued goes out first, then the close packet
 * (over polling on a GET of its own; during an upgrade, once the upgrade is
 * done). on_close follows later. */
void yolk_eio_socket_close(yolk_eio_socket_t *socket);


/* ---- Socket.IO -------------------------------------------------------------
 *
 * Protocol v5 (socket.io v3/v4 clients, Engine.IO v4) and v4 (socket.io v2
 * clients, Engine.IO v3). Event arguments cross this API as a cJSON array
 * whose first element is the event name; binary values appear in it as
 * placeholders {"_placeholder":true,"num":i} that index an array of
 * yolk_sio_bin_t attachments (as on the wire). Ack arguments are a cJSON
 * array too (no event name).
 *
 * Lifetimes: a yolk_sio_socket_t is valid from on_connect until its on_close
 * callback returns; every socket that got on_connect gets exactly one
 * on_close. Namespaces live as long as the server.
 */


typedef struct yolk_sio_server_s yolk_sio_server_t;
typedef struct yolk_sio_nsp_s yolk_sio_nsp_t;
typedef struct yolk_sio_socket_s yolk_sio_socket_t;
typedef struct yolk_sio_adapter_s yolk_sio_adapter_t;

typedef struct {
  const void *data;
  size_t len;
} yolk_sio_bin_t;

typedef struct {
  yolk_eio_options_t eio;        /* path defaults to "/socket.io/"; on_connection and ud are Socket.IO's */
  unsigned connect_timeout_ms;   /* 45000: close clients that join no namespace */
  unsigned max_attachments;      /* 10: most binary attachments in a packet from a client */
  /* Serve the browser client (socket.io.js, socket.io.min.js, socket.io.esm.min.js
   * and their .map) under the path from this directory, e.g.
   * node_modules/socket.io-client/dist. NULL: not served. */
  const char *client_dist_dir;
  /* Socket ids for v5 connections. NULL: 20 random base64url characters.
   * Writes a NUL-terminated id of at most outlen-1 bytes into out; returns 0,
   * or -1 to fall back to a random id. */
  int (*generate_id)(const yolk_eio_handshake_t *hs, char *out, size_t outlen, void *ud);
  void *ud;
} yolk_sio_options_t;

void yolk_sio_options_init(yolk_sio_options_t *opts);
/* Attaches Engine.IO (opts->eio) and Socket.IO to srv. The namespace "/" exists
 * from the start; others are created with yolk_sio_of. */
yolk_sio_server_t *yolk_sio_attach(yolk_server_t *srv, const yolk_sio_options_t *opts);
yolk_eio_server_t *yolk_sio_engine(yolk_sio_server_t *sio);
/* The namespace with that name, created on first use. */
yolk_sio_nsp_t *yolk_sio_of(yolk_sio_server_t *sio, const char *name);
/* The namespace if it exists, else NULL. */
yolk_sio_nsp_t *yolk_sio_find_nsp(yolk_sio_server_t *sio, const char *name);
const char *yolk_sio_nsp_name(const yolk_sio_nsp_t *nsp);
yolk_sio_server_t *yolk_sio_nsp_server(const yolk_sio_nsp_t *nsp);

/* Closes every client ("server shutting down"); the server is freed with srv. */
void yolk_sio_close(yolk_sio_server_t *sio);

typedef struct {
  /* A client asks to join the namespace. The socket exists (it has its id and
   * is in the room of that id) but is not admitted: nothing has been sent to
   * the client. Admit it with yolk_sio_socket_admit or refuse it with
   * yolk_sio_socket_refuse, now or later (connection middleware). What is
   * emitted to it meanwhile is delivered right after its CONNECT ack. */
  void (*on_connect)(yolk_sio_socket_t *s, void *ud);
  /* An EVENT from an admitted socket. args: the array [event, ...] (placeholders
   * for binary). ack_id >= 0 when the client asked for an ack: answer with
   * yolk_sio_socket_ack (once). args and bins valid during the call only. */
  void (*on_event)(yolk_sio_socket_t *s, const cJSON *args, const yolk_sio_bin_t *bins, size_t nbins,
                   int64_t ack_id, void *ud);
  /* The socket is leaving (still in its rooms). Not called for a refused socket. */
  void (*on_disconnecting)(yolk_sio_socket_t *s, const char *reason, void *ud);
  /* The socket is gone: called once for every socket that got on_connect
   * (refused ones too, with reason "refused"). Freed right after. */
  void (*on_close)(yolk_sio_socket_t *s, const char *reason, void *ud);
} yolk_sio_nsp_handler_t;

void yolk_sio_nsp_set_handler(yolk_sio_nsp_t *nsp, const yolk_sio_nsp_handler_t *h, void *ud);

/* --- sockets --- */
const char *yolk_sio_socket_id(const yolk_sio_socket_t *s);
yolk_sio_nsp_t *yolk_sio_socket_nsp(const yolk_sio_socket_t *s);
yolk_eio_socket_t *yolk_sio_socket_engine(const yolk_sio_socket_t *s);
int yolk_sio_socket_protocol(const yolk_sio_socket_t *s); /* 5 or 4 */
int yolk_sio_socket_connected(const yolk_sio_socket_t *s); /* admitted and not disconnected */
/* The CONNECT payload (v5, an object) or the namespace query string parsed into
 * an object (v4); never NULL. Owned by the socket. */
const cJSON *yolk_sio_socket_auth(const yolk_sio_socket_t *s);
void yolk_sio_socket_set_data(yolk_sio_socket_t *s, void *data);
void *yolk_sio_socket_get_data(const yolk_sio_socket_t *s);
/* socket.data as JSON (copied), reported by fetch_sockets (also to other
 * nodes); NULL clears it ("data": null). */
void yolk_sio_socket_set_data_json(yolk_sio_socket_t *s, const cJSON *data);
/* A new object (the caller deletes it) shaped like socket.handshake:
 * {"headers":{...},"time","address","xdomain","secure","issued","url",
 *  "query":{...},"auth":{...}}. */
cJSON *yolk_sio_socket_handshake(const yolk_sio_socket_t *s);

void yolk_sio_socket_admit(yolk_sio_socket_t *s);
/* err: {"message":..., "data":...} (v5 sends it as is; v4 sends, as the
 * reference does, err.data when present, else the message string). Copied.
 * The socket is closed (on_close "refused") after the current callback. */
void yolk_sio_socket_refuse(yolk_sio_socket_t *s, const cJSON *err);

/* Result of an emit with an ack: args (an array) and bins, or err set
 * ("timeout", "socket disconnected"). */
typedef void (*yolk_sio_ack_cb)(void *ud, const char *err, const cJSON *args, const yolk_sio_bin_t *bins,
                                size_t nbins);
enum { YOLK_SIO_VOLATILE = 1 };
/* Emits args ([event, ...]). With ack_cb, asks for an ack; ack_cb is called
 * exactly once (the answer, the timeout when timeout_ms > 0, or disconnect).
 * Returns 0, or -1 when the socket is gone (ack_cb is then not called). */
int yolk_sio_socket_emit(yolk_sio_socket_t *s, const cJSON *args, const yolk_sio_bin_t *bins, size_t nbins,
                         int flags, yolk_sio_ack_cb ack_cb, void *ack_ud, unsigned timeout_ms);
/* Answers the client's ack request ack_id with args (an array). */
int yolk_sio_socket_ack(yolk_sio_socket_t *s, int64_t ack_id, const cJSON *args, const yolk_sio_bin_t *bins,
                        size_t nbins);
void yolk_sio_socket_join(yolk_sio_socket_t *s, const char *room);
void yolk_sio_socket_leave(yolk_sio_socket_t *s, const char *room);
/* Calls cb for each room the socket is in (its own id included). */
void yolk_sio_socket_rooms(const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud), void *ud);
/* Disconnects from the namespace (sends DISCONNECT); close=1 also closes the
 * whole connection. Safe from any callback: the work is done, and on_close
 * called, after the current callback returns. A socket not yet admitted is
 * admitted first, so it receives its CONNECT ack, what was emitted to it, then
 * the DISCONNECT. */
void yolk_sio_socket_disconnect(yolk_sio_socket_t *s, int close);

/* --- broadcasts (namespace-wide, through the adapter) --- */
typedef struct {
  const char *const *rooms; size_t nrooms;   /* none: every socket of the namespace */
  const char *const *except; size_t nexcept; /* rooms whose sockets are skipped */
  int flags;                                 /* YOLK_SIO_VOLATILE; YOLK_SIO_LOCAL: this node only */
} yolk_sio_target_t;
enum { YOLK_SIO_LOCAL = 2 };

/* The packet is encoded once and the same frames are written to every
 * recipient (no per-recipient copy). */
int yolk_sio_broadcast(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const cJSON *args,
                       const yolk_sio_bin_t *bins, size_t nbins);
/* socket.broadcast / socket.to(...).emit: as yolk_sio_broadcast on the
 * socket's namespace, minus the socket itself (its own room is added to
 * to->except; to may be NULL: everyone else). */
int yolk_sio_socket_broadcast(yolk_sio_socket_t *s, const yolk_sio_target_t *to, const cJSON *args,
                              const yolk_sio_bin_t *bins, size_t nbins);
/* fetchSockets / adapter.clients: the matching sockets, possibly from other
 * nodes. cb gets a cJSON array of objects {"id","rooms":[...],
 * "handshake":{...},"data":...} (or err). cb always runs later from the loop,
 * never inside this call (with every adapter). */
typedef void (*yolk_sio_sockets_cb)(void *ud, const char *err, const cJSON *sockets);
void yolk_sio_fetch_sockets(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud);
void yolk_sio_sockets_join(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const char *const *rooms, size_t n);
void yolk_sio_sockets_leave(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const char *const *rooms, size_t n);
void yolk_sio_disconnect_sockets(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, int close);
/* The local socket with that id in the namespace, or NULL. */
yolk_sio_socket_t *yolk_sio_nsp_socket(yolk_sio_nsp_t *nsp, const char *id);
/* Emits to the other nodes' namespaces (no-op with the in-memory adapter). */
typedef void (*yolk_sio_server_event_cb)(yolk_sio_nsp_t *nsp, const cJSON *args, void *ud);
int yolk_sio_server_side_emit(yolk_sio_nsp_t *nsp, const cJSON *args);
void yolk_sio_nsp_on_server_event(yolk_sio_nsp_t *nsp, yolk_sio_server_event_cb cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif
