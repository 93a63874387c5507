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
/* Every formatted line (already written to stderr) is also passed to cb,
 * possibly from another thread (the Lua watchdog), one call at a time; cb
 * must not log itself. */
void yolk_log_set_sink(yolk_log_sink_cb cb, void *ud);
void yolk_log_write(int level, const char *component, const char *msg);

/* ---- query strings ------------------------------------------------------------ */

/* The first value of the parameter called name in a query string ("a=1&b=2",
 * without the '?'), decoded as URLSearchParams decodes it ('+' is a space,
 * %XX a byte, malformed escapes kept, ill-formed UTF-8 made U+FFFD), written
 * NUL-terminated into out (truncated to outlen - 1 bytes). Returns the length
 * written, or -1 when the parameter is absent. */
int yolk_query_get(const char *query, const char *name, char *out, size_t outlen);

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

/* ---- metrics ------------------------------------------------------------------
 *
 * Every listener has a registry of metrics: its HTTP layer's and Engine.IO's
 * (the listener's own collector), Socket.IO's (registered when it is
 * attached), and what the embedder registers. Counters are the layers' own
 * integers, read only when a scrape asks: nothing is done per packet beyond
 * incrementing them. yolk_server_serve_metrics answers GET and HEAD of a path
 * with them in Prometheus' text format (0.0.4). */

typedef struct yolk_metrics_s yolk_metrics_t;
typedef struct yolk_metrics_writer_s yolk_metrics_writer_t;
enum { YOLK_METRIC_COUNTER = 1, YOLK_METRIC_GAUGE = 2 };

/* The listener's registry (lives as long as srv). */
yolk_metrics_t *yolk_server_metrics(yolk_server_t *srv);
/* Answers GET and HEAD requests of exactly path (query ignored) with the
 * registry in the text format, before the application's handler (a request
 * of another method goes on to the handler), and starts the event loop lag
 * watcher (yolk_event_loop_lag_seconds). Call before listen. 0, or -1 when
 * already serving. */
int yolk_server_serve_metrics(yolk_server_t *srv, const char *path);
/* A collector writes samples when the registry is scraped: declare a family
 * (name, HELP text, type), then write its samples; a family declared by
 * several collectors is written once, with all their samples. */
typedef void (*yolk_metrics_collect_cb)(yolk_metrics_writer_t *w, void *ud);
void yolk_metrics_add_collector(yolk_metrics_t *m, yolk_metrics_collect_cb cb, void *ud);
void yolk_metrics_family(yolk_metrics_writer_t *w, int type, const char *name, const char *help);
/* A sample of the family declared last, with one label (label NULL: none);
 * the value is escaped as the format requires. */
void yolk_metrics_sample(yolk_metrics_writer_t *w, const char *label, const char *value, double v);
/* A label every sample of the registry carries first (NULL: none), e.g. the
 * worker of a cluster. Copied. */
void yolk_metrics_set_label(yolk_metrics_t *m, const char *name, const char *value);
/* The registry as text now (malloc'd, NUL-terminated; the caller frees it). */
char *yolk_metrics_text(yolk_metrics_t *m, size_t *len);

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
  /* Most bytes one connection may leave unread (a client that stopped
   * reading): past it the connection is closed, reason "slow client". 0: 8 MiB. */
  size_t max_buffered_bytes;
  /* Per client address (off by default: behind a proxy every client has the
   * proxy's address): most open sessions, most handshakes in one second.
   * Past either, the handshake is refused (403, Engine.IO error 4). 0: off. */
  unsigned max_clients_per_address;
  unsigned max_handshakes_per_second;
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

