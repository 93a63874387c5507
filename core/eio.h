/* eio.h - the Engine.IO server (internal): sessions, the polling and WebSocket
 * transports, heartbeats and the polling -> WebSocket upgrade.
 *
 * Layering: the listener (server.c, one layer up) routes HTTP requests whose
 * URL starts with the Engine.IO path here (yolk__eio_handle_request); this
 * layer answers them through http.h or takes the connection over with ws.h,
 * and hands messages up through the public yolk_eio_* callbacks (yolk.h). It
 * knows nothing of the listener: it gets a loop and requests.
 *
 * Ownership and lifetimes:
 *  - A yolk_eio_socket_t is created at the handshake and lives in the server's
 *    session table until it closes. Closing (any path) ends in session_close,
 *    which calls on_close exactly once, detaches the transports (their
 *    callbacks no longer reach the socket), and closes the socket's timers; the
 *    memory goes in the last timer close callback, i.e. never inside a call
 *    stack that still holds the pointer.
 *  - A yolk_eio_msg_t owns its bytes once (data) plus the WebSocket frames
 *    built on first use (frame4 / frame3): every WebSocket recipient queues the
 *    same frame buffer, polling recipients keep a reference to the message and
 *    encode it when a GET is answered.
 *  - A pending polling GET (socket->poll) is always answered before the
 *    socket is freed; its on_abort clears socket->poll first.
 */
#ifndef YOLK_EIO_H
#define YOLK_EIO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "eio_packet.h"
#include "hashmap.h"
#include "http.h"
#include "timeq.h"
#include "ws.h"
#include "yolk.h"

struct yolk_eio_msg_s {
  unsigned refs;
  int binary;
  const char *bytes;  /* the message bytes (no packet type), len of them: in data, or in frame4 */
  size_t len;
  yolk_buf_t *data;   /* holds bytes, or NULL when they are inside frame4 */
  yolk_buf_t *frame4; /* WebSocket frame "4<text>" / raw bytes, built on first use */
  yolk_buf_t *frame3; /* v3 binary frame (0x04 + bytes); text shares frame4 */
};

/* One packet waiting for a transport: a message (msg set) or a control packet
 * (open carries its JSON in msg; ping/pong/noop/close have none). */
typedef struct {
  int type;
  yolk_eio_msg_t *msg;
} yolk_eio_qent_t;

enum { YOLK_EIO_S_OPEN = 1, YOLK_EIO_S_CLOSING, YOLK_EIO_S_CLOSED };

struct yolk_eio_socket_s {
  yolk_eio_server_t *eio;
  char id[24];
  uint8_t protocol;  /* 3 or 4 */
  uint8_t state;     /* YOLK_EIO_S_* */
  uint8_t transport; /* YOLK_TRANSPORT_POLLING / _WEBSOCKET */
  unsigned b64 : 1;      /* v3 polling: the client cannot take binary payloads */
  unsigned jsonp : 1;    /* v3 polling through JSONP (j=N) */
  unsigned probed : 1;   /* the upgrade WebSocket sent "2probe" */
  unsigned upgraded : 1; /* moved to WebSocket: polling requests are refused */
  unsigned close_pending : 1; /* polling close waits for the next GET */
  char jsonp_index[16];

  yolk_http_req_t *poll; /* the GET waiting for packets (polling) */
  yolk_ws_t *ws;         /* the WebSocket transport */
  yolk_ws_t *upgrade_ws; /* a WebSocket probing for the upgrade */

  /* packets not yet handed to a transport, in order (a ring; none while
   * the WebSocket takes them as they come) */
  yolk_eio_qent_t *q;
  uint32_t q_head, q_len, q_cap;
  size_t q_bytes; /* the bytes of the queued messages */

  /* Timeouts, in eio->timeq. heartbeat: the v4 ping interval, then the
   * pong deadline (ping_fired / ping_timeout_fired), or the v3 interval +
   * timeout; upgrade: upgradeTimeout; later: finishing a close outside the
   * caller's stack (0 ms) or the polling close timeout, and once closed,
   * freeing the socket (0 ms). */
  yolk_timeout_t heartbeat, upgrade, later;
  const char *defer_reason;

