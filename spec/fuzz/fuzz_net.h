/* fuzz_net.h - a client for the targets that drive a real server: connections
 * are socketpairs whose other end the HTTP server adopts
 * (yolk__http_server_adopt, the same code as an accepted TCP socket), all on
 * one libuv loop in one thread, as fuzz_http does. The client sends requests
 * and WebSocket frames, runs the loop (UV_RUN_NOWAIT) in between, and reads
 * what the server sends: responses are parsed with llhttp (response mode)
 * and, after a 101, server frames are parsed here; malformed output fails the
 * run. Each complete response and frame goes to the connection's callbacks.
 *
 * Header-only, like fuzz.h.
 */
#ifndef YOLK_FUZZ_NET_H
#define YOLK_FUZZ_NET_H

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>
#include <uv.h>

#include "fuzz.h"
#include "http.h"
#include "ws.h"

typedef struct fz_conn_s fz_conn_t;

struct fz_conn_s {
  int fd;
  int eof;    /* the server closed its end */
  int closed; /* we closed ours */
  llhttp_t parser;
  llhttp_settings_t settings;
  /* the response being read */
  int status;
  char ctype[128];
  int in_ctype; /* the header whose value is being read is Content-Type */
  yolk_sb_t hname, body;
  size_t responses; /* complete responses so far */
  /* WebSocket, after a 101 */
  int upgraded, ws_closed;
  yolk_sb_t frames;
  size_t frames_off;
  /* callbacks */
  void (*on_response)(fz_conn_t *c, int status, const char *ctype, const char *body, size_t len);
  void (*on_frame)(fz_conn_t *c, int opcode, const char *data, size_t len);
  void *ud;
  fz_conn_t *next; /* in the list of open connections */
};

static uv_loop_t fz_loop;
static fz_conn_t *fz_conns;

static inline fz_conn_t *fz_conn_of(llhttp_t *p) { return (fz_conn_t *)p->data; }

static inline int fz_on_header_field(llhttp_t *p, const char *at, size_t len) {
  fz_conn_t *c = fz_conn_of(p);
  yolk__sb_append(&c->hname, at, len);
  return 0;
}
static inline int fz_on_header_field_complete(llhttp_t *p) {
  fz_conn_t *c = fz_conn_of(p);
  c->in_ctype = c->hname.len == 12 && strncasecmp(c->hname.data, "content-type", 12) == 0;
  if (c->in_ctype) c->ctype[0] = '\0';
  c->hname.len = 0;
  return 0;
}
static inline int fz_on_header_value(llhttp_t *p, const char *at, size_t len) {
  fz_conn_t *c = fz_conn_of(p);
  if (c->in_ctype) {
    size_t have = strlen(c->ctype);
    if (have + len < sizeof(c->ctype)) {
      memcpy(c->ctype + have, at, len);
      c->ctype[have + len] = '\0';
    }
  }
  return 0;
}
static inline int fz_on_message_begin(llhttp_t *p) {
  fz_conn_t *c = fz_conn_of(p);
  c->body.len = 0;
  c->ctype[0] = '\0';
  c->hname.len = 0;
  c->in_ctype = 0;
  return 0;
}
static inline int fz_on_body(llhttp_t *p, const char *at, size_t len) {
  yolk__sb_append(&fz_conn_of(p)->body, at, len);
  return 0;
}
static inline int fz_on_message_complete(llhttp_t *p) {
  fz_conn_t *c = fz_conn_of(p);
  int status = p->status_code;
  if (status >= 100 && status < 200 && status != 101) return 0;
  c->responses++;
  if (c->on_response) c->on_response(c, status, c->ctype, c->body.data ? c->body.data : "", c->body.len);
  return 0;
}

/* Server frames: never fragmented, never masked (fuzz_http checks the rest). */
static inline void fz_read_frames(fz_conn_t *c) {
  for (;;) {
    const unsigned char *f = (const unsigned char *)c->frames.data + c->frames_off;
    size_t avail = c->frames.len - c->frames_off;
    if (avail < 2) break;
    if (c->ws_closed) FUZZ_FAIL("WebSocket bytes after the server's close frame");
    FUZZ_CHECK((f[0] & 0x80) && !(f[1] & 0x80));
    int op = f[0] & 0x0F;
    size_t l7 = f[1] & 0x7F, hl = 2, len = l7;
    if (l7 == 126) {
      if (avail < 4) break;
      len = ((size_t)f[2] << 8) | f[3], hl = 4;
    } else if (l7 == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | f[2 + i];
      hl = 10;
    }
    if (avail < hl + len) break;
    c->frames_off += hl + len;
    if (op == 8) c->ws_closed = 1;
    if (op == 1) FUZZ_CHECK(fuzz_utf8_ok(f + hl, len, 0));
    if (c->on_frame) c->on_frame(c, op, (const char *)f + hl, len);
  }
  if (c->frames_off == c->frames.len) c->frames.len = c->frames_off = 0;
}