/* h is kept by reference (not copied): it must outlive the socket (a static
 * handler table). NULL: no callbacks. */
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
  /* Header i is headers[i]: its lower-case name, NUL, its value, NUL
   * (yolk_eio_header_value). */
  const char *const *headers;
} yolk_eio_handshake_t;
static inline const char *yolk_eio_header_value(const char *header) {
  while (*header) header++;
  return header + 1;
}
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
 * clients, Engine.IO v3).
 *
 * Arguments cross this API as JSON text (yolk_sio_args_t): the array of an
 * event's arguments, its first element the event name ([event, ...]), or of
 * an ack's ([...]). Each binary value is a placeholder
 * {"_placeholder":true,"num":i} indexing the attachments, as on the wire.
 * Text handed to callbacks has been checked (valid JSON, valid event name,
 * valid placeholders); text passed in must be valid JSON: libyolk checks the
 * event name and the placeholders, not the JSON itself (it is not re-parsed
 * on the way out; use any JSON library, or yolk's Lua runtime).
 *
 * Lifetimes: a yolk_sio_socket_t is valid from on_connect until its on_close
 * callback returns; every socket that got on_connect gets exactly one
 * on_close, never while another callback of that socket is running (a socket
 * closed from inside its own callback is finished when that callback has
 * returned). Namespaces live as long as the server.
 */

typedef struct yolk_sio_server_s yolk_sio_server_t;
typedef struct yolk_sio_nsp_s yolk_sio_nsp_t;
typedef struct yolk_sio_socket_s yolk_sio_socket_t;
typedef struct yolk_sio_adapter_s yolk_sio_adapter_t;
typedef struct yolk_sio_gather_s yolk_sio_gather_t;
typedef struct yolk_sio_session_s yolk_sio_session_t;

typedef struct {
  const void *data;
  size_t len;
} yolk_sio_bin_t;

/* An argument list: JSON text (not NUL-terminated) and the attachments its
 * placeholders index. Pointers handed to callbacks are valid during the call. */
typedef struct {
  const char *json;
  size_t len;
  const yolk_sio_bin_t *bins;
  size_t nbins;
} yolk_sio_args_t;

/* Makes the adapter of a namespace (see "Adapters" below). */
typedef yolk_sio_adapter_t *(*yolk_sio_adapter_factory_t)(yolk_sio_nsp_t *nsp, void *ud);

typedef struct {
  yolk_eio_options_t eio;        /* path defaults to "/socket.io/"; on_connection and ud are Socket.IO's */
  unsigned connect_timeout_ms;   /* 45000: close clients that join no namespace */
  unsigned max_attachments;      /* 10: most binary attachments in a packet from a client */
  unsigned max_json_depth;       /* 1000: deepest JSON nesting accepted in a packet from a client */
  unsigned max_namespaces;       /* 32: most namespaces one client may join at once */
  /* Serve the browser client (socket.io.js, socket.io.min.js, socket.io.esm.min.js,
   * socket.io.msgpack.min.js and their .map) under the path from this
   * directory, e.g. node_modules/socket.io-client/dist. NULL: not served. */
  const char *client_dist_dir;
  /* Socket ids for v5 connections. NULL: 20 random base64url characters.
   * Gets the handshake as socket.handshake describes it (JSON text, see
   * yolk_sio_socket_handshake; auth is {} then). Writes a NUL-terminated id
   * of at most outlen-1 bytes into out; returns 0, or -1 to fall back to a
   * random id. */
  int (*generate_id)(const char *handshake_json, size_t len, char *out, size_t outlen, void *ud);
  void *ud;
  /* The adapter of every namespace; NULL: the in-memory adapter. */
  yolk_sio_adapter_factory_t adapter;
  void *adapter_ud;
  /* Connection state recovery (socket.io 4.6's connectionStateRecovery):
   * 0: off. Otherwise how long (ms) a socket lost to its transport (not one
   * that disconnected on purpose) can come back with its id, rooms, data and
   * the packets it missed; while on, every EVENT sent without an ack and not
   * volatile carries its offset as a last argument. */
  unsigned recovery_ms;
  /* The in-memory adapter keeps at most this many packets / bytes of them
   * for recovery (the oldest go first); 0: 10000 packets, 16 MiB. */
  size_t recovery_max_packets;
  size_t recovery_max_bytes;
} yolk_sio_options_t;

void yolk_sio_options_init(yolk_sio_options_t *opts);
/* Attaches Engine.IO (opts->eio) and Socket.IO to srv. The namespace "/" exists
 * from the start; others are created with yolk_sio_of. */
yolk_sio_server_t *yolk_sio_attach(yolk_server_t *srv, const yolk_sio_options_t *opts);
yolk_eio_server_t *yolk_sio_engine(yolk_sio_server_t *sio);
uv_loop_t *yolk_sio_loop(const yolk_sio_server_t *sio);
/* The namespace with that name, created on first use. */
yolk_sio_nsp_t *yolk_sio_of(yolk_sio_server_t *sio, const char *name);
/* The namespace if it exists, else NULL. */
yolk_sio_nsp_t *yolk_sio_find_nsp(yolk_sio_server_t *sio, const char *name);
const char *yolk_sio_nsp_name(const yolk_sio_nsp_t *nsp);
yolk_sio_server_t *yolk_sio_nsp_server(const yolk_sio_nsp_t *nsp);
yolk_sio_adapter_t *yolk_sio_nsp_adapter(const yolk_sio_nsp_t *nsp);

/* Closes every client ("server shutting down"); the server is freed with srv. */
void yolk_sio_close(yolk_sio_server_t *sio);

typedef struct {
  /* A client asks to join the namespace. The socket exists (it has its id and
   * is in the room of that id) but is not admitted: nothing has been sent to
   * the client. Admit it with yolk_sio_socket_admit or refuse it with
   * yolk_sio_socket_refuse, now or later (connection middleware). What is
   * emitted to it meanwhile is delivered right after its CONNECT ack. */
  void (*on_connect)(yolk_sio_socket_t *s, void *ud);
  /* An EVENT from an admitted socket: args is [event, ...]. ack_id >= 0 when
   * the client asked for an ack: answer with yolk_sio_socket_ack (once). */
  void (*on_event)(yolk_sio_socket_t *s, const yolk_sio_args_t *args, int64_t ack_id, void *ud);
  /* The socket is leaving (still in its rooms). Not called for a refused socket. */
  void (*on_disconnecting)(yolk_sio_socket_t *s, const char *reason, void *ud);
  /* The socket is gone: called once for every socket that got on_connect
   * (refused ones too, with reason "refused"). Freed after it returns. */
  void (*on_close)(yolk_sio_socket_t *s, const char *reason, void *ud);
  /* socket.data as JSON text, for fetch_sockets (also answered to other
   * nodes): set *len and return the text, valid until the next call into
   * libyolk; NULL means null. Optional (NULL: data is null). */
  const char *(*data_json)(yolk_sio_socket_t *s, size_t *len, void *ud);
} yolk_sio_nsp_handler_t;

void yolk_sio_nsp_set_handler(yolk_sio_nsp_t *nsp, const yolk_sio_nsp_handler_t *h, void *ud);

/* --- sockets --- */
const char *yolk_sio_socket_id(const yolk_sio_socket_t *s);
yolk_sio_nsp_t *yolk_sio_socket_nsp(const yolk_sio_socket_t *s);
yolk_eio_socket_t *yolk_sio_socket_engine(const yolk_sio_socket_t *s);
int yolk_sio_socket_protocol(const yolk_sio_socket_t *s); /* 5 or 4 */
int yolk_sio_socket_connected(const yolk_sio_socket_t *s); /* admitted and not disconnected */
/* 1 when the socket is a recovered one (connection state recovery): it has
 * its former id, rooms and data (yolk_sio_socket_restored_data) and the
 * packets it missed are queued for it. */
int yolk_sio_socket_recovered(const yolk_sio_socket_t *s);
/* The socket.data of a recovered socket as JSON text (NULL otherwise); owned
 * by the socket. */
const char *yolk_sio_socket_restored_data(const yolk_sio_socket_t *s, size_t *len);
int yolk_sio_socket_admitted(const yolk_sio_socket_t *s);  /* admitted once (still 1 in on_close) */
/* The CONNECT payload (v5, an object) or the namespace's query string as an
 * object (v4), as JSON text owned by the socket; never NULL ("{}"). */
const char *yolk_sio_socket_auth(const yolk_sio_socket_t *s, size_t *len);
void yolk_sio_socket_set_data(yolk_sio_socket_t *s, void *data);
void *yolk_sio_socket_get_data(const yolk_sio_socket_t *s);
/* socket.handshake as JSON text (malloc'd; the caller frees it):
 * {"headers":{...},"time":...,"address":...,"xdomain":...,"secure":...,
 *  "issued":...,"url":...,"query":{...},"auth":{...}}. headers as Node shows
 * them (lower-case names, repeated ones joined with ", ", "; " for cookie);
 * query as socket.io 4.8 builds it (URLSearchParams + Object.fromEntries: the
 * last value of a repeated name, names in the order they came). */
char *yolk_sio_socket_handshake(const yolk_sio_socket_t *s, size_t *len);

void yolk_sio_socket_admit(yolk_sio_socket_t *s);
/* Refuses with CONNECT_ERROR: v5 sends {"message":message,"data":data}
 * (data omitted when data_json is NULL); v4 sends, as the reference does, the
 * data when there is some, else the message string. Copied. The socket is
 * closed (on_close "refused") after the current callback. */
void yolk_sio_socket_refuse(yolk_sio_socket_t *s, const char *message, const char *data_json, size_t data_len);

/* Result of an emit with an ack: args (an array) or err ("timeout", "socket
 * disconnected"). */
typedef void (*yolk_sio_ack_cb)(void *ud, const char *err, const yolk_sio_args_t *args);
enum { YOLK_SIO_VOLATILE = 1 };
/* Emits args ([event, ...]). With ack_cb, asks for an ack; ack_cb is called
 * exactly once (the answer, the timeout when timeout_ms > 0, or disconnect),
 * always later from the loop. Returns 0, or -1 when the socket is gone or
 * args are refused (ack_cb is then not called). */
int yolk_sio_socket_emit(yolk_sio_socket_t *s, const yolk_sio_args_t *args, int flags, yolk_sio_ack_cb ack_cb,
                         void *ack_ud, unsigned timeout_ms);
/* Answers the client's ack request ack_id with args (an array). */
int yolk_sio_socket_ack(yolk_sio_socket_t *s, int64_t ack_id, const yolk_sio_args_t *args);
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

/* --- namespace-wide operations (through the namespace's adapter) --- */
typedef struct {
  const char *const *rooms; size_t nrooms;   /* none: every socket of the namespace */
  const char *const *except; size_t nexcept; /* rooms whose sockets are skipped */
  int flags;                                 /* YOLK_SIO_VOLATILE; YOLK_SIO_LOCAL: this node only */
} yolk_sio_target_t;
enum { YOLK_SIO_LOCAL = 2 };

/* The packet is encoded once and the same frames are written to every
 * recipient (no per-recipient copy). */
int yolk_sio_broadcast(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const yolk_sio_args_t *args);
/* socket.broadcast / socket.to(...).emit: as yolk_sio_broadcast on the
 * socket's namespace, minus the socket itself (its own room is added to
 * to->except; to may be NULL: everyone else). */
int yolk_sio_socket_broadcast(yolk_sio_socket_t *s, const yolk_sio_target_t *to, const yolk_sio_args_t *args);
/* fetchSockets / adapter.clients: the matching sockets, possibly from other
 * nodes. cb gets a JSON array of descriptions {"id","handshake","rooms",
 * "data"} (see yolk_sio_socket_describe), or err. cb always runs later from
 * the loop, never inside this call. */
typedef void (*yolk_sio_sockets_cb)(void *ud, const char *err, const char *json, size_t len);
void yolk_sio_fetch_sockets(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud);
void yolk_sio_sockets_join(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const char *const *rooms, size_t n);
void yolk_sio_sockets_leave(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const char *const *rooms, size_t n);
void yolk_sio_disconnect_sockets(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, int close);
/* The local socket with that id in the namespace, or NULL. */
yolk_sio_socket_t *yolk_sio_nsp_socket(yolk_sio_nsp_t *nsp, const char *id);

/* Many answers to one question (a broadcast with acks, a server-side emit
 * with acks): on_answer(ud, args) once per answer (args: the answer's
 * arguments, an array), then on_done(ud, err, got, expected) once: err NULL
 * when every node has said how many answers to wait for and they are all
 * in; "timeout" when timeout_ms ran out first; another static text when the
 * question could not be asked (the adapter failed it). Answers after that
 * are dropped. Neither is ever called inside the call that started it. */
typedef void (*yolk_sio_answer_cb)(void *ud, const yolk_sio_args_t *args);
typedef void (*yolk_sio_gathered_cb)(void *ud, const char *err, size_t got, size_t expected);
/* Emits args ([event, ...]) to every socket of the target, on every node,
 * each asked for an ack (socket.io's io.timeout(ms).emit(ev, cb)). */
int yolk_sio_broadcast_with_ack(yolk_sio_nsp_t *nsp, const yolk_sio_target_t *to, const yolk_sio_args_t *args,
                                unsigned timeout_ms, yolk_sio_answer_cb on_answer, yolk_sio_gathered_cb on_done,
                                void *ud);
/* Emits args ([event, ...]) to the same namespace on the other nodes (no-op
 * on one node), and receives theirs: on_server_event gets each, with a
 * reply_to token when the sender wants an answer (NULL otherwise), to pass
 * to yolk_sio_server_side_reply once. */
int yolk_sio_server_side_emit(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args);
/* The same, asking every other node for one answer (timeout_ms 0: the
 * adapter's own request timeout). */
int yolk_sio_server_side_emit_with_ack(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args, unsigned timeout_ms,
                                       yolk_sio_answer_cb on_answer, yolk_sio_gathered_cb on_done, void *ud);
typedef void (*yolk_sio_server_event_cb)(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args, const char *reply_to,
                                         void *ud);
void yolk_sio_nsp_on_server_event(yolk_sio_nsp_t *nsp, yolk_sio_server_event_cb cb, void *ud);
/* Answers a server-side event (args: the answer's arguments; the first is
 * sent, as socket.io does). */
void yolk_sio_server_side_reply(yolk_sio_nsp_t *nsp, const char *reply_to, const yolk_sio_args_t *args);
/* Every room of the namespace on every node (socket ids' rooms included, as
 * socket.io's allRooms): cb(ud, err, JSON array of names), later. */
typedef void (*yolk_sio_rooms_cb)(void *ud, const char *err, const char *json, size_t len);
void yolk_sio_all_rooms(yolk_sio_nsp_t *nsp, yolk_sio_rooms_cb cb, void *ud);

/* ---- Adapters ----------------------------------------------------------------
 *
 * Each namespace owns one adapter, made by yolk_sio_options_t.adapter (the
 * in-memory adapter by default): who is in which room, and how a packet
 * reaches the sockets a target names. Socket.IO calls the vtable for every
 * room change and every namespace-wide operation and never walks rooms
 * itself; an adapter that spans nodes (the Redis adapter) wraps the
 * in-memory one for the local part (yolk_sio_memory_adapter_new, calling its
 * vtable directly) and forwards the rest to the other nodes.
 *
 * Ownership and completion rules:
 *  - the adapter holds socket pointers, not references: Socket.IO calls
 *    del_all before a socket is freed, so the adapter never sees a dangling
 *    one. Strings passed in (rooms, targets) are valid during the call only.
 *  - broadcast delivers to local sockets with yolk_sio_socket_deliver (it
 *    only queues writes and never calls back, so room sets stay stable while
 *    a broadcast walks them; operations that change rooms collect first).
 *  - results (fetch_sockets) always arrive through their callback, later,
 *    from the loop (yolk_sio_defer), never inside the call, whatever the
 *    adapter; a multi-node adapter calls back once every node answered or the
 *    request timed out (err set).
 *  - destroy runs when the server is freed, after every socket is gone.
 */

/* A packet encoded once: msgs are the Engine.IO messages every local
 * recipient gets (the text packet, then one per attachment), shared, never
 * copied. type, nsp and data are its source, for adapters that send it on. */
typedef struct {
  int type; /* 2: EVENT, 5: BINARY_EVENT */
  const char *nsp;
  int64_t id; /* the ack id of a broadcast with acks, else -1 */
  yolk_sio_args_t data;
  yolk_eio_msg_t *const *msgs;
  size_t nmsgs;
} yolk_sio_packet_t;

/* The result of restore_session (below). */
typedef void (*yolk_sio_restored_cb)(void *ud, const yolk_sio_session_t *s, const yolk_sio_packet_t *missed,
                                     size_t nmissed);

typedef struct yolk_sio_adapter_vtable_s {
  const char *name;
  void (*destroy)(yolk_sio_adapter_t *a);
  /* room membership of one local socket */
  void (*add_all)(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *const *rooms, size_t n);
  void (*del)(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *room);
  void (*del_all)(yolk_sio_adapter_t *a, yolk_sio_socket_t *s);
  void (*socket_rooms)(yolk_sio_adapter_t *a, const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud),
                       void *ud);
  /* every matching socket gets pkt, each at most once; a multi-node adapter
   * also forwards it unless to->flags has YOLK_SIO_LOCAL */
  void (*broadcast)(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to);
  void (*fetch_sockets)(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud);
  void (*add_sockets)(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n);
  void (*del_sockets)(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n);
  void (*disconnect_sockets)(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, int close);
  /* as broadcast, each recipient asked for an ack: pkt carries the ack id;
   * the adapter registers the local sockets' acks (yolk_sio_socket_expect_ack)
   * and tells g how many answers each node waits for */
  void (*broadcast_with_ack)(yolk_sio_adapter_t *a, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to,
                             yolk_sio_gather_t *g);
  /* to the same namespace on the other nodes; g non-NULL: each answers once
   * (yolk_sio_gather_expect with their number, then the answers). 0, or -1
   * if not possible */
  int (*server_side_emit)(yolk_sio_adapter_t *a, const yolk_sio_args_t *args, yolk_sio_gather_t *g);
  void (*server_side_reply)(yolk_sio_adapter_t *a, const char *reply_to, const yolk_sio_args_t *args);
  void (*all_rooms)(yolk_sio_adapter_t *a, yolk_sio_rooms_cb cb, void *ud);
  /* connection state recovery (NULL: not supported; sockets then start
   * afresh). persist_session keeps a session (copy what you keep);
   * restore_session calls cb exactly once, later: the session and the
   * packets the socket missed after offset (each with its offset), in order,
   * or s = NULL when there is none (unknown, expired, offset too old). */
  void (*persist_session)(yolk_sio_adapter_t *a, const yolk_sio_session_t *s);
  void (*restore_session)(yolk_sio_adapter_t *a, const char *pid, const char *offset, yolk_sio_restored_cb cb,
                          void *ud);
} yolk_sio_adapter_vtable_t;

