/* sio.h - Socket.IO server internals (the public API is in yolk.h).
 *
 * Layers: one yolk_sio_client_t per Engine.IO session (decodes packets,
 * reassembles binary packets, enforces connectTimeout, routes by namespace);
 * one yolk_sio_socket_t per (client, namespace) pair; namespaces hold their
 * handler, their sockets by id and their adapter (rooms, broadcast).
 *
 * Lifetimes: a socket is freed only by sio.c, after its on_close callback,
 * and never inside another callback of the same socket: disconnect and refuse
 * only mark the socket and queue it; the server's idle handle does the work on
 * the next loop iteration. The client is freed when its Engine.IO session
 * closes (on_close), after every socket of it got on_close.
 */
#ifndef YOLK_SIO_H
#define YOLK_SIO_H

#include <stdint.h>
#include <uv.h>

#include "adapter.h"
#include "hashmap.h"
#include "sio_packet.h"
#include "yolk.h"

typedef struct yolk_sio_client_s yolk_sio_client_t;
typedef struct yolk_sio_ack_s yolk_sio_ack_t;
typedef struct yolk_sio_queued_s yolk_sio_queued_t;

/* One packet waiting in the queue of a pending socket: the same
 * messages the broadcast encoded, one reference each, never a copy. */
struct yolk_sio_queued_s {
  yolk_sio_queued_t *next;
  size_t nmsgs;
  int flags;
  yolk_eio_msg_t *msgs[];
};

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
  char *id;
  int state;
  cJSON *auth;      /* never NULL */
  cJSON *data_json; /* yolk_sio_socket_set_data_json, for fetch_sockets; may be NULL */
  void *data;       /* the embedder's */
  yolk_sio_socket_t *next_in_client;

  /* Emits made while pending, delivered after the CONNECT ack. */
  yolk_sio_queued_t *queue_head, *queue_tail;

  /* Server -> client acks waiting for their answer. */
  yolk_sio_ack_t *acks, *acks_tail; /* oldest first: answers usually come in order */
  int64_t next_ack_id;

  /* Deferred work (yolk_sio_socket_disconnect / refuse). */
  int deferred;
  yolk_sio_socket_t *deferred_prev, *deferred_next;
  int in_deferred_list;

  /* Broadcast de-duplication: the adapter stamps each socket it delivers to
   * with the broadcast's epoch, so a socket in several target rooms gets the
   * packet once without a per-broadcast set. */
  uint64_t epoch;
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
};

/* Delivers an encoded packet to one socket: written now when admitted,
 * queued when pending (volatile packets are dropped then), ignored when gone.
 * flags: YOLK_SIO_VOLATILE. */
void yolk__sio_socket_deliver(yolk_sio_socket_t *s, const yolk_sio_encoded_t *pkt, int flags);
/* {"id","rooms":[...],"handshake":{...},"data":...} for fetch_sockets. */
cJSON *yolk__sio_socket_describe(yolk_sio_socket_t *s);
/* Runs fn(arg) from the loop on a later iteration (never inside the call). */
void yolk__sio_defer(yolk_sio_server_t *sio, void (*fn)(void *arg), void *arg);
/* Replaces the adapter factory used for namespaces created from now on
 * (yolk_sio_attach creates "/" with the in-memory adapter; a multi-node
 * adapter is installed right after attach and re-creates "/"'s adapter). */
void yolk__sio_set_adapter_factory(yolk_sio_server_t *sio, yolk_sio_adapter_factory_t factory, void *ud);
/* The loop the server runs on (for adapters with their own I/O). */
uv_loop_t *yolk__sio_loop(const yolk_sio_server_t *sio);
/* Called by a multi-node adapter when another node emits to this namespace. */
void yolk__sio_nsp_server_event(yolk_sio_nsp_t *nsp, const cJSON *args);

/* Builds the encoded form of an EVENT (BINARY_EVENT when nbins > 0) for nsp.
 * Release with yolk__sio_encoded_release. */
void yolk__sio_encode_event(yolk_sio_encoded_t *out, const char *nsp, const cJSON *args, const yolk_sio_bin_t *bins,
                            size_t nbins);
void yolk__sio_encoded_release(yolk_sio_encoded_t *e);

#endif
