/* eio.c - the Engine.IO server; see eio.h for the structure and lifetimes.
 *
 * Behaviour follows the reference server (socket.io's packages/engine.io:
 * server.ts, socket.ts, transports/polling.ts, websocket.ts) wherever a client
 * or the official protocol suites can tell the difference; the places where
 * yolk deliberately differs say so.
 */
#include "eio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "id.h"
#include "log.h"
#include "query.h"

#define LOG_COMPONENT "eio"
/* A volatile message is dropped when more than this many bytes already wait
 * on the WebSocket (the client is not keeping up). */
/* How long a polling close waits for the GET that carries the close packet. */
#define POLLING_CLOSE_TIMEOUT_MS 30000

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method", "Bad request", "Forbidden",
    "Unsupported protocol version",
};

static void session_close(yolk_eio_socket_t *s, const char *reason);
static void flush(yolk_eio_socket_t *s);
static int addr_limits_on(const yolk_eio_server_t *eio);
static void addr_session_end(yolk_eio_server_t *eio, const char *addr);
static void polling_close(yolk_eio_socket_t *s);

/* ---- options ---------------------------------------------------------------------- */

void yolk_eio_options_init(yolk_eio_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->path = "/engine.io/";
  o->ping_interval_ms = 25000;
  o->ping_timeout_ms = 20000;
  o->upgrade_timeout_ms = 10000;
  o->max_http_buffer_size = 1000000;
  o->allow_eio3 = 0;
  o->transports = YOLK_TRANSPORT_POLLING | YOLK_TRANSPORT_WEBSOCKET;
  o->allow_upgrades = 1;
}

/* ---- messages ----------------------------------------------------------------------- */

yolk_eio_msg_t *yolk__eio_msg_take(int binary, yolk_buf_t *data) {
  yolk_eio_msg_t *m = yolk__calloc(1, sizeof(*m));
  m->refs = 1;
  m->binary = binary ? 1 : 0;
  m->data = data;
  m->bytes = data->data;
  m->len = data->len;
  return m;
}

yolk_eio_msg_t *yolk__eio_msg_text_in_frame(size_t len, char **text) {
  size_t off;
  yolk_buf_t *f = yolk__ws_frame_alloc(YOLK_WS_OP_TEXT, 1 + len, &off);
  f->data[off] = '4'; /* the Engine.IO packet type: message */
  yolk_eio_msg_t *m = yolk__calloc(1, sizeof(*m));
  m->refs = 1;
  m->frame4 = f;
  m->frame3 = f; /* text frames are the same in v3 and v4 */
  m->bytes = f->data + off + 1;
  m->len = len;
  *text = f->data + off + 1;
  return m;
}

yolk_eio_msg_t *yolk_eio_msg_new(int binary, const void *data, size_t len) {
  return yolk__eio_msg_take(binary, yolk__buf_copy(data, len));
}

yolk_eio_msg_t *yolk_eio_msg_ref(yolk_eio_msg_t *m) {
  m->refs++;
  return m;
}

void yolk_eio_msg_unref(yolk_eio_msg_t *m) {
  if (!m || --m->refs) return;
  yolk__buf_unref(m->data);
  yolk__buf_unref(m->frame4);
  if (m->frame3 != m->frame4) yolk__buf_unref(m->frame3);
  free(m);
}

/* The WebSocket frame of a message packet for a protocol revision, built once
 * and cached in the message (borrowed reference). */
static yolk_buf_t *msg_frame(yolk_eio_msg_t *m, int protocol) {
  int v3bin = protocol == 3 && m->binary;
  yolk_buf_t **slot = v3bin ? &m->frame3 : &m->frame4;
  if (!*slot) {
    yolk_eio_packet_t p = {YOLK_EIO_MESSAGE, m->binary, m->bytes, m->len};
    size_t size = yolk__eio_packet_ws_size(protocol, &p), off;
    yolk_buf_t *f = yolk__ws_frame_alloc(m->binary ? YOLK_WS_OP_BINARY : YOLK_WS_OP_TEXT, size, &off);
    yolk__eio_packet_ws_write(f->data + off, protocol, &p);
    *slot = f;
  }
  if (!m->binary && !m->frame3) m->frame3 = m->frame4; /* text frames are the same in v3 and v4 */
  return *slot;
}

/* ---- the session table ---------------------------------------------------------------- */

static yolk_eio_socket_t *table_find(const yolk_eio_server_t *eio, const char *sid) {
  return yolk__smap_get(&eio->sessions, sid);
}

size_t yolk_eio_clients_count(const yolk_eio_server_t *eio) { return eio->sessions.len; }

/* ---- the send queue --------------------------------------------------------------------- */

static void q_push(yolk_eio_socket_t *s, int type, yolk_eio_msg_t *msg) {
  if (s->q_len == s->q_cap) {
    size_t cap = s->q_cap ? s->q_cap * 2 : 8;
    yolk_eio_qent_t *q = yolk__malloc(cap * sizeof(*q));
    for (size_t i = 0; i < s->q_len; i++) q[i] = s->q[(s->q_head + i) % s->q_cap];
    free(s->q);
    s->q = q;
    s->q_cap = cap;
    s->q_head = 0;
  }
  yolk_eio_qent_t *e = &s->q[(s->q_head + s->q_len) % s->q_cap];
  e->type = type;
  e->msg = msg;
  s->q_len++;
  if (msg) s->q_bytes += msg->len;
}

static yolk_eio_qent_t q_pop(yolk_eio_socket_t *s) {
  yolk_eio_qent_t e = s->q[s->q_head];
  s->q_head = (s->q_head + 1) % s->q_cap;
  s->q_len--;
  if (e.msg) s->q_bytes -= e.msg->len;
  return e;
}

static void q_clear(yolk_eio_socket_t *s) {
  while (s->q_len) yolk_eio_msg_unref(q_pop(s).msg);
}

static yolk_eio_packet_t qent_packet(const yolk_eio_qent_t *e) {
  yolk_eio_packet_t p = {e->type, 0, NULL, 0};
  if (e->msg) {
    p.binary = e->msg->binary;
    p.data = e->msg->bytes;
    p.len = e->msg->len;
  }
  return p;
}

/* ---- HTTP helpers ------------------------------------------------------------------------ */

/* 1 when origin matches one entry of a comma-separated list. */
static int origin_listed(const char *list, const char *origin) {
  size_t olen = strlen(origin);
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    const char *e = p;
    while (*e && *e != ',') e++;
    const char *t = e;
    while (t > p && t[-1] == ' ') t--;
    if ((size_t)(t - p) == olen && olen && memcmp(p, origin, olen) == 0) return 1;
    p = e;
  }
  return 0;
}

/* The CORS response headers for req (as the `cors` middleware the reference
 * uses would send them), appended to sb. */