/* What a socket leaves for its recovery. */
struct yolk_sio_session_s {
  const char *sid, *pid;
  const char *const *rooms; /* its own id included */
  size_t nrooms;
  const char *data; /* socket.data as JSON text */
  size_t data_len;
};

/* Every adapter starts with this header (its struct embeds it first). */
struct yolk_sio_adapter_s {
  const yolk_sio_adapter_vtable_t *vt;
  yolk_sio_nsp_t *nsp;
};

/* For adapter implementations: */
/* Delivers an encoded packet to one local socket: written now when admitted,
 * queued behind the CONNECT ack when pending (volatile packets are dropped
 * then), ignored when gone. flags: YOLK_SIO_VOLATILE. */
void yolk_sio_socket_deliver(yolk_sio_socket_t *s, const yolk_sio_packet_t *pkt, int flags);
/* A socket as fetch_sockets reports it: {"id":...,"handshake":{...},
 * "rooms":[...],"data":...} (malloc'd JSON text; the caller frees it). */
char *yolk_sio_socket_describe(yolk_sio_socket_t *s, size_t *len);
/* Hands a server-side event from another node to the namespace's listener
 * (reply_to: a token of the adapter's, or NULL). */
void yolk_sio_nsp_server_event(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args, const char *reply_to);
/* Runs fn(arg) from the loop on a later iteration (never inside the call). */
void yolk_sio_defer(yolk_sio_server_t *sio, void (*fn)(void *arg), void *arg);
/* The answers of a broadcast with acks or a server-side emit with acks:
 * sources(g, n) says how many expect() reports to wait for (the nodes that
 * take part; 1 until said), expect(g, n) is one report of n answers to come,
 * answer(g, args) one answer. Hold a reference (ref/unref) while answers
 * may still come. done(g) is 1 once the result was delivered. */
