/* test_timeq.c - timeouts in lanes: expiry order within and across lengths,
 * stop and restart (also from a callback, also of a node of the batch being
 * run), a 0 ms timeout started from a callback running after the batch,
 * freeing a node's owner from its callback, and closing with timeouts still
 * started (no callback runs, the loop ends with no handle left). */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "test.h"
#include "timeq.h"

typedef struct {
  yolk_timeout_t t;
  int id;
} item_t;

static uv_loop_t loop;
static yolk_timeq_t q;
static int order[64];
static int norder;
static uint64_t fired_at[64];
static uint64_t t0;

static void record(yolk_timeout_t *t) {
  item_t *it = yolk__timeout_owner(t, item_t, t);
  fired_at[it->id] = uv_now(&loop) - t0;
  order[norder++] = it->id;
}

static int closed;
static void on_closed(void *arg) {
  (void)arg;
  closed = 1;
}

/* Expiry order: by deadline across lanes, by start order within one. */
static void test_order(void) {
  uv_loop_init(&loop);
  yolk__timeq_init(&q, &loop);
  norder = 0;
  item_t it[6];
  for (int i = 0; i < 6; i++) {
    yolk__timeout_init(&it[i].t);
    it[i].id = i;
  }
  t0 = uv_now(&loop);
  yolk__timeout_start(&q, &it[0].t, 60, record);
  yolk__timeout_start(&q, &it[1].t, 20, record);
  yolk__timeout_start(&q, &it[2].t, 60, record);
  yolk__timeout_start(&q, &it[3].t, 20, record);
  yolk__timeout_start(&q, &it[4].t, 40, record);
  yolk__timeout_start(&q, &it[5].t, 40, record);
  CHECK(yolk__timeout_active(&it[0].t));
  yolk__timeout_stop(&it[5].t);                    /* never fires */
  yolk__timeout_stop(&it[5].t);                    /* twice: harmless */
  yolk__timeout_start(&q, &it[1].t, 20, record);   /* restarted: now after 3 */
  CHECK(!yolk__timeout_active(&it[5].t));
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(norder, 5);
  int want[] = {3, 1, 4, 0, 2};
  for (int i = 0; i < 5; i++) CHECK_EQ_INT(order[i], want[i]);
  CHECK(fired_at[3] >= 20 && fired_at[4] >= 40 && fired_at[0] >= 60);
  for (int i = 0; i < 6; i++) CHECK(!yolk__timeout_active(&it[i].t));
  closed = 0;
  yolk__timeq_close(&q, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(closed);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* Callbacks that stop, restart and free. */
static item_t *victim;   /* stopped by the first callback of its batch */
static item_t *freed;    /* freed by its own callback */
static int again_runs;

static void stop_victim(yolk_timeout_t *t) {
  record(t);
  yolk__timeout_stop(&victim->t);
}

static void free_self(yolk_timeout_t *t) {
  record(t);
  free(yolk__timeout_owner(t, item_t, t));
  freed = NULL;
}

static void zero_again(yolk_timeout_t *t) {
  record(t);
  /* a 0 ms restart from the callback runs after the rest of the batch */
  if (++again_runs < 3) yolk__timeout_start(&q, t, 0, zero_again);
}

static void test_callbacks(void) {
  uv_loop_init(&loop);
  yolk__timeq_init(&q, &loop);
  norder = 0;
  item_t a = {.id = 0}, b = {.id = 1}, c = {.id = 2};
  yolk__timeout_init(&a.t);
  yolk__timeout_init(&b.t);
  yolk__timeout_init(&c.t);
  victim = &b;
  freed = malloc(sizeof(*freed));
  yolk__timeout_init(&freed->t);
  freed->id = 3;
  t0 = uv_now(&loop);
  /* one lane, same deadline: a stops b (already expired with it), then the
   * freed item and c run */
  yolk__timeout_start(&q, &a.t, 0, stop_victim);
  yolk__timeout_start(&q, &b.t, 0, record);
  yolk__timeout_start(&q, &freed->t, 0, free_self);
  yolk__timeout_start(&q, &c.t, 0, zero_again);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(freed == NULL);
  int want[] = {0, 3, 2, 2, 2};
  CHECK_EQ_INT(norder, 5);
  for (int i = 0; i < 5 && i < norder; i++) CHECK_EQ_INT(order[i], want[i]);
  CHECK_EQ_INT(again_runs, 3);
  yolk__timeq_close(&q, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* Closing with timeouts started: none runs; starting afterwards does nothing. */
static void test_close_pending(void) {
  uv_loop_init(&loop);
  yolk__timeq_init(&q, &loop);
  norder = 0;
  item_t a = {.id = 0}, b = {.id = 1};
  yolk__timeout_init(&a.t);
  yolk__timeout_init(&b.t);
  yolk__timeout_start(&q, &a.t, 10, record);
  yolk__timeout_start(&q, &b.t, 1000, record);
  closed = 0;
  yolk__timeq_close(&q, on_closed, NULL);
  CHECK(!yolk__timeout_active(&a.t) && !yolk__timeout_active(&b.t));
  yolk__timeout_start(&q, &a.t, 0, record);
  CHECK(!yolk__timeout_active(&a.t));
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(closed);
  CHECK_EQ_INT(norder, 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);

  /* a queue that never had a lane closes at once */
  uv_loop_init(&loop);
  yolk__timeq_init(&q, &loop);
  closed = 0;
  yolk__timeq_close(&q, on_closed, NULL);
  CHECK(closed);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

int main(void) {
  test_order();
  test_callbacks();
  test_close_pending();
  TEST_MAIN_END();
}
