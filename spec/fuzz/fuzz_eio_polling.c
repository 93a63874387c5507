/* fuzz_eio_polling.c - Engine.IO long-polling sessions (core/eio.c over
 * core/eio_packet.c), driven through the real HTTP path: POST bodies of both
 * payload formats (v4: records joined by 0x1e, 'b' + base64 for binary; v3:
 * "<length>:<packet>" text, the v3 binary framing as application/octet-stream,
 * "b4" + base64, JSONP forms) sent to a session, GETs taking what it queues.
 *
 * Input: byte 0 picks the session: bit 0 Engine.IO v3 (else v4), bit 1 b64=1
 * (v3), bit 2 JSONP (j=0, v3), bit 3 the application echoes every message,
 * bit 4 maxHttpBufferSize 64 bytes (the session answers 413 to bigger
 * bodies); the rest is a list of POST bodies separated by "|||", each
 * preceded by one byte of flags: bit 0 Content-Type application/octet-stream
 * (else text/plain), bit 1 then a GET on the polling connection (when none
 * is pending), bit 2 then a GET on a second connection while one is pending
 * (an overlap: the session closes), bit 3 then the polling connection goes
 * away while its GET is pending (the session closes; a new one is used).
 *
 * Every iteration makes a fresh HTTP server and Engine.IO server on one loop;
 * connections are socketpairs (fuzz_net.h). The handshake is a GET; bodies
 * are POSTed on their own connection, each answered before the next is sent.
 *
 * Checked, against a model of on_post (which decodes each body with the
 * codec, yolk__eio_payload_decode, and knows when the session closes: a close
 * packet, a ping from a v4 client, a pong from a v3 client, a malformed
 * payload, binary content on v4, an overlapping or aborted GET):
 *   - each POST gets the status the model says (200 "ok", 400 with the
 *     Engine.IO error code, 413), and the application gets exactly the
 *     messages the model says, in order, with the right binary flag, and
 *     none once the session is closed; on_close comes once, when the model
 *     says the session closed;
 *   - every GET response is well-formed for the session: a text payload, a
 *     v3 binary payload (application/octet-stream, only without b64 and
 *     JSONP) or the JSONP wrapping of a text payload, decoding without
 *     error; the first holds the open packet; the messages in them are a
 *     prefix of what the application sent (the echoes);
 *   - closing the servers leaves no handle on the loop and frees everything
 *     (LeakSanitizer).
 */
#include <strings.h>

#include "eio.h"
#include "eio_packet.h"
#include "fuzz.h"
#include "fuzz_net.h"

typedef struct {
  int binary;
  char *data;
  size_t len;
} msg_t;

typedef struct {
  msg_t *v;
  size_t n, cap;
} msgs_t;

static void msgs_add(msgs_t *l, int binary, const char *data, size_t len) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 8;
    l->v = realloc(l->v, l->cap * sizeof(*l->v));
  }
  msg_t *m = &l->v[l->n++];
  m->binary = binary;
  m->len = len;
  m->data = malloc(len + 1);
  if (len) memcpy(m->data, data, len);
}

static void msgs_free(msgs_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i].data);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

