/* ws.c - WebSocket (RFC 6455) server side; see ws.h.
 *
 * A yolk_ws_t owns the connection after the 101 (yolk__http_takeover) and
 * uses the connection's timer for the closing-handshake grace period, so it
 * has no libuv handle of its own and can be freed right after on_close.
 */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <pthread.h>

#include "log.h"

#define LOG_COMPONENT "ws"
#define DEFAULT_MAX_MESSAGE (100u * 1024 * 1024)
/* How long we wait for the peer's close frame (or for our close frame to be
 * flushed) before dropping the TCP connection. */
#define CLOSE_GRACE_MS 1000

/* ---- handshake key -------------------------------------------------------------- */

/* SHA-1 as OpenSSL 3 provides it, looked up once (kept for the process's
 * life): EVP_sha1() makes every EVP_DigestInit_ex look the implementation up
 * again (EVP_MD_fetch), which cost more than the hash. */
static const EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void sha1_fetch(void) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
#endif
  if (!sha1_md) sha1_md = EVP_sha1();
}

int yolk__ws_accept_key(const char *key, char out[32]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 section 1.3 */
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  pthread_once(&sha1_once, sha1_fetch);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return -1;
  int ok = EVP_DigestInit_ex(ctx, sha1_md, NULL) && EVP_DigestUpdate(ctx, key, strlen(key)) &&
           EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1) && EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  if (!ok || mdlen != 20) return -1;
  EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars + NUL */
  return 0;
}

/* A Sec-WebSocket-Key is base64 of 16 bytes: 22 characters and "==". */
static int key_valid(const char *key) {
  if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=') return 0;
  for (int i = 0; i < 22; i++) {
    char c = key[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
      return 0;
  }
  return 1;
}

int yolk__ws_close_code_valid(int code) {
  if (code >= 1000 && code <= 1003) return 1;
  if (code >= 1007 && code <= 1014) return 1;
  if (code >= 3000 && code <= 4999) return 1;
  return 0;
}

/* ---- frame encoder ----------------------------------------------------------------- */

static size_t frame_header(unsigned char *h, int opcode, size_t len) {
  h[0] = (unsigned char)(0x80 | (opcode & 0x0F));
  if (len < 126) {
    h[1] = (unsigned char)len;
    return 2;
  }
  if (len <= 0xFFFF) {
    h[1] = 126;
    h[2] = (unsigned char)(len >> 8);
    h[3] = (unsigned char)len;
    return 4;
  }
  h[1] = 127;
  uint64_t l = len;
  for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)(l >> (56 - 8 * i));
  return 10;
}

yolk_buf_t *yolk__ws_frame_alloc(int opcode, size_t len, size_t *payload_off) {
  unsigned char h[10];
  size_t hl = frame_header(h, opcode, len);
  yolk_buf_t *b = yolk__buf_new(hl + len);
  memcpy(b->data, h, hl);
  *payload_off = hl;
  return b;
}

yolk_buf_t *yolk__ws_frame_new(int opcode, const void *payload, size_t len) {
  size_t off;
  yolk_buf_t *b = yolk__ws_frame_alloc(opcode, len, &off);
  if (len) memcpy(b->data + off, payload, len);
  return b;
}

/* ---- frame parser ---------------------------------------------------------------- */

/* What a parser collects across feeds: allocated when a frame's payload
 * spans feeds, freed when both are empty again. */
struct yolk_ws_held_s {
  yolk_sb_t in;      /* payload of the control frame being read (unmasked) */
  yolk_sb_t message; /* fragments of the current data message (unmasked) */
};

static struct yolk_ws_held_s *held(yolk_ws_parser_t *p) {
  if (!p->held) {
    p->held = yolk__malloc(sizeof(*p->held));
    yolk__sb_init(&p->held->in);
    yolk__sb_init(&p->held->message);
  }
  return p->held;
}

static size_t message_len(const yolk_ws_parser_t *p) { return p->held ? p->held->message.len : 0; }

