/* fuzz_sio.c - Socket.IO packets with attachments: the decoder
 * (core/sio_packet.c) alone, and a real Socket.IO server (core/sio.c,
 * sio_socket.c, sio_ack.c, the in-memory adapter) reassembling binary
 * packets from an Engine.IO session over WebSocket.
 *
 * Input: byte 0 bit 7 picks the mode.
 *
 * Codec (byte 0 bit 7 set; byte 1 a parameter: at most param % 12
 * attachments, nesting limit 1000 or 1..16): the rest is one text message.
 * When yolk__sio_decode takes it: the fields are in range (type, namespace
 * starting with '/' and without ',', ack id, attachments only for binary
 * types and within the limit, the payload the end of the text and valid JSON
 * within the limit); yolk__sio_check_args (what the server checks before
 * sending) takes the payload of an EVENT or ACK too; head + payload encoded
 * again (yolk__sio_encode_head) decode to the same packet. Either way, when
 * the text (after its first byte) is a JSON array, yolk__sio_check_args with
 * no attachments (its fast path) agrees with the decoder on "2" + it (EVENT)
 * and "3" + it (ACK).
 *
 * Server (bit 7 clear): bit 0 Engine.IO v3 / Socket.IO v4 (else v4 / v5),
 * bits 1-2 max_attachments 10, 1, 2 or 0; the rest is a list of WebSocket
 * messages separated by "|||", each preceded by one byte of flags: bit 0 a
 * binary frame (else text), bit 1 sent as is (else as an Engine.IO message:
 * "4" + text, or the bytes, after 0x04 for v3), bit 2 first admit the
 * sockets waiting for it. Every iteration makes a fresh server (namespaces
 * "/" and "/chat") and one client connection (a socketpair, fuzz_net.h).
 * The application: a CONNECT whose auth mentions "deny" is refused (with
 * data), one that mentions "later" waits to be admitted; every event is
 * emitted back (attachments included) and acked when asked; the events
 * "ask" (the server emits "q" asking for an ack: ack ids start at 0),
 * "join" (room "r"), "bcast" (to room "r"), "bye" and "kill" (disconnect,
 * and close) do what they say.
 *
 * Checked: what the handlers get is what the decoder promises (valid JSON,
 * an array with a proper event name, placeholders indexing the
 * attachments, as many attachments as announced), so emitting, acking and
 * broadcasting it back is never refused; everything the server sends is
 * frames of Engine.IO packets whose messages decode as Socket.IO packets,
 * each binary one followed by exactly its attachments; every socket that got
 * on_connect gets on_close once, every ack callback is called once; closing
 * the server leaves no handle on the loop and frees everything.
 */
#define _GNU_SOURCE /* memmem */
#include <strings.h>

#include "eio.h"
#include "eio_packet.h"
#include "fuzz.h"
#include "fuzz_net.h"
#include "json.h"
#include "sio_packet.h"

/* ---- the codec ------------------------------------------------------------------------------ */

static int is_json_array(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i < len && s[i] == '[' && yolk__json_valid(s, len, YOLK_JSON_MAX_DEPTH);
}

static void check_fast_path(const char *s, size_t len) {
  if (!is_json_array(s, len)) return;
  char *buf = malloc(len + 1);
  for (int type = 2; type <= 3; type++) {
    buf[0] = (char)('0' + type);
    memcpy(buf + 1, s, len);
    yolk_sio_decoded_t p;
    const char *why = NULL, *why2 = NULL;
    int dec = yolk__sio_decode(buf, len + 1, 0, YOLK_JSON_MAX_DEPTH, &p, &why);
    int chk = yolk__sio_check_args(s, len, 0, type == 2, &why2);
    if ((dec == 0) != (chk == 0))
      FUZZ_FAIL("%s: the decoder says %s, yolk__sio_check_args %s", type == 2 ? "EVENT" : "ACK", why ? why : "ok",
                why2 ? why2 : "ok");
  }
  free(buf);
}

