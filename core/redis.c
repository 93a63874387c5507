/* redis.c - see redis.h.
 *
 * Structure: a yolk_redis_t is the long-lived connection the user holds. Each
 * attempt to connect gets a link: one hiredis async context and the uv_poll_t
 * that drives it. A link dies once (link_down), whether its attempt failed,
 * the connection was lost or it was closed; the yolk_redis_t then schedules
 * the next attempt. hiredis frees a context itself when it sees the
 * connection fail; we free it (redisAsyncFree) when we give up on it
 * ourselves (timeout, failed handshake, close). Either way hiredis calls our
 * cleanup hook, which closes the poll handle; the link's memory goes in the
 * handle's close callback, since hiredis still calls the disconnect callback
 * (which reads the link) after the cleanup hook.
 *
 * The yolk_redis_t counts its open libuv handles and requests (two timers,
 * the current link's poll handle, a pending uv_getaddrinfo) and is freed
 * when it is closed and that count reaches zero.
 */
#include "redis.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "buf.h"
#include "list.h"
#include "log.h"

#define LOG_C "redis"

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 5000, DEFAULT_CONNECT_TIMEOUT_MS = 2000 };

typedef enum { ST_CONNECTING, ST_READY, ST_DOWN, ST_CLOSED } state_t;

typedef struct link_s {
  yolk_redis_t *r;
  redisAsyncContext *ac; /* NULL once hiredis has let go of it (cleanup hook) */
  uv_poll_t poll;
  int events;            /* UV_READABLE | UV_WRITABLE hiredis asked for */
  int down;              /* link_down ran */
  int subscribing;       /* handshake done, (re)subscriptions sent, confirmations awaited */
  size_t sub_pending;    /* confirmations still awaited */
} link_t;

typedef struct {
  yolk_list_t node; /* in r->queue while waiting for the first connection */
  yolk_redis_t *r;
  yolk_redis_reply_cb cb;
  void *ud;
  char *fmt; /* the formatted command while queued (redisFormatCommandArgv) */
  int fmtlen;
} cmd_t;

typedef struct {
  yolk_list_t node; /* in r->subs */
  int pattern;
  size_t len;
  char name[]; /* len bytes + NUL */
} sub_t;

typedef struct {
  uv_getaddrinfo_t req;
  yolk_redis_t *r;
  int stale; /* its attempt was given up (timeout) or r closed */
} gai_t;

struct yolk_redis_s {
  uv_loop_t *loop;
  char *name, *host, *username, *password, *client_name;
  int port, db, subscriber;
  unsigned connect_timeout_ms;

  state_t state;
  int started;
  link_t *link;           /* the current attempt or connection, NULL between attempts */
  gai_t *gai;             /* the current name resolution, NULL when none */
  uv_timer_t retry_timer; /* the next attempt */
  uv_timer_t connect_timer; /* bounds the current attempt */
  int handles;            /* open handles and requests; freed at 0 once closed */

  unsigned backoff_ms;
  unsigned attempts;      /* failed attempts in the current outage */
  uint64_t down_since;    /* loop time the outage began */
  uint64_t rng;

  yolk_list_t queue; /* cmd_t waiting for the first connection, in order */
  yolk_list_t subs;  /* sub_t: the subscription set */

  yolk_redis_state_cb state_cb;
  void *state_ud;
  yolk_redis_message_cb message_cb;
  void *message_ud;

  char reason[256]; /* why the last attempt failed or the connection was lost */
  char errbuf[320]; /* what yolk__redis_command's *err points at */
};

static void attempt_start(yolk_redis_t *r);
static void on_retry(uv_timer_t *t) { attempt_start(t->data); }
static void lost(yolk_redis_t *r, const char *reason);

/* ---- URLs --------------------------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A %-decoded copy of s[0..n), or NULL when an escape is malformed. */
static char *pct_decode(const char *s, size_t n) {
  char *out = yolk__malloc(n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        free(out);
        return NULL;
      }
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = 0;
  return out;
}

/* A decimal number s[0..n) in [min, max], or -1. */
static long parse_num(const char *s, size_t n, long min, long max) {
  if (n == 0 || n > 9) return -1;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v < min || v > max ? -1 : v;
}

