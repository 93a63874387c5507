/* fuzz.h - shared by the libFuzzer targets spec/fuzz/fuzz_<name>.c (see run.sh).
 *
 * Each target is one file defining LLVMFuzzerTestOneInput; CMake builds it
 * with -DYOLK_FUZZ=ON (clang) against a core compiled with
 * -fsanitize=fuzzer-no-link,address,undefined. A broken invariant calls
 * FUZZ_FAIL, which aborts: libFuzzer reports it as a crash and saves the input.
 *
 * Header-only (static inline), like spec/c/test_client.h: every target is its
 * own program and uses only part of it. */
#ifndef YOLK_FUZZ_H
#define YOLK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "yolk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FAIL(...)                                                                       \
  do {                                                                                       \
    fprintf(stderr, "%s:%d: invariant broken: ", __FILE__, __LINE__);                       \
    fprintf(stderr, __VA_ARGS__);                                                            \
    fputc('\n', stderr);                                                                     \
    abort();                                                                                 \
  } while (0)

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) FUZZ_FAIL("%s", #cond);                                                     \
  } while (0)

/* The core logs every malformed input it sees; under a fuzzer that is
 * millions of lines. YOLK_FUZZ_LOG=1 keeps them (for reproducing one input). */
static inline void fuzz_quiet_logs(void) {
  const char *v = getenv("YOLK_FUZZ_LOG");
  if (!v || strcmp(v, "1") != 0) yolk_log_set_level(YOLK_LOG_ERROR + 1000);
}

/* A small deterministic generator (xorshift64*): chunk sizes and other
 * choices derived from input bytes, so one input always runs the same way. */
typedef struct {
  uint64_t s;
} fuzz_rng_t;

static inline void fuzz_rng_init(fuzz_rng_t *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

static inline uint64_t fuzz_rng_next(fuzz_rng_t *r) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545F4914F6CDD1Dull;
}

/* A chunk length in 1..max, biased towards small ones (byte-at-a-time and
 * split headers are where streaming parsers go wrong). */
static inline size_t fuzz_chunk_len(fuzz_rng_t *r, size_t max) {
  uint64_t x = fuzz_rng_next(r);
  size_t n;
  switch (x & 3) {
  case 0: n = 1; break;
  case 1: n = 1 + (size_t)((x >> 8) % 8); break;
  case 2: n = 1 + (size_t)((x >> 8) % 64); break;
  default: n = 1 + (size_t)((x >> 8) % 4096); break;
  }
  return n < max ? n : max;
}

/* Reference UTF-8 check, written from the Unicode table of well-formed byte
 * sequences (not from the core's validator, so the two can be compared).
 * Returns 1 when s[0..len) is well formed; with allow_partial, a truncated
 * but so far valid last sequence is accepted too (a prefix of valid text). */
static inline int fuzz_utf8_ok(const unsigned char *s, size_t len, int allow_partial) {
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c == 0xE0) {
      n = 3, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      n = 3;
    } else if (c == 0xED) {
      n = 3, hi = 0x9F;
    } else if (c == 0xF0) {
      n = 4, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      n = 4;
    } else if (c == 0xF4) {
      n = 4, hi = 0x8F;
    } else {
      return 0;
    }
    for (size_t k = 1; k < n; k++) {
      if (i + k >= len) return allow_partial;
      unsigned b = s[i + k];
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    }
    i += n;
  }
  return 1;
}

/* FNV-1a, to compare two runs' outputs without keeping them. */
static inline uint64_t fuzz_hash(uint64_t h, const void *p, size_t len) {
  const unsigned char *s = p;
  for (size_t i = 0; i < len; i++) h = (h ^ s[i]) * 0x100000001B3ull;
  return h;
}
#define FUZZ_HASH_INIT 0xCBF29CE484222325ull

/* Reference UTF-8 decoding with replacement, written from the WHATWG
 * Encoding standard's UTF-8 decoder (not from core/utf8.c): each maximal
 * ill-formed subpart becomes one U+FFFD. Appends to out (a yolk_sb_t). */