static int msg_eq(const msg_t *a, const msg_t *b) {
  return a->binary == b->binary && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static struct {
  unsigned flags;
  int protocol;
  size_t max_payload;
  yolk_http_server_t *http;
  yolk_eio_server_t *eio;
  int http_closed, eio_closed;
  yolk_eio_socket_t *sock;
  char sid[32];
  int connections, closes;
  msgs_t got;    /* messages the application got */
  msgs_t want;   /* messages the model says it gets */
  msgs_t echoed; /* messages the application sent */
  msgs_t polled; /* messages that came back in GET responses */
  int model_open; /* the model's view of the session */
  fz_conn_t *poll, *post;
  size_t gets_sent; /* on poll */
  int opened;       /* a GET response held the open packet */
} st;

/* ---- the application ---------------------------------------------------------------------- */

static void app_message(yolk_eio_socket_t *s, int binary, const char *data, size_t len, void *ud) {
  FUZZ_CHECK(s == st.sock && st.closes == 0);
  FUZZ_CHECK(data != NULL);
  msgs_add(&st.got, binary, data, len);
  if (st.flags & 8) {
    FUZZ_CHECK(yolk_eio_send(s, binary, data, len) == 0);
    msgs_add(&st.echoed, binary, data, len);
  }
}

static void app_close(yolk_eio_socket_t *s, const char *reason, void *ud) {
  FUZZ_CHECK(s == st.sock && reason != NULL);
  st.closes++;
}

static void app_connection(yolk_eio_socket_t *s, void *ud) {
  static const yolk_eio_socket_handler_t h = {app_message, app_close, NULL};
  FUZZ_CHECK(st.connections++ == 0);
  st.sock = s;
  snprintf(st.sid, sizeof(st.sid), "%s", yolk_eio_socket_id(s));
  FUZZ_CHECK(yolk_eio_socket_protocol(s) == st.protocol);
  FUZZ_CHECK(strcmp(yolk_eio_socket_transport(s), "polling") == 0);
  yolk_eio_socket_set_handler(s, &h, NULL);
}

static void on_request(yolk_http_req_t *req, void *ud) {
  if (yolk__eio_claims(st.eio, req)) yolk__eio_handle_request(st.eio, req);
  else yolk__http_respond(req, 404, NULL, "no", 2);
}

/* ---- GET responses -------------------------------------------------------------------------- */

/* ___eio[0]("<JavaScript string>"); -> the string's bytes (what the payload was). */
static int jsonp_unwrap(const char *s, size_t len, yolk_sb_t *out) {
  static const char head[] = "___eio[0](\"";
  size_t hl = sizeof(head) - 1;
  if (len < hl + 3 || memcmp(s, head, hl) != 0 || memcmp(s + len - 3, "\");", 3) != 0) return -1;
  for (size_t i = hl; i < len - 3; i++) {
    char c = s[i];
    if (c != '\\') {
      yolk__sb_putc(out, c);
      continue;
    }
    if (++i >= len - 3) return -1;
    switch (s[i]) {
    case 'n': yolk__sb_putc(out, '\n'); break;
    case 'r': yolk__sb_putc(out, '\r'); break;
    case 't': yolk__sb_putc(out, '\t'); break;
    case 'b': yolk__sb_putc(out, '\b'); break;
    case 'f': yolk__sb_putc(out, '\f'); break;
    case 'u': {
      if (i + 4 >= len - 3) return -1;
      unsigned v = (unsigned)strtoul((char[5]){s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0}, NULL, 16);
      i += 4;
      if (v < 0x20) yolk__sb_putc(out, (char)v);
      else if (v == 0x2028) yolk__sb_puts(out, "\xE2\x80\xA8");
      else if (v == 0x2029) yolk__sb_puts(out, "\xE2\x80\xA9");
      else return -1;
      break;
    }
    default: yolk__sb_putc(out, s[i]); break;
    }
  }
  return 0;
}

typedef struct {
  int first;
  int n;
} poll_read_t;

static int polled_packet(void *ud, const yolk_eio_packet_t *p) {
  poll_read_t *r = ud;
  if (r->n++ == 0 && r->first) FUZZ_CHECK(p->type == YOLK_EIO_OPEN);
  else FUZZ_CHECK(p->type != YOLK_EIO_OPEN);
  if (p->type == YOLK_EIO_OPEN) {
    FUZZ_CHECK(p->len > 10 && memchr(p->data, '{', p->len) == p->data);
  } else if (p->type == YOLK_EIO_MESSAGE) {
    msgs_add(&st.polled, p->binary, p->data, p->len);
    /* the echoes, in order */
    size_t i = st.polled.n - 1;
    if (i >= st.echoed.n || !msg_eq(&st.polled.v[i], &st.echoed.v[i]))
      FUZZ_FAIL("message %zu of the GET responses is not the one the application sent", i);
  } else {
    FUZZ_CHECK(p->type == YOLK_EIO_PONG || p->type == YOLK_EIO_NOOP || p->type == YOLK_EIO_CLOSE ||
               p->type == YOLK_EIO_PING);
    if (p->type == YOLK_EIO_PONG) FUZZ_CHECK(st.protocol == 3);
  }
  return 0;
}

static void on_poll_response(fz_conn_t *c, int status, const char *ctype, const char *body, size_t len) {
  if (status != 200) {
    /* a GET for a session that is gone, or the second of an overlap */
    FUZZ_CHECK(status == 400);
    return;
  }
  int jsonp = (st.flags & 4) && st.protocol == 3;
  int format = st.protocol == 4 ? YOLK_EIO_PAYLOAD_V4 : YOLK_EIO_PAYLOAD_V3_TEXT;
  yolk_sb_t js;
  yolk__sb_init(&js);
  if (jsonp) {
    FUZZ_CHECK(strcasecmp(ctype, "text/javascript; charset=UTF-8") == 0);
    if (jsonp_unwrap(body, len, &js) != 0) FUZZ_FAIL("a JSONP response that is not ___eio[0](\"...\");");
    body = js.data ? js.data : "";
    len = js.len;
  } else if (strcasecmp(ctype, "application/octet-stream") == 0) {
    FUZZ_CHECK(st.protocol == 3 && !(st.flags & 2)); /* only for v3 clients that take binary */
    format = YOLK_EIO_PAYLOAD_V3_BINARY;
  } else {
    FUZZ_CHECK(strcasecmp(ctype, "text/plain; charset=UTF-8") == 0);
  }
  poll_read_t r = {!st.opened, 0};
  const char *err = NULL;
  int rc = yolk__eio_payload_decode(format, body, len, polled_packet, &r, &err);
  if (rc != 0) FUZZ_FAIL("a GET response does not decode (%s): %.200s", err ? err : "?", body);
  FUZZ_CHECK(r.n > 0);
  st.opened = 1;
  yolk__sb_free(&js);
}

/* ---- POSTs and the model ------------------------------------------------------------------ */

typedef struct {
  msgs_t *want;
  int closed; /* the session closes */
} model_t;

static int model_packet(void *ud, const yolk_eio_packet_t *p) {
  model_t *m = ud;
  if (p->type == YOLK_EIO_CLOSE || (p->type == YOLK_EIO_PING && st.protocol == 4) ||
      (p->type == YOLK_EIO_PONG && st.protocol == 3)) {
    m->closed = 1;
    return 1;
  }
  if (p->type == YOLK_EIO_MESSAGE) msgs_add(m->want, p->binary, p->data ? p->data : "", p->len);
  return 0;
}

static int got_responses(fz_conn_t *c, void *arg) { return c->responses >= *(size_t *)arg || c->eof; }

typedef struct {
  int status;
  char body[64];
} post_answer_t;

static void on_post_response(fz_conn_t *c, int status, const char *ctype, const char *body, size_t len) {
  post_answer_t *a = c->ud;
  a->status = status;
  snprintf(a->body, sizeof(a->body), "%.*s", (int)len, body);
}

static void send_get(fz_conn_t *c) {
  char req[160];
  int n = snprintf(req, sizeof(req), "GET /engine.io/?EIO=%d&transport=polling&sid=%s HTTP/1.1\r\nHost: f\r\n\r\n",
                   st.protocol, st.sid);
  fz_send(c, req, (size_t)n);
}

static void one_post(const char *piece, size_t plen) {
  if (plen == 0) return;
  unsigned pf = (unsigned char)piece[0];
  const char *body = piece + 1;
  size_t len = plen - 1;
  int binary_ct = pf & 1;

  /* what the session does with it */
  model_t m = {&st.want, 0};
  int want_status = 200, want_code = -1;
  if (!st.model_open) {
    want_status = 400, want_code = YOLK_EIO_ERR_UNKNOWN_SID;
  } else if (len > st.max_payload) {
    want_status = 413;
  } else if (binary_ct && st.protocol == 4) {
    want_status = 400;
    m.closed = 1;
  } else {
    int format = st.protocol == 4 ? YOLK_EIO_PAYLOAD_V4 : binary_ct ? YOLK_EIO_PAYLOAD_V3_BINARY : YOLK_EIO_PAYLOAD_V3_TEXT;
    yolk_sb_t form;
    yolk__sb_init(&form);
    const char *data = body;
    size_t dlen = len;
    int skip = 0;
    if ((st.flags & 4) && st.protocol == 3 && !binary_ct) {
      if (yolk__eio_jsonp_body(body, len, &form) != 0) skip = 1; /* ignored, "ok" */
      data = form.data ? form.data : "";
      dlen = form.len;
    }
    if (!skip) {
      const char *err = NULL;
      if (yolk__eio_payload_decode(format, data, dlen, model_packet, &m, &err) < 0) {
        want_status = 400, want_code = YOLK_EIO_ERR_BAD_REQUEST;
        m.closed = 1;
      }
    }
    yolk__sb_free(&form);
  }

  /* the request */
  yolk_sb_t req;
  yolk__sb_init(&req);
  yolk__sb_printf(&req, "POST /engine.io/?EIO=%d&transport=polling&sid=%s%s HTTP/1.1\r\nHost: f\r\n", st.protocol,
                  st.sid, (st.flags & 4) && st.protocol == 3 ? "&j=0" : "");
  yolk__sb_printf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                  binary_ct ? "application/octet-stream" : "text/plain;charset=UTF-8", len);
  yolk__sb_append(&req, body, len);
  post_answer_t a = {0, ""};
  st.post->ud = &a;
  size_t want_n = st.post->responses + 1;
  fz_send(st.post, req.data, req.len);
  yolk__sb_free(&req);
  if (!fz_wait(st.post, got_responses, &want_n, 200) || st.post->eof) FUZZ_FAIL("no answer to a POST");
  if (a.status != want_status) FUZZ_FAIL("POST answered %d (%s), the model says %d", a.status, a.body, want_status);
  if (want_status == 200) FUZZ_CHECK(strcmp(a.body, "ok") == 0);
  if (want_code >= 0) {
    char code[24];
    snprintf(code, sizeof(code), "{\"code\":%d,", want_code);
    if (strncmp(a.body, code, strlen(code)) != 0) FUZZ_FAIL("POST answered %s, expected code %d", a.body, want_code);
  }
  if (m.closed) st.model_open = 0;
  fz_pump(1); /* a close from inside the POST finishes on the loop */

  /* what the application got so far is exactly what the model says */
  if (st.got.n != st.want.n) FUZZ_FAIL("the application got %zu messages, the model says %zu", st.got.n, st.want.n);
  for (size_t i = 0; i < st.got.n; i++)
    if (!msg_eq(&st.got.v[i], &st.want.v[i])) FUZZ_FAIL("message %zu differs from the model's", i);
  FUZZ_CHECK(st.closes == !st.model_open);

  /* GETs */
  size_t pending = st.gets_sent - st.poll->responses;
  if ((pf & 2) && pending == 0 && !st.poll->eof) {
    send_get(st.poll);
    st.gets_sent++;
    fz_pump(2);
  } else if ((pf & 4) && pending && st.model_open) {
    /* overlap: the second GET gets a 400, the session closes, the first GET gets the close packet */
    fz_conn_t *g2 = fz_connect(st.http);
    g2->on_response = on_poll_response;
    send_get(g2);
    size_t one = 1;
    if (!fz_wait(g2, got_responses, &one, 200)) FUZZ_FAIL("no answer to an overlapping GET");
    st.model_open = 0;
    fz_pump(1);
    FUZZ_CHECK(st.closes == 1);
  } else if ((pf & 8) && pending && st.model_open) {
    /* the polling connection goes away during its GET */
    fz_close(st.poll);
    for (int i = 0; i < 16 && st.closes == 0; i++) fz_pump(1);
    FUZZ_CHECK(st.closes == 1);
    st.model_open = 0;
    st.poll = fz_connect(st.http);
    st.poll->on_response = on_poll_response;
    st.gets_sent = 0;
  }
}

