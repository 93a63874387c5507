/* static.h - the one static-file responder (internal): the Socket.IO browser
 * client under /socket.io/, the application's public/ directory
 * (config.static) and ctx:sendFile all answer through it.
 *
 * Nothing blocks the loop: files are stat'ed and read with libuv's thread
 * pool (uv_fs_*), and kept in a cache validated by size and mtime on every
 * request (one stat), so a file that does not change is read once. The cache
 * has a byte cap; files larger than the per-file cap are read for each
 * request and not kept.
 *
 * Answers: 200 with Content-Type (by extension), Content-Length, ETag
 * (W/"<size>-<mtime ms>", in hex, as Node's `etag` writes it for stats),
 * Last-Modified and Cache-Control; 304 when If-None-Match or
 * If-Modified-Since say the client has it; HEAD the same head without the
 * body (the HTTP layer drops HEAD bodies). Range requests are not supported
 * (a full 200 is always a valid answer to them).
 */
#ifndef YOLK_STATIC_H
#define YOLK_STATIC_H

#include <stddef.h>
#include <uv.h>

#include "http.h"

typedef struct yolk_static_s yolk_static_t;

typedef struct {
  const char *cache_control; /* NULL: "public, max-age=0" */
  size_t max_cache_bytes;    /* 0: 16 MB */
  size_t max_file_cache;     /* largest file kept in the cache; 0: 1 MB */
} yolk_static_opts_t;

/* A responder for the files under root (copied). */
yolk_static_t *yolk__static_new(uv_loop_t *loop, const char *root, const yolk_static_opts_t *opts);
/* Frees it: jobs still running finish on their own (their requests are
 * answered or were aborted) and free themselves. */
void yolk__static_free(yolk_static_t *st);

/* How a yolk__static_serve ended, told once, from the loop (never inside
 * the call): YOLK_STATIC_SENT (answered; req is gone), YOLK_STATIC_MISSING
 * (no such file, or the path was refused: req is still unanswered, for the
 * caller to go on: next middleware, 404, ...), YOLK_STATIC_ABORTED (the
 * connection went away; req is gone). */
enum { YOLK_STATIC_SENT = 1, YOLK_STATIC_MISSING = 0, YOLK_STATIC_ABORTED = -1 };
typedef void (*yolk_static_done_cb)(yolk_http_req_t *req, int outcome, void *ud);

/* Answers req (GET or HEAD) with the file rel, a decoded path relative to
 * the root. Paths with a ".." segment, a NUL byte or a leading '/' are
 * refused with a WARN line, hidden ones (a segment starting with '.')
 * quietly; both count as missing. A directory serves its
 * index.html. The responder owns req's abort hook until done is called.
 * extra_headers: lines ending in "\r\n" added to a 200/304 (copied; may be
 * NULL). done may be NULL (a miss is then answered 404). */
void yolk__static_serve(yolk_static_t *st, yolk_http_req_t *req, const char *rel, size_t rel_len,
                        const char *extra_headers, yolk_static_done_cb done, void *ud);

/* The Content-Type for a file name, by its extension. */
const char *yolk__static_content_type(const char *name);

#endif