static void fuzz_codec(unsigned param, const char *s, size_t len) {
  unsigned max_att = param % 12, max_depth = param < 128 ? YOLK_JSON_MAX_DEPTH : 1 + (param & 15);
  yolk_sio_decoded_t p;
  const char *why = NULL;
  int rc = yolk__sio_decode(s, len, max_att, max_depth, &p, &why);
  if (len > 1) check_fast_path(s + 1, len - 1);
  if (rc != 0) {
    FUZZ_CHECK(rc == -1 && why != NULL);
    return;
  }
  FUZZ_CHECK(why == NULL);
  FUZZ_CHECK(p.type >= YOLK_SIO_PKT_CONNECT && p.type <= YOLK_SIO_PKT_BINARY_ACK && s[0] == '0' + p.type);
  int binary = p.type == YOLK_SIO_PKT_BINARY_EVENT || p.type == YOLK_SIO_PKT_BINARY_ACK;
  FUZZ_CHECK(p.attachments <= max_att && (binary || p.attachments == 0));
  FUZZ_CHECK(p.nsp_len >= 1 && p.nsp[0] == '/' && !memchr(p.nsp, ',', p.nsp_len));
  FUZZ_CHECK(p.nsp_len == 1 || (p.nsp > s && p.nsp + p.nsp_len <= s + len)); /* "/" or a part of the text */
  FUZZ_CHECK(p.id >= -1 && p.id <= YOLK_SIO_MAX_ACK_ID);
  if (p.data) {
    FUZZ_CHECK(p.data > s && p.data + p.data_len == s + len && p.data_len > 0);
    FUZZ_CHECK(yolk__json_valid(p.data, p.data_len, max_depth));
  } else {
    FUZZ_CHECK(p.data_len == 0);
  }
  if (p.type == YOLK_SIO_PKT_EVENT || p.type == YOLK_SIO_PKT_BINARY_EVENT || p.type == YOLK_SIO_PKT_ACK ||
      p.type == YOLK_SIO_PKT_BINARY_ACK) {
    FUZZ_CHECK(p.data != NULL);
    const char *w = NULL;
    int ev = p.type == YOLK_SIO_PKT_EVENT || p.type == YOLK_SIO_PKT_BINARY_EVENT;
    if (yolk__sio_check_args(p.data, p.data_len, p.attachments, ev, &w) != 0)
      FUZZ_FAIL("decoded, but yolk__sio_check_args refuses the payload: %s", w);
  }
  if (p.type == YOLK_SIO_PKT_DISCONNECT) FUZZ_CHECK(p.data == NULL);
  if (p.type == YOLK_SIO_PKT_CONNECT_ERROR) FUZZ_CHECK(p.data != NULL);

  /* encoded again: the same packet */
  if (memchr(p.nsp, '\0', p.nsp_len)) return; /* a C string cannot hold it */
  char *nsp = yolk__strndup(p.nsp, p.nsp_len);
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__sb_reserve(&sb, YOLK_SIO_HEAD_MAX(strlen(nsp)));
  sb.len = yolk__sio_encode_head(sb.data, p.type, nsp, p.id, p.attachments);
  FUZZ_CHECK(sb.len <= YOLK_SIO_HEAD_MAX(strlen(nsp)));
  sb.data[sb.len] = '\0';
  if (p.data) yolk__sb_append(&sb, p.data, p.data_len);
  yolk_sio_decoded_t q;
  if (yolk__sio_decode(sb.data, sb.len, max_att, max_depth, &q, &why) != 0)
    FUZZ_FAIL("encoded again, the packet does not decode (%s): %.200s", why, sb.data);
  FUZZ_CHECK(q.type == p.type && q.id == p.id && q.attachments == p.attachments && q.nsp_len == p.nsp_len &&
             memcmp(q.nsp, p.nsp, p.nsp_len) == 0 && q.data_len == p.data_len &&
             (!p.data || memcmp(q.data, p.data, p.data_len) == 0));
  yolk__sb_free(&sb);
  free(nsp);
}

/* ---- the server --------------------------------------------------------------------------- */

typedef struct rec_s {
  yolk_sio_socket_t *s;
  int closed, pending, disconnecting;
  struct rec_s *next;
} rec_t;

