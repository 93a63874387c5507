/* sio_suite.c - `sio-suite`: the Socket.IO server the official protocol test
 * suite (socket.io-protocol/test-suite) describes, written against libyolk's
 * public API; yolk's end-to-end tests drive it too.
 *
 *   sio-suite [--host 127.0.0.1] [--port 3000] [--connect-timeout ms]
 *             [--ping-interval ms] [--ping-timeout ms] [--client-dist DIR]
 *             [--id-prefix P]  (v5 socket ids P1, P2, ... via generate_id)
 *             [--log-level debug|info|warn|error]
 *
 * As the suite's README: pingInterval 300, pingTimeout 200, maxPayload 1e6,
 * connectTimeout 1000, CORS origin "*", v3 Engine.IO clients allowed;
 * namespaces "/" and "/custom"; on connection emit "auth" with the handshake
 * auth; "message" -> "message-back" with the same arguments (binary too);
 * "message-with-ack" -> ack with the same arguments.
 *
 * Extra events for yolk's own end-to-end tests (never sent by the suite):
 *   "join" room / "leave" room           -> ack ["ok"] (when asked)
 *   "rooms"                              -> ack [[rooms...]]
 *   "broadcast" {rooms,except,from_me,volatile,local}, event, ...args
 *        -> broadcast [event, ...args] to the target (from_me: except the
 *           sender's own room) and ack ["sent"]
 *   "server-ack" event, timeout_ms, ...args -> emit [event, ...args] to the
 *        sender asking for an ack; the answer (or error) comes back as the
 *        event "server-ack-result" [err|null, args]
 *   "disconnect-me" close                -> yolk_sio_socket_disconnect
 *   "fetch" {rooms,except}               -> ack [[ids...]] via fetch_sockets
 *   "emit-then-disconnect" n             -> emits "seq" 1..n then disconnects
 * Namespace "/slow": admits each socket 50 ms after it connects, emitting
 * "early" before admission (buffered until the CONNECT ack). Namespace
 * "/refused": refuses every socket with {"message":"Not authorized",
 * "data":{"code":42}}.
 *
 * Prints "sio-suite listening on <host>:<port>" once listening (--port 0
 * picks a free port). SIGINT/SIGTERM close everything and exit.
 *
 * libyolk hands arguments over as JSON text; this program reads and writes
 * them with cJSON, as any embedder may use the JSON library it likes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "example_common.h"
#include "yolk.h"

static yolk_server_t *server;
static yolk_sio_server_t *sio;
static uv_loop_t *loop;
static const char *id_prefix; /* --id-prefix: generate_id hook for v5 socket ids */
static unsigned id_counter;

static int prefixed_id(const char *hs, size_t len, char *out, size_t outlen, void *ud) {
  (void)hs;
  (void)len;
  (void)ud;
  int n = snprintf(out, outlen, "%s%u", id_prefix, ++id_counter);
  return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* ---- small helpers ---------------------------------------------------------- */

/* The text of a cJSON array (deleted); the caller frees it. */
static char *print_args(cJSON *arr) {
  char *text = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  return text;
}

/* Sends a cJSON array (deleted) with the attachments of bins_from (or none). */
static int send_json(yolk_sio_socket_t *s, int64_t ack_id, cJSON *arr, const yolk_sio_args_t *bins_from,
                     yolk_sio_ack_cb cb, void *ud, unsigned timeout) {
  char *text = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  yolk_sio_args_t a = {text, strlen(text), bins_from ? bins_from->bins : NULL, bins_from ? bins_from->nbins : 0};
  int rc = ack_id >= 0 ? yolk_sio_socket_ack(s, ack_id, &a) : yolk_sio_socket_emit(s, &a, 0, cb, ud, timeout);
  free(text);
  return rc;
}

/* [name, args[from..]] as a new array. */
static cJSON *rename_args(const char *name, const cJSON *args, int from) {
  cJSON *out = cJSON_CreateArray();
  if (name) cJSON_AddItemToArray(out, cJSON_CreateString(name));
  int i = 0;
  for (const cJSON *c = args->child; c; c = c->next, i++)
    if (i >= from) cJSON_AddItemToArray(out, cJSON_Duplicate(c, 1));
  return out;
}

static void emit_event(yolk_sio_socket_t *s, const char *name, cJSON *rest) {
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemToArray(args, cJSON_CreateString(name));
  if (rest) cJSON_AddItemToArray(args, rest);
  send_json(s, -1, args, NULL, NULL, NULL, 0);
}

static void ack_with(yolk_sio_socket_t *s, int64_t ack_id, cJSON *value) {
  if (ack_id < 0) {
    cJSON_Delete(value);
    return;
  }
  cJSON *args = cJSON_CreateArray();
  if (value) cJSON_AddItemToArray(args, value);
  send_json(s, ack_id, args, NULL, NULL, NULL, 0);
}

/* Reads {rooms:[...], except:[...]} into a target; the strings point into obj. */
typedef struct {
  yolk_sio_target_t t;
  const char *rooms[16];
  const char *except[17];
} target_buf_t;

static void read_target(const cJSON *obj, target_buf_t *tb, const char *self_id) {
  memset(tb, 0, sizeof(*tb));
  const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(obj, "rooms");
  const cJSON *except = cJSON_GetObjectItemCaseSensitive(obj, "except");
  const cJSON *c;
  cJSON_ArrayForEach(c, rooms) if (cJSON_IsString(c) && tb->t.nrooms < 16) tb->rooms[tb->t.nrooms++] = c->valuestring;
  cJSON_ArrayForEach(c, except) if (cJSON_IsString(c) && tb->t.nexcept < 16) tb->except[tb->t.nexcept++] =
      c->valuestring;
  if (self_id && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "from_me"))) tb->except[tb->t.nexcept++] = self_id;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "volatile"))) tb->t.flags |= YOLK_SIO_VOLATILE;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "local"))) tb->t.flags |= YOLK_SIO_LOCAL;
  tb->t.rooms = tb->rooms;
  tb->t.except = tb->except;
}

