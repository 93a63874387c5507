/* test_loop.h - runs one client scenario against a yolk server in process
 * (test_eio.c, test_sio.c): the server on this thread's libuv loop, the
 * scenario on a helper thread with blocking sockets (test_client.h). When
 * the scenario returns the server is closed, unless it closed itself already,
 * and the loop must then end with no handle left.
 *
 * Header-only like test_client.h: each spec/c/test_*.c is its own program. */
#ifndef YOLK_TEST_LOOP_H
#define YOLK_TEST_LOOP_H

#include <pthread.h>

#include "test.h"
#include "yolk.h"

static uv_async_t tl_done_async;
static yolk_server_t *tl_srv;
static int tl_server_closed, tl_client_done;

/* The yolk_server_close callback for these tests. The async handle closes
 * only once both the server is closed and the client thread has signalled
 * (sending on a closed async handle is not allowed). */
static inline void tl_on_server_closed(void *arg) {
  (void)arg;
  tl_server_closed = 1;
  if (tl_client_done) uv_close((uv_handle_t *)&tl_done_async, NULL);
}

static inline void tl_on_client_done(uv_async_t *a) {
  (void)a;
  tl_client_done = 1;
  if (tl_server_closed) uv_close((uv_handle_t *)&tl_done_async, NULL);
  else yolk_server_close(tl_srv, tl_on_server_closed, NULL);
}

static inline void *tl_client_thread(void *arg) {
  void (*fn)(void) = (void (*)(void))arg;
  fn();
  uv_async_send(&tl_done_async);
  return NULL;
}

/* Runs fn on a helper thread while loop serves srv (already listening);
 * returns once both are done and the loop is closed. */
static inline void tl_run(uv_loop_t *loop, yolk_server_t *srv, void (*fn)(void)) {
  tl_srv = srv;
  tl_server_closed = tl_client_done = 0;
  uv_async_init(loop, &tl_done_async, tl_on_client_done);
  pthread_t th;
  pthread_create(&th, NULL, tl_client_thread, (void *)fn);
  uv_run(loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK(tl_server_closed);
  CHECK_EQ_INT(uv_loop_close(loop), 0);
}

#endif
