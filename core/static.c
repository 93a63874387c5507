#define _GNU_SOURCE /* strptime, timegm */
/* static.c - see static.h.
 *
 * One job per request: stat -> (cached and unchanged: answer) -> open ->
 * fstat -> read -> close -> answer, each step a uv_fs request on the thread
 * pool, so the loop never waits on the disk. A job keeps a reference on the
 * responder (which may be freed meanwhile) and hooks the request's abort:
 * an aborted job finishes its fs steps (the descriptor must be closed) and
 * then drops everything without answering.
 */
#include "static.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hashmap.h"
#include "list.h"
#include "log.h"

#define LOG_COMPONENT "static"

typedef struct {
  yolk_list_t lru; /* most recently used first */
  char *rel;       /* the key */
  uint64_t size;
  uv_timespec_t mtime;
  yolk_buf_t *body;
  char etag[64];
  char last_modified[40];
} entry_t;

struct yolk_static_s {
  uv_loop_t *loop;
  char *root;
  char *cache_control;
  size_t max_cache_bytes, max_file_cache, cached_bytes;
  yolk_smap_t entries; /* rel -> entry_t */
  yolk_list_t lru;
  unsigned refs; /* the owner's + one per running job */
};

typedef struct {
  yolk_static_t *st;
  yolk_http_req_t *req; /* NULL once aborted */
  char *rel;
  char *path;
  char *extra;
  yolk_static_done_cb done;
  void *ud;
  uv_fs_t fs;
  uv_file fd;
  int tried_index; /* the path was a directory: now its index.html */
  uint64_t size;
  uv_timespec_t mtime;
  yolk_buf_t *body;
  size_t got;
} job_t;

/* ---- content types ---------------------------------------------------------------- */

const char *yolk__static_content_type(const char *name) {
  static const char *const types[][2] = {
      {"html", "text/html; charset=utf-8"},       {"htm", "text/html; charset=utf-8"},
      {"js", "application/javascript; charset=utf-8"}, {"mjs", "application/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},         {"json", "application/json; charset=utf-8"},
      {"map", "application/json; charset=utf-8"}, {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},                   {"png", "image/png"},
      {"jpg", "image/jpeg"},                      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},                       {"ico", "image/x-icon"},
      {"webp", "image/webp"},                     {"woff", "font/woff"},
      {"woff2", "font/woff2"},                    {"ttf", "font/ttf"},
      {"wasm", "application/wasm"},               {"mp3", "audio/mpeg"},
      {"ogg", "audio/ogg"},                       {"webm", "audio/webm"},
      {"wav", "audio/wav"},                       {"mp4", "video/mp4"},
      {"pdf", "application/pdf"},                 {"xml", "application/xml"},
  };
  const char *dot = strrchr(name, '.');
  const char *slash = strrchr(name, '/');
  if (dot && (!slash || dot > slash)) {
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
      if (strcasecmp(dot + 1, types[i][0]) == 0) return types[i][1];
  }
  return "application/octet-stream";
}

/* ---- the responder ---------------------------------------------------------------------- */

yolk_static_t *yolk__static_new(uv_loop_t *loop, const char *root, const yolk_static_opts_t *opts) {
  yolk_static_t *st = yolk__calloc(1, sizeof(*st));
  st->loop = loop;
  size_t rl = strlen(root);
  while (rl > 1 && root[rl - 1] == '/') rl--;
  st->root = yolk__strndup(root, rl);
  const char *cc = opts && opts->cache_control ? opts->cache_control : "public, max-age=0";
  st->cache_control = yolk__strndup(cc, strlen(cc));
  st->max_cache_bytes = opts && opts->max_cache_bytes ? opts->max_cache_bytes : 16u << 20;
  st->max_file_cache = opts && opts->max_file_cache ? opts->max_file_cache : 1u << 20;
  yolk__smap_init(&st->entries);
  yolk__list_init(&st->lru);
  st->refs = 1;
  return st;
}