void yolk_sio_gather_sources(yolk_sio_gather_t *g, size_t n);
void yolk_sio_gather_expect(yolk_sio_gather_t *g, size_t n);
void yolk_sio_gather_answer(yolk_sio_gather_t *g, const yolk_sio_args_t *args);
/* Ends the gather now with the error err (a static text), from the loop. */
void yolk_sio_gather_fail(yolk_sio_gather_t *g, const char *err);
yolk_sio_gather_t *yolk_sio_gather_ref(yolk_sio_gather_t *g);
void yolk_sio_gather_unref(yolk_sio_gather_t *g);
int yolk_sio_gather_done(const yolk_sio_gather_t *g);
/* Starts the gather's timer if it has none (the adapter's own request
 * timeout, for a server-side emit started with timeout 0). */
void yolk_sio_gather_set_timeout(yolk_sio_gather_t *g, unsigned timeout_ms);
/* Connection state recovery, for adapters. A packet is stored (and gets an
 * offset) when recovery is on and it is an EVENT without an ack, not
 * volatile. packet_with_offset encodes in->data with offset appended as a
 * last argument (release out with yolk_sio_packet_release). */
unsigned yolk_sio_recovery_ms(const yolk_sio_nsp_t *nsp);
int yolk_sio_packet_storable(const yolk_sio_nsp_t *nsp, const yolk_sio_packet_t *pkt, const yolk_sio_target_t *to);
void yolk_sio_packet_with_offset(yolk_sio_packet_t *out, const yolk_sio_packet_t *in, const char *offset);
void yolk_sio_packet_release(yolk_sio_packet_t *p);
/* 1 when a socket in the given rooms gets a packet sent to target to (the
 * rule missed packets are chosen by). */
