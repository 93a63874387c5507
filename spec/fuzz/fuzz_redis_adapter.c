/* fuzz_redis_adapter.c - what the Redis adapter (core/adapter_redis.c) does
 * with the messages of other nodes: broadcasts (MessagePack [uid, {type,
 * data, nsp}, {rooms, except, flags}]), requests (JSON, or MessagePack for a
 * broadcast with acks) and responses to this node's own requests.
 *
 * The adapter's message handler is static: this file includes
 * core/adapter_redis.c (so that copy, instrumented like the rest, replaces
 * the one in libyolk) and calls on_message() as the subscriber connection
 * would (this file's own names start with h_, to stay clear of that file's).
 * The bus (yolk_sio_redis_new) lives on a loop of its own that never
 * runs during an iteration: its connections stay "connecting", so nothing
 * touches the network and what it publishes waits in their queues (failed
 * when the bus is freed). Everything else is real: a Socket.IO server with
 * the Redis adapter, and two WebSocket clients (socketpairs, fuzz_net.h), in
 * "/" and "/chat", in rooms "r1" (both) and "r2" (the second).
 *
 * Input: byte 0 bit 0: the clients answer every ack request (with
 * ["ok",{"n":1}]); the rest is a list of messages
 * separated by "|||", each preceded by one byte of flags: bits 0-1 the
 * channel (0 a broadcast, on <key>#<nsp># or, bit 3, on the room channel
 * <key>#<nsp>#r1# or, with bit 4 too, #zz#; 1 the request channel; 2 the
 * response channel; 3 this node's own response channel), bit 2 the namespace
 * "/chat" (else "/"), bit 5 first this node starts a request in that
 * namespace, bits 6-7 which: fetchSockets, allRooms, serverSideEmit with an
 * ack, a broadcast with acks (the PUBSUB NUMSUB it sends is answered by
 * calling the request's counted callback: 3 nodes). In the message,
 * "$REQUEST_ID$" (12 bytes, the length of an id) becomes the id of the
 * latest such request still waiting,
 * "$UID$!" (6) this node's uid and "$SOCKET_ID_XXXXXXXX$" (20) the id of the
 * first client's socket in "/", so that responses, "our own" messages and the
 * old one-socket requests can be aimed.
 *
 * Checked: no crash, leak or undefined behaviour; everything the clients
 * receive is well-formed (Engine.IO frames, Socket.IO packets that decode,
 * each binary one followed by its attachments); the arguments handed to the
 * server-side event handler and to ack callbacks are valid JSON arrays with
 * valid placeholders; every callback (fetchSockets, allRooms, gathers) is
 * called exactly once by the time the server is closed; every socket gets
 * on_close; both loops end empty.
 *
 * Messages whose MessagePack declares containers bigger than the bytes could
 * hold are skipped (fuzz_msgpack_sane: msgpack-c allocates them first).
 */
#include "adapter_redis.c"

#include "eio.h"
#include "eio_packet.h"
#include "fuzz.h"
#include "fuzz_net.h"
#include "sio_packet.h"

static uv_loop_t h_bus_loop;

typedef struct h_rec_s {
  yolk_sio_socket_t *s;
  int closed;
  struct h_rec_s *next;
} h_rec_t;

typedef struct {
  int called;
} h_once_t;

static struct {
  yolk_server_t *srv;
  yolk_sio_server_t *sio;
  yolk_eio_server_t *eio;
  yolk_http_server_t *http;
  yolk_sio_redis_t *bus;
  int srv_closed, http_closed;
  h_rec_t *recs;
  int connects, closes;
  int started, finished; /* this node's requests and their results */
  char first_sid[32];
  char counted[16][YOLK_RA_REQUEST_ID_LEN + 1]; /* this node's requests, published */
  int ncounted;
  fz_conn_t *c[2];
  int answer;           /* the clients answer ack requests */
  yolk_sb_t answers[2]; /* their answers, NUL-separated, sent after the loop ran */
  unsigned bins_expected[2];
  int opened[2];
} h_st;

/* ---- the application ----------------------------------------------------------------------- */

