/* test_defer.c - work run from the loop (defer.c): items run on a later
 * iteration in the order queued, never inside the call that queued them;
 * queuing a queued item does nothing; a cancelled item does not run; what an
 * item queues waits for the next iteration; closing runs what is left, and
 * what is queued after closing (an owner's teardown) runs at once. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "defer.h"
#include "test.h"

static yolk_defer_t d;
static char ran[64];
static size_t nran;
static int in_queue_call; /* set around the calls that queue */

static void note(char c) {
  CHECK(!in_queue_call); /* never inside the call that queued it */
  ran[nran++] = c;
  ran[nran] = '\0';
}

static void call_a(void *arg) { (void)arg, note('a'); }
static void call_b(void *arg) { (void)arg, note('b'); }

typedef struct {
  yolk_later_t later;
  char name;
  int requeue; /* queue call_b from inside */
} item_t;

static void run_item(yolk_later_t *later) {
  item_t *it = (item_t *)later;
  note(it->name);
  if (it->requeue) {
    it->requeue = 0;
    yolk__defer_call(&d, call_b, NULL);
  }
}

static int iterations;
static void count_iteration(uv_check_t *c) {
  (void)c;
  iterations++;
}

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_check_t check;
  uv_check_init(&loop, &check);
  uv_check_start(&check, count_iteration);
  uv_unref((uv_handle_t *)&check);
  yolk__defer_init(&d, &loop);

  item_t x = {.name = 'x', .requeue = 1}, y = {.name = 'y'}, z = {.name = 'z'};
  yolk__later_init(&x.later, run_item);
  yolk__later_init(&y.later, run_item);
  yolk__later_init(&z.later, run_item);
  in_queue_call = 1;
  yolk__defer(&d, &x.later);
  yolk__defer_call(&d, call_a, NULL);
  yolk__defer(&d, &y.later);
  yolk__defer(&d, &x.later); /* already queued: stays where it was */
  yolk__defer(&d, &z.later);
  yolk__later_cancel(&z.later);
  in_queue_call = 0;
  CHECK_STR(ran, "");
  uv_run(&loop, UV_RUN_ONCE);
  CHECK_STR(ran, "xay"); /* call_b, queued by x, waits for the next iteration */
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_STR(ran, "xayb");
  CHECK(iterations >= 2);

  /* closing runs what is left, then anything queued runs at once */
  yolk__defer(&d, &y.later);
  yolk__defer_close(&d);
  CHECK_STR(ran, "xayby");
  yolk__defer_call(&d, call_a, NULL);
  CHECK_STR(ran, "xaybya");
  uv_close((uv_handle_t *)&check, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  TEST_MAIN_END();
}
