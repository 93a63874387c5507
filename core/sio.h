/* sio.h - Socket.IO server internals (the public API is in yolk.h).
 *
 * Files: sio.c (the server, its clients and namespaces: decoding packets,
 * reassembling binary ones, connectTimeout, routing by namespace, the
 * browser client route), sio_socket.c (one yolk_sio_socket_t per (client,
 * namespace): admission, emits and the queue of a pending socket, rooms, the
 * handshake and fetch descriptions, lifetime), sio_ack.c (server -> client
 * acks), adapter_memory.c (the in-memory adapter); defer.c runs their
 * deferred work.
 *
 * Lifetimes: a socket is freed only by sio_socket.c, after its on_close
 * callback, and never while one of its callbacks is running (in_callback):
 * disconnect and refuse only mark the socket and queue it (deferred work,
 * defer.h); a socket finalized from inside one of its own callbacks (the
 * application closed the server there) is freed when that callback returns.
 * The client is freed when its Engine.IO session closes (on_close), after
 * every socket of it got on_close.
 */
#ifndef YOLK_SIO_H
#define YOLK_SIO_H

#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "defer.h"
#include "hashmap.h"
#include "list.h"
#include "sio_packet.h"
#include "yolk.h"

typedef struct yolk_sio_client_s yolk_sio_client_t;

enum {
  YOLK_SIO_SOCKET_PENDING = 0, /* on_connect called, not admitted yet */
  YOLK_SIO_SOCKET_CONNECTED,   /* admitted */
  YOLK_SIO_SOCKET_REFUSED,     /* CONNECT_ERROR sent, on_close("refused") queued */
  YOLK_SIO_SOCKET_CLOSED,      /* on_close is running or done */
};

/* Deferred work on a socket (bits of yolk_sio_socket_t.deferred). */
enum { YOLK_SIO_DEFER_DISCONNECT = 1, YOLK_SIO_DEFER_CLOSE = 2, YOLK_SIO_DEFER_REFUSED = 4 };

struct yolk_sio_socket_s {
  yolk_sio_client_t *client;
  yolk_sio_nsp_t *nsp;
  char *id; /* in the socket's own allocation, after the struct */
  uint8_t state;
  uint8_t admitted; /* it was admitted once (stays set after it leaves) */
  uint8_t free_pending;
  uint8_t deferred; /* YOLK_SIO_DEFER_*: deferred work (yolk_sio_socket_disconnect / refuse) */
  uint8_t in_own_room; /* the in-memory adapter's: see below */
  /* Callbacks of this socket on the stack; a socket finalized meanwhile is
   * freed when the last one returns. */
  uint16_t in_callback;
  char *auth; /* JSON text of the CONNECT payload; never NULL ("{}": not allocated) */
  size_t auth_len;
  /* connection state recovery (sio_recovery.c): the private session id
   * (NULL when recovery is off), and for a recovered socket the JSON text
   * of its data (NULL: not recovered) */
  char *pid;
  char *restored_data;
  void *data; /* the embedder's */
  yolk_list_t client_node; /* in client->sockets */

  /* Packets emitted while pending (yolk_sio_queued_t), sent after the CONNECT ack. */
  yolk_list_t queue;

  /* Server -> client acks waiting for their answer (sio_ack.c), oldest first. */
  yolk_list_t acks;

  /* Runs the deferred work. */
  yolk_later_t later;

  /* Broadcast de-duplication: the adapter stamps each socket it delivers to
   * with the broadcast's epoch, so a socket in several target rooms gets the
   * packet once without a per-broadcast set. */
  uint64_t epoch;

  /* The in-memory adapter's (adapter_memory.c), nobody else's: its list of
   * sockets, the rooms this one is in besides its own (an array), and
   * (in_own_room, above) whether it is in its own room (which is not a room
   * of the adapter's: the namespace's socket table finds it). */
  yolk_list_t adapter_node;
  void **adapter_rooms;
  uint32_t adapter_nrooms, adapter_cap;
};