static void cors_headers(const yolk_eio_server_t *eio, const yolk_http_req_t *req, yolk_sb_t *sb) {
  const char *conf = eio->cors_origin;
  if (!conf) return;
  const char *origin = yolk__http_req_header(req, "origin");
  int creds = eio->opts.cors_credentials;
  if (strcmp(conf, "*") == 0 && !creds) {
    yolk__sb_puts(sb, "Access-Control-Allow-Origin: *\r\n");
  } else {
    /* reflect the request's Origin when allowed; browsers refuse "*" with
     * credentials, so "*" + credentials reflects too */
    int allowed = origin && (strcmp(conf, "*") == 0 || strcmp(conf, "reflect") == 0 || origin_listed(conf, origin));
    if (allowed) yolk__sb_printf(sb, "Access-Control-Allow-Origin: %s\r\n", origin);
    yolk__sb_puts(sb, "Vary: Origin\r\n");
  }
  if (creds) yolk__sb_puts(sb, "Access-Control-Allow-Credentials: true\r\n");
}

static void respond_error(const yolk_eio_server_t *eio, yolk_http_req_t *req, int code, const char *what) {
  yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s %s %s: %s (%s)", req->remote_addr, req->method, req->url,
            error_messages[code], what);
  if (req->upgrade) {
    /* as the reference's abortUpgrade: a plain 400 and the connection closes */
    yolk__http_respond_close(req, 400, "Content-Type: text/html\r\n", error_messages[code],
                             strlen(error_messages[code]));
    return;
  }
  yolk_sb_t h, body;
  yolk__sb_init(&h);
  yolk__sb_init(&body);
  yolk__sb_puts(&h, "Content-Type: application/json\r\n");
  cors_headers(eio, req, &h);
  yolk__sb_printf(&body, "{\"code\":%d,\"message\":\"%s\"}", code, error_messages[code]);
  yolk__http_respond(req, code == YOLK_EIO_ERR_FORBIDDEN ? 403 : 400, h.data, body.data, body.len);
  yolk__sb_free(&h);
  yolk__sb_free(&body);
}

/* A response with no body beyond what status says (overlaps, 413, 500). */
static void respond_status(const yolk_eio_server_t *eio, yolk_http_req_t *req, int status) {
  yolk_sb_t h;
  yolk__sb_init(&h);
  cors_headers(eio, req, &h);
  yolk__http_respond(req, status, h.data, NULL, 0);
  yolk__sb_free(&h);
}

static void respond_ok(const yolk_eio_server_t *eio, yolk_http_req_t *req) {
  yolk_sb_t h;
  yolk__sb_init(&h);
  /* text/html, as the reference (an old user-agent download-dialog workaround) */
  yolk__sb_puts(&h, "Content-Type: text/html\r\ncache-control: no-store\r\n");
  cors_headers(eio, req, &h);
  yolk__http_respond(req, 200, h.data, "ok", 2);
  yolk__sb_free(&h);
}

/* ---- transports: polling ------------------------------------------------------------------ */

static void poll_detach(yolk_eio_socket_t *s) {
  yolk_http_req_t *req = s->poll;
  s->poll = NULL;
  req->on_abort = NULL;
  req->data = NULL;
}

/* Answers the pending GET with the queued packets (when with_queue) followed
 * by one control packet (extra >= 0). */
static void poll_respond(yolk_eio_socket_t *s, int with_queue, int extra) {
  yolk_http_req_t *req = s->poll;
  poll_detach(s);
  int format = YOLK_EIO_PAYLOAD_V4;
  if (s->protocol == 3) {
    format = YOLK_EIO_PAYLOAD_V3_TEXT;
    if (with_queue && !s->b64 && !s->jsonp)
      for (size_t i = 0; i < s->q_len; i++) {
        yolk_eio_msg_t *m = s->q[(s->q_head + i) % s->q_cap].msg;
        if (m && m->binary && s->q[(s->q_head + i) % s->q_cap].type == YOLK_EIO_MESSAGE) {
          format = YOLK_EIO_PAYLOAD_V3_BINARY;
          break;
        }
      }
  }
  yolk_sb_t payload;
  yolk__sb_init(&payload);
  int first = 1;
  while (with_queue && s->q_len) {
    yolk_eio_qent_t e = q_pop(s);
    yolk_eio_packet_t p = qent_packet(&e);
    yolk__eio_payload_append(&payload, format, &p, first);
    first = 0;
    yolk_eio_msg_unref(e.msg);
  }
  if (extra >= 0) {
    yolk_eio_packet_t p = {extra, 0, NULL, 0};
    yolk__eio_payload_append(&payload, format, &p, first);
  }
  yolk_sb_t h;
  yolk__sb_init(&h);
  if (s->jsonp) {
    yolk_sb_t js;
    yolk__sb_init(&js);
    yolk__eio_jsonp_wrap(&js, s->jsonp_index, payload.data ? payload.data : "", payload.len);
    yolk__sb_free(&payload);
    payload = js;
    yolk__sb_puts(&h, "Content-Type: text/javascript; charset=UTF-8\r\n");
  } else if (format == YOLK_EIO_PAYLOAD_V3_BINARY) {
    yolk__sb_puts(&h, "Content-Type: application/octet-stream\r\n");
  } else {
    yolk__sb_puts(&h, "Content-Type: text/plain; charset=UTF-8\r\n");
  }
  yolk__sb_puts(&h, "cache-control: no-store\r\n");
  cors_headers(s->eio, req, &h);
  yolk_buf_t *body = yolk__sb_to_buf(&payload);
  yolk__http_respond_buf(req, 200, h.data, body);
  yolk__buf_unref(body);
  yolk__sb_free(&h);
}

static void poll_aborted(yolk_http_req_t *req) {
  yolk_eio_socket_t *s = req->data;
  if (!s || s->poll != req) return;
  s->poll = NULL; /* freed by the HTTP layer right after this returns */
  yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: poll connection closed prematurely", s->id);
  session_close(s, "transport error");
}

/* ---- transports: WebSocket ------------------------------------------------------------------ */

static void ws_send_packet(yolk_eio_socket_t *s, yolk_ws_t *ws, int type, yolk_eio_msg_t *msg) {
  if (type == YOLK_EIO_MESSAGE && msg) {
    yolk__ws_send_frame(ws, msg_frame(msg, s->protocol));
    return;
  }
  yolk_eio_packet_t p = {type, 0, msg ? msg->bytes : NULL, msg ? msg->len : 0};
  size_t size = yolk__eio_packet_ws_size(s->protocol, &p), off;
  yolk_buf_t *f = yolk__ws_frame_alloc(YOLK_WS_OP_TEXT, size, &off);
  yolk__eio_packet_ws_write(f->data + off, s->protocol, &p);
  yolk__ws_send_frame(ws, f);
  yolk__buf_unref(f);
}

