/* sio_ack.c - server -> client acknowledgements: socket.emit(..., cb) and
 * emitWithAck. Each emit that asks for an ack registers one record on its
 * socket; the client's ACK packet, the timeout or the socket's end calls the
 * callback, exactly once, and removes it. Answers usually come in order, so
 * the list is searched from the oldest. Ack ids are per namespace (as
 * socket.io's nsp._ids), so that one broadcast can ask every recipient with
 * the same id.
 *
 * Also here: gathering many answers to one question (yolk_sio_gather_t), for
 * broadcasts with acks and server-side emits with acks. A gather is
 * reference-counted: its starter, every socket still expected to answer,
 * and the adapter while answers may come from other nodes hold one; its
 * result goes out once (completeness or timeout), and the memory when the
 * last reference goes. */
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

static void on_gather_ack(void *ud, const char *err, const yolk_sio_args_t *args);

/* Drops, from the oldest, the records of broadcasts whose result is already
 * out (they timed out): a client that never answers does not make the list
 * grow with every broadcast. */
static void ack_prune(yolk_sio_socket_t *s) {
  while (!yolk__list_empty(&s->acks)) {
    ack_t *a = yolk__list_entry(s->acks.next, ack_t, node);
    if (a->cb != on_gather_ack || !yolk_sio_gather_done(a->ud)) return;
    yolk_sio_ack_cb cb;
    void *ud;
    ack_finish(a, &cb, &ud);
    yolk_sio_gather_unref(ud);
  }
}

static ack_t *ack_new(yolk_sio_socket_t *s, int64_t id, yolk_sio_ack_cb cb, void *ud) {
  ack_prune(s);
  ack_t *a = yolk__calloc(1, sizeof(*a));
  a->socket = s;
  a->id = id;
  a->cb = cb;
  a->ud = ud;
  yolk__list_push_back(&s->acks, &a->node);
  return a;
}

