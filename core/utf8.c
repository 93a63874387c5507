/* utf8.c - see utf8.h */
#include "utf8.h"

#include <string.h>

/* The decoder's state: 0 at a character boundary, 1 after an ill-formed
 * byte; any other state packs the continuation bytes still expected (bits
 * 16+) and the range allowed for the next one (lo in bits 8-15, hi in bits
 * 0-7). The narrowed ranges after E0, ED, F0 and F4 exclude overlong forms,
 * surrogates and code points past U+10FFFF, so a byte outside the range ends
 * the maximal subpart. */
#define U8_STATE(rem, lo, hi) (((uint32_t)(rem) << 16) | ((uint32_t)(lo) << 8) | (uint32_t)(hi))

/* The state after a lead byte c (YOLK_UTF8_REJECT if c cannot start one). */
static uint32_t lead_state(unsigned c) {
  if (c >= 0xC2 && c <= 0xDF) return U8_STATE(1, 0x80, 0xBF);
  if (c == 0xE0) return U8_STATE(2, 0xA0, 0xBF);
  if (c == 0xED) return U8_STATE(2, 0x80, 0x9F);
  if (c >= 0xE1 && c <= 0xEF) return U8_STATE(2, 0x80, 0xBF);
  if (c == 0xF0) return U8_STATE(3, 0x90, 0xBF);
  if (c >= 0xF1 && c <= 0xF3) return U8_STATE(3, 0x80, 0xBF);
  if (c == 0xF4) return U8_STATE(3, 0x80, 0x8F);
  return YOLK_UTF8_REJECT;
}

uint32_t yolk__utf8_validate(uint32_t state, const unsigned char *s, size_t len) {
  if (state == YOLK_UTF8_REJECT) return state;
  for (size_t i = 0; i < len; i++) {
    if (state == YOLK_UTF8_ACCEPT) {
      /* ASCII runs (most traffic) eight bytes at a time */
      while (i + 8 <= len) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i >= len) break;
      if (s[i] < 0x80) continue;
      state = lead_state(s[i]);
      if (state == YOLK_UTF8_REJECT) return state;
    } else {
      unsigned c = s[i], rem = state >> 16, lo = (state >> 8) & 0xFF, hi = state & 0xFF;
      if (c < lo || c > hi) return YOLK_UTF8_REJECT;
      rem--;
      state = rem ? U8_STATE(rem, 0x80, 0xBF) : YOLK_UTF8_ACCEPT;
    }
  }
  return state;
}

int yolk__utf8_valid(const char *s, size_t n) {
  return yolk__utf8_validate(YOLK_UTF8_ACCEPT, (const unsigned char *)s, n) == YOLK_UTF8_ACCEPT;
}

size_t yolk__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, size_t *bad) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  uint32_t state = lead_state(c);
  if (state == YOLK_UTF8_REJECT) {
    *bad = 1;
    return 0;
  }
  uint32_t v = c & (c >= 0xF0 ? 0x07 : c >= 0xE0 ? 0x0F : 0x1F);
  size_t i = 1;
  while (state != YOLK_UTF8_ACCEPT) {
    unsigned lo = (state >> 8) & 0xFF, hi = state & 0xFF, rem = state >> 16;
    if (i >= n || s[i] < lo || s[i] > hi) {
      *bad = i; /* the lead byte and the continuation bytes that fitted */
      return 0;
    }
    v = (v << 6) | (s[i] & 0x3F);
    i++;
    rem--;
    state = rem ? U8_STATE(rem, 0x80, 0xBF) : YOLK_UTF8_ACCEPT;
  }
  *cp = v;
  return i;
}

void yolk__utf8_repair(yolk_sb_t *sb, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, run = 0; /* p[run..i) is well-formed and not yet copied */
  yolk__sb_reserve(sb, n);
  while (i < n) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t bad = 0, k = yolk__utf8_decode(p + i, n - i, &cp, &bad);
    if (k) {
      i += k;
      continue;
    }
    yolk__sb_append(sb, p + run, i - run);
    yolk__sb_append(sb, "\xEF\xBF\xBD", 3);
    i += bad;
    run = i;
  }
  yolk__sb_append(sb, p + run, n - run);
}

void yolk__utf8_put(yolk_sb_t *sb, uint32_t cp) {
  char b[4];
  size_t k;
  if (cp < 0x80) {
    b[0] = (char)cp;
    k = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xC0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3F));
    k = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xE0 | (cp >> 12));
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F));
    k = 3;
  } else {
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    k = 4;
  }
  yolk__sb_append(sb, b, k);
}

size_t yolk__utf16_length(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t units = 0, i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      i++;
      units++;
      continue;
    }
    uint32_t cp;
    size_t bad = 0, k = yolk__utf8_decode(p + i, n - i, &cp, &bad);
    if (k) {
      i += k;
      units += cp > 0xFFFF ? 2 : 1;
    } else {
      i += bad;
      units++;
    }
  }
  return units;
}