/* Stops the upgrade attempt and closes its WebSocket (unless it is gone). */
static void upgrade_cancel(yolk_eio_socket_t *s, int close_ws) {
  yolk_ws_t *ws = s->upgrade_ws;
  if (!ws) return;
  s->upgrade_ws = NULL;
  s->probed = 0;
  yolk__timeout_stop(&s->upgrade);
  yolk__ws_set_ud(ws, NULL);
  if (close_ws) yolk__ws_close(ws, 0, NULL);
  if (s->state == YOLK_EIO_S_CLOSING) polling_close(s); /* yolk_eio_socket_close was waiting for it */
}

/* ---- the session -------------------------------------------------------------------------- */

static void server_closed(void *arg) {
  yolk_eio_server_t *eio = arg;
  void (*done)(void *) = eio->close_done;
  eio->close_done = NULL;
  if (done) done(eio->close_arg);
}

/* Closing, and the last socket is gone: the timeouts' handles close, then
 * the server is done. */
static void server_maybe_done(yolk_eio_server_t *eio) {
  if (eio->closing && eio->live == 0 && eio->close_done) yolk__timeq_close(&eio->timeq, server_closed, eio);
}

/* From the loop, after session_close (or socket_dispose): nothing on the
 * stack holds the socket any more. */
static void socket_free(yolk_timeout_t *t) {
  yolk_eio_socket_t *s = yolk__timeout_owner(t, yolk_eio_socket_t, later);
  yolk_eio_server_t *eio = s->eio;
  free(s->q);
  free(s->hs_mem);
  free(s);
  eio->live--;
  server_maybe_done(eio);
}

/* The socket's memory goes from the loop; its timeouts stop now. */
static void socket_free_later(yolk_eio_socket_t *s) {
  yolk__timeout_stop(&s->heartbeat);
  yolk__timeout_stop(&s->upgrade);
  yolk__timeout_start(&s->eio->timeq, &s->later, 0, socket_free);
  /* the queue is closed only once every socket is freed */
}

/* onClose: the one place a session ends. */
static void session_close(yolk_eio_socket_t *s, const char *reason) {
  if (s->state == YOLK_EIO_S_CLOSED) return;
  s->state = YOLK_EIO_S_CLOSED;
  yolk__timeout_stop(&s->heartbeat);
  yolk__timeout_stop(&s->later);
  upgrade_cancel(s, 1);
  /* the pending GET learns about the close (the reference sends a close
   * packet from the polling transport's doClose) */
  if (s->poll) poll_respond(s, 0, YOLK_EIO_CLOSE);
  if (s->ws) {
    yolk_ws_t *ws = s->ws;
    s->ws = NULL;
    yolk__ws_set_ud(ws, NULL);
    yolk__ws_close(ws, 0, NULL);
  }
  q_clear(s);
  yolk__smap_del(&s->eio->sessions, s->id);
  if (addr_limits_on(s->eio)) addr_session_end(s->eio, s->hs.remote_addr);
  yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: closed (%s)", s->id, reason);
  const yolk_eio_socket_handler_t *h = s->h;
  s->h = NULL;
  if (h && h->on_close) h->on_close(s, reason, s->ud);
  socket_free_later(s);
}

static void defer_fired(yolk_timeout_t *t) {
  yolk_eio_socket_t *s = yolk__timeout_owner(t, yolk_eio_socket_t, later);
  session_close(s, s->defer_reason ? s->defer_reason : "forced close");
}

/* Finishes a close from the loop, outside the caller's stack. */
static void close_later(yolk_eio_socket_t *s, const char *reason, uint64_t ms) {
  if (s->state == YOLK_EIO_S_CLOSED) return; /* `later` frees it now */
  s->defer_reason = reason;
  yolk__timeout_start(&s->eio->timeq, &s->later, ms, defer_fired);
}

/* Everything queued went to the transport. */
static void drained(yolk_eio_socket_t *s) {
  if (s->h && s->h->on_drain && s->state != YOLK_EIO_S_CLOSED) s->h->on_drain(s, s->ud);
}

/* Hands queued packets to the transport if it can take them now. */
static void flush(yolk_eio_socket_t *s) {
  if (s->state == YOLK_EIO_S_CLOSED || s->q_len == 0) return;
  if (s->transport == YOLK_TRANSPORT_WEBSOCKET) {
    if (!s->ws) return;
    while (s->q_len) {
      yolk_eio_qent_t e = q_pop(s);
      ws_send_packet(s, s->ws, e.type, e.msg);
      yolk_eio_msg_unref(e.msg);
    }
    /* from now on packets go straight to the WebSocket (send_packet) */
    free(s->q);
    s->q = NULL;
    s->q_cap = s->q_head = 0;
  } else if (s->poll) {
    poll_respond(s, 1, -1);
  } else {
    return;
  }
  drained(s);
}

/* A client that does not read what it is sent: its backlog goes at once
 * (the WebSocket is cut without a closing handshake, the queue dropped),
 * and the session closes with reason "slow client" from the loop (never
 * inside the send that noticed it: a broadcast may be walking a room). */
static void slow_client(yolk_eio_socket_t *s, size_t pending) {
  if (s->state != YOLK_EIO_S_OPEN) return;
  yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s (%s): slow client: %zu bytes queued (maxBufferedBytes %zu); closing",
            s->id, s->hs.remote_addr ? s->hs.remote_addr : "?", pending, s->eio->opts.max_buffered_bytes);
  s->eio->slow_closed++;
  s->state = YOLK_EIO_S_CLOSING;
  if (s->ws) {
    yolk_ws_t *ws = s->ws;
    s->ws = NULL;
    yolk__ws_set_ud(ws, NULL);
    yolk__ws_abort(ws);
  }
  q_clear(s);
  close_later(s, "slow client", 0);
}

static void ws_on_backlog(yolk_ws_t *ws, size_t pending, void *ud) {
  yolk_eio_socket_t *s = ud;
  if (s && ws == s->ws) slow_client(s, pending);
}

/* sendPacket: queued only while the session is open. Takes msg's reference. */
static int send_packet(yolk_eio_socket_t *s, int type, yolk_eio_msg_t *msg) {
  if (s->state != YOLK_EIO_S_OPEN) {
    yolk_eio_msg_unref(msg);
    return -1;
  }
  if (s->transport == YOLK_TRANSPORT_WEBSOCKET && s->ws && s->q_len == 0) {
    /* nothing waits before it: straight to the WebSocket (as flush would
     * do at once), so a WebSocket session has no queue */
    ws_send_packet(s, s->ws, type, msg);
    yolk_eio_msg_unref(msg);
    drained(s);
    return 0;
  }
  q_push(s, type, msg);
  flush(s);
  /* what waits for a polling request or an upgrade (a WebSocket's own
   * backlog is measured after each loop iteration's writes: ws_on_backlog) */
  if (s->q_bytes > s->eio->opts.max_buffered_bytes) slow_client(s, s->q_bytes);
  return 0;
}

static void ping_timeout_fired(yolk_timeout_t *t) {
  yolk_eio_socket_t *s = yolk__timeout_owner(t, yolk_eio_socket_t, heartbeat);
  yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: no %s within the timeout", s->id, s->protocol == 3 ? "ping" : "pong");
  session_close(s, "ping timeout");
}

