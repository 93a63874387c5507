/* sio_ack.c - server -> client acknowledgements: socket.emit(..., cb) and
 * emitWithAck. Each emit that asks for an ack registers one record on its
 * socket; the client's ACK packet, the timeout or the socket's end calls the
 * callback, exactly once, and removes it. Answers usually come in order, so
 * the list is searched from the oldest. */
#include <stdlib.h>

#include "log.h"
#include "sio.h"

#define LOG_COMPONENT "sio"

typedef struct {
  yolk_list_t node; /* in s->acks */
  yolk_sio_socket_t *socket;
  int64_t id;
  yolk_sio_ack_cb cb;
  void *ud;
  int has_timer;
  uv_timer_t timer; /* the record is freed in the timer's close callback */
} ack_t;

static void ack_close_cb(uv_handle_t *h) { free(h->data); }

/* Unlinks and frees a, returning its callback to call. */
static void ack_finish(ack_t *a, yolk_sio_ack_cb *cb, void **ud) {
  *cb = a->cb;
  *ud = a->ud;
  yolk__list_remove(&a->node);
  if (a->has_timer) {
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, ack_close_cb);
  } else {
    free(a);
  }
}

static void ack_timeout_cb(uv_timer_t *t) {
  yolk_sio_ack_cb cb;
  void *ud;
  ack_finish(t->data, &cb, &ud);
  cb(ud, "timeout", NULL);
}

int64_t yolk__sio_ack_add(yolk_sio_socket_t *s, yolk_sio_ack_cb cb, void *ud, unsigned timeout_ms) {
  ack_t *a = yolk__calloc(1, sizeof(*a));
  a->socket = s;
  a->id = s->next_ack_id++;
  a->cb = cb;
  a->ud = ud;
  yolk__list_push_back(&s->acks, &a->node);
  if (timeout_ms > 0) {
    a->has_timer = 1;
    uv_timer_init(yolk_sio_loop(s->nsp->sio), &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, ack_timeout_cb, timeout_ms, 0);
  }
  return a->id;
}

void yolk__sio_ack_answer(yolk_sio_socket_t *s, int64_t id, const yolk_sio_args_t *args) {
  yolk_list_t *n;
  yolk__list_foreach(n, &s->acks) {
    ack_t *a = yolk__list_entry(n, ack_t, node);
    if (a->id != id) continue;
    yolk_sio_ack_cb cb;
    void *ud;
    ack_finish(a, &cb, &ud);
    cb(ud, NULL, args);
    return;
  }
  YOLK_LOG_DEBUG_(LOG_COMPONENT, "socket %s: ack %lld matches no pending emit (ignored)", s->id, (long long)id);
}

void yolk__sio_ack_cancel_all(yolk_sio_socket_t *s) {
  yolk_list_t *n;
  while ((n = yolk__list_first(&s->acks))) {
    yolk_sio_ack_cb cb;
    void *ud;
    ack_finish(yolk__list_entry(n, ack_t, node), &cb, &ud);
    cb(ud, "socket disconnected", NULL);
  }
}