/* Known, not fixed here (adapter_redis.c is not this target's to change):
 * what comes from another node is not checked the way this node's own
 * arguments are (yolk_sio_broadcast and yolk_sio_socket_emit refuse them;
 * yolk.h promises callbacks checked text). A broadcast (on_broadcast_message,
 * or the packet of a REQ_BROADCAST request) whose event name is an object or
 * a reserved name, or which holds a placeholder-shaped object without
 * attachments, reaches the clients, whose parser (socket.io-parser) refuses
 * the packet; serverSideEmit data and answers (REQ_SERVER_SIDE_EMIT requests
 * and responses, REQ_BROADCAST_ACK) reach the application with such
 * placeholders. The adapter now checks them (remote_args_ok: yolk__sio_check_args,
 * dropping what fails with a warning), so this target is strict: build with
 * -DH_STRICT_REMOTE_EVENTS=0 to let such text through again. */
#ifndef H_STRICT_REMOTE_EVENTS
#define H_STRICT_REMOTE_EVENTS 1
#endif

static int h_known_reason(const char *why) {
  static const char *const known[] = {
      "EVENT name is not a string or a number", "EVENT name is reserved", "the event name is reserved",
      "the first element is not an event name", "placeholder in a packet without attachments",
      "placeholder with an invalid attachment index",
  };
  if (H_STRICT_REMOTE_EVENTS || !why) return 0;
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (strcmp(why, known[i]) == 0) return 1;
  return 0;
}

/* A packet the clients got that fails to decode for a known reason. */
static int h_known_unchecked(const char *s, size_t len, const char *why) {
  if (len < 2 || (s[0] != '2' && s[0] != '5') || !h_known_reason(why)) return 0;
  const char *json = memchr(s, '[', len);
  FUZZ_CHECK(json && yolk__json_valid(json, len - (size_t)(json - s), YOLK_JSON_MAX_DEPTH + 2));
  return 1;
}

static void h_check_args(const yolk_sio_args_t *a, int need_event) {
  FUZZ_CHECK(a != NULL && a->json != NULL);
  if (!yolk__json_valid(a->json, a->len, YOLK_JSON_MAX_DEPTH + 2)) FUZZ_FAIL("arguments that are not JSON: %.300s", a->json);
  const char *why = NULL;
  if (yolk__sio_check_args(a->json, a->len, a->nbins, need_event, &why) != 0 && !h_known_reason(why))
    FUZZ_FAIL("arguments the server would refuse (%s): %.300s", why, a->json);
}

static void h_app_connect(yolk_sio_socket_t *s, void *ud) {
  h_rec_t *r = calloc(1, sizeof(*r));
  r->s = s;
  r->next = h_st.recs;
  h_st.recs = r;
  yolk_sio_socket_set_data(s, r);
  if (h_st.connects++ == 0) snprintf(h_st.first_sid, sizeof(h_st.first_sid), "%s", yolk_sio_socket_id(s));
  yolk_sio_socket_join(s, "r1");
  if (h_st.connects % 2 == 0) yolk_sio_socket_join(s, "r2");
  yolk_sio_socket_admit(s);
}

static void h_app_event(yolk_sio_socket_t *s, const yolk_sio_args_t *args, int64_t ack_id, void *ud) {}

static void h_app_close(yolk_sio_socket_t *s, const char *reason, void *ud) {
  h_rec_t *r = yolk_sio_socket_get_data(s);
  FUZZ_CHECK(r && !r->closed);
  r->closed = 1;
  h_st.closes++;
}

static const char *h_app_data(yolk_sio_socket_t *s, size_t *len, void *ud) {
  *len = 7;
  return "{\"n\":1}";
}

static const yolk_sio_nsp_handler_t h_handler = {h_app_connect, h_app_event, NULL, h_app_close, h_app_data};

static void h_on_server_event(yolk_sio_nsp_t *nsp, const yolk_sio_args_t *args, const char *reply_to, void *ud) {
  h_check_args(args, 0);
  if (reply_to) yolk_sio_server_side_reply(nsp, reply_to, args);
}

/* ---- this node's requests ------------------------------------------------------------------ */

static void h_done_once(h_once_t *o) {
  FUZZ_CHECK(o->called++ == 0);
  h_st.finished++;
  free(o);
}

static void h_on_fetched(void *ud, const char *err, const char *json, size_t len) {
  if (!err) {
    FUZZ_CHECK(json && len >= 2 && json[0] == '[');
    if (!yolk__json_valid(json, len, YOLK_JSON_MAX_DEPTH + 2)) FUZZ_FAIL("fetchSockets gave invalid JSON: %.300s", json);
  }
  h_done_once(ud);
}

