/* redis.h - one connection to Redis on the loop (internal): the only way the
 * core talks to Redis. app.redis (lua/lua_redis.c) uses a command connection;
 * the Socket.IO Redis adapter uses one command connection (PUBLISH, PUBSUB
 * NUMSUB) and one subscriber connection.
 *
 * hiredis (async API, RESP2) does the protocol; the connection is driven by
 * our own small libuv glue rather than hiredis's adapters/libuv.h: the
 * Debian 12 version of that header (hiredis 0.14) ignores poll errors, so a
 * connection refused after connect(2) returned EINPROGRESS (or a reset seen
 * as POLLERR) was never reported and the connection hung; it also has no
 * connect timeout. Nothing blocks the loop: hosts that are not IP literals
 * (or "localhost", taken as 127.0.0.1) are resolved with uv_getaddrinfo.
 *
 * States: "connecting" until the first attempt succeeds or fails, then
 * "ready" or "down"; "closed" after yolk__redis_close. A connection is ready
 * once the server has answered its handshake: AUTH (when a password is set),
 * SELECT (db != 0), CLIENT SETNAME (client_name; its failure is ignored),
 * PING, and, for a subscriber, every (P)SUBSCRIBE of its subscription set.
 * The handshake is redone on every connection.
 *
 * Reconnection: when an attempt fails or a ready connection is lost, the next
 * attempt starts after a delay that doubles from 100 ms up to 5 s (each with
 * +-25% jitter), and goes back to 100 ms once ready. The log says once that
 * the connection is lost or cannot be made (WARN) and once that it is back
 * (INFO); the attempts in between are logged at DEBUG only. Log lines never
 * show the password.
 *
 * Commands do not wait for a connection that is down: while "down" or
 * "closed", yolk__redis_command fails at once. While "connecting" (the first
 * attempt only) commands are queued and sent once ready, or fail when that
 * attempt fails (at most connect_timeout_ms later). Commands in flight when
 * the connection is lost get an error.
 *
 * Callbacks are never called from inside the call that registered them;
 * they run from the loop, except that yolk__redis_close calls every pending
 * reply callback (with an error) before it returns. Any callback may call
 * any function here on the same connection, yolk__redis_close included (the
 * reply callbacks still pending then get their error right after the
 * current callback returns).
 */
#ifndef YOLK_REDIS_H
#define YOLK_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h> /* redisReply, REDIS_REPLY_* */
#include <uv.h>

typedef struct yolk_redis_s yolk_redis_t;

typedef struct {
  /* redis://[[user]:password@]host[:port][/db]; the fields it contains win
   * over the ones below (user and password %-decoded). NULL: none. */
  const char *url;
  const char *host;             /* an IP literal or a name; NULL: 127.0.0.1 */
  int port;                     /* 0: 6379 */
  const char *username;         /* ACL user (AUTH username password); NULL: none */
  const char *password;         /* NULL: no AUTH */
  int db;                       /* SELECT db when not 0 */
  unsigned connect_timeout_ms;  /* one attempt: resolve, connect, handshake; 0: 2000 */
  const char *name;             /* in log lines, e.g. "app.redis"; NULL: "redis" */
  const char *client_name;      /* CLIENT SETNAME on each connection; NULL: none */
  int subscriber;               /* 1: subscriptions only, no commands */
} yolk_redis_opts_t;

/* The reply of one command, or err. err is non-NULL when the command got no
 * reply (not connected, connection lost, closed); reply is then NULL. An
 * error reply from Redis is a reply (type REDIS_REPLY_ERROR), not err. Both
 * are valid only during the call. */
typedef void (*yolk_redis_reply_cb)(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud);
/* A message on a subscriber connection: pattern is NULL for SUBSCRIBE
 * channels (pmessage otherwise). Binary-safe; valid only during the call. */
typedef void (*yolk_redis_message_cb)(yolk_redis_t *r, const char *pattern, size_t pattern_len, const char *channel,
                                      size_t channel_len, const char *data, size_t len, void *ud);
/* ready = 1 each time a connection becomes ready (for a subscriber: its
 * subscriptions are active again); ready = 0 once per outage, when a ready
 * connection is lost or the first attempt fails, with the reason. */
typedef void (*yolk_redis_state_cb)(yolk_redis_t *r, int ready, const char *err, void *ud);

/* ---- URLs ------------------------------------------------------------------ */

typedef struct {
  char *host;     /* NULL: not given */
  int port;       /* 0: not given */
  char *username; /* NULL: not given */
  char *password; /* NULL: not given */
  int db;         /* -1: not given */
} yolk_redis_url_t;

/* Parses redis://[[user]:password@]host[:port][/db] ([v6 literal] hosts).
 * Returns 0, or -1 with *err set to a static message (u is then empty). The
 * caller frees u's strings with yolk__redis_url_free. */
int yolk__redis_parse_url(const char *url, yolk_redis_url_t *u, const char **err);
void yolk__redis_url_free(yolk_redis_url_t *u);

/* ---- connections --------------------------------------------------------- */

/* A new connection (options copied), not started. NULL with *err set to a
 * static message when the options are invalid (a bad URL, port or db). */
yolk_redis_t *yolk__redis_new(uv_loop_t *loop, const yolk_redis_opts_t *opts, const char **err);
/* Set before start (or at any time): the callbacks and their ud. */
void yolk__redis_on_state(yolk_redis_t *r, yolk_redis_state_cb cb, void *ud);
void yolk__redis_on_message(yolk_redis_t *r, yolk_redis_message_cb cb, void *ud);
/* Starts connecting (from the loop, not inside this call). */
void yolk__redis_start(yolk_redis_t *r);

/* Sends a command (argv[i] of argvlen[i] bytes, binary-safe; copied before
 * returning). Returns 0: cb will be called exactly once. Returns -1 with *err
 * set when the command cannot be sent (not connected, closed, a subscriber
 * connection, or a command that needs one: (P)SUBSCRIBE, MONITOR); cb is
 * then never called. *err stays valid until the next call on r. */
int yolk__redis_command(yolk_redis_t *r, int argc, const char *const *argv, const size_t *argvlen,
                        yolk_redis_reply_cb cb, void *ud, const char **err);

/* Subscriber connections: the subscription set, kept across reconnections
 * (each connection subscribes to all of it before it counts as ready). Adding
 * sends (P)SUBSCRIBE at once when connected; removing sends (P)UNSUBSCRIBE,
 * and no message of it is delivered afterwards. pattern: 1 for PSUBSCRIBE.
 * Returns 0, or -1 (not a subscriber connection, closed, already in the set /
 * not in it). */
int yolk__redis_subscribe(yolk_redis_t *r, int pattern, const char *name, size_t len);
int yolk__redis_unsubscribe(yolk_redis_t *r, int pattern, const char *name, size_t len);

/* "connecting", "ready", "down" or "closed". */
const char *yolk__redis_status(const yolk_redis_t *r);
int yolk__redis_ready(const yolk_redis_t *r);
const char *yolk__redis_name(const yolk_redis_t *r);

/* Closes the connection: queued and in-flight commands get the error
 * "redis: connection closed", no state or message callback runs any more,
 * and the memory goes once libuv has closed every handle (the loop must run).
 * r must not be used after this call, except from the reply callbacks it
 * runs, where every call on r fails (-1). */
void yolk__redis_close(yolk_redis_t *r);

#endif