static inline void fuzz_utf8_repair(yolk_sb_t *out, const unsigned char *s, size_t len) {
  unsigned cp = 0, needed = 0, seen = 0, lower = 0x80, upper = 0xBF;
  static const char fffd[] = "\xEF\xBF\xBD";
  size_t i = 0;
  while (i < len) {
    unsigned b = s[i];
    if (needed == 0) {
      i++;
      if (b <= 0x7F) {
        yolk__sb_putc(out, (char)b);
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1, cp = b & 0x1F;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2, cp = b & 0xF;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3, cp = b & 0x7;
      } else {
        yolk__sb_append(out, fffd, 3);
      }
      continue;
    }
    if (b < lower || b > upper) { /* the byte is looked at again as a start */
      cp = needed = seen = 0, lower = 0x80, upper = 0xBF;
      yolk__sb_append(out, fffd, 3);
      continue;
    }
    i++;
    lower = 0x80, upper = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    if (++seen == needed) {
      char u[4];
      size_t n;
      if (cp < 0x800) u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
      else if (cp < 0x10000)
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
      else
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
      yolk__sb_append(out, u, n);
      cp = needed = seen = 0;
    }
  }
  if (needed) yolk__sb_append(out, fffd, 3);
}

/* Splits s[0..len) at every occurrence of sep (not empty); calls fn for each
 * piece, empty ones included, in order. */
static inline void fuzz_split(const char *s, size_t len, const char *sep, void (*fn)(const char *, size_t, void *),
                              void *ud) {
  size_t sl = strlen(sep), start = 0;
  for (size_t i = 0; i + sl <= len;) {
    if (memcmp(s + i, sep, sl) == 0) {
      fn(s + start, i - start, ud);
      i += sl;
      start = i;
    } else {
      i++;
    }
  }
  fn(s + start, len - start, ud);
}

/* msgpack-c allocates an array or a map of the count its header declares
 * before reading the elements (24 bytes each, up to 2^32 of them), so a few
 * bytes can ask for gigabytes, which libFuzzer's malloc limit reports as a
 * crash. This walks MessagePack the way msgpack_unpack_next would (objects
 * one after another, at most max_objects) and returns 0 when some container
 * declares more than 4096 elements and more than the bytes left could hold
 * (each takes at least one): the targets skip such inputs. */
static inline int fuzz_msgpack_walk(const unsigned char *p, size_t len, size_t *pos, int depth) {
  if (depth > 64 || *pos >= len) return 1;
  unsigned b = p[(*pos)++];
  uint64_t n = 0, skip = 0;
  int container = 0, lenbytes = 0;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return 1;
  if (b >= 0x80 && b <= 0x8f) n = 2 * (b & 15), container = 1;
  else if (b >= 0x90 && b <= 0x9f) n = b & 15, container = 1;
  else if (b >= 0xa0 && b <= 0xbf) skip = b & 31;
  else switch (b) {
  case 0xc4: case 0xd9: lenbytes = 1; break;
  case 0xc5: case 0xda: lenbytes = 2; break;
  case 0xc6: case 0xdb: lenbytes = 4; break;
  case 0xc7: lenbytes = 1, skip = 1; break;
  case 0xc8: lenbytes = 2, skip = 1; break;
  case 0xc9: lenbytes = 4, skip = 1; break;
  case 0xca: case 0xce: case 0xd2: skip = 4; break;
  case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
  case 0xcc: case 0xd0: skip = 1; break;
  case 0xcd: case 0xd1: skip = 2; break;
  case 0xd4: skip = 2; break;
  case 0xd5: skip = 3; break;
  case 0xd6: skip = 5; break;
  case 0xd7: skip = 9; break;
  case 0xd8: skip = 17; break;
  case 0xdc: case 0xde: lenbytes = 2, container = b == 0xde ? 2 : 1; break;
  case 0xdd: case 0xdf: lenbytes = 4, container = b == 0xdf ? 2 : 1; break;
  default: return 1; /* 0xc1: never used; msgpack-c stops there */
  }
  if (lenbytes) {
    if (len - *pos < (size_t)lenbytes) return 1;
    uint64_t v = 0;
    for (int i = 0; i < lenbytes; i++) v = (v << 8) | p[(*pos)++];
    if (container) n = container == 2 ? 2 * v : v;
    else skip += v;
  }
  if (!container) {
    *pos = skip > len - *pos ? len : *pos + (size_t)skip;
    return 1;
  }
  if (n > 4096 && n > len - *pos) return 0;
  for (uint64_t i = 0; i < n && *pos < len; i++)
    if (!fuzz_msgpack_walk(p, len, pos, depth + 1)) return 0;
  return 1;
}

static inline int fuzz_msgpack_sane(const void *data, size_t len, int max_objects) {
  size_t pos = 0;
  for (int i = 0; i < max_objects && pos < len; i++)
    if (!fuzz_msgpack_walk(data, len, &pos, 0)) return 0;
  return 1;
}

#endif