static void h_on_rooms(void *ud, const char *err, const char *json, size_t len) {
  if (!err) FUZZ_CHECK(json && json[0] == '[' && yolk__json_valid(json, len, 2));
  h_done_once(ud);
}

static void h_on_answer(void *ud, const yolk_sio_args_t *args) { h_check_args(args, 0); }

static void h_on_gathered(void *ud, const char *err, size_t got, size_t expected) { h_done_once(ud); }

/* Starts a request of this node; once its local part is in, answers the
 * PUBSUB NUMSUB it asked (3 nodes) as Redis would, so that it is published
 * and waits for the others' responses. */
static void h_start_request(yolk_sio_nsp_t *nsp, int kind) {
  h_once_t *o = calloc(1, sizeof(*o));
  h_st.started++;
  size_t before = h_st.bus->requests.by_id.len;
  static const char ev[] = "[\"ev\",{\"_placeholder\":true,\"num\":0},2]";
  static const char plain[] = "[\"ev\",2]"; /* serverSideEmit takes no binary */
  yolk_sio_bin_t bin = {"\x01\x02", 2};
  yolk_sio_args_t args = {ev, sizeof(ev) - 1, &bin, 1}, pargs = {plain, sizeof(plain) - 1, NULL, 0};
  switch (kind) {
  case 0: yolk_sio_fetch_sockets(nsp, NULL, h_on_fetched, o); break;
  case 1: yolk_sio_all_rooms(nsp, h_on_rooms, o); break;
  case 2: FUZZ_CHECK(yolk_sio_server_side_emit_with_ack(nsp, &pargs, 0, h_on_answer, h_on_gathered, o) == 0); break;
  default: FUZZ_CHECK(yolk_sio_broadcast_with_ack(nsp, NULL, &args, 0, h_on_answer, h_on_gathered, o) == 0); break;
  }
  if (h_st.bus->requests.by_id.len == before) return;
  /* the new one: the request with the id not seen before */
  yolk_ra_request_t *q = NULL;
  for (size_t i = 0; i < h_st.bus->requests.by_id.cap && !q; i++) {
    const char *id = h_st.bus->requests.by_id.slots[i].key;
    if (!id) continue;
    int seen = 0;
    for (int k = 0; k < h_st.ncounted && !seen; k++) seen = strcmp(h_st.counted[k], id) == 0;
    if (!seen) q = h_st.bus->requests.by_id.slots[i].value;
  }
  if (!q || h_st.ncounted == (int)(sizeof(h_st.counted) / sizeof(h_st.counted[0]))) return;
  snprintf(h_st.counted[h_st.ncounted++], sizeof(h_st.counted[0]), "%s", q->id);
  fz_pump(2); /* fetchSockets: the local part comes from the loop */
  q = yolk__smap_get(&h_st.bus->requests.by_id, h_st.counted[h_st.ncounted - 1]);
  if (q && q->counted) q->counted(q, 3);
}

/* ---- what the clients get ------------------------------------------------------------------- */

/* The attachment count of a packet's head ("5<n>-..."), 0 for other types. */
static unsigned h_attachments(const char *s, size_t len) {
  if (len < 2 || (s[0] != '5' && s[0] != '6')) return 0;
  unsigned n = 0;
  for (size_t i = 1; i < len && s[i] >= '0' && s[i] <= '9' && n < 100000; i++) n = n * 10 + (unsigned)(s[i] - '0');
  return n;
}

