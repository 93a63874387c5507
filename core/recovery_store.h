/* recovery_store.h - what one node keeps for connection state recovery
 * (internal): the sessions of sockets lost to their transport, and the
 * recent packets with their offsets. The in-memory adapter owns one per
 * namespace when recovery is on (adapter_memory.c); the protocol side is
 * sio_recovery.c.
 *
 * Packets are kept as the Engine.IO messages every recipient got (shared,
 * with the offset in them), so replaying one costs a reference, not a copy.
 * Bounds: a packet older than max_ms goes, and so do the oldest beyond
 * max_packets or max_bytes; a session goes when restored or after max_ms
 * (swept once a minute, or every max_ms when that is shorter).
 *
 * Offsets are yeast ids, as socket.io's in-memory adapter makes them: the
 * time in ms in base 64, and ".<n>" for the n-th one in the same ms. */
#ifndef YOLK_RECOVERY_STORE_H
#define YOLK_RECOVERY_STORE_H

#include <stddef.h>
#include <uv.h>

#include "yolk.h"

typedef struct yolk_recovery_store_s yolk_recovery_store_t;

yolk_recovery_store_t *yolk__recovery_store_new(uv_loop_t *loop, unsigned max_ms, size_t max_packets,
                                                size_t max_bytes);
void yolk__recovery_store_free(yolk_recovery_store_t *st);

/* Gives in a new offset and keeps it: *out is in with the offset appended
 * (what the recipients get; release it with yolk_sio_packet_release). */
void yolk__recovery_store_add(yolk_recovery_store_t *st, const yolk_sio_packet_t *in, const yolk_sio_target_t *to,
                              yolk_sio_packet_t *out);
/* Keeps a session (copied), replacing one with the same pid. */
void yolk__recovery_store_persist(yolk_recovery_store_t *st, const yolk_sio_session_t *s);

/* A session taken out of the store with the packets its socket missed. */
typedef struct {
  yolk_sio_session_t session;
  yolk_sio_packet_t *missed;
  size_t nmissed;
} yolk_recovery_found_t;
/* The session pid if it is there, not expired, and offset is a packet still
 * kept; NULL otherwise. The session leaves the store either way. */
yolk_recovery_found_t *yolk__recovery_store_take(yolk_recovery_store_t *st, const char *pid, const char *offset);
void yolk__recovery_found_free(yolk_recovery_found_t *f);

/* For tests: packets and sessions kept now. */
size_t yolk__recovery_store_packets(const yolk_recovery_store_t *st);
size_t yolk__recovery_store_sessions(const yolk_recovery_store_t *st);

#endif