void yolk__redis_url_free(yolk_redis_url_t *u) {
  free(u->host);
  free(u->username);
  free(u->password);
  u->host = u->username = u->password = NULL;
  u->port = 0;
  u->db = -1;
}

int yolk__redis_parse_url(const char *url, yolk_redis_url_t *u, const char **err) {
  memset(u, 0, sizeof(*u));
  u->db = -1;
  static const char scheme[] = "redis://";
  if (!url || strncasecmp(url, scheme, sizeof(scheme) - 1) != 0) {
    *err = strncasecmp(url ? url : "", "rediss://", 9) == 0 ? "rediss:// (TLS) is not supported"
                                                           : "the url must start with redis://";
    return -1;
  }
  const char *p = url + sizeof(scheme) - 1;
  const char *end = p + strlen(p);
  if (memchr(p, '?', (size_t)(end - p)) || memchr(p, '#', (size_t)(end - p))) {
    *err = "query strings and fragments are not supported in a redis:// url";
    return -1;
  }
  const char *slash = memchr(p, '/', (size_t)(end - p));
  /* the credentials end at the last '@' before the path */
  const char *at = NULL;
  for (const char *q = p; q < (slash ? slash : end); q++)
    if (*q == '@') at = q;
  const char *hp = p;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *user_end = colon ? colon : at;
    if (user_end > p) {
      u->username = pct_decode(p, (size_t)(user_end - p));
      if (!u->username) goto bad_escape;
    }
    if (colon) {
      u->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
      if (!u->password) goto bad_escape;
    }
    hp = at + 1;
  }
  const char *hend = slash ? slash : end;
  const char *port_colon = NULL;
  if (hp < hend && *hp == '[') {
    const char *close = memchr(hp, ']', (size_t)(hend - hp));
    if (!close) {
      *err = "unterminated [ in the url's host";
      goto fail;
    }
    if (close > hp + 1) u->host = yolk__strndup(hp + 1, (size_t)(close - hp - 1));
    if (close + 1 < hend) {
      if (close[1] != ':') {
        *err = "unexpected characters after ] in the url's host";
        goto fail;
      }
      port_colon = close + 1;
    }
  } else {
    port_colon = memchr(hp, ':', (size_t)(hend - hp));
    const char *host_end = port_colon ? port_colon : hend;
    if (host_end > hp) u->host = yolk__strndup(hp, (size_t)(host_end - hp));
  }
  if (port_colon) {
    long port = parse_num(port_colon + 1, (size_t)(hend - port_colon - 1), 1, 65535);
    if (port < 0) {
      *err = "the url's port must be a number from 1 to 65535";
      goto fail;
    }
    u->port = (int)port;
  }
  if (slash && slash + 1 < end) {
    long db = parse_num(slash + 1, (size_t)(end - slash - 1), 0, 100000000);
    if (db < 0) {
      *err = "the url's path must be a database number (redis://host:port/db)";
      goto fail;
    }
    u->db = (int)db;
  }
  return 0;
bad_escape:
  *err = "a malformed %-escape in the url's credentials";
fail:
  yolk__redis_url_free(u);
  return -1;
}

/* ---- small helpers ------------------------------------------------------------- */

