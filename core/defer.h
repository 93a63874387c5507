/* defer.h - work to run from the loop, on a later iteration, never inside the
 * call that asked for it (internal).
 *
 * Socket.IO finishes a disconnect or a refusal asked from inside a callback
 * this way (redis's freeClientAsync: never free a connection from inside its
 * own callback), and adapters deliver results this way so that a callback
 * never runs before the call that registered it has returned.
 *
 * Two kinds of items, both run in the order they were queued:
 *  - yolk_later_t nodes embedded in long-lived objects (a socket): queuing an
 *    item already queued does nothing; the owner cancels it before freeing;
 *  - one-off calls (yolk__defer_call): fn(arg), allocated here.
 * Items queued while the queue runs wait for the next iteration, so work
 * that keeps re-queueing itself cannot starve the loop.
 */
#ifndef YOLK_DEFER_H
#define YOLK_DEFER_H

#include <uv.h>

#include "list.h"

typedef struct yolk_later_s yolk_later_t;
struct yolk_later_s {
  yolk_list_t node; /* in the queue while queued */
  void (*run)(yolk_later_t *item);
};

typedef struct {
  uv_idle_t *idle; /* freed in its close callback */
  yolk_list_t queue;
} yolk_defer_t;

void yolk__defer_init(yolk_defer_t *d, uv_loop_t *loop);
/* Runs what is still queued (now), then closes the idle handle. What is
 * queued after that (while the owner frees what it has) runs at once. */
void yolk__defer_close(yolk_defer_t *d);

static inline void yolk__later_init(yolk_later_t *item, void (*run)(yolk_later_t *item)) {
  yolk__list_node_init(&item->node);
  item->run = run;
}
void yolk__defer(yolk_defer_t *d, yolk_later_t *item);
static inline void yolk__later_cancel(yolk_later_t *item) { yolk__list_remove(&item->node); }
void yolk__defer_call(yolk_defer_t *d, void (*fn)(void *arg), void *arg);

#endif