/* Frees what is held once nothing is in it. */
static void held_done(yolk_ws_parser_t *p) {
  struct yolk_ws_held_s *h = p->held;
  if (!h || h->in.len || h->message.len) return;
  yolk__sb_free(&h->in);
  yolk__sb_free(&h->message);
  free(h);
  p->held = NULL;
}

void yolk__ws_parser_init(yolk_ws_parser_t *p, size_t max_message_size,
                          void (*on_message)(void *ud, int opcode, const char *data, size_t len), void *ud) {
  memset(p, 0, sizeof(*p));
  p->max_message_size = max_message_size ? max_message_size : DEFAULT_MAX_MESSAGE;
  p->on_message = on_message;
  p->ud = ud;
}

void yolk__ws_parser_free(yolk_ws_parser_t *p) {
  if (!p->held) return;
  yolk__sb_free(&p->held->in);
  yolk__sb_free(&p->held->message);
  free(p->held);
  p->held = NULL;
}

static int parser_fail(yolk_ws_parser_t *p, int code, const char *why) {
  p->error_code = (uint16_t)code;
  p->error = why;
  return code;
}

/* Header bytes needed once the first two are known. */
static size_t header_need(const yolk_ws_parser_t *p) {
  if (p->hdr_len < 2) return 2;
  unsigned l7 = p->hdr[1] & 0x7F;
  return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((p->hdr[1] & 0x80) ? 4 : 0);
}

/* Checks that can be made on the first two bytes. */
static int check_first_bytes(yolk_ws_parser_t *p) {
  unsigned b0 = p->hdr[0], b1 = p->hdr[1];
  int op = (int)(b0 & 0x0F);
  int fin = (b0 & 0x80) != 0;
  if (b0 & 0x70) return parser_fail(p, 1002, "reserved bits set (no extension negotiated)");
  if (!(b1 & 0x80)) return parser_fail(p, 1002, "unmasked client frame");
  if (op & 0x08) {
    if (op != YOLK_WS_OP_CLOSE && op != YOLK_WS_OP_PING && op != YOLK_WS_OP_PONG)
      return parser_fail(p, 1002, "reserved control opcode");
    if (!fin) return parser_fail(p, 1002, "fragmented control frame");
    if ((b1 & 0x7F) > 125) return parser_fail(p, 1002, "control frame payload over 125 bytes");
  } else {
    if (op != YOLK_WS_OP_CONT && op != YOLK_WS_OP_TEXT && op != YOLK_WS_OP_BINARY)
      return parser_fail(p, 1002, "reserved data opcode");
    if (op == YOLK_WS_OP_CONT && !p->message_opcode)
      return parser_fail(p, 1002, "continuation frame without a message in progress");
    if (op != YOLK_WS_OP_CONT && p->message_opcode)
      return parser_fail(p, 1002, "new data frame while a fragmented message is in progress");
  }
  return 0;
}

/* A control frame's payload d[0..n) is complete: check it, hand it up. */
static int finish_control(yolk_ws_parser_t *p, const char *d, size_t n) {
  if (p->frame_opcode == YOLK_WS_OP_CLOSE) {
    if (n == 1) return parser_fail(p, 1002, "close frame with a 1-byte payload");
    if (n >= 2) {
      int code = ((unsigned char)d[0] << 8) | (unsigned char)d[1];
      if (!yolk__ws_close_code_valid(code)) return parser_fail(p, 1002, "invalid close code");
      if (yolk__utf8_validate(0, (const unsigned char *)d + 2, n - 2) != YOLK_UTF8_ACCEPT)
        return parser_fail(p, 1007, "close reason is not valid UTF-8");
    }
    p->closed = 1;
  }
  p->on_message(p->ud, p->frame_opcode, d, n);
  return 0;
}