static struct {
  unsigned flags;
  int eio_protocol;
  unsigned max_att;
  yolk_server_t *srv;
  yolk_sio_server_t *sio;
  yolk_eio_server_t *eio;
  yolk_http_server_t *http;
  int srv_closed, http_closed;
  rec_t *recs;
  int connects, closes;
  int acks_asked, acks_called;
  fz_conn_t *c;
  /* the server's output */
  int opened;
  unsigned bins_expected; /* binary frames still due for the last binary packet */
  size_t packets, binary_packets;
} st;

static void check_args(const yolk_sio_args_t *a, int need_event) {
  FUZZ_CHECK(a != NULL && a->json != NULL && a->len > 0);
  FUZZ_CHECK(yolk__json_valid(a->json, a->len, YOLK_JSON_MAX_DEPTH));
  FUZZ_CHECK(a->nbins <= st.max_att && (a->nbins == 0 || a->bins != NULL));
  for (size_t i = 0; i < a->nbins; i++) FUZZ_CHECK(a->bins[i].data != NULL || a->bins[i].len == 0);
  const char *why = NULL;
  if (yolk__sio_check_args(a->json, a->len, a->nbins, need_event, &why) != 0) FUZZ_FAIL("the server handed over arguments it would refuse: %s", why);
}

static void on_ack(void *ud, const char *err, const yolk_sio_args_t *args) {
  int *called = ud;
  FUZZ_CHECK(*called == 0);
  *called = 1;
  st.acks_called++;
  if (!err) check_args(args, 0);
  free(called);
}

/* The event name: the first element's text when it is a plain string. */
static int event_is(const yolk_sio_args_t *a, const char *name) {
  size_t n = strlen(name);
  return a->len >= n + 3 && a->json[0] == '[' && a->json[1] == '"' && memcmp(a->json + 2, name, n) == 0 &&
         a->json[2 + n] == '"';
}

static void app_connect(yolk_sio_socket_t *s, void *ud) {
  rec_t *r = calloc(1, sizeof(*r));
  r->s = s;
  r->next = st.recs;
  st.recs = r;
  st.connects++;
  yolk_sio_socket_set_data(s, r);
  FUZZ_CHECK(yolk_sio_socket_protocol(s) == (st.eio_protocol == 3 ? 4 : 5));
  size_t alen;
  const char *auth = yolk_sio_socket_auth(s, &alen);
  FUZZ_CHECK(auth != NULL && yolk__json_valid(auth, alen, YOLK_JSON_MAX_DEPTH + 1));
  size_t k = 0;
  while (k < alen && strchr(" \t\r\n", auth[k])) k++;
  FUZZ_CHECK(k < alen && auth[k] == '{'); /* an object (as the client wrote it: spaces kept) */
  size_t hlen;
  char *hs = yolk_sio_socket_handshake(s, &hlen);
  FUZZ_CHECK(hs != NULL && yolk__json_valid(hs, hlen, YOLK_JSON_MAX_DEPTH + 2));
  free(hs);
  if (memmem(auth, alen, "deny", 4)) {
    yolk_sio_socket_refuse(s, "denied", "{\"why\":1}", 9);
  } else if (memmem(auth, alen, "later", 5)) {
    r->pending = 1;
    yolk_sio_args_t early = {"[\"early\"]", 9, NULL, 0};
    FUZZ_CHECK(yolk_sio_socket_emit(s, &early, 0, NULL, NULL, 0) == 0); /* queued until admitted */
  } else {
    yolk_sio_socket_admit(s);
  }
}