static void entry_drop(yolk_static_t *st, entry_t *e) {
  yolk__smap_del(&st->entries, e->rel);
  yolk__list_remove(&e->lru);
  st->cached_bytes -= e->body->len;
  yolk__buf_unref(e->body);
  free(e->rel);
  free(e);
}

static void static_unref(yolk_static_t *st) {
  if (--st->refs) return;
  yolk_list_t *n;
  while ((n = yolk__list_first(&st->lru))) entry_drop(st, yolk__list_entry(n, entry_t, lru));
  yolk__smap_free(&st->entries);
  free(st->root);
  free(st->cache_control);
  free(st);
}

void yolk__static_free(yolk_static_t *st) { static_unref(st); }

/* ---- answering --------------------------------------------------------------------------- */

static void etag_of(char *out, size_t n, uint64_t size, uv_timespec_t mtime) {
  unsigned long long ms = (unsigned long long)mtime.tv_sec * 1000ull + (unsigned long long)mtime.tv_nsec / 1000000ull;
  snprintf(out, n, "W/\"%llx-%llx\"", (unsigned long long)size, ms);
}

static void http_date_of(char *out, size_t n, time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* If-Modified-Since: the client's copy is as new as mtime (second resolution). */
static int not_modified_since(const char *ims, uv_timespec_t mtime) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  const char *end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end) return 0;
  return timegm(&tm) >= (time_t)mtime.tv_sec;
}

static void answer(job_t *j, const char *rel, uint64_t size, uv_timespec_t mtime, yolk_buf_t *body) {
  yolk_http_req_t *req = j->req;
  char etag[64], lm[40];
  etag_of(etag, sizeof(etag), size, mtime);
  http_date_of(lm, sizeof(lm), (time_t)mtime.tv_sec);
  yolk_sb_t h;
  yolk__sb_init(&h);
  yolk__sb_printf(&h, "Content-Type: %s\r\nETag: %s\r\nLast-Modified: %s\r\nCache-Control: %s\r\n",
                  yolk__static_content_type(rel), etag, lm, j->st->cache_control);
  if (j->extra) yolk__sb_puts(&h, j->extra);
  const char *inm = yolk__http_req_header(req, "if-none-match");
  const char *ims = yolk__http_req_header(req, "if-modified-since");
  int fresh = inm ? strcmp(inm, etag) == 0 || strcmp(inm, "*") == 0 : ims && not_modified_since(ims, mtime);
  j->req = NULL;
  req->on_abort = NULL;
  req->data = NULL;
  if (fresh) yolk__http_respond(req, 304, h.data, NULL, 0);
  else yolk__http_respond_buf(req, 200, h.data, body); /* HEAD: the HTTP layer drops the body */
  yolk__sb_free(&h);
}

/* Frees the job and tells how it ended (req: the request when still
 * unanswered). */
static void job_end(job_t *j, int outcome) {
  yolk_http_req_t *req = j->req;
  yolk_static_done_cb done = j->done;
  void *ud = j->ud;
  if (req) {
    req->on_abort = NULL;
    req->data = NULL;
  }
  uv_fs_req_cleanup(&j->fs);
  yolk__buf_unref(j->body);
  static_unref(j->st);
  free(j->rel);
  free(j->path);
  free(j->extra);
  free(j);
  if (outcome == YOLK_STATIC_MISSING && !req) outcome = YOLK_STATIC_ABORTED;
  if (done) {
    done(outcome == YOLK_STATIC_MISSING ? req : NULL, outcome, ud);
  } else if (outcome == YOLK_STATIC_MISSING) {
    static const char msg[] = "Not Found";
    yolk__http_respond(req, 404, "Content-Type: text/plain\r\n", msg, sizeof(msg) - 1);
  }
}

/* The file is not there (or not readable): the caller goes on. */
static void job_miss(job_t *j) { job_end(j, YOLK_STATIC_MISSING); }
/* Nothing to answer any more: the connection is gone. */
static void job_free(job_t *j) { job_end(j, j->req ? YOLK_STATIC_MISSING : YOLK_STATIC_ABORTED); }