int yolk_sio_target_includes(const yolk_sio_target_t *to, const char *const *rooms, size_t nrooms);

/* Registers, for the packet about to be delivered to s with ack id id, that
 * s's answer goes to g (one reference taken until it answers or leaves). */
void yolk_sio_socket_expect_ack(yolk_sio_socket_t *s, int64_t id, yolk_sio_gather_t *g);

/* The in-memory adapter: the rooms of one node, and (when recovery is on)
 * the sessions and recent packets for connection state recovery. */
yolk_sio_adapter_t *yolk_sio_memory_adapter_new(yolk_sio_nsp_t *nsp);
/* The same without the recovery store (for an adapter that keeps sessions
 * and packets elsewhere and calls this one's broadcast with packets that
 * carry their offsets already). */
yolk_sio_adapter_t *yolk_sio_memory_adapter_new_rooms_only(yolk_sio_nsp_t *nsp);
/* Calls fn once for each local socket matching to (rooms: their union, none:
 * every socket; except: removed), without allocating. fn must not change
 * rooms. Returns the number of sockets visited. Works on the in-memory
 * adapter only. */
size_t yolk_sio_memory_adapter_each(yolk_sio_adapter_t *a, const yolk_sio_target_t *to,
                                    void (*fn)(yolk_sio_socket_t *s, void *ud), void *ud);
