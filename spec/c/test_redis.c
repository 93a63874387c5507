/* test_redis.c - the Redis connection layer (core/redis.h) against a real
 * redis-server that this test starts itself on a free loopback port (and
 * that dies with it, even on a crash: PR_SET_PDEATHSIG). Covers URLs,
 * commands and their replies (binary values, nil, integers, arrays, errors),
 * the queue of the first connection, AUTH / ACL users / SELECT, fail-fast
 * while down, in-flight commands when the server goes away, reconnection
 * with backoff after a restart (resubscription included, the outage logged
 * once), the connect timeout, and closing with commands pending (also from
 * inside a reply callback). Skipped (exit 0) when redis-server is missing. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "redis.h"
#include "test.h"

static uv_loop_t loop;
static int redis_port;
static pid_t redis_pid = -1;
static char redis_url[64];

/* ---- redis-server ------------------------------------------------------------ */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

/* A blocking PING (outside the loop: only the test waits). */
static int redis_answers(int port) {
  redisContext *c = redisConnect("127.0.0.1", port);
  int ok = 0;
  if (c && !c->err) {
    redisReply *rep = redisCommand(c, "PING");
    ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep) freeReplyObject(rep);
  }
  if (c) redisFree(c);
  return ok;
}

static int redis_start(void) {
  char port[16];
  snprintf(port, sizeof(port), "%d", redis_port);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, whatever happens to it */
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly",
           "no", "--protected-mode", "no", "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  redis_pid = pid;
  for (int i = 0; i < 200; i++) {
    if (redis_answers(redis_port)) return 0;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      redis_pid = -1;
      return -1;
    }
    usleep(25000);
  }
  return -1;
}

static void redis_stop(void) {
  if (redis_pid <= 0) return;
  kill(redis_pid, SIGKILL);
  waitpid(redis_pid, NULL, 0);
  redis_pid = -1;
}

static void on_exit_kill(void) { redis_stop(); }

/* ---- running the loop ------------------------------------------------------ */

static void on_tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until *flag is set or ms have passed; returns *flag. */
static int wait_for(const int *flag, unsigned ms) {
  uv_timer_t tick;
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  uv_update_time(&loop);
  uint64_t deadline = uv_now(&loop) + ms;
  while (!*flag && uv_now(&loop) < deadline) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  return *flag;
}

static void run_for(unsigned ms) {
  int never = 0;
  wait_for(&never, ms);
}

/* ---- replies ------------------------------------------------------------------ */

typedef struct {
  int done;
  int type; /* REDIS_REPLY_*, 0 with err */
  long long integer;
  char str[256];
  size_t len;
  size_t elements;
  char elem[4][64];
  int elem_type[4];
  long long elem_int[4];
  char err[300];
  yolk_redis_t *close_me; /* closes this connection from inside the callback */
  int after_close_rc;     /* then tries another command on it */
} res_t;

static void capture(yolk_redis_t *r, const redisReply *reply, const char *err, void *ud) {
  (void)r;
  res_t *res = ud;
  res->done++;
  if (err) {
    snprintf(res->err, sizeof(res->err), "%s", err);
  } else {
    res->type = reply->type;
    res->integer = reply->integer;
    if (reply->str) {
      res->len = reply->len < sizeof(res->str) ? reply->len : sizeof(res->str);
      memcpy(res->str, reply->str, res->len);
    }
    res->elements = reply->elements;
    for (size_t i = 0; i < reply->elements && i < 4; i++) {
      res->elem_type[i] = reply->element[i]->type;
      res->elem_int[i] = reply->element[i]->integer;
      if (reply->element[i]->str) snprintf(res->elem[i], sizeof(res->elem[i]), "%s", reply->element[i]->str);
    }
  }
  if (res->close_me) {
    yolk__redis_close(res->close_me);
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4};
    const char *e = NULL;
    res->after_close_rc = yolk__redis_command(res->close_me, 1, argv, lens, capture, NULL, &e);
  }
}

/* Sends a command of NUL-terminated words (NULL-terminated list); returns
 * what yolk__redis_command returned, with its error in res->err. */