/* ---- "/" and "/custom" --------------------------------------------------------- */

static cJSON *socket_auth(yolk_sio_socket_t *s) {
  size_t len;
  const char *auth = yolk_sio_socket_auth(s, &len);
  return cJSON_ParseWithLength(auth, len);
}

static void on_connect(yolk_sio_socket_t *s, void *ud) {
  (void)ud;
  yolk_sio_socket_admit(s);
  emit_event(s, "auth", socket_auth(s));
}

typedef struct {
  char *socket_id;
  yolk_sio_nsp_t *nsp;
} server_ack_ctx_t;

static void server_ack_result(void *ud, const char *err, const yolk_sio_args_t *args) {
  server_ack_ctx_t *ctx = ud;
  yolk_sio_socket_t *s = yolk_sio_nsp_socket(ctx->nsp, ctx->socket_id);
  if (s) {
    cJSON *out = cJSON_CreateArray();
    cJSON_AddItemToArray(out, cJSON_CreateString("server-ack-result"));
    cJSON_AddItemToArray(out, err ? cJSON_CreateString(err) : cJSON_CreateNull());
    cJSON *got = args ? cJSON_ParseWithLength(args->json, args->len) : NULL;
    cJSON_AddItemToArray(out, got ? got : cJSON_CreateNull());
    send_json(s, -1, out, NULL, NULL, NULL, 0);
  }
  free(ctx->socket_id);
  free(ctx);
}

typedef struct {
  char *socket_id;
  yolk_sio_nsp_t *nsp;
  int64_t ack_id;
} fetch_ctx_t;

static void fetch_result(void *ud, const char *err, const char *json, size_t len) {
  fetch_ctx_t *ctx = ud;
  yolk_sio_socket_t *s = yolk_sio_nsp_socket(ctx->nsp, ctx->socket_id);
  cJSON *sockets = json ? cJSON_ParseWithLength(json, len) : NULL;
  if (s) {
    cJSON *ids = cJSON_CreateArray();
    const cJSON *it;
    cJSON_ArrayForEach(it, sockets) {
      cJSON_AddItemToArray(ids, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(it, "id"), 1));
    }
    ack_with(s, ctx->ack_id, err ? cJSON_CreateString(err) : ids);
    if (err) cJSON_Delete(ids);
  }
  cJSON_Delete(sockets);
  free(ctx->socket_id);
  free(ctx);
}

static void add_room(const char *room, void *ud) { cJSON_AddItemToArray(ud, cJSON_CreateString(room)); }