int64_t yolk__sio_ack_add(yolk_sio_socket_t *s, yolk_sio_ack_cb cb, void *ud, unsigned timeout_ms) {
  ack_t *a = ack_new(s, s->nsp->next_ack_id++, cb, ud);
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

/* ---- gathering many answers ------------------------------------------------------------- */

struct yolk_sio_gather_s {
  unsigned refs;
  int done;
  size_t sources, reports; /* expect() reports awaited / received */
  size_t expected, got;
  uv_timer_t *timer; /* freed in its close callback */
  unsigned timeout_ms;
  const char *error; /* yolk_sio_gather_fail's */
  yolk_sio_answer_cb on_answer;
  yolk_sio_gathered_cb on_done;
  void *ud;
  yolk_sio_server_t *sio;
  int finishing;    /* a deferred check is queued */
  yolk_list_t node; /* in sio->gathers until done */
};

static void gather_timer_closed(uv_handle_t *h) { free(h); }

static void gather_stop_timer(yolk_sio_gather_t *g) {
  if (!g->timer) return;
  uv_timer_stop(g->timer);
  uv_close((uv_handle_t *)g->timer, gather_timer_closed);
  g->timer = NULL;
}

static void gather_finish(yolk_sio_gather_t *g, const char *err) {
  if (g->done) return;
  g->done = 1;
  yolk__list_remove(&g->node);
  gather_stop_timer(g);
  g->on_done(g->ud, err, g->got, g->expected);
}

/* Completeness is checked from the loop, never inside a call of the starter
 * (a single node with no recipient is complete at once). */
static void gather_check_later(void *arg) {
  yolk_sio_gather_t *g = arg;
  g->finishing = 0;
  if (!g->done && g->reports >= g->sources && g->got >= g->expected) gather_finish(g, NULL);
  yolk_sio_gather_unref(g);
}

static void gather_check(yolk_sio_gather_t *g) {
  if (g->done || g->finishing || g->reports < g->sources || g->got < g->expected) return;
  g->finishing = 1;
  yolk_sio_gather_ref(g);
  yolk_sio_defer(g->sio, gather_check_later, g);
}

static void gather_cut_later(void *arg) {
  yolk_sio_gather_t *g = arg;
  gather_finish(g, g->error ? g->error : "timeout");
  yolk_sio_gather_unref(g);
}

/* The result as it stands (with g->error, or as timed out), from the loop. */
static void gather_cut(yolk_sio_gather_t *g) {
  gather_stop_timer(g);
  yolk_sio_defer(g->sio, gather_cut_later, yolk_sio_gather_ref(g));
}

void yolk__sio_gathers_close(yolk_sio_server_t *sio) {
  yolk_list_t *n;
  yolk__list_foreach(n, &sio->gathers) gather_cut(yolk__list_entry(n, yolk_sio_gather_t, node));
}

void yolk_sio_gather_fail(yolk_sio_gather_t *g, const char *err) {
  if (g->done || g->error) return;
  g->error = err;
  gather_cut(g);
}

static void gather_timeout(uv_timer_t *t) {
  yolk_sio_gather_t *g = t->data;
  yolk_sio_gather_ref(g);
  gather_finish(g, "timeout");
  yolk_sio_gather_unref(g);
}

yolk_sio_gather_t *yolk__sio_gather_new(yolk_sio_server_t *sio, unsigned timeout_ms, yolk_sio_answer_cb on_answer,
                                        yolk_sio_gathered_cb on_done, void *ud) {
  yolk_sio_gather_t *g = yolk__calloc(1, sizeof(*g));
  g->refs = 1;
  g->sources = 1;
  g->sio = sio;
  g->on_answer = on_answer;
  g->on_done = on_done;
  g->ud = ud;
  yolk__list_push_back(&sio->gathers, &g->node);
  if (sio->closing) gather_cut(g);
  else yolk_sio_gather_set_timeout(g, timeout_ms);
  return g;
}

void yolk_sio_gather_set_timeout(yolk_sio_gather_t *g, unsigned timeout_ms) {
  if (g->timer || g->done || g->sio->closing || timeout_ms == 0) return;
  g->timeout_ms = timeout_ms;
  g->timer = yolk__malloc(sizeof(*g->timer));
  uv_timer_init(yolk_sio_loop(g->sio), g->timer);
  g->timer->data = g;
  uv_timer_start(g->timer, gather_timeout, timeout_ms, 0);
}

void yolk_sio_gather_sources(yolk_sio_gather_t *g, size_t n) {
  g->sources = n;
  gather_check(g);
}

void yolk_sio_gather_expect(yolk_sio_gather_t *g, size_t n) {
  g->reports++;
  g->expected += n;
  gather_check(g);
}

void yolk_sio_gather_answer(yolk_sio_gather_t *g, const yolk_sio_args_t *args) {
  if (g->done) return; /* late: the result is out */
  g->got++;
  g->on_answer(g->ud, args);
  gather_check(g);
}

yolk_sio_gather_t *yolk_sio_gather_ref(yolk_sio_gather_t *g) {
  g->refs++;
  return g;
}

void yolk_sio_gather_unref(yolk_sio_gather_t *g) {
  if (--g->refs) return;
  /* nobody can answer any more: a result not out yet is what there is */
  if (!g->done) {
    g->refs = 1;
    gather_finish(g, g->error ? g->error : "timeout");
    if (--g->refs) return;
  }
  gather_stop_timer(g);
  free(g);
}

int yolk_sio_gather_done(const yolk_sio_gather_t *g) { return g->done; }
size_t yolk__sio_gather_expected(const yolk_sio_gather_t *g) { return g->expected; }
unsigned yolk__sio_gather_timeout(const yolk_sio_gather_t *g) { return g->timeout_ms; }

/* A socket's answer to a broadcast with acks. */
static void on_gather_ack(void *ud, const char *err, const yolk_sio_args_t *args) {
  yolk_sio_gather_t *g = ud;
  if (!err) yolk_sio_gather_answer(g, args);
  yolk_sio_gather_unref(g);
}

void yolk_sio_socket_expect_ack(yolk_sio_socket_t *s, int64_t id, yolk_sio_gather_t *g) {
  if (s->state != YOLK_SIO_SOCKET_CONNECTED && s->state != YOLK_SIO_SOCKET_PENDING) return;
  ack_new(s, id, on_gather_ack, yolk_sio_gather_ref(g));
}
