/* fuzz_http.c - yolk's HTTP/1.1 server (core/http.c on llhttp) fed a byte
 * stream over a real connection, and WebSocket after an upgrade (core/ws.c).
 *
 * Input: byte 0 flags (bit 0: small limits, 128-byte heads and 64-byte bodies,
 * so 431 and 413 are reachable; bit 1: the server is closed while the
 * connection is still open, instead of after the client's EOF; bit 2: the
 * client reads nothing until all is sent, so responses queue up), byte 1 seeds
 * the chunking, the rest is what the client sends. Every iteration makes a
 * fresh server on one libuv loop and hands it one end of a socketpair
 * (yolk__http_server_adopt): the same connection code as an accepted TCP
 * socket, no network, one thread. The client writes the input in pseudo-random
 * chunks and the loop runs (UV_RUN_NOWAIT) after each, so requests arrive
 * split anywhere and pipelined. The handler picks its answer by the second
 * character of the path: /d answered later by the driver, /h never (aborted
 * when the connection goes), /a answered from inside on_abort, /c with a
 * close, /b a shared buffer, /x a 300 KB shared buffer (partial writes), /n
 * 204, /e echoes the body, anything else 404; an upgrade goes to
 * yolk__ws_accept and the WebSocket echoes (a text message "close" closes it
 * with 4000).
 *
 * Checked: every request handed over is well formed (one at a time, strings
 * terminated, names of lower-case token characters (and spaces, see
 * check_request), no CR/LF in values, url = path ? query, body within the
 * limit); everything the server sends parses as HTTP/1.1 responses (llhttp in
 * response mode, HEAD answers without body, nothing after "Connection:
 * close"), then as unmasked, unfragmented WebSocket frames after a 101; after
 * the client's EOF the server closes its end; after yolk__http_server_close no
 * handle is left on the loop and every pending request was aborted.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>

#include "fuzz.h"
#include "http.h"
#include "ws.h"

#define BIG_BODY (300 * 1024)
#define MAX_ROUNDS 64 /* loop iterations allowed for the connection to wind down */

static uv_loop_t loop;
static yolk_buf_t *small_buf, *big_buf; /* shared bodies, made once */

static struct {
  yolk_http_server_t *srv;
  int server_closed;
  size_t max_body;
  yolk_http_req_t *deferred; /* answered by the driver between loop runs */
  yolk_http_req_t *held;     /* never answered */
  int ws_open, ws_closed;
  /* checking the server's output */
  llhttp_t resp;
  yolk_sb_t is_head; /* per request handed over, oldest first: 1 if it was HEAD */
  size_t head_r;
  int upgraded;    /* 101 seen: the rest are WebSocket frames */
  yolk_sb_t frames; /* bytes after the 101 not yet checked */
  size_t frames_off;
  int ws_close_seen;
  int eof;
} st;

/* ---- the application: one handler, its answer picked by the path -------------------- */

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void check_request(const yolk_http_req_t *req) {
  FUZZ_CHECK(req->conn != NULL && req->method != NULL);
  FUZZ_CHECK(req->http_major == 1);
  const char *q = strchr(req->url, '?');
  size_t plen = strlen(req->path);
  if (q) FUZZ_CHECK((size_t)(q - req->url) == plen && memcmp(req->url, req->path, plen) == 0 &&
                    strcmp(q + 1, req->query) == 0);
  else FUZZ_CHECK(strcmp(req->url, req->path) == 0 && req->query[0] == '\0');
  FUZZ_CHECK(strchr(req->path, '?') == NULL);
  for (size_t i = 0; i < req->nheaders; i++) {
    const char *n = req->headers[i].name, *v = req->headers[i].value;
    /* Debian's llhttp (8.1) lets empty names (": x") and spaces in names ("a b: 1",
     * "host : x") through, where RFC 9112 5.1 says 400: allowed here, but nothing else
     * than token characters */
    for (const char *p = n; *p; p++)
      if (!is_tchar((unsigned char)*p) && *p != ' ')
        FUZZ_FAIL("header name \"%s\" has byte 0x%02x", n, (unsigned char)*p);
    if (strpbrk(v, "\r\n")) FUZZ_FAIL("header %s: value has CR or LF", n);
    size_t vl = strlen(v);
    FUZZ_CHECK(vl == 0 || (v[0] != ' ' && v[0] != '\t' && v[vl - 1] != ' ' && v[vl - 1] != '\t'));
  }
  FUZZ_CHECK(req->body != NULL && req->body[req->body_len] == '\0');
  FUZZ_CHECK(req->body_len <= st.max_body);
  char sid[32];
  int n = yolk_query_get(req->query, "sid", sid, sizeof(sid));
  FUZZ_CHECK(n >= -1 && n < (int)sizeof(sid));
  if (n >= 0) FUZZ_CHECK(sid[n] == '\0');
}