static void handle_event(yolk_sio_socket_t *s, const cJSON *args, const yolk_sio_args_t *in, int64_t ack_id) {
  const cJSON *ev = args->child;
  if (!cJSON_IsString(ev)) return;
  const char *name = ev->valuestring;
  const cJSON *a1 = ev->next;
  const cJSON *a2 = a1 ? a1->next : NULL;
  int is_root = strcmp(yolk_sio_nsp_name(yolk_sio_socket_nsp(s)), "/") == 0;

  if (strcmp(name, "message") == 0 && is_root) {
    send_json(s, -1, rename_args("message-back", args, 1), in, NULL, NULL, 0);
  } else if (strcmp(name, "message-with-ack") == 0 && is_root) {
    if (ack_id < 0) return;
    send_json(s, ack_id, rename_args(NULL, args, 1), in, NULL, NULL, 0);
  } else if (strcmp(name, "join") == 0 && cJSON_IsString(a1)) {
    yolk_sio_socket_join(s, a1->valuestring);
    ack_with(s, ack_id, cJSON_CreateString("ok"));
  } else if (strcmp(name, "leave") == 0 && cJSON_IsString(a1)) {
    yolk_sio_socket_leave(s, a1->valuestring);
    ack_with(s, ack_id, cJSON_CreateString("ok"));
  } else if (strcmp(name, "rooms") == 0) {
    cJSON *rooms = cJSON_CreateArray();
    yolk_sio_socket_rooms(s, add_room, rooms);
    ack_with(s, ack_id, rooms);
  } else if (strcmp(name, "broadcast") == 0 && cJSON_IsObject(a1) && cJSON_IsString(a2)) {
    target_buf_t tb;
    read_target(a1, &tb, yolk_sio_socket_id(s));
    char *text = print_args(rename_args(a2->valuestring, args, 3));
    yolk_sio_args_t a = {text, strlen(text), in->bins, in->nbins};
    yolk_sio_broadcast(yolk_sio_socket_nsp(s), &tb.t, &a);
    free(text);
    ack_with(s, ack_id, cJSON_CreateString("sent"));
  } else if (strcmp(name, "broadcast-from") == 0 && cJSON_IsObject(a1) && cJSON_IsString(a2)) {
    target_buf_t tb;
    read_target(a1, &tb, NULL);
    char *text = print_args(rename_args(a2->valuestring, args, 3));
    yolk_sio_args_t a = {text, strlen(text), in->bins, in->nbins};
    yolk_sio_socket_broadcast(s, &tb.t, &a);
    free(text);
    ack_with(s, ack_id, cJSON_CreateString("sent"));
  } else if (strcmp(name, "server-ack") == 0 && cJSON_IsString(a1) && cJSON_IsNumber(a2)) {
    server_ack_ctx_t *ctx = malloc(sizeof(*ctx));
    ctx->socket_id = strdup(yolk_sio_socket_id(s));
    ctx->nsp = yolk_sio_socket_nsp(s);
    if (send_json(s, -1, rename_args(a1->valuestring, args, 3), in, server_ack_result, ctx,
                  (unsigned)a2->valuedouble) != 0) {
      free(ctx->socket_id);
      free(ctx);
    }
  } else if (strcmp(name, "disconnect-me") == 0) {
    yolk_sio_socket_disconnect(s, cJSON_IsTrue(a1));
  } else if (strcmp(name, "fetch") == 0 && cJSON_IsObject(a1)) {
    target_buf_t tb;
    read_target(a1, &tb, NULL);
    fetch_ctx_t *ctx = malloc(sizeof(*ctx));
    ctx->socket_id = strdup(yolk_sio_socket_id(s));
    ctx->nsp = yolk_sio_socket_nsp(s);
    ctx->ack_id = ack_id;
    yolk_sio_fetch_sockets(yolk_sio_socket_nsp(s), &tb.t, fetch_result, ctx);
  } else if (strcmp(name, "emit-then-disconnect") == 0 && cJSON_IsNumber(a1)) {
    for (int i = 1; i <= a1->valueint; i++) {
      emit_event(s, "seq", cJSON_CreateNumber(i));
    }
    yolk_sio_socket_disconnect(s, 0);
  }
}

static void on_event(yolk_sio_socket_t *s, const yolk_sio_args_t *in, int64_t ack_id, void *ud) {
  (void)ud;
  cJSON *args = cJSON_ParseWithLength(in->json, in->len);
  if (args) handle_event(s, args, in, ack_id);
  cJSON_Delete(args);
}

static const yolk_sio_nsp_handler_t main_handler = {on_connect, on_event, NULL, NULL, NULL};

/* ---- "/slow": admission after 50 ms, with an emit before it ------------------------ */

typedef struct {
  uv_timer_t timer;
  char *socket_id;
} slow_admit_t;

static void slow_timer_closed(uv_handle_t *h) {
  slow_admit_t *sa = h->data;
  free(sa->socket_id);
  free(sa);
}

static void slow_admit_cb(uv_timer_t *t) {
  slow_admit_t *sa = t->data;
  yolk_sio_socket_t *s = yolk_sio_nsp_socket(yolk_sio_find_nsp(sio, "/slow"), sa->socket_id);
  if (s) {
    yolk_sio_socket_admit(s);
    emit_event(s, "after", NULL);
  }
  uv_close((uv_handle_t *)t, slow_timer_closed);
}

