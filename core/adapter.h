/* adapter.h - the Socket.IO adapter interface (internal): who is in which room,
 * and how a packet reaches the sockets a target names.
 *
 * Each namespace owns one adapter, made by the server's adapter factory
 * (default: the in-memory adapter below). The Socket.IO layer calls the vtable
 * for every room change and every namespace-wide operation; it never walks
 * rooms itself. An adapter that spans nodes (Redis, later) wraps the in-memory
 * one for the local part and forwards the rest; whatever may come back from
 * other nodes is delivered through callbacks, so sio.c does not change.
 *
 * Ownership: the adapter holds socket pointers, not references. The Socket.IO
 * layer calls del_all before a socket is freed, so the adapter never sees a
 * dangling one. Room names passed in are copied.
 *
 * Re-entrancy: broadcast only queues writes (yolk_eio_send_msg does not call
 * back), so room sets are stable while a broadcast walks them. Operations
 * that change rooms for a target (add_sockets, ...) collect the sockets first.
 */
#ifndef YOLK_ADAPTER_H
#define YOLK_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "yolk.h"

/* A packet encoded once: msgs[0] the text message, msgs[1..n-1] the binary
 * attachments. The same msgs go to every recipient. The source values are
 * kept for adapters that re-encode for other nodes (valid during the call). */
typedef struct {
  yolk_eio_msg_t **msgs;
  size_t nmsgs;
  int type; /* YOLK_SIO_PKT_EVENT or YOLK_SIO_PKT_BINARY_EVENT */
  const char *nsp;
  const cJSON *args;
  const yolk_sio_bin_t *bins;
  size_t nbins;
} yolk_sio_encoded_t;

typedef struct yolk_sio_adapter_vtable_s {
  const char *name;
  void (*destroy)(yolk_sio_adapter_t *a);
  /* Room membership of one local socket. */
  void (*add_all)(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *const *rooms, size_t n);
  void (*del)(yolk_sio_adapter_t *a, yolk_sio_socket_t *s, const char *room);
  void (*del_all)(yolk_sio_adapter_t *a, yolk_sio_socket_t *s);
  void (*socket_rooms)(yolk_sio_adapter_t *a, const yolk_sio_socket_t *s, void (*cb)(const char *room, void *ud),
                       void *ud);
  /* Delivers pkt to every matching socket (each at most once) with
   * yolk__sio_socket_deliver; a multi-node adapter also forwards it unless
   * to->flags has YOLK_SIO_LOCAL. */
  void (*broadcast)(yolk_sio_adapter_t *a, const yolk_sio_encoded_t *pkt, const yolk_sio_target_t *to);
  /* Results always arrive through cb, from the loop, never inside the call. */
  void (*fetch_sockets)(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, yolk_sio_sockets_cb cb, void *ud);
  void (*add_sockets)(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n);
  void (*del_sockets)(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, const char *const *rooms, size_t n);
  void (*disconnect_sockets)(yolk_sio_adapter_t *a, const yolk_sio_target_t *to, int close);
  /* Emits to the same namespace on the other nodes. 0, or -1 if not possible. */
  int (*server_side_emit)(yolk_sio_adapter_t *a, const cJSON *args);
} yolk_sio_adapter_vtable_t;

/* Every adapter starts with this header (an adapter struct embeds it first). */
struct yolk_sio_adapter_s {
  const yolk_sio_adapter_vtable_t *vt;
  yolk_sio_nsp_t *nsp;
};

/* Makes the adapter of a new namespace. */
typedef yolk_sio_adapter_t *(*yolk_sio_adapter_factory_t)(yolk_sio_nsp_t *nsp, void *ud);

/* ---- the in-memory adapter (adapter_memory.c) ---------------------------- */

yolk_sio_adapter_t *yolk__adapter_memory_new(yolk_sio_nsp_t *nsp, void *ud);
/* For wrapping adapters: calls fn once for each local socket matching to
 * (rooms: union, except: removed; none: all sockets). fn must not change
 * rooms. Returns the number of sockets visited. */
size_t yolk__adapter_memory_each(yolk_sio_adapter_t *a, const yolk_sio_target_t *to,
                                 void (*fn)(yolk_sio_socket_t *s, void *ud), void *ud);
/* Number of local sockets in a room (0 when the room does not exist). */
size_t yolk__adapter_memory_room_size(yolk_sio_adapter_t *a, const char *room);
/* Number of rooms that exist (testing and metrics). */
size_t yolk__adapter_memory_room_count(yolk_sio_adapter_t *a);

#endif