static void on_deferred_abort(yolk_http_req_t *req) {
  FUZZ_CHECK(req == st.deferred);
  st.deferred = NULL;
}

static void on_held_abort(yolk_http_req_t *req) {
  FUZZ_CHECK(req == st.held);
  st.held = NULL;
}

static void on_held_abort_answer(yolk_http_req_t *req) {
  on_held_abort(req);
  yolk__http_respond(req, 200, NULL, "late", 4); /* allowed, and does nothing */
}

static void ws_message(yolk_ws_t *ws, int binary, const char *data, size_t len, void *ud) {
  if (!binary) FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *)data, len, 0));
  if (!binary && len == 5 && memcmp(data, "close", 5) == 0) {
    yolk__ws_close(ws, 4000, "bye");
    return;
  }
  yolk__ws_send(ws, binary ? YOLK_WS_OP_BINARY : YOLK_WS_OP_TEXT, data, len);
}

static void ws_close(yolk_ws_t *ws, int code, void *ud) {
  FUZZ_CHECK(code >= 1000 && code <= 4999);
  st.ws_closed++;
}

static const yolk_ws_handler_t ws_handler = {ws_message, ws_close, NULL, 0, 0};
static const yolk_ws_handler_t ws_handler_small = {ws_message, ws_close, NULL, 16, 0};

static void on_request(yolk_http_req_t *req, void *ud) {
  /* one request at a time per connection, whatever the client pipelines */
  FUZZ_CHECK(st.deferred == NULL && st.held == NULL);
  check_request(req);
  yolk__sb_putc(&st.is_head, strcmp(req->method, "HEAD") == 0);
  char how = req->path[0] ? req->path[1] : '\0';
  if (req->upgrade) {
    if (yolk__ws_accept(req, how == 's' ? &ws_handler_small : &ws_handler, NULL)) st.ws_open++;
    return;
  }
  switch (how) {
  case 'd':
    st.deferred = req;
    req->on_abort = on_deferred_abort;
    break;
  case 'h':
    st.held = req;
    req->on_abort = on_held_abort;
    break;
  case 'a':
    st.held = req;
    req->on_abort = on_held_abort_answer;
    break;
  case 'c': yolk__http_respond_close(req, 200, "Content-Type: text/plain\r\n", "bye", 3); break;
  case 'b': yolk__http_respond_buf(req, 200, NULL, small_buf); break;
  case 'x': yolk__http_respond_buf(req, 200, NULL, big_buf); break;
  case 'n': yolk__http_respond(req, 204, NULL, NULL, 0); break;
  case 'e': yolk__http_respond(req, 200, "Content-Type: application/octet-stream\r\n", req->body, req->body_len); break;
  default: yolk__http_respond(req, 404, NULL, "not found", 9); break;
  }
}

static void answer_deferred(void) {
  yolk_http_req_t *req = st.deferred;
  if (!req) return;
  st.deferred = NULL;
  req->on_abort = NULL;
  yolk__http_respond(req, 200, "X-Deferred: 1\r\n", req->body, req->body_len);
}