static void slow_connect(yolk_sio_socket_t *s, void *ud) {
  (void)ud;
  emit_event(s, "early", cJSON_CreateString(yolk_sio_socket_id(s)));
  cJSON *auth = socket_auth(s);
  int disconnect = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(auth, "disconnect"));
  cJSON_Delete(auth);
  if (disconnect) {
    /* disconnected before admission: CONNECT ack, "early", then DISCONNECT */
    yolk_sio_socket_disconnect(s, 0);
    return;
  }
  slow_admit_t *sa = malloc(sizeof(*sa));
  sa->socket_id = strdup(yolk_sio_socket_id(s));
  uv_timer_init(loop, &sa->timer);
  sa->timer.data = sa;
  uv_timer_start(&sa->timer, slow_admit_cb, 50, 0);
}

static const yolk_sio_nsp_handler_t slow_handler = {slow_connect, on_event, NULL, NULL, NULL};

/* ---- "/refused" ---------------------------------------------------------------- */

static void refused_connect(yolk_sio_socket_t *s, void *ud) {
  (void)ud;
  yolk_sio_socket_refuse(s, "Not authorized", "{\"code\":42}", 11);
}

static const yolk_sio_nsp_handler_t refused_handler = {refused_connect, NULL, NULL, NULL, NULL};

/* ---- main ----------------------------------------------------------------------- */

/* On SIGINT/SIGTERM (example_handle_signals): close every session and the server. */
static void stop(void) {
  yolk_sio_close(sio);
  yolk_server_close(server, example_signals_close, NULL);
}

static void usage(void) {
  fprintf(stderr, "usage: sio-suite [--host H] [--port N] [--connect-timeout MS] [--ping-interval MS]\n"
                  "                 [--ping-timeout MS] [--client-dist DIR] [--id-prefix P]\n"
                  "                 [--log-level debug|info|warn|error]\n");
  exit(2);
}

static long num_arg(const char *flag, const char *v) { return example_num_arg("sio-suite", flag, v, usage); }

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 3000;
  yolk_sio_options_t opts;
  yolk_sio_options_init(&opts);
  opts.eio.ping_interval_ms = 300;
  opts.eio.ping_timeout_ms = 200;
  opts.eio.max_http_buffer_size = 1000000;
  opts.eio.cors_origin = "*";
  opts.eio.allow_eio3 = 1;
  opts.connect_timeout_ms = 1000;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--host") == 0 && v) {
      host = v;
      i++;
    } else if (strcmp(a, "--port") == 0) {
      port = (int)num_arg(a, v);
      i++;
    } else if (strcmp(a, "--connect-timeout") == 0) {
      opts.connect_timeout_ms = (unsigned)num_arg(a, v);
      i++;
    } else if (strcmp(a, "--ping-interval") == 0) {
      opts.eio.ping_interval_ms = (unsigned)num_arg(a, v);
      i++;
    } else if (strcmp(a, "--ping-timeout") == 0) {
      opts.eio.ping_timeout_ms = (unsigned)num_arg(a, v);
      i++;
    } else if (strcmp(a, "--id-prefix") == 0 && v) {
      id_prefix = v;
      opts.generate_id = prefixed_id;
      i++;
    } else if (strcmp(a, "--client-dist") == 0 && v) {
      opts.client_dist_dir = v;
      i++;
    } else if (strcmp(a, "--log-level") == 0 && v) {
      int level = example_log_level(v);
      if (level < 0) usage();
      yolk_log_set_level(level);
      i++;
    } else {
      usage();
    }
  }

  loop = uv_default_loop();
  if (yolk_server_new(loop, NULL, &server) != 0) return 1;
  sio = yolk_sio_attach(server, &opts);
  yolk_sio_nsp_set_handler(yolk_sio_of(sio, "/"), &main_handler, NULL);
  yolk_sio_nsp_set_handler(yolk_sio_of(sio, "/custom"), &main_handler, NULL);
  yolk_sio_nsp_set_handler(yolk_sio_of(sio, "/slow"), &slow_handler, NULL);
  yolk_sio_nsp_set_handler(yolk_sio_of(sio, "/refused"), &refused_handler, NULL);

  int r = yolk_server_listen(server, host, port);
  if (r != 0) {
    fprintf(stderr, "sio-suite: cannot listen on %s:%d: %s\n", host, port, uv_strerror(r));
    return 1;
  }
  printf("sio-suite listening on %s:%d\n", host, yolk_server_port(server));
  fflush(stdout);

  example_handle_signals(loop, stop);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