static int send_cmd(yolk_redis_t *r, res_t *res, ...) {
  const char *argv[16];
  size_t lens[16];
  int argc = 0;
  va_list ap;
  va_start(ap, res);
  for (const char *a; argc < 16 && (a = va_arg(ap, const char *)) != NULL; argc++) {
    argv[argc] = a;
    lens[argc] = strlen(a);
  }
  va_end(ap);
  memset(res, 0, sizeof(*res));
  const char *err = NULL;
  int rc = yolk__redis_command(r, argc, argv, lens, capture, res, &err);
  if (rc < 0) snprintf(res->err, sizeof(res->err), "%s", err ? err : "(no message)");
  return rc;
}

#define CMD(r, res, ...) send_cmd(r, res, __VA_ARGS__, (const char *)NULL)
/* Sends and waits for the reply. */
#define CALL(r, res, ...) (CMD(r, res, __VA_ARGS__) == 0 && wait_for(&(res)->done, 3000))

/* ---- state and messages ------------------------------------------------------------- */

typedef struct {
  int ready, down;
  char err[300];
} state_t;

static void on_state(yolk_redis_t *r, int ready, const char *err, void *ud) {
  (void)r;
  state_t *s = ud;
  if (ready) s->ready++;
  else {
    s->down++;
    snprintf(s->err, sizeof(s->err), "%s", err ? err : "");
  }
}

typedef struct {
  int n;
  char pattern[64], channel[64];
  char data[64];
  size_t len;
  int had_pattern;
} msg_t;

static void on_message(yolk_redis_t *r, const char *pattern, size_t plen, const char *channel, size_t clen,
                       const char *data, size_t len, void *ud) {
  (void)r;
  msg_t *m = ud;
  m->n++;
  m->had_pattern = pattern != NULL;
  snprintf(m->pattern, sizeof(m->pattern), "%.*s", (int)plen, pattern ? pattern : "");
  snprintf(m->channel, sizeof(m->channel), "%.*s", (int)clen, channel);
  m->len = len < sizeof(m->data) ? len : sizeof(m->data);
  memcpy(m->data, data, m->len);
}

/* ---- log lines ----------------------------------------------------------------------- */

static int log_lost, log_back, log_cannot, log_has_password;