static void ping_fired(yolk_timeout_t *t) {
  yolk_eio_socket_t *s = yolk__timeout_owner(t, yolk_eio_socket_t, heartbeat);
  send_packet(s, YOLK_EIO_PING, NULL);
  if (s->state != YOLK_EIO_S_CLOSED)
    yolk__timeout_start(&s->eio->timeq, &s->heartbeat, s->eio->opts.ping_timeout_ms, ping_timeout_fired);
}

/* v3: the client pings; no ping within interval + timeout ends the session. */
static void v3_heartbeat_reset(yolk_eio_socket_t *s) {
  yolk__timeout_start(&s->eio->timeq, &s->heartbeat,
                      (uint64_t)s->eio->opts.ping_interval_ms + s->eio->opts.ping_timeout_ms, ping_timeout_fired);
}

/* onPacket: a packet from the client on the current transport. */
static void on_packet(yolk_eio_socket_t *s, const yolk_eio_packet_t *p) {
  if (s->state != YOLK_EIO_S_OPEN) return;
  switch (p->type) {
  case YOLK_EIO_PING:
    if (s->protocol != 3) {
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: ping from a v4 client (invalid heartbeat direction)", s->id);
      session_close(s, "transport error");
      return;
    }
    v3_heartbeat_reset(s);
    send_packet(s, YOLK_EIO_PONG, NULL);
    break;
  case YOLK_EIO_PONG:
    if (s->protocol == 3) {
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: pong from a v3 client (invalid heartbeat direction)", s->id);
      session_close(s, "transport error");
      return;
    }
    yolk__timeout_start(&s->eio->timeq, &s->heartbeat, s->eio->opts.ping_interval_ms, ping_fired);
    break;
  case YOLK_EIO_MESSAGE:
    if (s->h && s->h->on_message) s->h->on_message(s, p->binary, p->data ? p->data : "", p->len, s->ud);
    break;
  default:
    /* open, upgrade and noop mean nothing here; close is handled by the transports */
    break;
  }
}

/* ---- WebSocket callbacks --------------------------------------------------------------------- */

static void upgrade_message(yolk_eio_socket_t *s, const yolk_eio_packet_t *p) {
  if (p->type == YOLK_EIO_PING && p->len == 5 && memcmp(p->data, "probe", 5) == 0) {
    yolk_eio_msg_t *probe = yolk_eio_msg_new(0, "probe", 5);
    ws_send_packet(s, s->upgrade_ws, YOLK_EIO_PONG, probe);
    yolk_eio_msg_unref(probe);
    s->probed = 1;
    /* end the pending poll so the client can pause polling (the reference
     * checks every 100 ms; answering at once is faster and equivalent) */
    if (s->poll && s->q_len == 0) poll_respond(s, 0, YOLK_EIO_NOOP);
  } else if (p->type == YOLK_EIO_UPGRADE && (s->state == YOLK_EIO_S_OPEN || s->state == YOLK_EIO_S_CLOSING)) {
    yolk_ws_t *ws = s->upgrade_ws;
    yolk__timeout_stop(&s->upgrade);
    s->upgrade_ws = NULL;
    s->probed = 0;
    if (s->poll) poll_respond(s, 0, YOLK_EIO_NOOP); /* the old transport is discarded */
    s->ws = ws;
    s->transport = YOLK_TRANSPORT_WEBSOCKET;
    s->upgraded = 1;
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: upgraded to websocket", s->id);
    flush(s); /* what was buffered during the upgrade, in order */
    if (s->state == YOLK_EIO_S_CLOSING) { /* closed during the upgrade: now it can be said */
      yolk__ws_close(s->ws, 0, NULL);
      close_later(s, "forced close", 0);
    }
  } else {
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: unexpected packet type %d during the upgrade, closing the probe",
              s->id, p->type);
    upgrade_cancel(s, 1);
  }
}

static void ws_on_message(yolk_ws_t *ws, int binary, const char *data, size_t len, void *ud) {
  yolk_eio_socket_t *s = ud;
  if (!s || s->state == YOLK_EIO_S_CLOSED) return;
  yolk_sb_t scratch;
  yolk__sb_init(&scratch);
  yolk_eio_packet_t p;
  const char *err = NULL;
  int rc = yolk__eio_packet_decode(s->protocol, binary, data, len, &scratch, &p, &err);
  if (ws == s->upgrade_ws) {
    if (rc != 0) {
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: invalid packet on the upgrade websocket (%s)", s->id, err);
      upgrade_cancel(s, 1);
    } else {
      upgrade_message(s, &p);
    }
  } else if (ws == s->ws) {
    if (rc != 0) {
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: invalid packet format on websocket (%s), closing", s->id, err);
      session_close(s, "parse error");
    } else if (p.type == YOLK_EIO_CLOSE) {
      session_close(s, "transport close");
    } else {
      on_packet(s, &p);
    }
  }
  yolk__sb_free(&scratch);
}

static void ws_on_close(yolk_ws_t *ws, int code, void *ud) {
  yolk_eio_socket_t *s = ud;
  (void)code;
  if (!s) return;
  if (ws == s->upgrade_ws) {
    yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: upgrade websocket closed before the upgrade", s->id);
    upgrade_cancel(s, 0);
  } else if (ws == s->ws) {
    s->ws = NULL;
    session_close(s, "transport close");
  }
}

static void upgrade_timeout_fired(yolk_timeout_t *t) {
  yolk_eio_socket_t *s = yolk__timeout_owner(t, yolk_eio_socket_t, upgrade);
  yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: client did not complete the upgrade in time, closing the probe", s->id);
  upgrade_cancel(s, 1);
}

/* ---- handshake ---------------------------------------------------------------------------- */

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copies what the application may read about the handshake into one
 * block: the header pointers, then the URL (the query is its tail), the
 * address, and each header as "name\0value\0". */
static void keep_handshake(yolk_eio_socket_t *s, const yolk_http_req_t *req) {
  size_t n = req->nheaders, ulen = strlen(req->url), alen = strlen(req->remote_addr);
  size_t size = n * sizeof(char *) + ulen + 1 + alen + 1;
  for (size_t i = 0; i < n; i++) size += strlen(req->headers[i].name) + 1 + strlen(req->headers[i].value) + 1;
  char *mem = yolk__malloc(size);
  const char **headers = (const char **)(void *)mem;
  char *p = mem + n * sizeof(char *);
  memcpy(p, req->url, ulen + 1);
  s->hs.url = p;
  /* req->query is what follows the URL's first '?' */
  size_t qlen = strlen(req->query);
  s->hs.query = qlen ? p + ulen - qlen : "";
  p += ulen + 1;
  memcpy(p, req->remote_addr, alen + 1);
  s->hs.remote_addr = p;
  p += alen + 1;
  for (size_t i = 0; i < n; i++) {
    headers[i] = p;
    size_t nl = strlen(req->headers[i].name) + 1, vl = strlen(req->headers[i].value) + 1;
    memcpy(p, req->headers[i].name, nl);
    memcpy(p + nl, req->headers[i].value, vl);
    p += nl + vl;
  }
  s->hs.nheaders = n;
  s->hs.headers = headers;
  s->hs.time_ms = wall_ms();
  s->hs_mem = mem;
}