/* The control frame collected across feeds is complete. */
static int finish_held_control(yolk_ws_parser_t *p) {
  struct yolk_ws_held_s *h = held(p);
  int r = finish_control(p, h->in.data ? h->in.data : "", h->in.len);
  if (p->held == h) {
    h->in.len = 0;
    held_done(p);
  }
  return r;
}

static int finish_data(yolk_ws_parser_t *p) {
  if (!p->frame_fin) return 0;
  if (p->message_opcode == YOLK_WS_OP_TEXT && p->utf8_state != YOLK_UTF8_ACCEPT)
    return parser_fail(p, 1007, "text message ends inside a UTF-8 sequence");
  int op = p->message_opcode;
  p->message_opcode = 0;
  p->utf8_state = 0;
  struct yolk_ws_held_s *h = p->held;
  if (!h || !h->message.data) {
    p->on_message(p->ud, op, "", 0); /* empty fragments only */
    return 0;
  }
  p->on_message(p->ud, op, h->message.data, h->message.len);
  /* Messages that span feeds are the exception (see deliver_whole): the
   * buffer goes, so an idle connection holds none. */
  if (p->held == h) {
    yolk__sb_free(&h->message);
    held_done(p);
  }
  return 0;
}

/* Whole messages (one frame, all of it in the bytes at hand) are unmasked
 * here, then handed up: one buffer for every parser. A parser fed from
 * inside another's callback finds it busy and collects in its own. */
static yolk_sb_t shared_msg;
static int shared_busy;

static void unmask(unsigned char *out, const unsigned char *s, size_t n, const unsigned char mask[4], unsigned pos) {
  size_t i = 0;
  if (n >= 16) {
    /* A word at a time; the 4-byte key repeats within 8 bytes. */
    unsigned char k8[8];
    for (int k = 0; k < 8; k++) k8[k] = mask[(pos + (unsigned)k) & 3];
    uint64_t kw, w;
    memcpy(&kw, k8, 8);
    for (; i + 8 <= n; i += 8) {
      memcpy(&w, s + i, 8);
      w ^= kw;
      memcpy(out + i, &w, 8);
    }
  }
  for (; i < n; i++) out[i] = s[i] ^ mask[(pos + i) & 3];
}

/* The payload of an unfragmented data frame is all in s: unmask it into the
 * shared buffer, check it, hand it up. Returns the parser's result. */
static int deliver_whole(yolk_ws_parser_t *p, const unsigned char *s, size_t n) {
  shared_busy = 1;
  shared_msg.len = 0;
  yolk__sb_reserve(&shared_msg, n);
  unmask((unsigned char *)shared_msg.data, s, n, p->mask, 0);
  shared_msg.data[n] = '\0';
  shared_msg.len = n;
  p->remaining = 0;
  p->in_payload = 0;
  int op = p->frame_opcode;
  p->message_opcode = 0;
  p->utf8_state = 0;
  uint32_t utf8 = op == YOLK_WS_OP_TEXT ? yolk__utf8_validate(0, (const unsigned char *)shared_msg.data, n)
                                        : YOLK_UTF8_ACCEPT;
  if (utf8 == YOLK_UTF8_REJECT) {
    parser_fail(p, 1007, "invalid UTF-8 in a text message");
  } else if (utf8 != YOLK_UTF8_ACCEPT) {
    parser_fail(p, 1007, "text message ends inside a UTF-8 sequence");
  } else {
    p->on_message(p->ud, op, shared_msg.data, n);
  }
  if (shared_msg.cap > 64 * 1024) yolk__sb_free(&shared_msg); /* a big one does not stay */
  shared_busy = 0;
  return p->error_code;
}