static void log_sink(int level, const char *line, size_t len, void *ud) {
  (void)ud;
  (void)len;
  if (!strstr(line, "[redis]")) return;
  if (strstr(line, "s3cret")) log_has_password++;
  if (!strstr(line, "cmd:")) return;
  if (level == YOLK_LOG_WARN && strstr(line, "lost")) log_lost++;
  if (level == YOLK_LOG_WARN && strstr(line, "cannot connect")) log_cannot++;
  if (level == YOLK_LOG_INFO && strstr(line, "is back")) log_back++;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_urls(void) {
  yolk_redis_url_t u;
  const char *err = NULL;
  CHECK(yolk__redis_parse_url("redis://127.0.0.1:6380/4", &u, &err) == 0);
  CHECK_STR(u.host, "127.0.0.1");
  CHECK_EQ_INT(u.port, 6380);
  CHECK_EQ_INT(u.db, 4);
  CHECK(u.username == NULL && u.password == NULL);
  yolk__redis_url_free(&u);

  CHECK(yolk__redis_parse_url("redis://:p%40ss%3Aw@redis.example:7000", &u, &err) == 0);
  CHECK_STR(u.password, "p@ss:w");
  CHECK(u.username == NULL);
  CHECK_STR(u.host, "redis.example");
  CHECK_EQ_INT(u.port, 7000);
  CHECK_EQ_INT(u.db, -1);
  yolk__redis_url_free(&u);

  CHECK(yolk__redis_parse_url("REDIS://alice:pw@[::1]:6379/0", &u, &err) == 0);
  CHECK_STR(u.username, "alice");
  CHECK_STR(u.password, "pw");
  CHECK_STR(u.host, "::1");
  CHECK_EQ_INT(u.db, 0);
  yolk__redis_url_free(&u);

  CHECK(yolk__redis_parse_url("redis://", &u, &err) == 0);
  CHECK(u.host == NULL && u.port == 0 && u.db == -1);
  yolk__redis_url_free(&u);

  const char *bad[] = {"http://x", "rediss://x", "redis://h:0", "redis://h:99999", "redis://h:12x", "redis://h/x",
                       "redis://h/1?x=1", "redis://:%zz@h", "redis://[::1", "redis://[::1]x", NULL};
  for (int i = 0; bad[i]; i++) {
    err = NULL;
    CHECK(yolk__redis_parse_url(bad[i], &u, &err) == -1);
    CHECK(err != NULL);
    CHECK(u.host == NULL && u.password == NULL);
  }
  yolk_redis_opts_t o = {.url = "redis://h:nope"};
  err = NULL;
  CHECK(yolk__redis_new(&loop, &o, &err) == NULL && err != NULL);
  yolk_redis_opts_t o2 = {.port = 70000};
  CHECK(yolk__redis_new(&loop, &o2, &err) == NULL);
  yolk_redis_opts_t o3 = {.db = -2};
  CHECK(yolk__redis_new(&loop, &o3, &err) == NULL);
}

static yolk_redis_t *open_conn(const char *url, const char *name, int subscriber, state_t *st) {
  yolk_redis_opts_t o = {.url = url, .name = name, .subscriber = subscriber, .connect_timeout_ms = 1000};
  const char *err = NULL;
  yolk_redis_t *r = yolk__redis_new(&loop, &o, &err);
  CHECK(r != NULL);
  if (st) yolk__redis_on_state(r, on_state, st);
  return r;
}

static void test_commands(yolk_redis_t *r) {
  res_t res;
  CHECK(CALL(r, &res, "SET", "k", "v1"));
  CHECK(res.type == REDIS_REPLY_STATUS && res.len == 2 && memcmp(res.str, "OK", 2) == 0);
  CHECK(CALL(r, &res, "GET", "k"));
  CHECK(res.type == REDIS_REPLY_STRING && res.len == 2 && memcmp(res.str, "v1", 2) == 0);
  CHECK(CALL(r, &res, "GET", "missing"));
  CHECK_EQ_INT(res.type, REDIS_REPLY_NIL);
  CHECK(CALL(r, &res, "INCR", "n"));
  CHECK(res.type == REDIS_REPLY_INTEGER && res.integer == 1);
  CHECK(CALL(r, &res, "INCRBY", "n", "41"));
  CHECK_EQ_INT(res.integer, 42);
  CHECK(CALL(r, &res, "RPUSH", "l", "a", "b", "c"));
  CHECK_EQ_INT(res.integer, 3);
  CHECK(CALL(r, &res, "LRANGE", "l", "0", "-1"));
  CHECK(res.type == REDIS_REPLY_ARRAY && res.elements == 3);
  CHECK_STR(res.elem[0], "a");
  CHECK_STR(res.elem[2], "c");
  CHECK(CALL(r, &res, "MGET", "k", "missing"));
  CHECK(res.elements == 2 && res.elem_type[0] == REDIS_REPLY_STRING && res.elem_type[1] == REDIS_REPLY_NIL);
  CHECK(CALL(r, &res, "HSET", "h", "f", "x"));
  CHECK(CALL(r, &res, "HGET", "h", "f"));
  CHECK(res.len == 1 && res.str[0] == 'x');
  /* a Redis error is a reply, not err */
  CHECK(CALL(r, &res, "INCR", "l"));
  CHECK_EQ_INT(res.type, REDIS_REPLY_ERROR);
  CHECK(strncmp(res.str, "WRONGTYPE", 9) == 0);
  CHECK(res.err[0] == 0);
  CHECK(CALL(r, &res, "NOSUCHCOMMAND"));
  CHECK_EQ_INT(res.type, REDIS_REPLY_ERROR);

  /* binary-safe arguments and replies */
  const char bin[] = {'a', 0, '\r', '\n', (char)0xff, 'z'};
  const char *argv[3] = {"SET", "bin\0key", bin};
  size_t lens[3] = {3, 7, sizeof(bin)};
  const char *err = NULL;
  memset(&res, 0, sizeof(res));
  CHECK(yolk__redis_command(r, 3, argv, lens, capture, &res, &err) == 0);
  CHECK(wait_for(&res.done, 3000));
  const char *gargv[2] = {"GET", "bin\0key"};
  size_t glens[2] = {3, 7};
  memset(&res, 0, sizeof(res));
  CHECK(yolk__redis_command(r, 2, gargv, glens, capture, &res, &err) == 0);
  CHECK(wait_for(&res.done, 3000));
  CHECK(res.type == REDIS_REPLY_STRING && res.len == sizeof(bin) && memcmp(res.str, bin, sizeof(bin)) == 0);

  /* misuse fails at once, without calling back */
  CHECK(CMD(r, &res, "SUBSCRIBE", "x") == -1);
  CHECK(strstr(res.err, "SUBSCRIBE needs a subscriber connection") != NULL);
  CHECK(CMD(r, &res, "psubscribe", "x*") == -1);
  CHECK(CMD(r, &res, "MONITOR") == -1);
  CHECK(yolk__redis_command(r, 0, argv, lens, capture, &res, &err) == -1);
  CHECK(yolk__redis_subscribe(r, 0, "x", 1) == -1); /* not a subscriber */
  run_for(20);
  CHECK_EQ_INT(res.done, 0);
}

/* Commands made before the first connection is up wait for it, in order. */
static void test_first_queue(void) {
  state_t st = {0};
  yolk_redis_t *r = open_conn(redis_url, "queue", 0, &st);
  CHECK_STR(yolk__redis_status(r), "connecting");
  res_t a, b;
  CHECK(CMD(r, &a, "SET", "q", "1") == 0); /* not started yet: queued too */
  yolk__redis_start(r);
  CHECK(CMD(r, &b, "INCR", "q") == 0);
  CHECK(wait_for(&b.done, 3000));
  CHECK(a.done == 1 && a.type == REDIS_REPLY_STATUS);
  CHECK(b.type == REDIS_REPLY_INTEGER && b.integer == 2);
  CHECK_EQ_INT(st.ready, 1);
  CHECK(yolk__redis_ready(r));
  yolk__redis_close(r);
  run_for(10);

  /* against a port nobody listens on: the queue fails with the first attempt */
  char url[64];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", free_port());
  state_t st2 = {0};
  r = open_conn(url, "nowhere", 0, &st2);
  yolk__redis_start(r);
  CHECK(CMD(r, &a, "GET", "x") == 0);
  CHECK(wait_for(&a.done, 2000));
  CHECK(strstr(a.err, "redis: not connected (") != NULL);
  CHECK(strstr(a.err, "refused") != NULL);
  CHECK_EQ_INT(st2.down, 1);
  CHECK_STR(yolk__redis_status(r), "down");
  /* from now on, at once */
  CHECK(CMD(r, &b, "GET", "x") == -1);
  CHECK(strstr(b.err, "not connected") != NULL);
  run_for(400); /* a few more attempts: still one "down" */
  CHECK_EQ_INT(st2.down, 1);
  yolk__redis_close(r);
  run_for(10);
}

/* A host that is not an IP literal goes through uv_getaddrinfo (off the loop).
 * "127.1" is one that needs no DNS: inet_pton refuses it, getaddrinfo reads
 * it as 127.0.0.1. */
static void test_resolve(void) {
  yolk_redis_opts_t o = {.host = "127.1", .port = redis_port, .name = "resolved"};
  const char *err = NULL;
  yolk_redis_t *r = yolk__redis_new(&loop, &o, &err);
  state_t st = {0};
  yolk__redis_on_state(r, on_state, &st);
  yolk__redis_start(r);
  CHECK(wait_for(&st.ready, 3000));
  res_t res;
  CHECK(CALL(r, &res, "PING"));
  CHECK(res.type == REDIS_REPLY_STATUS && res.len == 4);
  yolk__redis_close(r);
  /* closed while resolving: the request is cancelled or its result dropped */
  r = yolk__redis_new(&loop, &o, &err);
  yolk__redis_start(r);
  run_for(1);
  yolk__redis_close(r);
  run_for(20);
}

/* AUTH (password, ACL user) and SELECT on every connection. */
static void test_auth_db(void) {
  state_t st = {0};
  yolk_redis_t *admin = open_conn(redis_url, "admin", 0, &st);
  yolk__redis_start(admin);
  res_t res;
  CHECK(CALL(admin, &res, "ACL", "SETUSER", "alice", "on", ">s3cret", "~*", "&*", "+@all"));
  CHECK(res.type == REDIS_REPLY_STATUS);
  CHECK(CALL(admin, &res, "DEL", "dbkey"));

  char url[128];
  snprintf(url, sizeof(url), "redis://alice:s3cret@127.0.0.1:%d/3", redis_port);
  state_t st1 = {0};
  yolk_redis_opts_t o = {.url = url, .name = "alice", .client_name = "yolk-test-alice"};
  const char *err = NULL;
  yolk_redis_t *r = yolk__redis_new(&loop, &o, &err);
  yolk__redis_on_state(r, on_state, &st1);
  yolk__redis_start(r);
  CHECK(wait_for(&st1.ready, 3000));
  CHECK(CALL(r, &res, "ACL", "WHOAMI"));
  CHECK(res.len == 5 && memcmp(res.str, "alice", 5) == 0);
  CHECK(CALL(r, &res, "CLIENT", "GETNAME"));
  CHECK(res.len == 15 && memcmp(res.str, "yolk-test-alice", 15) == 0);
  CHECK(CALL(r, &res, "SET", "dbkey", "in3"));
  CHECK(CALL(admin, &res, "EXISTS", "dbkey")); /* admin is on db 0 */
  CHECK_EQ_INT(res.integer, 0);
  CHECK(CALL(admin, &res, "SELECT", "3"));
  CHECK(CALL(admin, &res, "GET", "dbkey"));
  CHECK(res.len == 3 && memcmp(res.str, "in3", 3) == 0);
  yolk__redis_close(r);

  /* a wrong password: the attempt fails with the server's reason */
  snprintf(url, sizeof(url), "redis://alice:wrong@127.0.0.1:%d", redis_port);
  state_t st2 = {0};
  r = open_conn(url, "wrongpass", 0, &st2);
  yolk__redis_start(r);
  CHECK(wait_for(&st2.down, 3000));
  CHECK(strstr(st2.err, "AUTH failed") != NULL);
  CHECK(CMD(r, &res, "PING") == -1);
  CHECK(strstr(res.err, "AUTH failed") != NULL);
  yolk__redis_close(r);

  /* a db the server does not have */
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/999", redis_port);
  state_t st3 = {0};
  r = open_conn(url, "baddb", 0, &st3);
  yolk__redis_start(r);
  CHECK(wait_for(&st3.down, 3000));
  CHECK(strstr(st3.err, "SELECT failed") != NULL);
  yolk__redis_close(r);
  yolk__redis_close(admin);
  run_for(10);
}

/* A server that accepts the connection but never answers: the attempt ends
 * after connect_timeout_ms. */
static void test_connect_timeout(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  listen(fd, 8);
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  yolk_redis_opts_t o = {.host = "localhost", .port = ntohs(a.sin_port), .name = "silent", .connect_timeout_ms = 150};
  const char *err = NULL;
  yolk_redis_t *r = yolk__redis_new(&loop, &o, &err);
  state_t st = {0};
  yolk__redis_on_state(r, on_state, &st);
  yolk__redis_start(r);
  res_t res;
  CHECK(CMD(r, &res, "PING") == 0);
  uv_update_time(&loop);
  uint64_t t0 = uv_now(&loop);
  CHECK(wait_for(&res.done, 2000));
  uint64_t took = uv_now(&loop) - t0;
  CHECK(took >= 140 && took < 1000);
  CHECK(strstr(res.err, "no answer within 150 ms") != NULL);
  CHECK_EQ_INT(st.down, 1);
  yolk__redis_close(r);
  run_for(10);
  close(fd);
}

/* Closing with commands in flight, also from inside a reply callback. */
static void test_close(void) {
  yolk_redis_t *r = open_conn(redis_url, "closer", 0, NULL);
  yolk__redis_start(r);
  res_t a, b;
  CHECK(CMD(r, &a, "PING") == 0);
  CHECK(wait_for(&a.done, 3000));
  CHECK(CMD(r, &b, "BLPOP", "never", "0") == 0); /* blocks forever */
  yolk__redis_close(r);
  CHECK(b.done == 1); /* during close */
  CHECK_STR(b.err, "redis: connection closed");
  run_for(10);

  r = open_conn(redis_url, "closer2", 0, NULL);
  yolk__redis_start(r);
  CHECK(CMD(r, &a, "PING") == 0);
  CHECK(CMD(r, &b, "BLPOP", "never", "0") == 0);
  a.close_me = r;
  CHECK(wait_for(&b.done, 3000));
  CHECK(a.done == 1 && a.type == REDIS_REPLY_STATUS);
  CHECK_STR(b.err, "redis: connection closed");
  CHECK_EQ_INT(a.after_close_rc, -1);
  run_for(10);

  /* closed before it ever started */
  r = open_conn(redis_url, "never", 0, NULL);
  CHECK(CMD(r, &a, "PING") == 0);
  yolk__redis_close(r);
  CHECK(a.done == 1 && strstr(a.err, "closed"));
  run_for(10);
}

/* Pub/sub, then the server goes away and comes back: fail-fast while it is
 * down, one WARN and one INFO for the outage, resubscription. */
static void test_pubsub_and_restart(void) {
  state_t cst = {0}, sst = {0};
  msg_t msg = {0};
  yolk_redis_t *cmd = open_conn(redis_url, "cmd", 0, &cst);
  yolk_redis_t *sub = open_conn(redis_url, "sub", 1, &sst);
  yolk__redis_on_message(sub, on_message, &msg);
  CHECK(yolk__redis_subscribe(sub, 0, "chan", 4) == 0);
  CHECK(yolk__redis_subscribe(sub, 0, "chan", 4) == -1); /* already */
  CHECK(yolk__redis_subscribe(sub, 1, "pat:*", 5) == 0);
  yolk__redis_start(cmd);
  yolk__redis_start(sub);
  CHECK(wait_for(&sst.ready, 3000));
  CHECK(wait_for(&cst.ready, 3000));
  res_t res;
  CHECK(CMD(sub, &res, "PING") == -1); /* a subscriber takes no commands */
  CHECK(CALL(cmd, &res, "PUBSUB", "NUMSUB", "chan"));
  CHECK(res.elements == 2 && res.elem_type[1] == REDIS_REPLY_INTEGER && res.elem_int[1] == 1);

  const char payload[] = {'\x93', 0, '\x01', '\xff'};
  const char *argv[3] = {"PUBLISH", "chan", payload};
  size_t lens[3] = {7, 4, sizeof(payload)};
  const char *err = NULL;
  memset(&res, 0, sizeof(res));
  CHECK(yolk__redis_command(cmd, 3, argv, lens, capture, &res, &err) == 0);
  CHECK(wait_for(&msg.n, 3000));
  CHECK_STR(msg.channel, "chan");
  CHECK(!msg.had_pattern);
  CHECK(msg.len == sizeof(payload) && memcmp(msg.data, payload, sizeof(payload)) == 0);
  msg.n = 0;
  CHECK(CALL(cmd, &res, "PUBLISH", "pat:x", "hello"));
  CHECK_EQ_INT(res.integer, 1);
  CHECK(wait_for(&msg.n, 3000));
  CHECK(msg.had_pattern);
  CHECK_STR(msg.pattern, "pat:*");
  CHECK_STR(msg.channel, "pat:x");
  CHECK(msg.len == 5 && memcmp(msg.data, "hello", 5) == 0);

  /* a subscription added while connected, and one removed */
  CHECK(yolk__redis_subscribe(sub, 0, "late", 4) == 0);
  CHECK(yolk__redis_unsubscribe(sub, 1, "pat:*", 5) == 0);
  CHECK(yolk__redis_unsubscribe(sub, 1, "pat:*", 5) == -1);
  run_for(50);
  msg.n = 0;
  CHECK(CALL(cmd, &res, "PUBLISH", "pat:y", "gone"));
  CHECK_EQ_INT(res.integer, 0);
  CHECK(CALL(cmd, &res, "PUBLISH", "late", "L"));
  CHECK_EQ_INT(res.integer, 1);
  CHECK(wait_for(&msg.n, 3000));
  CHECK_STR(msg.channel, "late");

  /* the server goes away with a command in flight */
  res_t inflight;
  CHECK(CMD(cmd, &inflight, "BLPOP", "nothing", "0") == 0);
  run_for(30);
  redis_stop();
  CHECK(wait_for(&inflight.done, 3000));
  CHECK(strstr(inflight.err, "redis: connection lost") != NULL);
  CHECK(wait_for(&cst.down, 3000));
  CHECK(wait_for(&sst.down, 3000));
  CHECK_STR(yolk__redis_status(cmd), "down");
  /* fail-fast while down, however many calls */
  for (int i = 0; i < 5; i++) {
    CHECK(CMD(cmd, &res, "GET", "k") == -1);
    CHECK(strstr(res.err, "redis: not connected (") != NULL);
  }
  run_for(800); /* several attempts (100, 200, 400 ms apart) */
  CHECK_EQ_INT(cst.down, 1);
  CHECK_EQ_INT(log_lost, 1);
  CHECK_EQ_INT(log_cannot, 0);

  CHECK(redis_start() == 0);
  CHECK(wait_for(&cst.ready, 0) == 1); /* still 1: not yet back */
  int want = 2;
  for (int i = 0; i < 300 && (cst.ready < want || sst.ready < want); i++) run_for(20);
  CHECK_EQ_INT(cst.ready, 2);
  CHECK_EQ_INT(sst.ready, 2);
  CHECK_EQ_INT(log_back, 1);
  CHECK_EQ_INT(log_lost, 1);
  CHECK(CALL(cmd, &res, "SET", "after", "restart"));
  CHECK(res.type == REDIS_REPLY_STATUS);
  /* resubscribed to the set as it is now: chan and late, not pat:* */
  msg.n = 0;
  CHECK(CALL(cmd, &res, "PUBLISH", "chan", "again"));
  CHECK_EQ_INT(res.integer, 1);
  CHECK(wait_for(&msg.n, 3000));
  CHECK(msg.len == 5 && memcmp(msg.data, "again", 5) == 0);
  CHECK(CALL(cmd, &res, "PUBLISH", "late", "x"));
  CHECK_EQ_INT(res.integer, 1);
  CHECK(CALL(cmd, &res, "PUBLISH", "pat:z", "x"));
  CHECK_EQ_INT(res.integer, 0);

  yolk__redis_close(cmd);
  yolk__redis_close(sub);
  run_for(10);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop);
  test_urls();
  if (system("command -v redis-server >/dev/null 2>&1") != 0) {
    fprintf(stderr, "test_redis: redis-server not found, skipping the connection tests\n");
    uv_loop_close(&loop);
    TEST_MAIN_END();
  }
  atexit(on_exit_kill);
  redis_port = free_port();
  snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", redis_port);
  if (redis_start() != 0) {
    fprintf(stderr, "test_redis: cannot start redis-server\n");
    return 1;
  }
  yolk_log_set_sink(log_sink, NULL);

  yolk_redis_t *r = open_conn(redis_url, "main", 0, NULL);
  yolk__redis_start(r);
  test_commands(r);
  yolk__redis_close(r);
  test_first_queue();
  test_resolve();
  test_auth_db();
  test_connect_timeout();
  test_close();
  test_pubsub_and_restart();
  CHECK_EQ_INT(log_has_password, 0);

  redis_stop();
  /* every handle closed: the connections' memory is gone (ASan checks leaks) */
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  yolk_log_set_sink(NULL, NULL);
  TEST_MAIN_END();
}