static int upgrades_available(const yolk_eio_server_t *eio, int transport) {
  return transport == YOLK_TRANSPORT_POLLING && eio->opts.allow_upgrades &&
         (eio->opts.transports & YOLK_TRANSPORT_WEBSOCKET);
}

static yolk_eio_socket_t *socket_new(yolk_eio_server_t *eio, int protocol, int transport) {
  yolk_eio_socket_t *s = yolk__calloc(1, sizeof(*s));
  s->eio = eio;
  size_t pl = strlen(eio->sid_prefix);
  memcpy(s->id, eio->sid_prefix, pl);
  do yolk__random_id(s->id + pl, 20 - pl);
  while (table_find(eio, s->id));
  s->protocol = protocol;
  s->transport = transport;
  s->state = YOLK_EIO_S_OPEN;
  yolk__timeout_init(&s->heartbeat);
  yolk__timeout_init(&s->upgrade);
  yolk__timeout_init(&s->later);
  eio->live++;
  return s;
}

/* Frees a socket that never became a session (its WebSocket handshake failed). */
static void socket_dispose(yolk_eio_socket_t *s) {
  s->state = YOLK_EIO_S_CLOSED;
  socket_free_later(s);
}

/* ---- per-address limits ------------------------------------------------------------------ */

typedef struct {
  unsigned sessions;  /* open sessions from the address */
  uint64_t window_ms; /* start of the current one-second window */
  unsigned count;     /* handshakes in it */
} eio_addr_t;

static int addr_limits_on(const yolk_eio_server_t *eio) {
  return eio->opts.max_clients_per_address || eio->opts.max_handshakes_per_second;
}

/* Drops, every 10 s at most, the addresses with no session and no recent
 * handshake, so the table follows the clients there are. */
static void addr_sweep(yolk_eio_server_t *eio, uint64_t now) {
  if (now - eio->addr_swept_ms < 10000) return;
  eio->addr_swept_ms = now;
  char **gone = NULL;
  size_t n = 0;
  for (size_t i = 0; i < eio->by_addr.cap; i++) {
    eio_addr_t *a = eio->by_addr.slots[i].value;
    if (!eio->by_addr.slots[i].key || a->sessions || now - a->window_ms < 1000) continue;
    gone = yolk__realloc(gone, (n + 1) * sizeof(*gone));
    gone[n++] = eio->by_addr.slots[i].key;
  }
  for (size_t i = 0; i < n; i++) free(yolk__smap_del(&eio->by_addr, gone[i]));
  free(gone);
}

/* 1 when a handshake from addr may go ahead (and counts it). */
static int addr_admit(yolk_eio_server_t *eio, const char *addr, const char **why) {
  uint64_t now = uv_now(eio->loop);
  addr_sweep(eio, now);
  eio_addr_t *a = yolk__smap_get(&eio->by_addr, addr);
  if (!a) {
    a = yolk__calloc(1, sizeof(*a));
    a->window_ms = now;
    yolk__smap_put(&eio->by_addr, addr, a);
  }
  if (now - a->window_ms >= 1000) {
    a->window_ms = now;
    a->count = 0;
  }
  if (eio->opts.max_clients_per_address && a->sessions >= eio->opts.max_clients_per_address) {
    *why = "maxClientsPerAddress";
    return 0;
  }
  if (eio->opts.max_handshakes_per_second && a->count >= eio->opts.max_handshakes_per_second) {
    *why = "maxHandshakesPerSecond";
    return 0;
  }
  a->count++;
  return 1;
}

static void addr_session_end(yolk_eio_server_t *eio, const char *addr) {
  eio_addr_t *a = addr ? yolk__smap_get(&eio->by_addr, addr) : NULL;
  if (a && a->sessions) a->sessions--;
}

/* A refused handshake: 403 (Engine.IO "Forbidden"); logged once a second at
 * most, with the number refused since (a flood must not flood the log). */
static void addr_refuse(yolk_eio_server_t *eio, yolk_http_req_t *req, const char *why) {
  eio->refused++;
  uint64_t now = uv_now(eio->loop);
  if (!eio->refused_logged_ms || now - eio->refused_logged_ms >= 1000) {
    eio->refused_logged_ms = now ? now : 1;
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: handshake refused (%s); %llu refused so far", req->remote_addr, why,
              (unsigned long long)eio->refused);
  }
  if (req->upgrade) {
    yolk__http_respond_close(req, 403, "Content-Type: text/html\r\n", "Forbidden", 9);
    return;
  }
  yolk_sb_t h;
  yolk__sb_init(&h);
  yolk__sb_puts(&h, "Content-Type: application/json\r\n");
  cors_headers(eio, req, &h);
  static const char body[] = "{\"code\":4,\"message\":\"Forbidden\"}";
  yolk__http_respond(req, 403, h.data, body, sizeof(body) - 1);
  yolk__sb_free(&h);
}

static void handshake(yolk_eio_server_t *eio, yolk_http_req_t *req, int protocol, int transport, int b64,
                      const char *jsonp) {
  if (addr_limits_on(eio)) {
    const char *why;
    if (!addr_admit(eio, req->remote_addr, &why)) {
      addr_refuse(eio, req, why);
      return;
    }
  }
  yolk_eio_socket_t *s = socket_new(eio, protocol, transport);
  keep_handshake(s, req);
  s->b64 = b64 ? 1 : 0;
  if (jsonp) {
    s->jsonp = 1;
    size_t k = 0;
    for (const char *c = jsonp; *c && k < sizeof(s->jsonp_index) - 1; c++)
      if (*c >= '0' && *c <= '9') s->jsonp_index[k++] = *c;
    s->jsonp_index[k] = '\0';
  }
  if (transport == YOLK_TRANSPORT_WEBSOCKET) {
    s->ws = yolk__ws_accept(req, &eio->ws_handler, s); /* frees req */
    if (!s->ws) {
      socket_dispose(s); /* answered 400 by the WebSocket layer */
      return;
    }
  } else {
    s->poll = req;
    req->data = s;
    req->on_abort = poll_aborted;
  }
  yolk__smap_put(&eio->sessions, s->id, s);
  eio->handshakes++;
  if (addr_limits_on(eio)) {
    eio_addr_t *a = yolk__smap_get(&eio->by_addr, s->hs.remote_addr);
    if (a) a->sessions++;
  }

  yolk_sb_t open;
  yolk__sb_init(&open);
  /* {"sid":"…","upgrades":[…],"pingInterval":N,"pingTimeout":N[,"maxPayload":N]}, without printf */
  yolk__sb_puts(&open, "{\"sid\":\"");
  yolk__sb_puts(&open, s->id);
  yolk__sb_puts(&open, upgrades_available(eio, transport) ? "\",\"upgrades\":[\"websocket\"],\"pingInterval\":"
                                                          : "\",\"upgrades\":[],\"pingInterval\":");
  yolk__sb_put_u64(&open, eio->opts.ping_interval_ms);
  yolk__sb_puts(&open, ",\"pingTimeout\":");
  yolk__sb_put_u64(&open, eio->opts.ping_timeout_ms);
  if (protocol == 4) {
    yolk__sb_puts(&open, ",\"maxPayload\":");
    yolk__sb_put_u64(&open, eio->opts.max_http_buffer_size);
  }
  yolk__sb_putc(&open, '}');
  send_packet(s, YOLK_EIO_OPEN, yolk_eio_msg_new(0, open.data, open.len));
  yolk__sb_free(&open);

  if (protocol == 3) v3_heartbeat_reset(s);
  else yolk__timeout_start(&eio->timeq, &s->heartbeat, eio->opts.ping_interval_ms, ping_fired);
  yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: new v%d session over %s from %s", s->id, protocol,
            yolk_eio_socket_transport(s), s->hs.remote_addr);
  if (eio->opts.on_connection && s->state == YOLK_EIO_S_OPEN) eio->opts.on_connection(s, eio->opts.ud);
}

