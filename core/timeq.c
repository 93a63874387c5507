/* timeq.c - see timeq.h */
#include "timeq.h"

#include <stdlib.h>

#include "buf.h"

struct yolk_timeq_lane_s {
  uv_timer_t timer; /* armed for the first node (or earlier: a stopped first node makes it fire early) */
  uint64_t ms;
  yolk_list_t nodes; /* yolk_timeout_t.node, by deadline */
  yolk_timeq_t *q;
  yolk_timeq_lane_t *next;
};

static void lane_fire(uv_timer_t *timer);

/* Arms the lane's timer for its first node, unless it is already armed
 * (then it fires for that node or earlier, and re-arms). */
static void lane_arm(yolk_timeq_lane_t *lane) {
  yolk_list_t *first = yolk__list_first(&lane->nodes);
  if (!first || uv_is_active((uv_handle_t *)&lane->timer)) return;
  uint64_t due = yolk__list_entry(first, yolk_timeout_t, node)->due;
  uint64_t now = uv_now(lane->q->loop);
  uv_timer_start(&lane->timer, lane_fire, due > now ? due - now : 0, 0);
}

static void lane_fire(uv_timer_t *timer) {
  yolk_timeq_lane_t *lane = timer->data;
  uint64_t now = uv_now(lane->q->loop);
  /* What has expired, apart: a callback may start, stop or free any node,
   * and what it starts waits for a later pass. */
  yolk_list_t batch;
  yolk__list_init(&batch);
  yolk_list_t *n;
  while ((n = yolk__list_first(&lane->nodes)) && yolk__list_entry(n, yolk_timeout_t, node)->due <= now) {
    yolk__list_remove(n);
    yolk__list_push_back(&batch, n);
  }
  while ((n = yolk__list_first(&batch))) {
    yolk__list_remove(n);
    if (lane->q->closing) continue; /* closed from a callback: nothing more runs */
    yolk_timeout_t *t = yolk__list_entry(n, yolk_timeout_t, node);
    t->cb(t);
  }
  if (!lane->q->closing) lane_arm(lane);
}

void yolk__timeq_init(yolk_timeq_t *q, uv_loop_t *loop) {
  q->loop = loop;
  q->lanes = NULL;
  q->closing = 0;
  q->open = 0;
  q->closed_cb = NULL;
  q->closed_arg = NULL;
}

void yolk__timeout_start(yolk_timeq_t *q, yolk_timeout_t *t, uint64_t ms, yolk_timeout_cb cb) {
  yolk__list_remove(&t->node);
  if (q->closing) return;
  yolk_timeq_lane_t *lane = q->lanes;
  while (lane && lane->ms != ms) lane = lane->next;
  if (!lane) {
    lane = yolk__calloc(1, sizeof(*lane));
    uv_timer_init(q->loop, &lane->timer);
    lane->timer.data = lane;
    lane->ms = ms;
    lane->q = q;
    yolk__list_init(&lane->nodes);
    lane->next = q->lanes;
    q->lanes = lane;
    q->open++;
  }
  t->due = uv_now(q->loop) + ms;
  t->cb = cb;
  yolk__list_push_back(&lane->nodes, &t->node);
  lane_arm(lane);
}

static void lane_closed(uv_handle_t *h) {
  yolk_timeq_lane_t *lane = h->data;
  yolk_timeq_t *q = lane->q;
  free(lane);
  if (--q->open == 0 && q->closed_cb) q->closed_cb(q->closed_arg);
}

void yolk__timeq_close(yolk_timeq_t *q, void (*cb)(void *arg), void *arg) {
  if (q->closing) return;
  q->closing = 1;
  q->closed_cb = cb;
  q->closed_arg = arg;
  yolk_timeq_lane_t *lane = q->lanes;
  q->lanes = NULL;
  if (!lane) {
    if (cb) cb(arg);
    return;
  }
  while (lane) {
    yolk_timeq_lane_t *next = lane->next;
    yolk_list_t *n;
    while ((n = yolk__list_first(&lane->nodes))) yolk__list_remove(n);
    uv_close((uv_handle_t *)&lane->timer, lane_closed);
    lane = next;
  }
}