static void app_event(yolk_sio_socket_t *s, const yolk_sio_args_t *args, int64_t ack_id, void *ud) {
  rec_t *r = yolk_sio_socket_get_data(s);
  FUZZ_CHECK(r && r->s == s && !r->closed && !r->pending && yolk_sio_socket_connected(s));
  check_args(args, 1);
  FUZZ_CHECK(ack_id >= -1 && ack_id <= YOLK_SIO_MAX_ACK_ID);
  if (yolk_sio_socket_emit(s, args, 0, NULL, NULL, 0) != 0) FUZZ_FAIL("emitting an event back was refused");
  if (ack_id >= 0 && yolk_sio_socket_ack(s, ack_id, args) != 0) FUZZ_FAIL("acking with the event was refused");
  yolk_sio_nsp_t *nsp = yolk_sio_socket_nsp(s);
  if (event_is(args, "ask")) {
    int *called = calloc(1, sizeof(*called));
    yolk_sio_args_t q = {"[\"q\",1]", 7, NULL, 0};
    FUZZ_CHECK(yolk_sio_socket_emit(s, &q, 0, on_ack, called, 0) == 0);
    st.acks_asked++;
  } else if (event_is(args, "join")) {
    yolk_sio_socket_join(s, "r");
  } else if (event_is(args, "bcast")) {
    const char *room = "r";
    yolk_sio_target_t to = {&room, 1, NULL, 0, 0};
    FUZZ_CHECK(yolk_sio_broadcast(nsp, &to, args) == 0);
  } else if (event_is(args, "bye") || event_is(args, "kill")) {
    yolk_sio_socket_disconnect(s, event_is(args, "kill"));
  }
}

static void app_disconnecting(yolk_sio_socket_t *s, const char *reason, void *ud) {
  rec_t *r = yolk_sio_socket_get_data(s);
  FUZZ_CHECK(r && !r->closed && r->disconnecting++ == 0 && reason != NULL);
}

static void app_close(yolk_sio_socket_t *s, const char *reason, void *ud) {
  rec_t *r = yolk_sio_socket_get_data(s);
  FUZZ_CHECK(r && !r->closed && reason != NULL);
  r->closed = 1;
  r->s = NULL;
  st.closes++;
}

static const yolk_sio_nsp_handler_t handler = {app_connect, app_event, app_disconnecting, app_close, NULL};

static void admit_pending(void) {
  for (rec_t *r = st.recs; r; r = r->next)
    if (r->pending && !r->closed) {
      r->pending = 0;
      yolk_sio_socket_admit(r->s);
    }
}

static void on_request(yolk_http_req_t *req, void *ud) {
  if (yolk__eio_claims(st.eio, req)) yolk__eio_handle_request(st.eio, req);
  else yolk__http_respond(req, 404, NULL, "no", 2);
}

/* ---- what the server sends -------------------------------------------------------------------- */

static void on_frame(fz_conn_t *c, int op, const char *data, size_t len) {
  if (op == 8 || op == 9 || op == 10) return;
  FUZZ_CHECK(op == 1 || op == 2);
  yolk_sb_t scratch;
  yolk__sb_init(&scratch);
  yolk_eio_packet_t p;
  const char *err = NULL;
  if (yolk__eio_packet_decode(st.eio_protocol, op == 2, data, len, &scratch, &p, &err) != 0)
    FUZZ_FAIL("the server sent a frame that is no Engine.IO packet (%s)", err);
  if (!st.opened) FUZZ_CHECK(p.type == YOLK_EIO_OPEN);
  st.opened = 1;
  if (p.type == YOLK_EIO_MESSAGE) {
    if (p.binary) {
      if (st.bins_expected == 0) FUZZ_FAIL("the server sent a binary message no packet announced");
      st.bins_expected--;
    } else {
      if (st.bins_expected) FUZZ_FAIL("a text message before the attachments of the previous packet");
      yolk_sio_decoded_t d;
      const char *why = NULL;
      if (yolk__sio_decode(p.data, p.len, 1000, YOLK_JSON_MAX_DEPTH, &d, &why) != 0)
        FUZZ_FAIL("the server sent a Socket.IO packet it would not read: %s: %.300s", why, p.data);
      st.bins_expected = d.attachments;
      st.packets++;
      if (d.attachments) st.binary_packets++;
    }
  } else {
    FUZZ_CHECK(p.type != YOLK_EIO_OPEN || st.packets == 0);
  }
  yolk__sb_free(&scratch);
}

static int upgraded(fz_conn_t *c, void *arg) { return c->upgraded || c->eof; }