/* ---- polling requests on a session ----------------------------------------------------------- */

static void on_poll(yolk_eio_socket_t *s, yolk_http_req_t *req) {
  if (s->poll) {
    /* the reference: "overlap from client" is a transport error; the first
     * GET gets the close packet, the second a bare 400 */
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: %s: overlapping GET (a poll is already pending), closing the session",
              s->id, req->remote_addr);
    session_close(s, "transport error");
    respond_status(s->eio, req, 400);
    return;
  }
  s->poll = req;
  req->data = s;
  req->on_abort = poll_aborted;
  if (s->close_pending && s->q_len) {
    /* still draining before the close: this GET takes the queue, the close
     * packet waits for the next one (see yolk_eio_socket_close) */
    flush(s);
  } else if (s->close_pending) {
    s->close_pending = 0;
    poll_respond(s, 0, YOLK_EIO_CLOSE);
    close_later(s, "forced close", 0);
  } else if (s->q_len) {
    flush(s);
  } else if (s->probed) {
    poll_respond(s, 0, YOLK_EIO_NOOP); /* upgrading: let the client pause polling */
  }
}

static int post_packet(void *ud, const yolk_eio_packet_t *p) {
  yolk_eio_socket_t *s = ud;
  if (s->state == YOLK_EIO_S_CLOSED) return 1;
  if (p->type == YOLK_EIO_CLOSE) {
    /* the client closes: the polling transport ends its pending GET with a
     * noop, then the session closes */
    if (s->poll) poll_respond(s, 0, YOLK_EIO_NOOP);
    session_close(s, "transport close");
    return 1;
  }
  on_packet(s, p);
  return s->state == YOLK_EIO_S_CLOSED;
}

static void on_post(yolk_eio_socket_t *s, yolk_http_req_t *req) {
  yolk_eio_server_t *eio = s->eio;
  if (req->body_len > eio->opts.max_http_buffer_size) {
    /* as the reference: 413, the session stays */
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: %s: POST body of %zu bytes exceeds maxHttpBufferSize %zu", s->id,
              req->remote_addr, req->body_len, eio->opts.max_http_buffer_size);
    respond_status(eio, req, 413);
    return;
  }
  const char *ct = yolk__http_req_header(req, "content-type");
  int is_binary = ct && strcasecmp(ct, "application/octet-stream") == 0;
  if (is_binary && s->protocol == 4) {
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: %s: binary POST body on a v4 session, closing", s->id,
              req->remote_addr);
    respond_status(eio, req, 400);
    session_close(s, "transport error");
    return;
  }
  const char *data = req->body ? req->body : "";
  size_t len = req->body_len;
  int format = s->protocol == 4 ? YOLK_EIO_PAYLOAD_V4 : is_binary ? YOLK_EIO_PAYLOAD_V3_BINARY : YOLK_EIO_PAYLOAD_V3_TEXT;
  yolk_sb_t form;
  yolk__sb_init(&form);
  if (s->jsonp && !is_binary) {
    if (yolk__eio_jsonp_body(data, len, &form) != 0) {
      /* the reference ignores such a body */
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: %s: JSONP POST without a d= field, ignored", s->id,
                req->remote_addr);
      respond_ok(eio, req);
      return;
    }
    data = form.data;
    len = form.len;
  }
  const char *err = NULL;
  int rc = yolk__eio_payload_decode(format, data, len, post_packet, s, &err);
  if (rc < 0) {
    respond_error(eio, req, YOLK_EIO_ERR_BAD_REQUEST, err ? err : "invalid payload");
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: invalid packet format, closing the session", s->id);
    session_close(s, "parse error");
  } else {
    respond_ok(eio, req);
  }
  yolk__sb_free(&form);
}

/* ---- routing a request ------------------------------------------------------------------------ */

int yolk__eio_claims(const yolk_eio_server_t *eio, const yolk_http_req_t *req) {
  return strncmp(req->url, eio->path, strlen(eio->path)) == 0;
}

static int transport_by_name(const char *name) {
  if (strcmp(name, "polling") == 0) return YOLK_TRANSPORT_POLLING;
  if (strcmp(name, "websocket") == 0) return YOLK_TRANSPORT_WEBSOCKET;
  return 0;
}

/* Origin must be a valid header value (the reference's checkInvalidHeaderChar). */
static int header_value_invalid(const char *v) {
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if ((*p < 32 && *p != '\t') || *p == 127) return 1;
  return 0;
}