/* ---- what the server sends must parse -------------------------------------------------- */

static int resp_headers_complete(llhttp_t *p) {
  int status = p->status_code;
  if (status >= 100 && status < 200 && status != 101) return 0; /* 100 Continue: not the answer */
  int head = 0;
  if (st.head_r < st.is_head.len) head = st.is_head.data[st.head_r++];
  /* else an error answer (400, 408, 413, 431, 505) to a request never handed over */
  return head ? 1 : 0; /* a HEAD answer has Content-Length but no body */
}

static void check_frames(void) {
  for (;;) {
    const unsigned char *f = (const unsigned char *)st.frames.data + st.frames_off;
    size_t avail = st.frames.len - st.frames_off;
    if (avail < 2) return;
    if (st.ws_close_seen) FUZZ_FAIL("WebSocket bytes after the server's close frame");
    int op = f[0] & 0x0F;
    FUZZ_CHECK(f[0] & 0x80);          /* the server never fragments */
    FUZZ_CHECK((f[0] & 0x70) == 0);   /* no extensions */
    FUZZ_CHECK((f[1] & 0x80) == 0);   /* server frames are not masked */
    FUZZ_CHECK(op == 1 || op == 2 || op == 8 || op == 9 || op == 10);
    size_t l7 = f[1] & 0x7F, hl = 2, len = l7;
    if (l7 == 126) {
      if (avail < 4) return;
      len = ((size_t)f[2] << 8) | f[3];
      FUZZ_CHECK(len >= 126); /* shortest length form */
      hl = 4;
    } else if (l7 == 127) {
      if (avail < 10) return;
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | f[2 + i];
      FUZZ_CHECK(len > 0xFFFF);
      hl = 10;
    }
    if (op >= 8) FUZZ_CHECK(len <= 125);
    if (avail < hl + len) return;
    const unsigned char *pl = f + hl;
    if (op == 1) FUZZ_CHECK(fuzz_utf8_ok(pl, len, 0));
    if (op == 8) {
      FUZZ_CHECK(len != 1);
      if (len >= 2) {
        int code = (pl[0] << 8) | pl[1];
        FUZZ_CHECK(yolk__ws_close_code_valid(code));
      }
      st.ws_close_seen = 1;
    }
    st.frames_off += hl + len;
  }
}

static void check_output(const char *data, size_t len) {
  if (st.upgraded) {
    yolk__sb_append(&st.frames, data, len);
    check_frames();
    return;
  }
  llhttp_errno_t err = llhttp_execute(&st.resp, data, len);
  if (err == HPE_PAUSED_UPGRADE) {
    FUZZ_CHECK(st.resp.status_code == 101);
    st.upgraded = 1;
    const char *pos = llhttp_get_error_pos(&st.resp);
    size_t used = pos ? (size_t)(pos - data) : len;
    check_output(data + used, len - used);
    return;
  }
  if (err != HPE_OK)
    FUZZ_FAIL("the server sent a malformed response: %s (%s)", llhttp_errno_name(err),
              llhttp_get_error_reason(&st.resp));
}

/* ---- driving the loop ---------------------------------------------------------------------- */

static int client_fd = -1;
static int trace; /* YOLK_FUZZ_TRACE=1: copy what the server sends to stderr */

static void drain(void) {
  char buf[64 * 1024];
  for (;;) {
    ssize_t r = recv(client_fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) {
      FUZZ_CHECK(!st.eof);
      if (trace) fwrite(buf, 1, (size_t)r, stderr);
      check_output(buf, (size_t)r);
      continue;
    }
    /* a Unix socket closed with our bytes still unread reports ECONNRESET instead of EOF */
    if (r == 0 || errno == ECONNRESET) st.eof = 1;
    return;
  }
}

static int reading = 1; /* the client reads what the server sends */