static void job_aborted(yolk_http_req_t *req) {
  job_t *j = req->data;
  if (j) j->req = NULL; /* the job finishes its fs step, then drops itself */
}

static void on_stat(uv_fs_t *fs);
static void on_open(uv_fs_t *fs);
static void on_fstat(uv_fs_t *fs);
static void on_read(uv_fs_t *fs);
static void on_close(uv_fs_t *fs);

static void start_stat(job_t *j) {
  uv_fs_req_cleanup(&j->fs);
  if (uv_fs_stat(j->st->loop, &j->fs, j->path, on_stat) != 0) job_miss(j);
}

static void on_stat(uv_fs_t *fs) {
  job_t *j = fs->data;
  if (!j->req) {
    job_free(j);
    return;
  }
  if (fs->result < 0) {
    job_miss(j);
    return;
  }
  const uv_stat_t *sb = &fs->statbuf;
  if ((sb->st_mode & S_IFMT) == S_IFDIR && !j->tried_index) {
    /* a directory: its index.html */
    j->tried_index = 1;
    size_t pl = strlen(j->path), rl = strlen(j->rel);
    j->path = yolk__realloc(j->path, pl + 12);
    memcpy(j->path + pl, pl && j->path[pl - 1] == '/' ? "index.html" : "/index.html", 12);
    j->rel = yolk__realloc(j->rel, rl + 12);
    memcpy(j->rel + rl, rl && j->rel[rl - 1] == '/' ? "index.html" : "/index.html", 12);
    start_stat(j);
    return;
  }
  if ((sb->st_mode & S_IFMT) != S_IFREG) {
    job_miss(j);
    return;
  }
  entry_t *e = yolk__smap_get(&j->st->entries, j->rel);
  if (e && e->size == sb->st_size && e->mtime.tv_sec == sb->st_mtim.tv_sec && e->mtime.tv_nsec == sb->st_mtim.tv_nsec) {
    /* unchanged since it was read: from the cache */
    yolk__list_remove(&e->lru);
    yolk__list_push_front(&j->st->lru, &e->lru);
    answer(j, j->rel, e->size, e->mtime, e->body);
    job_end(j, YOLK_STATIC_SENT);
    return;
  }
  uv_fs_req_cleanup(fs);
  if (uv_fs_open(j->st->loop, &j->fs, j->path, UV_FS_O_RDONLY, 0, on_open) != 0) job_miss(j);
}

static void read_more(job_t *j) {
  uv_buf_t b = uv_buf_init(j->body->data + j->got, (unsigned)(j->body->len - j->got));
  uv_fs_req_cleanup(&j->fs);
  if (uv_fs_read(j->st->loop, &j->fs, j->fd, &b, 1, (int64_t)j->got, on_read) != 0) {
    uv_fs_req_cleanup(&j->fs);
    uv_fs_close(j->st->loop, &j->fs, j->fd, on_close);
  }
}

static void on_open(uv_fs_t *fs) {
  job_t *j = fs->data;
  if (fs->result < 0) {
    if (j->req) job_miss(j);
    else job_free(j);
    return;
  }
  j->fd = (uv_file)fs->result;
  /* the size of what was opened (it may have changed since the stat) */
  uv_fs_req_cleanup(fs);
  if (!j->req || uv_fs_fstat(j->st->loop, &j->fs, j->fd, on_fstat) != 0) {
    uv_fs_req_cleanup(&j->fs);
    uv_fs_close(j->st->loop, &j->fs, j->fd, on_close);
  }
}

static void on_fstat(uv_fs_t *fs) {
  job_t *j = fs->data;
  if (fs->result < 0 || !j->req) {
    uv_fs_req_cleanup(fs);
    uv_fs_close(j->st->loop, &j->fs, j->fd, on_close);
    return;
  }
  j->size = fs->statbuf.st_size;
  j->mtime = fs->statbuf.st_mtim;
  uv_fs_req_cleanup(fs);
  j->body = yolk__buf_new((size_t)j->size);
  j->got = 0;
  if (j->size == 0) {
    uv_fs_close(j->st->loop, &j->fs, j->fd, on_close);
    return;
  }
  read_more(j);
}