static void preflight(const yolk_eio_server_t *eio, yolk_http_req_t *req) {
  yolk_sb_t h;
  yolk__sb_init(&h);
  cors_headers(eio, req, &h);
  yolk__sb_puts(&h, "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
  const char *want = yolk__http_req_header(req, "access-control-request-headers");
  yolk__sb_puts(&h, "Vary: Access-Control-Request-Headers\r\n");
  if (want && *want) yolk__sb_printf(&h, "Access-Control-Allow-Headers: %s\r\n", want);
  /* some browsers wait for a body on a 204 without it */
  yolk__sb_puts(&h, "Content-Length: 0\r\n");
  yolk__http_respond(req, 204, h.data, NULL, 0);
  yolk__sb_free(&h);
}

/* The Engine.IO parameters of a request's query, read in one pass: each the
 * first value of its name, NUL-terminated, cut to its buffer (as
 * yolk_query_get gives them); a length of -1 when the name is absent. */
typedef struct {
  char transport[16], sid[64], eio[8], b64[8], j[32];
  int transport_len, sid_len, eio_len, b64_len, j_len;
} eio_query_t;

static int take_first(char *out, size_t size, int *len, const char *v, size_t vlen) {
  if (*len >= 0) return 0;
  size_t n = vlen < size ? vlen : size - 1;
  memcpy(out, v, n);
  out[n] = '\0';
  *len = (int)n;
  return 0;
}

static int name_is(const char *name, size_t nlen, const char *lit) {
  return nlen == strlen(lit) && memcmp(name, lit, nlen) == 0;
}

static int eio_query_pair(void *ud, const char *name, size_t nlen, const char *v, size_t vlen) {
  eio_query_t *q = ud;
  if (name_is(name, nlen, "transport")) return take_first(q->transport, sizeof(q->transport), &q->transport_len, v, vlen);
  if (name_is(name, nlen, "sid")) return take_first(q->sid, sizeof(q->sid), &q->sid_len, v, vlen);
  if (name_is(name, nlen, "EIO")) return take_first(q->eio, sizeof(q->eio), &q->eio_len, v, vlen);
  if (name_is(name, nlen, "b64")) return take_first(q->b64, sizeof(q->b64), &q->b64_len, v, vlen);
  if (name_is(name, nlen, "j")) return take_first(q->j, sizeof(q->j), &q->j_len, v, vlen);
  return 0;
}

static void eio_query_read(const char *query, eio_query_t *q) {
  q->transport_len = q->sid_len = q->eio_len = q->b64_len = q->j_len = -1;
  if (query) yolk__query_each(query, strlen(query), eio_query_pair, q);
}

void yolk__eio_handle_request(yolk_eio_server_t *eio, yolk_http_req_t *req) {
  if (eio->closing) {
    respond_status(eio, req, 503);
    return;
  }
  if (eio->cors_origin && !req->upgrade && strcmp(req->method, "OPTIONS") == 0) {
    preflight(eio, req);
    return;
  }
  eio_query_t q;
  eio_query_read(req->query, &q);
  int t = 0;
  if (q.transport_len >= 0) t = transport_by_name(q.transport);
  if (!t || !(eio->opts.transports & (unsigned)t)) {
    respond_error(eio, req, YOLK_EIO_ERR_UNKNOWN_TRANSPORT, "missing, unknown or disabled transport");
    return;
  }
  const char *origin = yolk__http_req_header(req, "origin");
  if (origin && header_value_invalid(origin)) {
    respond_error(eio, req, YOLK_EIO_ERR_BAD_REQUEST, "invalid Origin header");
    return;
  }
  if (q.sid_len > 0) {
    yolk_eio_socket_t *s = q.sid_len < (int)sizeof(q.sid) - 1 ? table_find(eio, q.sid) : NULL;
    if (!s) {
      respond_error(eio, req, YOLK_EIO_ERR_UNKNOWN_SID, "unknown sid");
      return;
    }
    if (!req->upgrade && s->transport != t) {
      respond_error(eio, req, YOLK_EIO_ERR_BAD_REQUEST, "transport does not match the session's (already upgraded?)");
      return;
    }
    if (req->upgrade) {
      if (t != YOLK_TRANSPORT_WEBSOCKET) {
        respond_error(eio, req, YOLK_EIO_ERR_BAD_REQUEST, "upgrade request for a transport that cannot upgrade");
        return;
      }
      yolk_ws_t *ws = yolk__ws_accept(req, &eio->ws_handler, NULL);
      if (!ws) return;
      const char *why = NULL;
      if (s->state != YOLK_EIO_S_OPEN) why = "the session is closing";
      else if (s->upgrade_ws) why = "an upgrade is already in progress";
      else if (s->transport == YOLK_TRANSPORT_WEBSOCKET) why = "the session was already upgraded";
      else if (!upgrades_available(eio, s->transport)) why = "upgrades are disabled";
      if (why) {
        yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: refusing a websocket for this sid: %s", s->id, why);
        yolk__ws_close(ws, 0, NULL);
        return;
      }
      s->upgrade_ws = ws;
      s->probed = 0;
      yolk__ws_set_ud(ws, s);
      yolk__timeout_start(&eio->timeq, &s->upgrade, eio->opts.upgrade_timeout_ms, upgrade_timeout_fired);
      return;
    }
    if (strcmp(req->method, "GET") == 0) on_poll(s, req);
    else if (strcmp(req->method, "POST") == 0) on_post(s, req);
    else {
      yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: %s request on a polling session", s->id, req->method);
      respond_status(eio, req, 500); /* as the reference */
    }
    return;
  }

  /* a new session */
  if (strcmp(req->method, "GET") != 0) {
    respond_error(eio, req, YOLK_EIO_ERR_BAD_HANDSHAKE_METHOD, "handshake must be a GET");
    return;
  }
  if (t == YOLK_TRANSPORT_WEBSOCKET && !req->upgrade) {
    respond_error(eio, req, YOLK_EIO_ERR_BAD_REQUEST, "websocket handshake without an Upgrade header");
    return;
  }
  if (t == YOLK_TRANSPORT_POLLING && req->upgrade) {
    respond_error(eio, req, YOLK_EIO_ERR_BAD_REQUEST, "upgrade request with transport=polling");
    return;
  }
  if (eio->opts.allow_request) {
    int code = eio->opts.allow_request(req, eio->opts.ud);
    if (code >= 0) {
      if (code > YOLK_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION) code = YOLK_EIO_ERR_FORBIDDEN;
      respond_error(eio, req, code, "refused by allowRequest");
      return;
    }
  }
  /* Deliberate difference: the reference takes anything but EIO=4 as v3;
   * the v4 suite wants a missing or invalid EIO refused. */
  int protocol = 0;
  if (q.eio_len >= 0) {
    if (strcmp(q.eio, "4") == 0) protocol = 4;
    else if (strcmp(q.eio, "3") == 0 && eio->opts.allow_eio3) protocol = 3;
  }
  if (!protocol) {
    respond_error(eio, req, YOLK_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION, "EIO missing, invalid or not allowed");
    return;
  }
  int want_b64 = q.b64_len > 0;
  int has_j = t == YOLK_TRANSPORT_POLLING && protocol == 3 && q.j_len >= 0;
  handshake(eio, req, protocol, t, want_b64, has_j ? q.j : NULL);
}

/* ---- the server ---------------------------------------------------------------------------------- */

yolk_eio_server_t *yolk__eio_server_new(uv_loop_t *loop, const yolk_eio_options_t *opts) {
  yolk_eio_options_t def;
  if (!opts) {
    yolk_eio_options_init(&def);
    opts = &def;
  }
  yolk_eio_server_t *eio = yolk__calloc(1, sizeof(*eio));
  eio->loop = loop;
  yolk__timeq_init(&eio->timeq, loop);
  eio->opts = *opts;
  yolk__smap_init_borrowed(&eio->sessions); /* keys: the sessions' ids */
  yolk__smap_init(&eio->by_addr);
  /* the reference's _computePath: no trailing slash, then add one */
  const char *path = opts->path ? opts->path : "/engine.io/";
  size_t pl = strlen(path);
  while (pl > 0 && path[pl - 1] == '/') pl--;
  eio->path = yolk__malloc(pl + 2);
  memcpy(eio->path, path, pl);
  eio->path[pl] = '/';
  eio->path[pl + 1] = '\0';
  eio->opts.path = eio->path;
  eio->cors_origin = opts->cors_origin ? yolk__strndup(opts->cors_origin, strlen(opts->cors_origin)) : NULL;
  eio->opts.cors_origin = eio->cors_origin;
  if (opts->sid_prefix) snprintf(eio->sid_prefix, sizeof(eio->sid_prefix), "%s", opts->sid_prefix);
  eio->opts.sid_prefix = eio->sid_prefix;
  if (!eio->opts.transports) eio->opts.transports = YOLK_TRANSPORT_POLLING | YOLK_TRANSPORT_WEBSOCKET;
  eio->ws_handler.on_message = ws_on_message;
  eio->ws_handler.on_close = ws_on_close;
  eio->ws_handler.on_backlog = ws_on_backlog;
  eio->ws_handler.max_message_size = eio->opts.max_http_buffer_size;
  if (!eio->opts.max_buffered_bytes) eio->opts.max_buffered_bytes = 8u << 20;
  eio->ws_handler.max_backlog = eio->opts.max_buffered_bytes;
  return eio;
}

size_t yolk__eio_max_payload(const yolk_eio_server_t *eio) { return eio->opts.max_http_buffer_size; }

void yolk__eio_stats(const yolk_eio_server_t *eio, yolk_eio_stats_t *st) {
  memset(st, 0, sizeof(*st));
  st->handshakes = eio->handshakes;
  st->refused = eio->refused;
  st->slow_closed = eio->slow_closed;
  st->dropped_volatile = eio->dropped_volatile;
  for (size_t i = 0; i < eio->sessions.cap; i++) {
    if (!eio->sessions.slots[i].key) continue;
    const yolk_eio_socket_t *s = eio->sessions.slots[i].value;
    if (s->transport == YOLK_TRANSPORT_WEBSOCKET) st->websocket++;
    else st->polling++;
    st->queued_bytes += s->q_bytes;
  }
}

void yolk__eio_server_close(yolk_eio_server_t *eio, void (*done)(void *arg), void *arg) {
  eio->closing = 1;
  eio->close_done = done;
  eio->close_arg = arg;
  /* session_close removes from the table (and may add nothing): collect first */
  size_t n = 0;
  yolk_eio_socket_t **all = yolk__malloc((eio->sessions.len + 1) * sizeof(*all));
  for (size_t i = 0; i < eio->sessions.cap; i++)
    if (eio->sessions.slots[i].key) all[n++] = eio->sessions.slots[i].value;
  for (size_t i = 0; i < n; i++) session_close(all[i], "server shutting down");
  free(all);
  server_maybe_done(eio);
}

void yolk__eio_server_free(yolk_eio_server_t *eio) {
  yolk__smap_free(&eio->sessions);
  for (size_t i = 0; i < eio->by_addr.cap; i++)
    if (eio->by_addr.slots[i].key) free(eio->by_addr.slots[i].value);
  yolk__smap_free(&eio->by_addr);
  free(eio->path);
  free(eio->cors_origin);
  free(eio);
}

/* ---- the public socket API ------------------------------------------------------------------------- */

void yolk_eio_socket_set_handler(yolk_eio_socket_t *s, const yolk_eio_socket_handler_t *h, void *ud) {
  s->h = h;
  s->ud = ud;
}

const char *yolk_eio_socket_id(const yolk_eio_socket_t *s) { return s->id; }
int yolk_eio_socket_protocol(const yolk_eio_socket_t *s) { return s->protocol; }
const char *yolk_eio_socket_transport(const yolk_eio_socket_t *s) {
  return s->transport == YOLK_TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}
const yolk_eio_handshake_t *yolk_eio_socket_handshake(const yolk_eio_socket_t *s) { return &s->hs; }

int yolk_eio_send(yolk_eio_socket_t *s, int binary, const void *data, size_t len) {
  if (s->state != YOLK_EIO_S_OPEN) return -1;
  return send_packet(s, YOLK_EIO_MESSAGE, yolk_eio_msg_new(binary, data, len));
}

/* Whether the transport can take a packet right now (for volatile sends):
 * a WebSocket whose earlier writes the kernel took, a polling session with
 * a GET waiting and nothing queued. */
static int writable_now(yolk_eio_socket_t *s) {
  if (s->transport == YOLK_TRANSPORT_WEBSOCKET) return s->ws && !yolk__ws_backlogged(s->ws) && s->q_len == 0;
  return s->poll != NULL && s->q_len == 0;
}

int yolk_eio_send_msg(yolk_eio_socket_t *s, yolk_eio_msg_t *msg, int flags) {
  if (s->state != YOLK_EIO_S_OPEN) return -1;
  if ((flags & YOLK_EIO_SEND_VOLATILE) && !writable_now(s)) {
    s->eio->dropped_volatile++;
    return 1; /* dropped, as volatile means */
  }
  return send_packet(s, YOLK_EIO_MESSAGE, yolk_eio_msg_ref(msg));
}

void yolk_eio_socket_close(yolk_eio_socket_t *s) {
  if (s->state != YOLK_EIO_S_OPEN) return;
  s->state = YOLK_EIO_S_CLOSING;
  if (s->transport == YOLK_TRANSPORT_WEBSOCKET) {
    flush(s);
    if (s->ws) yolk__ws_close(s->ws, 0, NULL);
    close_later(s, "forced close", 0);
  } else if (s->upgrade_ws) {
    /* An upgrade is under way: a client that got "3probe" has paused polling
     * and waits for it, so the close can only reach it over the new
     * WebSocket. Let the upgrade finish (upgrade_message closes right after
     * the switch); if it fails, upgrade_cancel falls back to polling_close. */
    if (s->poll) flush(s);
    close_later(s, "forced close", s->eio->opts.upgrade_timeout_ms + POLLING_CLOSE_TIMEOUT_MS);
  } else {
    polling_close(s);
  }
}

/* Closing a polling session: the close packet goes on a GET of its own. */
static void polling_close(yolk_eio_socket_t *s) {
  if (s->poll && !s->q_len) {
    poll_respond(s, 0, YOLK_EIO_CLOSE);
    close_later(s, "forced close", 0);
  } else {
    /* Queued packets go out first, in a response of their own, and the close
     * packet rides on the next GET, as the reference server does. Clients
     * handle a close packet at once but defer the packets before it in the
     * same payload (socket.io-client decodes them on the next tick), so a
     * DISCONNECT sharing a payload with the close would be seen after it:
     * "transport close" instead of "io server disconnect". */
    if (s->poll) flush(s);
    /* the close packet rides on the next GET; give up waiting after a while */
    s->close_pending = 1;
    close_later(s, "forced close", POLLING_CLOSE_TIMEOUT_MS);
  }
}