static void h_on_frame(fz_conn_t *c, int op, const char *data, size_t len) {
  int k = c == h_st.c[0] ? 0 : 1;
  if (op == 8 || op == 9 || op == 10) return;
  yolk_sb_t scratch;
  yolk__sb_init(&scratch);
  yolk_eio_packet_t p;
  const char *err = NULL;
  if (yolk__eio_packet_decode(4, op == 2, data, len, &scratch, &p, &err) != 0)
    FUZZ_FAIL("a frame that is no Engine.IO packet (%s)", err);
  if (!h_st.opened[k]) FUZZ_CHECK(p.type == YOLK_EIO_OPEN);
  h_st.opened[k] = 1;
  if (p.type == YOLK_EIO_MESSAGE) {
    if (p.binary) {
      if (h_st.bins_expected[k] == 0) FUZZ_FAIL("a binary message no packet announced");
      h_st.bins_expected[k]--;
    } else {
      if (h_st.bins_expected[k]) FUZZ_FAIL("a text message before the attachments of the previous packet");
      yolk_sio_decoded_t d;
      const char *why = NULL;
      if (yolk__sio_decode(p.data, p.len, 1000000, YOLK_JSON_MAX_DEPTH + 2, &d, &why) != 0) {
        if (!h_known_unchecked(p.data, p.len, why))
          FUZZ_FAIL("a client got a packet Socket.IO would not read: %s: %.300s", why, p.data);
        d.attachments = h_attachments(p.data, p.len);
        d.id = -1;
      }
      h_st.bins_expected[k] = d.attachments;
      if (h_st.answer && d.id >= 0 && (d.type == YOLK_SIO_PKT_EVENT || d.type == YOLK_SIO_PKT_BINARY_EVENT)) {
        yolk_sb_t *a = &h_st.answers[k];
        yolk__sb_puts(a, "43");
        if (d.nsp_len != 1) {
          yolk__sb_append(a, d.nsp, d.nsp_len);
          yolk__sb_putc(a, ',');
        }
        yolk__sb_printf(a, "%lld[\"ok\",{\"n\":1}]", (long long)d.id);
        yolk__sb_putc(a, '\0');
      }
    }
  }
  yolk__sb_free(&scratch);
}

static void h_on_http_request(yolk_http_req_t *req, void *ud) {
  if (yolk__eio_claims(h_st.eio, req)) yolk__eio_handle_request(h_st.eio, req);
  else yolk__http_respond(req, 404, NULL, "no", 2);
}

/* ---- messages ----------------------------------------------------------------------------------- */

static void h_replace_all(yolk_sb_t *sb, const char *what, const char *with) {
  size_t wl = strlen(what);
  if (strlen(with) != wl) return; /* same length: MessagePack string lengths stay right */
  for (size_t i = 0; i + wl <= sb->len; i++)
    if (memcmp(sb->data + i, what, wl) == 0) memcpy(sb->data + i, with, wl);
}

static void h_send_answers(void) {
  for (int k = 0; k < 2; k++) {
    yolk_sb_t a = h_st.answers[k];
    yolk__sb_init(&h_st.answers[k]);
    for (size_t at = 0; at < a.len;) {
      size_t n = strlen(a.data + at);
      fz_ws_send(h_st.c[k], 1, a.data + at, n);
      at += n + 1;
    }
    yolk__sb_free(&a);
  }
  fz_pump(2);
}

static void h_one_message(const char *piece, size_t plen, void *ud) {
  if (plen == 0 || !fuzz_msgpack_sane(piece + 1, plen - 1, 1)) return;
  unsigned f = (unsigned char)piece[0];
  const char *nsp_name = f & 4 ? "/chat" : "/";
  yolk_sio_nsp_t *nsp = yolk_sio_of(h_st.sio, nsp_name);
  if (f & 32) h_start_request(nsp, (int)(f >> 6));

  yolk_sb_t msg;
  yolk__sb_init(&msg);
  yolk__sb_append(&msg, piece + 1, plen - 1);
  if (msg.len) {
    for (int k = h_st.ncounted - 1; k >= 0; k--) /* the latest published request still waiting */
      if (yolk__smap_get(&h_st.bus->requests.by_id, h_st.counted[k])) {
        h_replace_all(&msg, "$REQUEST_ID$", h_st.counted[k]);
        break;
      }
    h_replace_all(&msg, "$UID$!", h_st.bus->uid);
    if (strlen(h_st.first_sid) == 20) h_replace_all(&msg, "$SOCKET_ID_XXXXXXXX$", h_st.first_sid);
  }

  redis_adapter_t *ra = radapter(yolk_sio_nsp_adapter(nsp));
  yolk_sb_t channel;
  yolk__sb_init(&channel);
  switch (f & 3) {
  case 0:
    yolk__sb_puts(&channel, ra->channel);
    if (f & 8) yolk__sb_puts(&channel, f & 16 ? "zz#" : "r1#");
    on_message(h_st.bus->sub, ra->pattern, strlen(ra->pattern), channel.data, channel.len, msg.data ? msg.data : "",
               msg.len, h_st.bus);
    break;
  case 1: yolk__sb_puts(&channel, ra->req_channel); break;
  case 2: yolk__sb_puts(&channel, ra->res_channel); break;
  default: yolk__sb_puts(&channel, ra->own_res_channel); break;
  }
  if (f & 3) on_message(h_st.bus->sub, NULL, 0, channel.data, channel.len, msg.data ? msg.data : "", msg.len, h_st.bus);
  yolk__sb_free(&channel);
  yolk__sb_free(&msg);
  fz_pump(2);
  h_send_answers();
}