static int is_ip_literal(const char *host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static char *dup_or_null(const char *s) { return s ? yolk__strndup(s, strlen(s)) : NULL; }

/* xorshift64*: jitter only, no need for more. */
static unsigned next_rand(yolk_redis_t *r) {
  r->rng ^= r->rng >> 12;
  r->rng ^= r->rng << 25;
  r->rng ^= r->rng >> 27;
  return (unsigned)((r->rng * 2685821657736338717ULL) >> 32);
}

static int name_is(const char *s, size_t n, const char *lower) {
  size_t m = strlen(lower);
  if (n != m) return 0;
  for (size_t i = 0; i < n; i++)
    if (tolower((unsigned char)s[i]) != lower[i]) return 0;
  return 1;
}

static void maybe_free(yolk_redis_t *r) {
  if (r->state != ST_CLOSED || r->handles > 0) return;
  while (!yolk__list_empty(&r->subs)) {
    sub_t *s = yolk__list_entry(yolk__list_first(&r->subs), sub_t, node);
    yolk__list_remove(&s->node);
    free(s);
  }
  free(r->name);
  free(r->host);
  free(r->username);
  free(r->password);
  free(r->client_name);
  free(r);
}

static void on_handle_closed(uv_handle_t *h) {
  yolk_redis_t *r = h->data;
  r->handles--;
  maybe_free(r);
}

/* ---- the libuv glue for hiredis -------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events) {
  link_t *l = h->data;
  if (!l->ac) return;
  /* On an error (POLLERR: a refused connect, a reset) libuv reports a status
   * and stops the handle. Let hiredis find the error itself: a read or the
   * connect check then fails and it tears the context down. */
  if (status < 0) events = l->events ? l->events : UV_READABLE;
  if (l->ac && (events & UV_READABLE)) redisAsyncHandleRead(l->ac);
  if (l->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(l->ac);
  if (status < 0 && l->ac && l->events) uv_poll_start(&l->poll, l->events, on_poll);
}

static void ev_update(link_t *l, int add, int ev) {
  if (!l->ac) return; /* the handle is closing */
  if (add) l->events |= ev;
  else l->events &= ~ev;
  if (l->events) uv_poll_start(&l->poll, l->events, on_poll);
  else uv_poll_stop(&l->poll);
}
static void ev_add_read(void *p) { ev_update(p, 1, UV_READABLE); }
static void ev_del_read(void *p) { ev_update(p, 0, UV_READABLE); }
static void ev_add_write(void *p) { ev_update(p, 1, UV_WRITABLE); }
static void ev_del_write(void *p) { ev_update(p, 0, UV_WRITABLE); }

static void on_link_closed(uv_handle_t *h) {
  link_t *l = h->data;
  yolk_redis_t *r = l->r;
  free(l);
  r->handles--;
  maybe_free(r);
}

/* hiredis is freeing the context: stop polling (its fd is closed next). */
static void ev_cleanup(void *p) {
  link_t *l = p;
  l->ac = NULL;
  uv_close((uv_handle_t *)&l->poll, on_link_closed);
}

/* ---- state changes ------------------------------------------------------------- */

static void notify(yolk_redis_t *r, int ready, const char *err) {
  if (r->state_cb) r->state_cb(r, ready, err, r->state_ud);
}

/* Gives up on a link, once. The context itself is freed by whoever called
 * (hiredis, or us right after). */
static void link_down(link_t *l, const char *reason) {
  if (l->down) return;
  l->down = 1;
  yolk_redis_t *r = l->r;
  if (r->link == l) r->link = NULL;
  if (r->state != ST_CLOSED) lost(r, reason);
}

static void fail_queue(yolk_redis_t *r, const char *err) {
  while (!yolk__list_empty(&r->queue)) {
    cmd_t *c = yolk__list_entry(yolk__list_first(&r->queue), cmd_t, node);
    yolk__list_remove(&c->node);
    redisFreeCommand(c->fmt);
    c->cb(r, NULL, err, c->ud);
    free(c);
  }
}

static void schedule_retry(yolk_redis_t *r) {
  unsigned base = r->backoff_ms;
  unsigned delay = base - base / 4 + next_rand(r) % (base / 2 + 1); /* base +- 25% */
  r->backoff_ms = base * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base * 2;
  uv_timer_start(&r->retry_timer, on_retry, delay, 0);
}

/* The current attempt failed or the ready connection was lost. */
static void lost(yolk_redis_t *r, const char *reason) {
  uv_timer_stop(&r->connect_timer);
  snprintf(r->reason, sizeof(r->reason), "%s", reason && *reason ? reason : "connection closed");
  state_t was = r->state;
  if (was == ST_READY || was == ST_CONNECTING) {
    r->state = ST_DOWN;
    r->down_since = uv_now(r->loop);
    r->attempts = was == ST_CONNECTING; /* the first attempt was one */
    if (was == ST_READY)
      yolk__log(YOLK_LOG_WARN, LOG_C, "%s: connection to %s:%d lost (%s); reconnecting in the background", r->name,
                r->host, r->port, r->reason);
    else
      yolk__log(YOLK_LOG_WARN, LOG_C, "%s: cannot connect to %s:%d (%s); retrying in the background", r->name,
                r->host, r->port, r->reason);
    char err[sizeof(r->reason) + 40];
    snprintf(err, sizeof(err), "redis: not connected (%s)", r->reason);
    fail_queue(r, err);
    if (r->state == ST_DOWN) notify(r, 0, r->reason);
  } else {
    r->attempts++;
    yolk__log(YOLK_LOG_DEBUG, LOG_C, "%s: attempt %u to connect to %s:%d failed (%s)", r->name, r->attempts, r->host,
              r->port, r->reason);
  }
  if (r->state == ST_DOWN) schedule_retry(r);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static void become_ready(yolk_redis_t *r) {
  uv_timer_stop(&r->connect_timer);
  state_t was = r->state;
  r->state = ST_READY;
  r->backoff_ms = BACKOFF_MIN_MS;
  if (was == ST_DOWN) {
    double secs = (double)(uv_now(r->loop) - r->down_since) / 1000.0;
    unsigned n = r->attempts + 1;
    yolk__log(YOLK_LOG_INFO, LOG_C, "%s: connection to %s:%d is back after %.1f s (%u attempt%s)", r->name, r->host,
              r->port, secs, n, n == 1 ? "" : "s");
  } else {
    yolk__log(YOLK_LOG_INFO, LOG_C, "%s: connected to %s:%d%s", r->name, r->host, r->port,
              r->subscriber ? " (subscriber)" : "");
  }
  r->attempts = 0;
  /* commands made while the first attempt was under way, in order */
  while (r->link && r->state == ST_READY && !yolk__list_empty(&r->queue)) {
    cmd_t *c = yolk__list_entry(yolk__list_first(&r->queue), cmd_t, node);
    yolk__list_remove(&c->node);
    int rc = redisAsyncFormattedCommand(r->link->ac, on_reply, c, c->fmt, (size_t)c->fmtlen);
    redisFreeCommand(c->fmt);
    c->fmt = NULL;
    if (rc != REDIS_OK) {
      c->cb(r, NULL, "redis: connection lost", c->ud);
      free(c);
    }
  }
  if (r->state == ST_READY) notify(r, 1, NULL);
}

/* ---- subscriptions ------------------------------------------------------------- */

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata);

static int send_sub(link_t *l, const char *verb, const sub_t *s) {
  const char *argv[2] = {verb, s->name};
  size_t lens[2] = {strlen(verb), s->len};
  return redisAsyncCommandArgv(l->ac, on_sub_reply, NULL, 2, argv, lens);
}

static sub_t *find_sub(yolk_redis_t *r, int pattern, const char *name, size_t len) {
  yolk_list_t *n;
  yolk__list_foreach(n, &r->subs) {
    sub_t *s = yolk__list_entry(n, sub_t, node);
    if (s->pattern == pattern && s->len == len && memcmp(s->name, name, len) == 0) return s;
  }
  return NULL;
}

static void on_sub_reply(redisAsyncContext *ac, void *reply_, void *privdata) {
  (void)privdata;
  redisReply *reply = reply_;
  link_t *l = ac->data;
  if (!reply || !l || l->down || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
  yolk_redis_t *r = l->r;
  redisReply **e = reply->element;
  if (e[0]->type != REDIS_REPLY_STRING) return;
  const char *kind = e[0]->str;
  size_t klen = e[0]->len;
  if (name_is(kind, klen, "message")) {
    if (e[1]->type != REDIS_REPLY_STRING || e[2]->type != REDIS_REPLY_STRING) return;
    if (r->message_cb && find_sub(r, 0, e[1]->str, e[1]->len))
      r->message_cb(r, NULL, 0, e[1]->str, e[1]->len, e[2]->str, e[2]->len, r->message_ud);
  } else if (name_is(kind, klen, "pmessage")) {
    if (reply->elements < 4 || e[1]->type != REDIS_REPLY_STRING || e[2]->type != REDIS_REPLY_STRING ||
        e[3]->type != REDIS_REPLY_STRING)
      return;
    if (r->message_cb && find_sub(r, 1, e[1]->str, e[1]->len))
      r->message_cb(r, e[1]->str, e[1]->len, e[2]->str, e[2]->len, e[3]->str, e[3]->len, r->message_ud);
  } else if (name_is(kind, klen, "subscribe") || name_is(kind, klen, "psubscribe")) {
    if (l->subscribing && l->sub_pending > 0 && --l->sub_pending == 0) {
      l->subscribing = 0;
      become_ready(r);
    }
  }
}

/* The handshake is done: a subscriber subscribes to its whole set before it
 * counts as ready. */
static void handshake_done(link_t *l) {
  yolk_redis_t *r = l->r;
  size_t n = 0;
  if (r->subscriber) {
    yolk_list_t *it;
    yolk__list_foreach(it, &r->subs) {
      sub_t *s = yolk__list_entry(it, sub_t, node);
      if (send_sub(l, s->pattern ? "PSUBSCRIBE" : "SUBSCRIBE", s) == REDIS_OK) n++;
    }
  }
  if (n > 0) {
    l->subscribing = 1;
    l->sub_pending = n;
  } else {
    become_ready(r);
  }
}

/* ---- the handshake --------------------------------------------------------------- */

/* privdata: which command this is. */
static const char HS_AUTH[] = "AUTH", HS_SELECT[] = "SELECT", HS_SETNAME[] = "CLIENT SETNAME", HS_PING[] = "PING";

static void on_handshake(redisAsyncContext *ac, void *reply_, void *privdata) {
  redisReply *reply = reply_;
  link_t *l = ac->data;
  const char *what = privdata;
  /* no reply: the context is going away, and whoever freed it has said why */
  if (!reply || !l || l->down) return;
  if (reply->type == REDIS_REPLY_ERROR && what != HS_SETNAME) {
    char reason[200];
    snprintf(reason, sizeof(reason), "%s failed: %.*s", what, (int)(reply->len > 150 ? 150 : reply->len), reply->str);
    link_down(l, reason);
    redisAsyncFree(ac); /* inside a reply callback: hiredis frees it when we return */
    return;
  }
  if (what == HS_PING) handshake_done(l);
}

static void on_connect(const redisAsyncContext *cac, int status) {
  redisAsyncContext *ac = (redisAsyncContext *)cac;
  link_t *l = ac->data;
  if (!l || l->down) return;
  if (status != REDIS_OK) {
    link_down(l, ac->errstr); /* hiredis frees the context after this */
    return;
  }
  /* Never call back into the user from here (hiredis goes on using the
   * context after this returns): the handshake's replies do that. */
  yolk_redis_t *r = l->r;
  if (r->password) {
    /* AUTH password, or AUTH username password (Redis 6 ACL) */
    const char *argv[3] = {"AUTH", r->password, NULL};
    if (r->username) {
      argv[1] = r->username;
      argv[2] = r->password;
    }
    size_t lens[3] = {4, strlen(argv[1]), argv[2] ? strlen(argv[2]) : 0};
    redisAsyncCommandArgv(ac, on_handshake, (void *)HS_AUTH, r->username ? 3 : 2, argv, lens);
  }
  if (r->db) {
    char db[16];
    snprintf(db, sizeof(db), "%d", r->db);
    const char *argv[2] = {"SELECT", db};
    size_t lens[2] = {6, strlen(db)};
    redisAsyncCommandArgv(ac, on_handshake, (void *)HS_SELECT, 2, argv, lens);
  }
  if (r->client_name) {
    const char *argv[3] = {"CLIENT", "SETNAME", r->client_name};
    size_t lens[3] = {6, 7, strlen(r->client_name)};
    redisAsyncCommandArgv(ac, on_handshake, (void *)HS_SETNAME, 3, argv, lens);
  }
  const char *argv[1] = {"PING"};
  size_t lens[1] = {4};
  redisAsyncCommandArgv(ac, on_handshake, (void *)HS_PING, 1, argv, lens);
}

static void on_disconnect(const redisAsyncContext *cac, int status) {
  (void)status;
  link_t *l = cac->data;
  if (l) link_down(l, cac->err ? cac->errstr : "connection closed");
}

/* ---- attempts --------------------------------------------------------------- */

static void connect_to(yolk_redis_t *r, const char *ip) {
  redisAsyncContext *ac = redisAsyncConnect(ip, r->port);
  if (!ac) {
    lost(r, "out of memory");
    return;
  }
  if (ac->err) {
    char reason[sizeof(r->reason)];
    snprintf(reason, sizeof(reason), "%s", ac->errstr);
    redisAsyncFree(ac);
    lost(r, reason);
    return;
  }
  link_t *l = yolk__calloc(1, sizeof(*l));
  l->r = r;
  int rc = uv_poll_init(r->loop, &l->poll, ac->c.fd);
  if (rc < 0) {
    free(l);
    redisAsyncFree(ac);
    char reason[100];
    snprintf(reason, sizeof(reason), "cannot poll the socket: %s", uv_strerror(rc));
    lost(r, reason);
    return;
  }
  r->handles++;
  l->poll.data = l;
  l->ac = ac;
  ac->data = l;
  ac->ev.data = l;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  r->link = l;
  redisEnableKeepAlive(&ac->c);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  redisAsyncSetConnectCallback(ac, on_connect); /* starts waiting for writability */
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  gai_t *g = (gai_t *)req;
  yolk_redis_t *r = g->r;
  r->handles--;
  if (r->gai == g) r->gai = NULL;
  if (g->stale || r->state == ST_CLOSED) {
    if (res) uv_freeaddrinfo(res);
    free(g);
    maybe_free(r);
    return;
  }
  free(g);
  if (status < 0 || !res) {
    char reason[200];
    snprintf(reason, sizeof(reason), "cannot resolve %s: %s", r->host, uv_strerror(status));
    if (res) uv_freeaddrinfo(res);
    lost(r, reason);
    return;
  }
  /* IPv4 first when the name has both (Redis binds 127.0.0.1 by default) */
  struct addrinfo *pick = res;
  for (struct addrinfo *a = res; a; a = a->ai_next)
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  char ip[INET6_ADDRSTRLEN] = "";
  if (pick->ai_family == AF_INET)
    uv_ip4_name((struct sockaddr_in *)pick->ai_addr, ip, sizeof(ip));
  else
    uv_ip6_name((struct sockaddr_in6 *)pick->ai_addr, ip, sizeof(ip));
  uv_freeaddrinfo(res);
  connect_to(r, ip);
}

static void on_connect_timeout(uv_timer_t *t) {
  yolk_redis_t *r = t->data;
  char reason[64];
  snprintf(reason, sizeof(reason), "no answer within %u ms", r->connect_timeout_ms);
  if (r->gai) {
    r->gai->stale = 1;
    uv_cancel((uv_req_t *)&r->gai->req);
    r->gai = NULL;
  }
  link_t *l = r->link;
  if (!l) {
    lost(r, reason);
    return;
  }
  redisAsyncContext *ac = l->ac;
  link_down(l, reason);
  if (ac) redisAsyncFree(ac); /* not inside a hiredis callback: freed now */
}

static void attempt_start(yolk_redis_t *r) {
  if (r->state == ST_CLOSED || r->link || r->gai) return;
  uv_timer_start(&r->connect_timer, on_connect_timeout, r->connect_timeout_ms, 0);
  const char *host = r->host;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (is_ip_literal(host)) {
    connect_to(r, host);
    return;
  }
  gai_t *g = yolk__calloc(1, sizeof(*g));
  g->r = r;
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(r->loop, &g->req, on_resolved, host, NULL, &hints);
  if (rc < 0) {
    free(g);
    char reason[200];
    snprintf(reason, sizeof(reason), "cannot resolve %s: %s", host, uv_strerror(rc));
    lost(r, reason);
    return;
  }
  r->gai = g;
  r->handles++;
}

/* ---- the API ------------------------------------------------------------------ */

yolk_redis_t *yolk__redis_new(uv_loop_t *loop, const yolk_redis_opts_t *opts, const char **err) {
  yolk_redis_url_t u = {NULL, 0, NULL, NULL, -1};
  if (opts->url && yolk__redis_parse_url(opts->url, &u, err) < 0) return NULL;
  int port = u.port ? u.port : opts->port ? opts->port : 6379;
  int db = u.db >= 0 ? u.db : opts->db;
  if (port < 1 || port > 65535) {
    *err = "the port must be a number from 1 to 65535";
    yolk__redis_url_free(&u);
    return NULL;
  }
  if (db < 0) {
    *err = "the db must be a number >= 0";
    yolk__redis_url_free(&u);
    return NULL;
  }
  yolk_redis_t *r = yolk__calloc(1, sizeof(*r));
  r->loop = loop;
  r->name = dup_or_null(opts->name ? opts->name : "redis");
  r->host = u.host ? u.host : dup_or_null(opts->host && *opts->host ? opts->host : "127.0.0.1");
  r->username = u.username ? u.username : dup_or_null(opts->username);
  r->password = u.password ? u.password : dup_or_null(opts->password);
  r->client_name = dup_or_null(opts->client_name);
  r->port = port;
  r->db = db;
  r->subscriber = opts->subscriber != 0;
  r->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
  r->state = ST_CONNECTING;
  r->backoff_ms = BACKOFF_MIN_MS;
  r->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)r;
  if (!r->rng) r->rng = 88172645463325252ULL;
  yolk__list_init(&r->queue);
  yolk__list_init(&r->subs);
  uv_timer_init(loop, &r->retry_timer);
  uv_timer_init(loop, &r->connect_timer);
  r->retry_timer.data = r->connect_timer.data = r;
  r->handles = 2;
  return r;
}

void yolk__redis_on_state(yolk_redis_t *r, yolk_redis_state_cb cb, void *ud) {
  r->state_cb = cb;
  r->state_ud = ud;
}

void yolk__redis_on_message(yolk_redis_t *r, yolk_redis_message_cb cb, void *ud) {
  r->message_cb = cb;
  r->message_ud = ud;
}

void yolk__redis_start(yolk_redis_t *r) {
  if (r->started || r->state == ST_CLOSED) return;
  r->started = 1;
  uv_timer_start(&r->retry_timer, on_retry, 0, 0);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  cmd_t *c = privdata;
  yolk_redis_t *r = c->r;
  if (reply) {
    c->cb(r, reply, NULL, c->ud);
  } else if (r->state == ST_CLOSED) {
    c->cb(r, NULL, "redis: connection closed", c->ud);
  } else {
    /* The connection is going away and hiredis fails what was in flight
     * before it says so: update the state first, so that the callback sees
     * "down" (and a command it sends fails at once). */
    link_t *l = ac->data;
    if (l && !l->down) link_down(l, ac->err ? ac->errstr : "connection closed");
    char err[sizeof(r->reason) + 40];
    snprintf(err, sizeof(err), "redis: connection lost (%s)", r->reason);
    c->cb(r, NULL, err, c->ud);
  }
  free(c);
}

static int cmd_error(yolk_redis_t *r, const char **err, const char *fmt, const char *arg) {
  snprintf(r->errbuf, sizeof(r->errbuf), fmt, arg);
  *err = r->errbuf;
  return -1;
}

int yolk__redis_command(yolk_redis_t *r, int argc, const char *const *argv, const size_t *argvlen,
                        yolk_redis_reply_cb cb, void *ud, const char **err) {
  if (r->state == ST_CLOSED) return cmd_error(r, err, "redis: %s", "connection closed");
  if (argc < 1 || argvlen[0] == 0) return cmd_error(r, err, "redis: %s", "empty command");
  if (r->subscriber) return cmd_error(r, err, "redis: %s", "a subscriber connection takes no commands");
  const char *name = argv[0];
  size_t nlen = argvlen[0];
  if (name_is(name, nlen, "subscribe") || name_is(name, nlen, "psubscribe") || name_is(name, nlen, "ssubscribe") ||
      name_is(name, nlen, "unsubscribe") || name_is(name, nlen, "punsubscribe") || name_is(name, nlen, "monitor")) {
    char up[16];
    for (size_t i = 0; i < nlen && i < sizeof(up) - 1; i++) up[i] = (char)toupper((unsigned char)name[i]);
    up[nlen < sizeof(up) - 1 ? nlen : sizeof(up) - 1] = 0;
    return cmd_error(r, err, "redis: %s needs a subscriber connection", up);
  }
  if (r->state == ST_DOWN) return cmd_error(r, err, "redis: not connected (%s)", r->reason);
  cmd_t *c = yolk__calloc(1, sizeof(*c));
  c->r = r;
  c->cb = cb;
  c->ud = ud;
  yolk__list_node_init(&c->node);
  if (r->state == ST_CONNECTING) {
    c->fmtlen = redisFormatCommandArgv(&c->fmt, argc, (const char **)argv, argvlen);
    if (c->fmtlen < 0) {
      free(c);
      return cmd_error(r, err, "redis: %s", "cannot format the command");
    }
    yolk__list_push_back(&r->queue, &c->node);
    return 0;
  }
  /* ST_READY */
  if (!r->link || !r->link->ac ||
      redisAsyncCommandArgv(r->link->ac, on_reply, c, argc, (const char **)argv, argvlen) != REDIS_OK) {
    free(c);
    return cmd_error(r, err, "redis: not connected (%s)", r->reason[0] ? r->reason : "connection closing");
  }
  return 0;
}

int yolk__redis_subscribe(yolk_redis_t *r, int pattern, const char *name, size_t len) {
  if (!r->subscriber || r->state == ST_CLOSED || find_sub(r, pattern != 0, name, len)) return -1;
  sub_t *s = yolk__malloc(sizeof(*s) + len + 1);
  s->pattern = pattern != 0;
  s->len = len;
  memcpy(s->name, name, len);
  s->name[len] = 0;
  yolk__list_push_back(&r->subs, &s->node);
  link_t *l = r->link;
  if (l && l->ac && (r->state == ST_READY || l->subscribing)) {
    if (send_sub(l, s->pattern ? "PSUBSCRIBE" : "SUBSCRIBE", s) == REDIS_OK && l->subscribing) l->sub_pending++;
  }
  return 0;
}

int yolk__redis_unsubscribe(yolk_redis_t *r, int pattern, const char *name, size_t len) {
  if (!r->subscriber || r->state == ST_CLOSED) return -1;
  sub_t *s = find_sub(r, pattern != 0, name, len);
  if (!s) return -1;
  yolk__list_remove(&s->node);
  link_t *l = r->link;
  /* hiredis refuses (P)UNSUBSCRIBE before its first SUBSCRIBE went out:
   * then there is nothing to undo on this connection anyway */
  if (l && l->ac && (r->state == ST_READY || l->subscribing))
    send_sub(l, s->pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE", s);
  free(s);
  return 0;
}

const char *yolk__redis_status(const yolk_redis_t *r) {
  switch (r->state) {
  case ST_CONNECTING: return "connecting";
  case ST_READY: return "ready";
  case ST_DOWN: return "down";
  default: return "closed";
  }
}

int yolk__redis_ready(const yolk_redis_t *r) { return r->state == ST_READY; }

const char *yolk__redis_name(const yolk_redis_t *r) { return r->name; }

void yolk__redis_close(yolk_redis_t *r) {
  if (r->state == ST_CLOSED) return;
  r->state = ST_CLOSED;
  r->state_cb = NULL;
  r->message_cb = NULL;
  fail_queue(r, "redis: connection closed");
  if (r->gai) {
    r->gai->stale = 1;
    uv_cancel((uv_req_t *)&r->gai->req);
    r->gai = NULL;
  }
  uv_close((uv_handle_t *)&r->retry_timer, on_handle_closed);
  uv_close((uv_handle_t *)&r->connect_timer, on_handle_closed);
  link_t *l = r->link;
  if (l) {
    r->link = NULL;
    l->down = 1;
    /* pending replies get "connection closed" (now, or when the hiredis
     * callback we may be inside returns) */
    if (l->ac) redisAsyncFree(l->ac);
  }
  maybe_free(r);
}
