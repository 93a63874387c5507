/* query.h - the one query-string decoder (application/x-www-form-urlencoded,
 * read as the URL standard's URLSearchParams reads it).
 *
 * A query "a=1&b=x+y&a=%E2%82%AC&flag" is a sequence of name=value pairs
 * separated by '&'. Each name and value is decoded: '+' is a space, %XX is
 * the byte XX, a malformed escape ("%zz", "%4") stays as written, and the
 * resulting bytes are made well-formed UTF-8 (U+FFFD for what is not, see
 * utf8.h). Empty pairs ("a=1&&b") are skipped; a pair without '=' has an
 * empty value. Every user of a query string in yolk goes through here:
 * Engine.IO's parameters, the handshake query (socket.handshake.query: the
 * last value of a repeated name wins, names keep their first position),
 * Socket.IO v4's namespace query, and the HTTP ctx.query / ctx.queries
 * (the first value / all of them).
 */
#ifndef YOLK_QUERY_H
#define YOLK_QUERY_H

#include <stddef.h>

#include "buf.h"

/* Called for each pair, in order; name and value are decoded, valid during
 * the call (not NUL-terminated: use the lengths; they may contain NUL).
 * Return non-zero to stop. */
typedef int (*yolk_query_cb)(void *ud, const char *name, size_t nlen, const char *value, size_t vlen);

/* Decodes qs[0..len) pair by pair. Returns 1 if cb stopped, else 0. */
int yolk__query_each(const char *qs, size_t len, yolk_query_cb cb, void *ud);

/* Appends one decoded component (a name or a value) to out. */
void yolk__query_decode(yolk_sb_t *out, const char *s, size_t len);

/* The decoding underneath, also for URL paths: %XX escapes (malformed ones
 * kept), '+' a space only when plus_is_space (form encoding; in a path '+'
 * is itself), then well-formed UTF-8. */
void yolk__percent_decode(yolk_sb_t *out, const char *s, size_t len, int plus_is_space);

#endif