/* A binary packet waiting for its attachments: its text (copied), the
 * packet decoded from it, and the attachments so far. */
typedef struct {
  char *text;
  yolk_sio_decoded_t pkt;
  yolk_sio_bin_t *bins;
  size_t nbins;
} yolk_sio_partial_t;

struct yolk_sio_client_s {
  yolk_sio_server_t *sio;
  yolk_eio_socket_t *eio;
  uint8_t protocol;          /* Socket.IO protocol: 5, or 4 for Engine.IO v3 sessions */
  uint8_t closing;           /* input is ignored; the Engine.IO session is closing */
  yolk_list_t sockets;       /* yolk_sio_socket_t.client_node */
  yolk_list_t restores;      /* CONNECTs waiting for their session (sio_recovery.c) */
  uv_timer_t *connect_timer; /* NULL once a namespace was joined; freed in its close callback */
  const char *close_reason;  /* overrides the Engine.IO reason for the sockets */
  yolk_sio_partial_t *partial; /* while a binary packet waits for its attachments */
  yolk_list_t node; /* in sio->clients */
};

struct yolk_sio_nsp_s {
  yolk_sio_server_t *sio;
  char *name;
  yolk_sio_nsp_handler_t h;
  void *ud;
  yolk_smap_t sockets; /* id -> yolk_sio_socket_t* (local, pending ones included) */
  yolk_sio_adapter_t *adapter;
  yolk_sio_server_event_cb server_event_cb;
  void *server_event_ud;
  int64_t next_ack_id; /* ack ids are per namespace (socket.io's nsp._ids) */
  /* metrics (sio.c's collector reads them): EVENT and ACK packets from and
   * to its sockets (a binary one counts once; a broadcast once per socket it
   * is written to), and its admitted sockets */
  uint64_t packets_received, packets_sent;
  size_t connected;
};

/* Sockets that left after they were admitted, by reason (the reasons are a
 * small fixed set: socket.io's, and "slow client"). */
enum { YOLK_SIO_MAX_REASONS = 16 };
typedef struct {
  char *reason;
  uint64_t count;
} yolk_sio_reason_count_t;

struct yolk_sio_server_s {
  yolk_server_t *srv;
  yolk_eio_server_t *eio;
  uv_loop_t *loop;
  yolk_sio_options_t opts; /* strings below are our copies */
  char *path;
  char *client_dist_dir;
  struct yolk_static_s *client_files; /* the browser client, served from client_dist_dir */
  yolk_smap_t nsps;
  yolk_list_t clients; /* yolk_sio_client_t.node */
  yolk_defer_t defer;
  yolk_list_t gathers; /* yolk_sio_gather_t whose result is not out yet (sio_ack.c) */
  yolk_sio_reason_count_t disconnects[YOLK_SIO_MAX_REASONS];
  size_t ndisconnects;
  int closing;
};

/* ---- sio_socket.c ---------------------------------------------------------------- */

/* A new pending socket of client c in nsp, in its own room; auth is taken
 * (malloc'd JSON text; NULL: "{}"). With a session (recovery), it takes the
 * session's id, pid, rooms and data. */
yolk_sio_socket_t *yolk__sio_socket_new(yolk_sio_client_t *c, yolk_sio_nsp_t *nsp, char *auth, size_t auth_len,
                                        const yolk_sio_session_t *session);
/* Admission (CONNECT ack, then what was queued). */
void yolk__sio_socket_admit_now(yolk_sio_socket_t *s);
/* on_disconnecting (if admitted), out of every room, acks cancelled,
 * on_close, then freed (when no callback of it is running). */
