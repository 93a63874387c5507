/* json.h - the one JSON reader and the one JSON writer of the core.
 *
 * Reading: JSON text from clients (Socket.IO packets, HTTP bodies, other
 * nodes) is read the way JavaScript's JSON.parse reads it, as a stream of
 * events (a SAX reader): no tree is built, so each user builds exactly what
 * it needs straight from the text — Lua values (core/lua/lua_json.c),
 * msgpack for other nodes, or nothing at all when a packet is only checked.
 *   - strict RFC 8259 grammar: no comments, trailing commas, single quotes,
 *     leading zeros or bare control characters in strings; whitespace around
 *     the value is allowed, anything else after it is an error;
 *   - strings come out as well-formed UTF-8: escapes are decoded (surrogate
 *     pairs joined), a lone surrogate escape ("\ud83d", from a JavaScript
 *     string cut inside an emoji, which JSON.parse accepts) becomes U+FFFD,
 *     and raw ill-formed UTF-8 becomes U+FFFD as a JavaScript decoder would
 *     (utf8.h); they may contain NUL bytes, so lengths are given;
 *   - a repeated object key is reported as it appears (JSON.parse keeps the
 *     last value, at the first key's position; consumers decide);
 *   - nesting deeper than max_depth is an error (JSON.parse has no limit but
 *     the stack; a server must have one).
 *
 * Writing: strings and numbers as JSON.stringify writes them (plus the
 * U+FFFD repair of ill-formed UTF-8, since Lua strings are bytes); the
 * structure is the caller's ('[', ',', ':' ...).
 */
#ifndef YOLK_JSON_H
#define YOLK_JSON_H

#include <stddef.h>

#include "buf.h"

/* The default nesting limit (config: io.init.maxJsonDepth). */
#define YOLK_JSON_MAX_DEPTH 1000

/* Events, in document order. Strings and keys are valid only during the
 * call. Each returns 0 to go on; anything else stops the reader, which then
 * fails with "stopped". Any member may be NULL (the event is ignored). */
typedef struct {
  int (*null_value)(void *ud);
  int (*boolean)(void *ud, int v);
  /* text is the number as written (for callers that keep it exact) */
  int (*number)(void *ud, double v, const char *text, size_t len);
  int (*string)(void *ud, const char *s, size_t len);
  int (*key)(void *ud, const char *s, size_t len);
  int (*begin_array)(void *ud);
  int (*end_array)(void *ud, size_t count);
  int (*begin_object)(void *ud);
  int (*end_object)(void *ud, size_t count); /* count: keys as written, repeats included */
} yolk_json_handler_t;

typedef struct {
  size_t pos;       /* byte offset where reading stopped */
  const char *what; /* static text: "unexpected character", "nested too deeply", ... */
} yolk_json_error_t;

/* Reads exactly s[0..len) as one JSON value, calling h. Returns 0, or -1
 * with *err filled (err may be NULL). */
int yolk__json_read(const char *s, size_t len, unsigned max_depth, const yolk_json_handler_t *h, void *ud,
                    yolk_json_error_t *err);

/* 1 when s[0..len) is one well-formed JSON value (nesting within max_depth). */
int yolk__json_valid(const char *s, size_t len, unsigned max_depth);

/* Appends s[0..len) as a JSON string literal: quotes, backslashes and control
 * characters escaped as JSON.stringify escapes them (\b \f \n \r \t, others
 * \u00XX, NUL included), ill-formed UTF-8 written as U+FFFD. */
void yolk__json_write_string(yolk_sb_t *sb, const char *s, size_t len);
void yolk__json_write_cstr(yolk_sb_t *sb, const char *s);

/* Appends a number: integral values of magnitude up to 2^53 as plain digits
 * (no exponent), other finite values in the shortest form of up to 17
 * significant digits that reads back as the same double, NaN and infinities
 * as null (JSON.stringify's rule). -0 is written 0. */
void yolk__json_write_number(yolk_sb_t *sb, double v);

#endif