static void post_piece(const char *s, size_t len, void *ud) { one_post(s, len); }

static void on_http_closed(void *arg) { st.http_closed = 1; }
static void on_eio_closed(void *arg) { st.eio_closed = 1; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static int ready;
  if (!ready) {
    fuzz_quiet_logs();
    uv_loop_init(&fz_loop);
    ready = 1;
  }
  memset(&st, 0, sizeof(st));
  st.flags = data[0];
  st.protocol = st.flags & 1 ? 3 : 4;
  st.model_open = 1;

  yolk_eio_options_t eo;
  yolk_eio_options_init(&eo);
  eo.allow_eio3 = 1;
  eo.transports = YOLK_TRANSPORT_POLLING;
  eo.on_connection = app_connection;
  if (st.flags & 16) eo.max_http_buffer_size = 64;
  st.max_payload = eo.max_http_buffer_size;
  st.eio = yolk__eio_server_new(&fz_loop, &eo);
  yolk_http_config_t cfg;
  yolk__http_config_init(&cfg);
  cfg.on_request = on_request;
  cfg.max_body_size = 1000 * 1000; /* the HTTP limit stays above the session's (as with a larger route) */
  FUZZ_CHECK(yolk__http_server_init(&fz_loop, &st.http, &cfg) == 0);

  /* the handshake */
  st.poll = fz_connect(st.http);
  st.poll->on_response = on_poll_response;
  char hs[160];
  int n = snprintf(hs, sizeof(hs), "GET /engine.io/?EIO=%d&transport=polling%s%s HTTP/1.1\r\nHost: f\r\n\r\n",
                   st.protocol, st.protocol == 3 && (st.flags & 2) ? "&b64=1" : "",
                   st.protocol == 3 && (st.flags & 4) ? "&j=0" : "");
  fz_send(st.poll, hs, (size_t)n);
  st.gets_sent = 1;
  size_t one = 1;
  if (!fz_wait(st.poll, got_responses, &one, 200)) FUZZ_FAIL("no answer to the handshake");
  FUZZ_CHECK(st.connections == 1 && st.opened);

  st.post = fz_connect(st.http);
  st.post->on_response = on_post_response;
  fuzz_split((const char *)data + 1, size - 1, "|||", post_piece, NULL);

  /* the end: every session closes, a pending GET gets its answer */
  yolk__eio_server_close(st.eio, on_eio_closed, NULL);
  for (int i = 0; i < 64 && !st.eio_closed; i++) fz_pump(1);
  FUZZ_CHECK(st.eio_closed && st.closes == 1);
  yolk__http_server_close(st.http, on_http_closed, NULL);
  fz_expect_loop_empty(64);
  FUZZ_CHECK(st.http_closed);
  FUZZ_CHECK(st.poll->responses == st.gets_sent || st.poll->eof);
  yolk__eio_server_free(st.eio);
  fz_conns_free();
  msgs_free(&st.got);
  msgs_free(&st.want);
  msgs_free(&st.echoed);
  msgs_free(&st.polled);
  return 0;
}