static void pump(int rounds) {
  for (int i = 0; i < rounds; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (reading) drain();
  }
}

static void on_server_closed(void *arg) { st.server_closed = 1; }

static void walk_print(uv_handle_t *h, void *arg) {
  fprintf(stderr, "  handle left: %s active=%d closing=%d\n", uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_active(h), uv_is_closing(h));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static int ready;
  if (!ready) {
    fuzz_quiet_logs();
    trace = getenv("YOLK_FUZZ_TRACE") && strcmp(getenv("YOLK_FUZZ_TRACE"), "1") == 0;
    uv_loop_init(&loop);
    small_buf = yolk__buf_copy("shared body\n", 12);
    big_buf = yolk__buf_new(BIG_BODY);
    memset(big_buf->data, 'x', BIG_BODY);
    ready = 1;
  }
  unsigned flags = data[0];
  fuzz_rng_t rng;
  fuzz_rng_init(&rng, data[1]);
  const char *s = (const char *)data + 2;
  size_t len = size - 2;

  memset(&st, 0, sizeof(st));
  yolk_http_config_t cfg;
  yolk__http_config_init(&cfg);
  cfg.on_request = on_request;
  if (flags & 1) {
    cfg.max_header_size = 128;
    cfg.max_body_size = 64;
  }
  st.max_body = cfg.max_body_size;
  FUZZ_CHECK(yolk__http_server_init(&loop, &st.srv, &cfg) == 0);
  int sv[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  FUZZ_CHECK(yolk__http_server_adopt(st.srv, sv[0]) == 0);
  client_fd = sv[1];
  fcntl(client_fd, F_SETFL, fcntl(client_fd, F_GETFL) | O_NONBLOCK);
  llhttp_settings_t rs;
  llhttp_settings_init(&rs);
  rs.on_headers_complete = resp_headers_complete;
  llhttp_init(&st.resp, HTTP_RESPONSE, &rs);
  yolk__sb_init(&st.frames);
  yolk__sb_init(&st.is_head);

  /* the input, in chunks, the loop running in between */
  reading = !(flags & 4);
  size_t off = 0;
  while (off < len && !st.eof) {
    size_t n = fuzz_chunk_len(&rng, len - off);
    ssize_t w = send(client_fd, s + off, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN) {
      pump(1);
      drain();
      continue;
    }
    if (w < 0) break; /* the server closed its end */
    off += (size_t)w;
    uint64_t r = fuzz_rng_next(&rng);
    pump(1 + (int)(r % 3));
    if (st.deferred && (r & 0x10)) answer_deferred();
  }
  for (int i = 0; i < 4; i++) {
    answer_deferred();
    pump(1);
  }
  reading = 1;
  if (!(flags & 2)) {
    /* the client is done sending: the server must close its end */
    shutdown(client_fd, SHUT_WR);
    for (int i = 0; i < MAX_ROUNDS && !st.eof; i++) {
      answer_deferred();
      pump(1);
    }
    if (!st.eof) FUZZ_FAIL("the server did not close the connection after the client's EOF");
  }

  /* closing the server closes the connection if it is still open; pending requests are aborted */
  yolk__http_server_close(st.srv, on_server_closed, NULL);
  for (int i = 0; i < MAX_ROUNDS && (!st.server_closed || uv_loop_alive(&loop)); i++) pump(1);
  if (!st.server_closed || uv_loop_alive(&loop)) {
    uv_walk(&loop, walk_print, NULL);
    FUZZ_FAIL("server not closed (%d) or handles left on the loop", st.server_closed);
  }
  drain();
  FUZZ_CHECK(st.eof);
  FUZZ_CHECK(st.deferred == NULL && st.held == NULL); /* answered or aborted */
  FUZZ_CHECK(st.ws_open == st.ws_closed);
  close(client_fd);
  client_fd = -1;
  yolk__sb_free(&st.frames);
  yolk__sb_free(&st.is_head);
  return 0;
}
