/* utf8.h - the one UTF-8 decoder of the core.
 *
 * Well-formed means what RFC 3629 and the WHATWG Encoding standard say: no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing past U+10FFFF.
 * Where text from a peer must become well-formed (JSON strings, decoded query
 * strings), every maximal ill-formed subpart becomes one U+FFFD, as
 * JavaScript's decoders (TextDecoder, Buffer#toString) do, so yolk reads a
 * malformed byte sequence the way a Node server would.
 */
#ifndef YOLK_UTF8_H
#define YOLK_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Incremental validation (WebSocket text frames arrive in pieces): state
 * starts at YOLK_UTF8_ACCEPT; returns the new state, YOLK_UTF8_REJECT once
 * the input is ill-formed, YOLK_UTF8_ACCEPT at a character boundary. */
#define YOLK_UTF8_ACCEPT 0u
#define YOLK_UTF8_REJECT 1u
uint32_t yolk__utf8_validate(uint32_t state, const unsigned char *s, size_t len);

/* 1 when s[0..n) is well-formed. */
int yolk__utf8_valid(const char *s, size_t n);

/* Decodes the character at s[0..n) (n >= 1): returns its length (1..4) and
 * sets *cp. When s does not start with a well-formed character, returns 0
 * and sets *bad to the length of the maximal ill-formed subpart (1..3), the
 * bytes that one U+FFFD replaces. */
size_t yolk__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, size_t *bad);

/* Appends s[0..n) to sb with each maximal ill-formed subpart replaced by
 * U+FFFD. */
void yolk__utf8_repair(yolk_sb_t *sb, const char *s, size_t n);

/* Appends code point cp (<= U+10FFFF, not a surrogate) as UTF-8. */
void yolk__utf8_put(yolk_sb_t *sb, uint32_t cp);

/* How many UTF-16 code units a JavaScript string decoded from s[0..n) has
 * (what its .length says): 2 for characters past U+FFFF, 1 for each U+FFFD
 * standing for an ill-formed subpart. */
size_t yolk__utf16_length(const char *s, size_t n);

#endif