  const yolk_eio_socket_handler_t *h; /* NULL: none (after on_close) */
  void *ud;

  yolk_eio_handshake_t hs;
  char *hs_mem; /* one block holding every handshake string and the header arrays */
};

struct yolk_eio_server_s {
  uv_loop_t *loop;
  yolk_eio_options_t opts; /* strings point at the copies below */
  char *path;              /* normalised to end with '/' */
  char *cors_origin;
  char sid_prefix[YOLK_EIO_SID_PREFIX_MAX + 1]; /* opts.sid_prefix, cut to the maximum */
  yolk_ws_handler_t ws_handler; /* must outlive every WebSocket: lives here */

  yolk_smap_t sessions; /* sid -> open yolk_eio_socket_t (clientsCount is its len) */
  uint64_t handshakes;       /* sessions opened */
  uint64_t dropped_volatile; /* volatile messages not sent: their transport was behind */
  /* per-address limits (max_clients_per_address, max_handshakes_per_second):
   * address -> eio_addr_t, only when one of them is on */
  yolk_smap_t by_addr;
  uint64_t addr_swept_ms;
  uint64_t refused;          /* handshakes refused by those limits */
  uint64_t refused_logged_ms;
  uint64_t slow_closed;      /* sessions closed as slow clients */
  size_t live;          /* socket structs not yet freed (closed ones are freed from the loop) */
  yolk_timeq_t timeq;   /* the sessions' timeouts */
  int closing;

  /* Called when closing and the last socket struct is freed. */
  void (*close_done)(void *arg);
  void *close_arg;
};

/* A new Engine.IO server on loop (strings in opts are copied; NULL: the
 * defaults). The listener (server.c's yolk_eio_attach) routes requests to it. */
yolk_eio_server_t *yolk__eio_server_new(uv_loop_t *loop, const yolk_eio_options_t *opts);
/* The largest POST body it takes (maxHttpBufferSize). */
size_t yolk__eio_max_payload(const yolk_eio_server_t *eio);
/* A message whose bytes are data (the message takes the caller's reference). */
yolk_eio_msg_t *yolk__eio_msg_take(int binary, yolk_buf_t *data);
/* A text message written straight into its WebSocket frame: *text gets room
 * for len bytes (fill them before the message is used); the frame is the v4
 * (and v3) frame "4<text>", and the message bytes live inside it, so a
 * message sent over WebSocket costs one buffer and no copy. */
yolk_eio_msg_t *yolk__eio_msg_text_in_frame(size_t len, char **text);
/* 1 when req's URL is under eio's path (the reference compares the URL's
 * prefix, query included). */
int yolk__eio_claims(const yolk_eio_server_t *eio, const yolk_http_req_t *req);
/* Answers (now or later) an HTTP request or WebSocket upgrade under the path. */
void yolk__eio_handle_request(yolk_eio_server_t *eio, yolk_http_req_t *req);
/* Closes every session ("server shutting down"); done(arg) follows once all
 * socket memory is gone (maybe before this returns). */
void yolk__eio_server_close(yolk_eio_server_t *eio, void (*done)(void *arg), void *arg);
/* Frees the server (after close, once done). */
void yolk__eio_server_free(yolk_eio_server_t *eio);

/* Its figures, for metrics: the counters above, and the open sessions and
 * their queues counted by walking the session table (only when asked). */
typedef struct {
  uint64_t handshakes, refused, slow_closed, dropped_volatile;
  size_t polling, websocket; /* open sessions by current transport (an upgrading one is still polling) */
  size_t queued_bytes;       /* messages waiting for a polling GET or the end of an upgrade */
} yolk_eio_stats_t;
void yolk__eio_stats(const yolk_eio_server_t *eio, yolk_eio_stats_t *st);

#endif