/* 1 when the room exists (has a socket) on this node. */
int yolk_sio_memory_adapter_has_room(yolk_sio_adapter_t *a, const char *room);
/* Calls cb for every room that exists (has a socket) on this node. */
void yolk_sio_memory_adapter_rooms(yolk_sio_adapter_t *a, void (*cb)(const char *room, void *ud), void *ud);

/* ---- The Redis adapter ------------------------------------------------------
 *
 * Rooms, broadcasts and the namespace-wide operations of every node that
 * shares a Redis server, in @socket.io/redis-adapter's protocol (so Node.js
 * socket.io servers with that adapter, and @socket.io/redis-emitter, take
 * part in the same cluster). One yolk_sio_redis_t per server holds the two
 * connections (a publisher and a subscriber); each namespace's adapter uses
 * them:
 *
 *   yolk_sio_redis_t *bus = yolk_sio_redis_new(loop, &ro, &err);
 *   opts.adapter = yolk_sio_redis_adapter; opts.adapter_ud = bus;
 *   ... yolk_sio_attach(srv, &opts) ... after the server is closed:
 *   yolk_sio_redis_free(bus);
 *
 * While Redis is unreachable everything keeps working locally (broadcasts
 * reach this node's sockets, requests answer with this node's part); the
 * connections come back by themselves. */
