/* json.c - see json.h */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Rewrites each lone surrogate escape in s as "\ufffd" (the same six bytes),
 * as a UTF-8 decoder would. Returns how many it replaced. */
static size_t replace_lone_surrogates(char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i + 1 < len; i++) {
    if (s[i] != '\\') continue;
    if (s[i + 1] != 'u' || i + 6 > len) {
      i++; /* another escape: skip the escaped character */
      continue;
    }
    unsigned cp, lo;
    if (hex4(s + i + 2, &cp) != 0) continue;
    int high = cp >= 0xD800 && cp <= 0xDBFF, low = cp >= 0xDC00 && cp <= 0xDFFF;
    if (high && i + 12 <= len && s[i + 6] == '\\' && s[i + 7] == 'u' && hex4(s + i + 8, &lo) == 0 &&
        lo >= 0xDC00 && lo <= 0xDFFF) {
      i += 11; /* a proper pair */
      continue;
    }
    if (high || low) {
      memcpy(s + i + 2, "fffd", 4);
      n++;
    }
    i += 5;
  }
  return n;
}

static cJSON *parse_exactly(const char *s, size_t len, size_t *err_pos) {
  const char *end = NULL;
  cJSON *v = cJSON_ParseWithLengthOpts(s, len, &end, 0);
  if (!v) {
    const char *at = end ? end : cJSON_GetErrorPtr();
    if (err_pos) *err_pos = at && at >= s && at <= s + len ? (size_t)(at - s) : 0;
    return NULL;
  }
  size_t off = (size_t)(end - s);
  while (off < len && (s[off] == ' ' || s[off] == '\t' || s[off] == '\n' || s[off] == '\r')) off++;
  if (off != len) {
    cJSON_Delete(v);
    if (err_pos) *err_pos = off;
    return NULL;
  }
  return v;
}

cJSON *yolk__json_parse(const char *s, size_t len, size_t *err_pos) {
  cJSON *v = parse_exactly(s, len, err_pos);
  if (v || len == 0) return v;
  /* invalid as it stands (rare): retry once with lone surrogates replaced */
  char *copy = yolk__malloc(len);
  memcpy(copy, s, len);
  if (replace_lone_surrogates(copy, len)) v = parse_exactly(copy, len, err_pos);
  free(copy);
  return v;
}
