/* timeq.h - one-shot timeouts for many objects at the cost of a list node
 * each (internal).
 *
 * A uv_timer_t is 152 bytes. An idle connection needs a few timeouts (a
 * keep-alive or closing deadline, a ping interval, a pong deadline), and with
 * a handle for each, tens of thousands of idle connections spend more on
 * timers than on anything else. Here the timeouts of one length (a server's
 * ping interval, its keep-alive timeout, ...) form a lane: a list of nodes in
 * the order they were started, and one uv_timer_t armed for the first. Every
 * node of a lane was started with the same length, so appending keeps the
 * lane sorted by deadline: start, stop and expiry are O(1), and a node costs
 * 32 bytes. Lanes are made on first use of a length and live as long as the
 * queue: callers use a few fixed lengths (configured timeouts), not
 * arbitrary ones.
 *
 * Callbacks run from the loop (a lane's timer callback), never inside
 * yolk__timeout_start or _stop. A node is idle again when its callback runs,
 * so the callback may start it again or free the memory it is embedded in.
 * The expired nodes of a lane are collected before any callback runs: a
 * timeout started from a callback, even with length 0, runs after them.
 * Nodes of one lane expire in the order they were started.
 */
#ifndef YOLK_TIMEQ_H
#define YOLK_TIMEQ_H

#include <stdint.h>
#include <uv.h>

#include "list.h"

typedef struct yolk_timeout_s yolk_timeout_t;
typedef void (*yolk_timeout_cb)(yolk_timeout_t *t);

/* Embedded in its owner; found back with yolk__list_entry-style offsetof
 * arithmetic (yolk__timeout_owner). Owned by the embedder; the queue only
 * links it while it is started. */
struct yolk_timeout_s {
  yolk_list_t node; /* in a lane while started; self-linked when idle */
  uint64_t due;     /* uv_now at which it expires */
  yolk_timeout_cb cb;
};

typedef struct yolk_timeq_lane_s yolk_timeq_lane_t;

typedef struct {
  uv_loop_t *loop;
  yolk_timeq_lane_t *lanes; /* a short list: one per length in use */
  int closing;
  int open; /* lane timers not yet closed (yolk__timeq_close) */
  void (*closed_cb)(void *arg);
  void *closed_arg;
} yolk_timeq_t;

void yolk__timeq_init(yolk_timeq_t *q, uv_loop_t *loop);
/* Stops everything still started (no callback runs) and closes the lanes'
 * timers; cb(arg) runs once they are closed (from the loop, or at once when
 * there was none). The yolk_timeq_t itself may be freed from cb. */
void yolk__timeq_close(yolk_timeq_t *q, void (*cb)(void *arg), void *arg);

static inline void yolk__timeout_init(yolk_timeout_t *t) {
  yolk__list_node_init(&t->node);
  t->due = 0;
  t->cb = NULL;
}
/* (Re)starts t: cb(t) after ms milliseconds. Does nothing while the queue is closing. */
void yolk__timeout_start(yolk_timeq_t *q, yolk_timeout_t *t, uint64_t ms, yolk_timeout_cb cb);
/* Stops t (harmless when it is not started). */
static inline void yolk__timeout_stop(yolk_timeout_t *t) { yolk__list_remove(&t->node); }
static inline int yolk__timeout_active(const yolk_timeout_t *t) { return yolk__list_linked(&t->node); }

#define yolk__timeout_owner(t, type, field) ((type *)(void *)((char *)(t) - offsetof(type, field)))

#endif