void yolk__sio_socket_finalize(yolk_sio_socket_t *s, const char *reason);
/* Handler calls: hold the socket across the call. */
static inline void yolk__sio_socket_hold(yolk_sio_socket_t *s) { s->in_callback++; }
void yolk__sio_socket_release(yolk_sio_socket_t *s);
/* Sends (flush) or drops what was queued while the socket was pending. */
void yolk__sio_socket_queue_drop(yolk_sio_socket_t *s, int flush);
/* Encodes one packet (text + attachments) into Engine.IO messages. */
void yolk__sio_packet_build(yolk_sio_packet_t *out, int type, const char *nsp, int64_t id, const yolk_sio_args_t *data);
/* Writes a control packet (CONNECT ack, DISCONNECT, CONNECT_ERROR) now. */
void yolk__sio_client_send(yolk_sio_client_t *c, int type, const char *nsp, const char *json, size_t len);
/* The handshake description (socket.handshake, generateId) of an Engine.IO
 * session, with auth (JSON text; NULL: {}). */
void yolk__sio_handshake_json(yolk_sb_t *sb, const yolk_eio_handshake_t *hs, const char *auth, size_t auth_len);

/* ---- sio.c ------------------------------------------------------------------------- */

/* A new socket's start: the namespace's connect handler (admitted at once
 * when there is none). */
void yolk__sio_client_start_socket(yolk_sio_client_t *c, yolk_sio_socket_t *s);
/* Disconnects every namespace of c (DISCONNECT each), then closes the session. */
void yolk__sio_client_disconnect_all(yolk_sio_client_t *c);
/* uv_close callback for handles allocated alone (free the handle). */
void yolk__free_handle(uv_handle_t *h);
/* An admitted socket left for reason (yolk_disconnects_total). */
void yolk__sio_count_disconnect(yolk_sio_server_t *sio, const char *reason);

/* ---- sio_recovery.c ---------------------------------------------------------------- */

/* Leaves s's session with the adapter when recovery is on and reason is a
 * transport loss (before s leaves its rooms). */
void yolk__sio_persist_session(yolk_sio_socket_t *s, const char *reason);
/* A CONNECT whose payload names a session (pid, offset): asks the adapter
 * for it and returns 1 (auth is taken; the socket starts when the answer
 * comes), or 0 (nothing taken: connect as usual). */
int yolk__sio_restore_start(yolk_sio_client_t *c, yolk_sio_nsp_t *nsp, char *auth, size_t auth_len);
/* 1 while a CONNECT of c to that namespace waits for its session. */
int yolk__sio_restoring(yolk_sio_client_t *c, const char *nsp_name);
/* The client is going: answers still to come are dropped. */
void yolk__sio_restores_cancel(yolk_sio_client_t *c);

/* ---- sio_ack.c --------------------------------------------------------------------- */

/* Registers an ack for the next packet emitted to s; returns its id. */
int64_t yolk__sio_ack_add(yolk_sio_socket_t *s, yolk_sio_ack_cb cb, void *ud, unsigned timeout_ms);
/* An ACK packet from the client: calls the matching callback once. */
void yolk__sio_ack_answer(yolk_sio_socket_t *s, int64_t id, const yolk_sio_args_t *args);
/* Every pending ack gets "socket disconnected". */
void yolk__sio_ack_cancel_all(yolk_sio_socket_t *s);
/* A new gather (yolk.h), holding one reference for its starter; timeout_ms
 * 0: no timer (the result comes when complete or when the last reference
 * goes). */
/* Closing: every gather still waiting gets its result (timed out) from the
 * loop; gathers started later too. */
void yolk__sio_gathers_close(yolk_sio_server_t *sio);
/* How many answers the gather was told to expect so far. */
size_t yolk__sio_gather_expected(const yolk_sio_gather_t *g);
/* Its timeout (0: none). */
unsigned yolk__sio_gather_timeout(const yolk_sio_gather_t *g);
yolk_sio_gather_t *yolk__sio_gather_new(yolk_sio_server_t *sio, unsigned timeout_ms, yolk_sio_answer_cb on_answer,
                                        yolk_sio_gathered_cb on_done, void *ud);

#endif