/* The header is complete: validate lengths, set up the payload. */
static int start_frame(yolk_ws_parser_t *p) {
  unsigned l7 = p->hdr[1] & 0x7F;
  uint64_t len = l7;
  size_t pos = 2;
  if (l7 == 126) {
    len = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
    pos = 4;
  } else if (l7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = (len << 8) | p->hdr[2 + i];
    pos = 10;
    if (len >> 63) return parser_fail(p, 1002, "64-bit payload length with the top bit set");
  }
  memcpy(p->mask, p->hdr + pos, 4);
  p->mask_pos = 0;
  p->frame_opcode = (uint8_t)(p->hdr[0] & 0x0F);
  p->frame_fin = (p->hdr[0] & 0x80) != 0;
  p->remaining = len;
  p->hdr_len = 0;
  if (p->frame_opcode & 0x08) {
    if (p->held) p->held->in.len = 0;
  } else {
    if (p->frame_opcode != YOLK_WS_OP_CONT) {
      p->message_opcode = p->frame_opcode;
      p->utf8_state = 0;
      if (p->held) p->held->message.len = 0;
    }
    if (len > p->max_message_size || message_len(p) + len > p->max_message_size)
      return parser_fail(p, 1009, "message over the maximum size");
  }
  if (len == 0) {
    p->in_payload = 0;
    return (p->frame_opcode & 0x08) ? finish_control(p, "", 0) : finish_data(p);
  }
  p->in_payload = 1;
  return 0;
}

int yolk__ws_parser_feed(yolk_ws_parser_t *p, const char *data, size_t len) {
  const unsigned char *s = (const unsigned char *)data;
  while (len && !p->error_code && !p->closed) {
    if (!p->in_payload) {
      size_t need = header_need(p);
      size_t take = need - p->hdr_len;
      if (take > len) take = len;
      memcpy(p->hdr + p->hdr_len, s, take);
      p->hdr_len = (uint8_t)(p->hdr_len + take);
      s += take;
      len -= take;
      if (p->hdr_len == 2 && check_first_bytes(p)) break;
      if (p->hdr_len < header_need(p)) continue;
      if (start_frame(p)) break;
      continue;
    }
    if (p->remaining <= len && (p->frame_opcode & 0x08) && !(p->held && p->held->in.len)) {
      /* a whole control frame (at most 125 bytes) in the bytes at hand */
      char ctl[128];
      size_t n = (size_t)p->remaining;
      unmask((unsigned char *)ctl, s, n, p->mask, 0);
      ctl[n] = '\0';
      s += n;
      len -= n;
      p->remaining = 0;
      p->in_payload = 0;
      if (finish_control(p, ctl, n)) break;
      continue;
    }
    if (!(p->frame_opcode & 0x08) && p->frame_opcode != YOLK_WS_OP_CONT && p->frame_fin && message_len(p) == 0 &&
        p->remaining <= len && !shared_busy) {
      /* the common case: a whole message in the bytes at hand */
      size_t n = (size_t)p->remaining;
      if (deliver_whole(p, s, n)) break;
      s += n;
      len -= n;
      continue;
    }
    size_t n = p->remaining < len ? (size_t)p->remaining : len;
    yolk_sb_t *dst = (p->frame_opcode & 0x08) ? &held(p)->in : &held(p)->message;
    /* Grow as bytes arrive, not by the announced length: a header alone
     * must not make us allocate max_message_size. */
    yolk__sb_reserve(dst, n);
    unsigned char *out = (unsigned char *)dst->data + dst->len;
    unmask(out, s, n, p->mask, p->mask_pos);
    p->mask_pos = (uint8_t)((p->mask_pos + n) & 3);
    dst->len += n;
    dst->data[dst->len] = '\0';
    s += n;
    len -= n;
    p->remaining -= n;
    if (dst == &p->held->message && p->message_opcode == YOLK_WS_OP_TEXT) {
      /* Fail fast: a bad byte is reported before the message is complete. */
      p->utf8_state = yolk__utf8_validate(p->utf8_state, out, n);
      if (p->utf8_state == YOLK_UTF8_REJECT) {
        parser_fail(p, 1007, "invalid UTF-8 in a text message");
        break;
      }
    }
    if (p->remaining == 0) {
      p->in_payload = 0;
      if ((p->frame_opcode & 0x08) ? finish_held_control(p) : finish_data(p)) break;
    }
  }
  return p->error_code;
}