/* Both clients at once: the handshake and the CONNECTs to "/" and "/chat"
 * (masked frames, key 0) in one write each, the loop run until all four
 * sockets are in. */
static int h_all_in(fz_conn_t *c, void *arg) { return h_st.connects == 4 || c->eof; }

static void h_connect_clients(void) {
  static const char hs[] = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           "\x81\x82\0\0\0\0" "40" "\x81\x88\0\0\0\0" "40/chat,";
  for (int k = 0; k < 2; k++) {
    fz_conn_t *c = h_st.c[k] = fz_connect(h_st.http);
    c->on_frame = h_on_frame;
    fz_send(c, hs, sizeof(hs) - 1);
  }
  if (!fz_wait(h_st.c[0], h_all_in, NULL, 100) || h_st.connects != 4) FUZZ_FAIL("the clients did not connect");
  FUZZ_CHECK(h_st.c[0]->upgraded && h_st.c[1]->upgraded);
}

static void h_on_srv_closed(void *arg) { h_st.srv_closed = 1; }
static void h_on_http_closed(void *arg) { h_st.http_closed = 1; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static int ready;
  if (!ready) {
    fuzz_quiet_logs();
    uv_loop_init(&fz_loop);
    uv_loop_init(&h_bus_loop);
    ready = 1;
  }
  memset(&h_st, 0, sizeof(h_st));
  h_st.answer = data[0] & 1;
  yolk_sio_redis_options_t ro;
  memset(&ro, 0, sizeof(ro));
  ro.host = "127.0.0.1"; /* never connected to: h_bus_loop does not run */
  const char *err = NULL;
  h_st.bus = yolk_sio_redis_new(&h_bus_loop, &ro, &err);
  FUZZ_CHECK(h_st.bus != NULL);

  FUZZ_CHECK(yolk_server_new(&fz_loop, NULL, &h_st.srv) == 0);
  yolk_sio_options_t o;
  yolk_sio_options_init(&o);
  o.adapter = yolk_sio_redis_adapter;
  o.adapter_ud = h_st.bus;
  h_st.sio = yolk_sio_attach(h_st.srv, &o);
  h_st.eio = yolk_sio_engine(h_st.sio);
  const char *names[2] = {"/", "/chat"};
  for (int i = 0; i < 2; i++) {
    yolk_sio_nsp_t *nsp = yolk_sio_of(h_st.sio, names[i]);
    yolk_sio_nsp_set_handler(nsp, &h_handler, NULL);
    yolk_sio_nsp_on_server_event(nsp, h_on_server_event, NULL);
  }
  yolk_http_config_t cfg;
  yolk__http_config_init(&cfg);
  cfg.on_request = h_on_http_request;
  FUZZ_CHECK(yolk__http_server_init(&fz_loop, &h_st.http, &cfg) == 0);
  h_connect_clients();

  fuzz_split((const char *)data + 1, size - 1, "|||", h_one_message, NULL);

  /* the end (as in fuzz_sio); then the bus, whose loop closes its handles */
  yolk_sio_close(h_st.sio);
  fz_pump(4);
  yolk__http_server_close(h_st.http, h_on_http_closed, NULL);
  for (int i = 0; i < 64 && !h_st.http_closed; i++) fz_pump(1);
  FUZZ_CHECK(h_st.http_closed);
  yolk_server_close(h_st.srv, h_on_srv_closed, NULL);
  fz_expect_loop_empty(64);
  FUZZ_CHECK(h_st.srv_closed);
  yolk_sio_redis_free(h_st.bus);
  for (int i = 0; i < 16 && uv_loop_alive(&h_bus_loop); i++) uv_run(&h_bus_loop, UV_RUN_NOWAIT);
  FUZZ_CHECK(!uv_loop_alive(&h_bus_loop));
  FUZZ_CHECK(h_st.closes == h_st.connects);
  if (h_st.finished != h_st.started) FUZZ_FAIL("%d of this node's requests got their result, %d were started", h_st.finished, h_st.started);
  while (h_st.recs) {
    h_rec_t *r = h_st.recs;
    h_st.recs = r->next;
    free(r);
  }
  fz_conns_free();
  yolk__sb_free(&h_st.answers[0]);
  yolk__sb_free(&h_st.answers[1]);
  return 0;
}
