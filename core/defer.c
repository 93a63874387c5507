/* defer.c - see defer.h */
#include "defer.h"

#include <stdlib.h>

#include "buf.h"

typedef struct {
  yolk_later_t later;
  void (*fn)(void *arg);
  void *arg;
} call_t;

static void run_call(yolk_later_t *item) {
  call_t *c = (call_t *)item;
  void (*fn)(void *) = c->fn;
  void *arg = c->arg;
  free(c);
  fn(arg);
}

static void run_queue(yolk_defer_t *d, yolk_list_t *batch) {
  yolk_list_t *n;
  while ((n = yolk__list_first(batch))) {
    yolk_later_t *item = yolk__list_entry(n, yolk_later_t, node);
    yolk__list_remove(n);
    item->run(item);
  }
  (void)d;
}

static void on_idle(uv_idle_t *idle) {
  yolk_defer_t *d = idle->data;
  /* a batch: what is queued from now on waits for the next iteration */
  yolk_list_t batch;
  yolk__list_init(&batch);
  yolk__list_splice(&batch, &d->queue);
  run_queue(d, &batch);
  if (yolk__list_empty(&d->queue)) uv_idle_stop(idle);
}

void yolk__defer_init(yolk_defer_t *d, uv_loop_t *loop) {
  yolk__list_init(&d->queue);
  d->idle = yolk__malloc(sizeof(*d->idle));
  uv_idle_init(loop, d->idle);
  d->idle->data = d;
}

void yolk__defer(yolk_defer_t *d, yolk_later_t *item) {
  if (yolk__list_linked(&item->node)) return;
  if (!d->idle) {
    /* closed: the owner is being freed (an adapter failing its requests
     * as its namespace goes): no later iteration will run it */
    item->run(item);
    return;
  }
  yolk__list_push_back(&d->queue, &item->node);
  if (!uv_is_active((uv_handle_t *)d->idle)) uv_idle_start(d->idle, on_idle);
}

void yolk__defer_call(yolk_defer_t *d, void (*fn)(void *arg), void *arg) {
  call_t *c = yolk__malloc(sizeof(*c));
  yolk__later_init(&c->later, run_call);
  c->fn = fn;
  c->arg = arg;
  yolk__defer(d, &c->later);
}

static void free_handle(uv_handle_t *h) { free(h); }

void yolk__defer_close(yolk_defer_t *d) {
  while (!yolk__list_empty(&d->queue)) {
    yolk_list_t batch;
    yolk__list_init(&batch);
    yolk__list_splice(&batch, &d->queue);
    run_queue(d, &batch);
  }
  uv_close((uv_handle_t *)d->idle, free_handle);
  d->idle = NULL;
}