/* ---- connections ------------------------------------------------------------------ */

struct yolk_ws_s {
  yolk_http_conn_t *conn;
  const yolk_ws_handler_t *handler;
  void *ud;
  yolk_ws_parser_t parser;
  unsigned close_sent : 1;     /* our close frame is queued; send nothing more */
  unsigned close_received : 1; /* the peer's close frame arrived */
  unsigned failed : 1;         /* protocol error: input is ignored */
  int close_code;
};

void yolk__ws_set_ud(yolk_ws_t *ws, void *ud) { ws->ud = ud; }

size_t yolk__ws_pending(yolk_ws_t *ws) { return yolk__conn_pending(ws->conn); }
int yolk__ws_backlogged(yolk_ws_t *ws) { return yolk__conn_backlogged(ws->conn); }
void yolk__ws_abort(yolk_ws_t *ws) { yolk__conn_abort(ws->conn); }

static void backlog_over(void *owner) {
  yolk_ws_t *ws = owner;
  if (ws->handler->on_backlog) ws->handler->on_backlog(ws, yolk__conn_pending(ws->conn), ws->ud);
}

int yolk__ws_send_frame(yolk_ws_t *ws, yolk_buf_t *frame) {
  if (ws->close_sent) return -1;
  return yolk__conn_write(ws->conn, frame);
}

int yolk__ws_send(yolk_ws_t *ws, int opcode, const void *payload, size_t len) {
  if (ws->close_sent) return -1;
  yolk_buf_t *f = yolk__ws_frame_new(opcode, payload, len);
  int r = yolk__conn_write(ws->conn, f);
  yolk__buf_unref(f);
  return r;
}

static void grace_expired(void *owner) {
  yolk_ws_t *ws = owner;
  yolk__log(YOLK_LOG_DEBUG, LOG_COMPONENT, "%s: closing handshake not completed in time",
            yolk__conn_peer(ws->conn));
  yolk__conn_abort(ws->conn);
}

/* Queues our close frame (code 0: empty payload) and arms the grace timer. */
static void send_close(yolk_ws_t *ws, int code, const char *reason) {
  if (ws->close_sent) return;
  unsigned char pl[125];
  size_t n = 0;
  if (code) {
    pl[0] = (unsigned char)(code >> 8);
    pl[1] = (unsigned char)code;
    n = 2;
    if (reason) {
      size_t rl = strlen(reason);
      if (rl > sizeof(pl) - 2) rl = sizeof(pl) - 2;
      memcpy(pl + 2, reason, rl);
      n += rl;
    }
  }
  yolk_buf_t *f = yolk__ws_frame_new(YOLK_WS_OP_CLOSE, pl, n);
  yolk__conn_write(ws->conn, f);
  yolk__buf_unref(f);
  ws->close_sent = 1;
  yolk__conn_set_timeout(ws->conn, CLOSE_GRACE_MS, grace_expired);
}

void yolk__ws_close(yolk_ws_t *ws, int code, const char *reason) {
  if (ws->close_sent) return;
  ws->close_code = code ? code : 1005;
  send_close(ws, code, reason);
}

static void on_frame(void *ud, int opcode, const char *data, size_t len) {
  yolk_ws_t *ws = ud;
  switch (opcode) {
  case YOLK_WS_OP_TEXT:
  case YOLK_WS_OP_BINARY:
    /* After our close frame the RFC lets the peer's data be discarded. */
    if (ws->close_sent || ws->close_received) return;
    if (ws->handler->on_message)
      ws->handler->on_message(ws, opcode == YOLK_WS_OP_BINARY, data, len, ws->ud);
    break;
  case YOLK_WS_OP_PING:
    if (!ws->close_sent) yolk__ws_send(ws, YOLK_WS_OP_PONG, data, len);
    break;
  case YOLK_WS_OP_PONG: break;
  case YOLK_WS_OP_CLOSE: {
    ws->close_received = 1;
    int code = len >= 2 ? (((unsigned char)data[0] << 8) | (unsigned char)data[1]) : 1005;
    if (!ws->close_sent) {
      /* The peer started the closing handshake: echo its code, then the
       * server closes the TCP connection first (RFC 6455 7.1.1). */
      ws->close_code = code;
      send_close(ws, code == 1005 ? 0 : code, NULL);
    }
    yolk__conn_close(ws->conn);
    break;
  }
  default: break;
  }
}