typedef struct yolk_sio_redis_s yolk_sio_redis_t;

typedef struct {
  /* redis://[[user]:password@]host[:port][/db]; its fields win over the ones below */
  const char *url;
  const char *host; /* NULL: 127.0.0.1 */
  int port;         /* 0: 6379 */
  const char *username;
  const char *password;
  int db;
  const char *key;              /* the channels' prefix; NULL: "socket.io" */
  unsigned requests_timeout_ms; /* how long requests to other nodes wait; 0: 5000 */
  unsigned connect_timeout_ms;  /* 0: 2000 */
  /* The Redis Streams adapter only (@socket.io/redis-streams-adapter's
   * option names in comments): */
  const char *stream_name;        /* streamName; NULL: "socket.io" */
  unsigned max_len;               /* maxLen, the stream's approximate length (MAXLEN ~); 0: 10000 */
  unsigned read_count;            /* readCount, entries per XREAD; 0: 100 */
  unsigned block_time_ms;         /* blockTimeInMs, how long one XREAD waits; 0: 5000 */
  const char *channel_prefix;     /* channelPrefix; NULL: "socket.io" */
  const char *session_key_prefix; /* sessionKeyPrefix; NULL: "sio:session:" */
} yolk_sio_redis_options_t;

/* NULL with *err set (a static message) when the options are invalid. */
yolk_sio_redis_t *yolk_sio_redis_new(uv_loop_t *loop, const yolk_sio_redis_options_t *opts, const char **err);
/* The adapter factory (yolk_sio_options_t.adapter, with the bus as adapter_ud). */
yolk_sio_adapter_t *yolk_sio_redis_adapter(yolk_sio_nsp_t *nsp, void *bus);
/* This node's id in the cluster (the uid of its messages). */
const char *yolk_sio_redis_uid(const yolk_sio_redis_t *bus);
/* Frees the bus once no adapter uses it any more (the server was freed). */
void yolk_sio_redis_free(yolk_sio_redis_t *bus);