static inline void fz_received(fz_conn_t *c, const char *data, size_t len) {
  if (c->upgraded) {
    yolk__sb_append(&c->frames, data, len);
    fz_read_frames(c);
    return;
  }
  llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
  if (err == HPE_PAUSED_UPGRADE) {
    FUZZ_CHECK(c->parser.status_code == 101);
    c->upgraded = 1;
    const char *pos = llhttp_get_error_pos(&c->parser);
    size_t used = pos ? (size_t)(pos - data) : len;
    fz_received(c, data + used, len - used);
    return;
  }
  if (err != HPE_OK)
    FUZZ_FAIL("the server sent a malformed response: %s (%s)", llhttp_errno_name(err), llhttp_get_error_reason(&c->parser));
}

static inline void fz_drain(fz_conn_t *c) {
  char buf[64 * 1024];
  while (!c->closed && !c->eof) {
    ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) {
      fz_received(c, buf, (size_t)r);
      continue;
    }
    if (r == 0 || errno == ECONNRESET) c->eof = 1;
    return;
  }
}

/* Runs the loop once per round (UV_RUN_NOWAIT), reading every connection after each. */
static inline void fz_pump(int rounds) {
  for (int i = 0; i < rounds; i++) {
    uv_run(&fz_loop, UV_RUN_NOWAIT);
    for (fz_conn_t *c = fz_conns; c; c = c->next) fz_drain(c);
  }
}

/* A connection to srv (the client end of a socketpair it adopted). */
static inline fz_conn_t *fz_connect(yolk_http_server_t *srv) {
  fz_conn_t *c = calloc(1, sizeof(*c));
  int sv[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  FUZZ_CHECK(yolk__http_server_adopt(srv, sv[0]) == 0);
  c->fd = sv[1];
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  llhttp_settings_init(&c->settings);
  c->settings.on_message_begin = fz_on_message_begin;
  c->settings.on_header_field = fz_on_header_field;
  c->settings.on_header_field_complete = fz_on_header_field_complete;
  c->settings.on_header_value = fz_on_header_value;
  c->settings.on_body = fz_on_body;
  c->settings.on_message_complete = fz_on_message_complete;
  llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
  c->parser.data = c;
  c->next = fz_conns;
  fz_conns = c;
  return c;
}

/* Sends all of data, running the loop while the socket is full. 0, or -1
 * once the server has closed its end. */
static inline int fz_send(fz_conn_t *c, const void *data, size_t len) {
  const char *p = data;
  int stalls = 0;
  while (len) {
    if (c->eof || c->closed) return -1;
    ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN) {
      if (++stalls > 1000) FUZZ_FAIL("the server reads nothing");
      fz_pump(1);
      continue;
    }
    if (w < 0) {
      c->eof = 1;
      return -1;
    }
    p += w, len -= (size_t)w;
  }
  return 0;
}

/* One masked client frame (the mask key is 0: the payload goes as is). */
static inline int fz_ws_send(fz_conn_t *c, int opcode, const void *data, size_t len) {
  unsigned char h[14];
  size_t hl;
  h[0] = (unsigned char)(0x80 | opcode);
  if (len < 126) {
    h[1] = (unsigned char)(0x80 | len), hl = 2;
  } else if (len <= 0xFFFF) {
    h[1] = 0x80 | 126, h[2] = (unsigned char)(len >> 8), h[3] = (unsigned char)len, hl = 4;
  } else {
    h[1] = 0x80 | 127, hl = 10;
    for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
  }
  memset(h + hl, 0, 4);
  hl += 4;
  if (fz_send(c, h, hl) != 0) return -1;
  return fz_send(c, data, len);
}

/* Runs the loop until pred(c) or max rounds; returns pred's last value. */
static inline int fz_wait(fz_conn_t *c, int (*pred)(fz_conn_t *c, void *arg), void *arg, int max) {
  for (int i = 0; i < max; i++) {
    if (pred(c, arg)) return 1;
    fz_pump(1);
  }
  return pred(c, arg);
}

static inline void fz_close(fz_conn_t *c) {
  if (c->closed) return;
  close(c->fd);
  c->closed = 1;
}

/* Closes and frees every connection. */
static inline void fz_conns_free(void) {
  while (fz_conns) {
    fz_conn_t *c = fz_conns;
    fz_conns = c->next;
    fz_close(c);
    yolk__sb_free(&c->hname);
    yolk__sb_free(&c->body);
    yolk__sb_free(&c->frames);
    free(c);
  }
}

static inline void fz_walk_print(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "  handle left: %s active=%d closing=%d\n", uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_active(h), uv_is_closing(h));
}

/* After the servers were closed: the loop must wind down with nothing left. */
static inline void fz_expect_loop_empty(int max_rounds) {
  for (int i = 0; i < max_rounds && uv_loop_alive(&fz_loop); i++) fz_pump(1);
  if (uv_loop_alive(&fz_loop)) {
    uv_walk(&fz_loop, fz_walk_print, NULL);
    FUZZ_FAIL("handles left on the loop after the server closed");
  }
}

#endif