static void ws_on_read(void *owner, const char *data, size_t len) {
  yolk_ws_t *ws = owner;
  if (ws->failed || ws->close_received) return;
  int code = yolk__ws_parser_feed(&ws->parser, data, len);
  if (code) {
    ws->failed = 1;
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: %s, closing with %d", yolk__conn_peer(ws->conn),
              ws->parser.error ? ws->parser.error : "protocol error", code);
    if (!ws->close_sent) {
      ws->close_code = code;
      send_close(ws, code, NULL);
    }
    yolk__conn_close(ws->conn);
  }
}

static void ws_on_conn_close(void *owner) {
  yolk_ws_t *ws = owner;
  int code = ws->close_code ? ws->close_code : 1006;
  if (ws->handler->on_close) ws->handler->on_close(ws, code, ws->ud);
  yolk__ws_parser_free(&ws->parser);
  free(ws);
}

static const yolk_conn_handler_t ws_conn_handler = {ws_on_read, ws_on_conn_close};

yolk_ws_t *yolk__ws_accept(yolk_http_req_t *req, const yolk_ws_handler_t *handler, void *ud) {
  const char *why = NULL;
  const char *upgrade = yolk__http_req_header(req, "upgrade");
  const char *connection = yolk__http_req_header(req, "connection");
  const char *version = yolk__http_req_header(req, "sec-websocket-version");
  const char *key = yolk__http_req_header(req, "sec-websocket-key");
  int bad_version = 0;
  if (strcmp(req->method, "GET") != 0) why = "method is not GET";
  else if (!upgrade || !yolk__http_has_token(upgrade, "websocket")) why = "no Upgrade: websocket";
  else if (!connection || !yolk__http_has_token(connection, "upgrade")) why = "no Connection: upgrade";
  else if (!version || strcmp(version, "13") != 0) why = "unsupported Sec-WebSocket-Version", bad_version = 1;
  else if (!key_valid(key)) why = "invalid Sec-WebSocket-Key";
  char accept[32];
  if (!why && yolk__ws_accept_key(key, accept) != 0) why = "cannot compute the accept key";
  if (why) {
    yolk__log(YOLK_LOG_WARN, LOG_COMPONENT, "%s: bad WebSocket handshake: %s", req->remote_addr, why);
    static const char msg[] = "Bad WebSocket handshake\n";
    yolk__http_respond_close(req, 400, bad_version ? "Sec-WebSocket-Version: 13\r\n" : NULL, msg, sizeof(msg) - 1);
    return NULL;
  }
  static const char head_start[] =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
  char head[sizeof(head_start) + 32];
  size_t hl = sizeof(head_start) - 1, al = strlen(accept);
  memcpy(head, head_start, hl);
  memcpy(head + hl, accept, al);
  memcpy(head + hl + al, "\r\n\r\n", 4);
  hl += al + 4;
  yolk_ws_t *ws = yolk__calloc(1, sizeof(*ws));
  ws->handler = handler;
  ws->ud = ud;
  yolk__ws_parser_init(&ws->parser, handler->max_message_size, on_frame, ws);
  yolk_http_conn_t *conn = yolk__http_takeover(req, head, hl, &ws_conn_handler, ws);
  if (!conn) {
    yolk__ws_parser_free(&ws->parser);
    free(ws);
    return NULL;
  }
  ws->conn = conn;
  if (handler->max_backlog) yolk__conn_limit_backlog(conn, handler->max_backlog, backlog_over);
  return ws;
}