static void on_read(uv_fs_t *fs) {
  job_t *j = fs->data;
  if (fs->result > 0 && j->req) {
    j->got += (size_t)fs->result;
    if (j->got < j->body->len) {
      read_more(j);
      return;
    }
  }
  if (fs->result <= 0 && j->got < j->body->len) j->body->len = j->got; /* shrank meanwhile: what was there */
  uv_fs_req_cleanup(fs);
  uv_fs_close(j->st->loop, &j->fs, j->fd, on_close);
}

static void cache_put(yolk_static_t *st, job_t *j) {
  if (j->body->len > st->max_file_cache || j->got != j->body->len) return;
  entry_t *old = yolk__smap_get(&st->entries, j->rel);
  if (old) entry_drop(st, old);
  while (st->cached_bytes + j->body->len > st->max_cache_bytes && !yolk__list_empty(&st->lru))
    entry_drop(st, yolk__list_entry(yolk__list_last(&st->lru), entry_t, lru));
  entry_t *e = yolk__calloc(1, sizeof(*e));
  e->rel = yolk__strndup(j->rel, strlen(j->rel));
  e->size = j->body->len;
  e->mtime = j->mtime;
  e->body = yolk__buf_ref(j->body);
  yolk__smap_put(&st->entries, e->rel, e);
  yolk__list_push_front(&st->lru, &e->lru);
  st->cached_bytes += e->body->len;
}

static void on_close(uv_fs_t *fs) {
  job_t *j = fs->data;
  if (!j->req || !j->body) {
    if (j->req) job_miss(j);
    else job_free(j);
    return;
  }
  cache_put(j->st, j);
  answer(j, j->rel, j->body->len, j->mtime, j->body);
  job_end(j, YOLK_STATIC_SENT);
}

/* Why a relative path may not be served (it must stay under the root), or
 * NULL when it may. *quiet: a hidden file, refused without a log line. */
static const char *rel_refused(const char *rel, size_t len, int *quiet) {
  *quiet = 0;
  if (memchr(rel, '\0', len)) return "NUL byte";
  if (len == 0) return "empty path";
  if (rel[0] == '/') return "absolute path";
  size_t i = 0;
  while (i < len) {
    const char *slash = memchr(rel + i, '/', len - i);
    size_t n = slash ? (size_t)(slash - (rel + i)) : len - i;
    if (n == 2 && rel[i] == '.' && rel[i + 1] == '.') return "\"..\" segment";
    if (n > 0 && rel[i] == '.') {
      *quiet = 1; /* ".", dotfiles: not served, as egg's static does */
      return "hidden file";
    }
    i += n + 1;
  }
  return NULL;
}

void yolk__static_serve(yolk_static_t *st, yolk_http_req_t *req, const char *rel, size_t rel_len,
                        const char *extra_headers, yolk_static_done_cb done, void *ud) {
  job_t *j = yolk__calloc(1, sizeof(*j));
  j->st = st;
  st->refs++;
  j->req = req;
  j->rel = yolk__strndup(rel, rel_len);
  j->done = done;
  j->ud = ud;
  j->fd = -1;
  j->fs.data = j;
  if (extra_headers) j->extra = yolk__strndup(extra_headers, strlen(extra_headers));
  req->data = j;
  req->on_abort = job_aborted;
  int quiet;
  const char *why = rel_refused(rel, rel_len, &quiet);
  if (why) {
    if (!quiet) YOLK_LOG_WARN_(LOG_COMPONENT, "%s: static path \"%.*s\" refused (%s)", req->remote_addr, (int)rel_len, rel, why);
    /* answered from the loop like every other outcome: a stat that fails */
    j->path = yolk__strndup("", 0);
  } else {
    yolk_sb_t path;
    yolk__sb_init(&path);
    yolk__sb_printf(&path, "%s/%s", st->root, j->rel);
    j->path = path.data;
  }
  start_stat(j);
}
