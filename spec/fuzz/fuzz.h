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

#endif