/* ---- The Redis Streams adapter ---------------------------------------------
 *
 * The same cluster over a Redis stream, in @socket.io/redis-streams-adapter's
 * protocol (0.3; Node.js socket.io servers with that adapter take part), and
 * with connection state recovery across nodes: a client that comes back to
 * any node gets its id, rooms, data and the packets it missed.
 *
 *  - broadcasts, socketsJoin/Leave and disconnectSockets are entries of one
 *    stream (XADD ... MAXLEN ~ max_len), which every node reads with XREAD
 *    BLOCK on a connection of its own, resuming where it was after an outage;
 *    a broadcast reaches this node's sockets once Redis has given its entry
 *    id, which is its offset for recovery, so this node's operations on a
 *    namespace take effect in the order they were made;
 *  - fetchSockets, server-side emits and broadcasts with acks go over pub/sub
 *    (<channel_prefix>#<nsp>#, answers on <channel_prefix>#<nsp>#<uid>#); the
 *    number of nodes is PUBSUB NUMSUB of the first;
 *  - sessions of sockets lost to their transport are kept under
 *    <session_key_prefix><pid> for the recovery time (yolk_sio_options_t's
 *    recovery_ms); the packets a client missed are read back from the stream.
 *
 *   yolk_sio_redis_streams_t *bus = yolk_sio_redis_streams_new(loop, &ro, &err);
 *   opts.adapter = yolk_sio_redis_streams_adapter; opts.adapter_ud = bus;
 *   ... yolk_sio_attach(srv, &opts) ... after the server is closed:
 *   yolk_sio_redis_streams_free(bus);
 *
 * Options: yolk_sio_redis_options_t without key. While Redis is unreachable
 * everything keeps working locally and cluster requests fail at once; the
 * connections and the stream's reading come back by themselves. Needs Redis
 * 6.2 or later (GETDEL). */
typedef struct yolk_sio_redis_streams_s yolk_sio_redis_streams_t;

/* NULL with *err set (a static message) when the options are invalid. */
yolk_sio_redis_streams_t *yolk_sio_redis_streams_new(uv_loop_t *loop, const yolk_sio_redis_options_t *opts,
                                                     const char **err);
/* The adapter factory (yolk_sio_options_t.adapter, with the bus as adapter_ud). */
yolk_sio_adapter_t *yolk_sio_redis_streams_adapter(yolk_sio_nsp_t *nsp, void *bus);
/* This node's id in the cluster (the uid of its messages). */
const char *yolk_sio_redis_streams_uid(const yolk_sio_redis_streams_t *bus);
/* Frees the bus once no adapter uses it any more (the server was freed). */
void yolk_sio_redis_streams_free(yolk_sio_redis_streams_t *bus);

#ifdef __cplusplus
}
#endif
#endif