static void send_message(const char *piece, size_t plen, void *ud) {
  if (plen == 0 || st.c->eof) return;
  unsigned mf = (unsigned char)piece[0];
  if (mf & 4) admit_pending();
  const char *body = piece + 1;
  size_t len = plen - 1;
  int binary = mf & 1;
  yolk_sb_t m;
  yolk__sb_init(&m);
  if (!(mf & 2)) {
    if (!binary) yolk__sb_putc(&m, '4');
    else if (st.eio_protocol == 3) yolk__sb_putc(&m, 4);
  }
  yolk__sb_append(&m, body, len);
  fz_ws_send(st.c, binary ? 2 : 1, m.data ? m.data : "", m.len);
  yolk__sb_free(&m);
  fz_pump(2);
}

static void on_srv_closed(void *arg) { st.srv_closed = 1; }
static void on_http_closed(void *arg) { st.http_closed = 1; }

static void fuzz_server(unsigned flags, const char *s, size_t len) {
  static int ready;
  if (!ready) {
    uv_loop_init(&fz_loop);
    ready = 1;
  }
  memset(&st, 0, sizeof(st));
  st.flags = flags;
  st.eio_protocol = flags & 1 ? 3 : 4;
  static const unsigned atts[4] = {10, 1, 2, 0};
  st.max_att = atts[(flags >> 1) & 3];

  FUZZ_CHECK(yolk_server_new(&fz_loop, NULL, &st.srv) == 0);
  yolk_sio_options_t o;
  yolk_sio_options_init(&o);
  o.eio.allow_eio3 = 1;
  o.max_attachments = st.max_att;
  st.sio = yolk_sio_attach(st.srv, &o);
  if (st.max_att == 0) st.max_att = 10; /* 0 means the default */
  st.eio = yolk_sio_engine(st.sio);
  yolk_sio_nsp_set_handler(yolk_sio_of(st.sio, "/"), &handler, NULL);
  yolk_sio_nsp_set_handler(yolk_sio_of(st.sio, "/chat"), &handler, NULL);
  yolk_http_config_t cfg;
  yolk__http_config_init(&cfg);
  cfg.on_request = on_request;
  FUZZ_CHECK(yolk__http_server_init(&fz_loop, &st.http, &cfg) == 0);

  st.c = fz_connect(st.http);
  st.c->on_frame = on_frame;
  char hs[256];
  int n = snprintf(hs, sizeof(hs),
                   "GET /socket.io/?EIO=%d&transport=websocket HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   st.eio_protocol);
  fz_send(st.c, hs, (size_t)n);
  if (!fz_wait(st.c, upgraded, NULL, 100) || !st.c->upgraded) FUZZ_FAIL("no WebSocket");
  fz_pump(1);
  FUZZ_CHECK(st.opened);

  fuzz_split(s, len, "|||", send_message, NULL);
  admit_pending();
  fz_pump(2);

  /* the end: Socket.IO closes every client, then the HTTP server goes, then
   * the listener with its routes (the Engine.IO server must outlive the
   * WebSockets: server.c frees routes only after its HTTP server closed) */
  yolk_sio_close(st.sio);
  fz_pump(4);
  yolk__http_server_close(st.http, on_http_closed, NULL);
  for (int i = 0; i < 64 && !st.http_closed; i++) fz_pump(1);
  FUZZ_CHECK(st.http_closed);
  yolk_server_close(st.srv, on_srv_closed, NULL);
  fz_expect_loop_empty(64);
  FUZZ_CHECK(st.srv_closed);
  FUZZ_CHECK(st.closes == st.connects);
  FUZZ_CHECK(st.acks_called == st.acks_asked);
  while (st.recs) {
    rec_t *r = st.recs;
    st.recs = r->next;
    FUZZ_CHECK(r->closed);
    free(r);
  }
  fz_conns_free();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static int quiet;
  if (!quiet) {
    fuzz_quiet_logs();
    quiet = 1;
  }
  if (data[0] & 0x80) fuzz_codec(data[1], (const char *)data + 2, size - 2);
  else fuzz_server(data[0], (const char *)data + 1, size - 1);
  return 0;
}
