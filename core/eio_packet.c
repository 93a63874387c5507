/* eio_packet.c - see eio_packet.h */
#include "eio_packet.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

/* ---- base64 ----------------------------------------------------------------- */

/* Makes sure out->data is a valid (possibly empty) C string. */
static void sb_terminate(yolk_sb_t *out) {
  yolk__sb_reserve(out, 0);
  out->data[out->len] = '\0';
}

void yolk__eio_b64_encode(yolk_sb_t *out, const void *data, size_t len) {
  /* EVP_EncodeBlock takes an int length; payloads are bounded by
   * maxHttpBufferSize long before that matters, but chunk anyway so a large
   * buffer never truncates. 3 * 2^20 keeps every chunk a multiple of 3. */
  const unsigned char *p = data;
  const size_t chunk = (size_t)3 << 20;
  while (len > 0) {
    size_t n = len < chunk ? len : chunk;
    size_t enc = 4 * ((n + 2) / 3);
    yolk__sb_reserve(out, enc);
    int w = EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)n);
    out->len += (size_t)w;
    out->data[out->len] = '\0';
    p += n;
    len -= n;
  }
  sb_terminate(out);
}

static int b64_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int yolk__eio_b64_decode(yolk_sb_t *out, const char *s, size_t len) {
  /* Validate first: EVP_DecodeBlock silently skips leading/trailing
   * whitespace and returns the length including padding, so it is only used
   * on input we already know to be a clean multiple of four. */
  size_t pad = 0;
  while (pad < 2 && len > pad && s[len - 1 - pad] == '=') pad++;
  size_t body = len - pad;
  for (size_t i = 0; i < body; i++)
    if (!b64_char((unsigned char)s[i])) return -1;
  size_t total = body + pad;
  if (pad && total % 4 != 0) return -1; /* padding present but wrong */
  if (body % 4 == 1) return -1;         /* no byte ends on a lone sextet */
  if (body == 0) {
    sb_terminate(out);
    return 0;
  }
  size_t full = (body + 3) / 4 * 4; /* padded length */
  size_t missing = full - body;     /* '=' needed: 0, 1 or 2 */
  size_t outlen = full / 4 * 3 - missing;

  size_t start = out->len;
  yolk__sb_reserve(out, full / 4 * 3 + 1);
  const size_t chunk = (size_t)4 << 20;
  unsigned char *dst = (unsigned char *)out->data + start;
  size_t off = 0;
  char tail[4];
  while (off < full) {
    size_t n = full - off < chunk ? full - off : chunk;
    const unsigned char *src = (const unsigned char *)s + off;
    if (off + n == full && missing) {
      /* the last group lacks padding: decode it from a padded copy */
      if (n > 4) {
        if (EVP_DecodeBlock(dst, src, (int)(n - 4)) < 0) goto bad;
        dst += (n - 4) / 4 * 3;
        off += n - 4;
        src += n - 4;
      }
      memcpy(tail, src, 4 - missing);
      memset(tail + 4 - missing, '=', missing);
      if (EVP_DecodeBlock(dst, (const unsigned char *)tail, 4) < 0) goto bad;
      off += 4;
      dst += 3;
      break;
    }
    if (EVP_DecodeBlock(dst, src, (int)n) < 0) goto bad;
    dst += n / 4 * 3;
    off += n;
  }
  out->len = start + outlen;
  out->data[out->len] = '\0';
  return 0;
bad:
  out->len = start;
  out->data[out->len] = '\0';
  return -1;
}

/* ---- single packets ----------------------------------------------------------- */

void yolk__eio_packet_encode_text(yolk_sb_t *out, int protocol, const yolk_eio_packet_t *p) {
  if (p->binary) {
    yolk__sb_putc(out, 'b');
    if (protocol == 3) yolk__sb_putc(out, (char)('0' + p->type));
    yolk__eio_b64_encode(out, p->data, p->len);
    return;
  }
  yolk__sb_putc(out, (char)('0' + p->type));
  yolk__sb_append(out, p->data, p->len);
}

size_t yolk__eio_packet_ws_size(int protocol, const yolk_eio_packet_t *p) {
  if (p->binary) return p->len + (protocol == 3 ? 1 : 0);
  return 1 + p->len;
}

void yolk__eio_packet_ws_write(char *dst, int protocol, const yolk_eio_packet_t *p) {
  if (p->binary) {
    if (protocol == 3) *dst++ = (char)p->type; /* the type as a byte, not a digit */
  } else {
    *dst++ = (char)('0' + p->type);
  }
  if (p->len) memcpy(dst, p->data, p->len);
}

int yolk__eio_packet_decode(int protocol, int binary, const char *data, size_t len, yolk_sb_t *scratch,
                            yolk_eio_packet_t *out, const char **err) {
  memset(out, 0, sizeof(*out));
  if (binary) {
    if (protocol == 3) {
      /* v3 binary: the first byte is the packet type; only messages carry bytes */
      if (len < 1 || data[0] != YOLK_EIO_MESSAGE) {
        *err = len < 1 ? "empty binary packet" : "binary packet of a type other than message";
        return -1;
      }
      data++;
      len--;
    }
    out->type = YOLK_EIO_MESSAGE;
    out->binary = 1;
    out->data = data;
    out->len = len;
    return 0;
  }
  if (len == 0) {
    *err = "empty packet";
    return -1;
  }
  if (data[0] == 'b') {
    int type = YOLK_EIO_MESSAGE;
    const char *b64 = data + 1;
    size_t b64len = len - 1;
    if (protocol == 3) {
      if (b64len < 1 || b64[0] != '0' + YOLK_EIO_MESSAGE) {
        *err = "base64 packet of a type other than message";
        return -1;
      }
      b64++;
      b64len--;
    }
    scratch->len = 0;
    if (yolk__eio_b64_decode(scratch, b64, b64len) != 0) {
      *err = "invalid base64";
      return -1;
    }
    out->type = type;
    out->binary = 1;
    out->data = scratch->data;
    out->len = scratch->len;
    return 0;
  }
  if (data[0] < '0' || data[0] > '6') {
    *err = "unknown packet type";
    return -1;
  }
  out->type = data[0] - '0';
  out->data = data + 1;
  out->len = len - 1;
  return 0;
}

/* ---- payload encoding ------------------------------------------------------------- */

static void put_decimal_digits_as_bytes(yolk_sb_t *out, size_t n) {
  char digits[24];
  int k = 0;
  do {
    digits[k++] = (char)(n % 10);
    n /= 10;
  } while (n);
  while (k) yolk__sb_putc(out, digits[--k]);
}

void yolk__eio_payload_append(yolk_sb_t *out, int format, const yolk_eio_packet_t *p, int first) {
  switch (format) {
  case YOLK_EIO_PAYLOAD_V4:
    if (!first) yolk__sb_putc(out, '\x1e');
    yolk__eio_packet_encode_text(out, 4, p);
    return;
  case YOLK_EIO_PAYLOAD_V3_TEXT: {
    /* the length goes first, so encode behind a placeholder-free prefix: the
     * text form's unit count is known without encoding it */
    size_t units;
    if (p->binary)
      units = 2 + 4 * ((p->len + 2) / 3); /* "b4" + base64, all ASCII */
    else
      units = 1 + yolk__utf16_length(p->data, p->len);
    yolk__sb_printf(out, "%zu:", units);
    yolk__eio_packet_encode_text(out, 3, p);
    return;
  }
  case YOLK_EIO_PAYLOAD_V3_BINARY: {
    /* a string packet is its UTF-8 bytes, a binary one the type byte + data */
    size_t n = 1 + p->len;
    yolk__sb_putc(out, p->binary ? 1 : 0);
    put_decimal_digits_as_bytes(out, n);
    yolk__sb_putc(out, (char)0xFF);
    yolk__sb_putc(out, p->binary ? (char)p->type : (char)('0' + p->type));
    yolk__sb_append(out, p->data, p->len);
    return;
  }
  }
}

/* ---- payload decoding ------------------------------------------------------------- */

static int decode_v4(const char *data, size_t len, yolk_eio_packet_cb cb, void *ud, yolk_sb_t *scratch,
                     const char **err) {
  size_t start = 0;
  for (;;) {
    const char *sep = memchr(data + start, '\x1e', len - start);
    size_t end = sep ? (size_t)(sep - data) : len;
    yolk_eio_packet_t p;
    if (yolk__eio_packet_decode(4, 0, data + start, end - start, scratch, &p, err) != 0) return -1;
    if (cb(ud, &p)) return 1;
    if (!sep) return 0;
    start = end + 1;
  }
}

/* Parses the decimal length that starts v3 payload packets, from *i up to and
 * past the byte end: ASCII digits before ':' in text payloads (zero '0'),
 * digit bytes 0-9 before 0xFF in binary ones (zero 0). 0, or -1 when it is
 * empty, has another byte or more than 12 digits, or never ends. */
static int parse_length(const unsigned char *p, size_t len, size_t *i, unsigned char zero, unsigned char end,
                        size_t *out) {
  size_t n = 0, digits = 0;
  while (*i < len && p[*i] != end) {
    if (p[*i] < zero || p[*i] > zero + 9 || ++digits > 12) return -1;
    n = n * 10 + (size_t)(p[*i] - zero);
    (*i)++;
  }
  if (*i >= len || digits == 0) return -1;
  (*i)++; /* the end byte */
  *out = n;
  return 0;
}

static int decode_v3_text(const char *data, size_t len, yolk_eio_packet_cb cb, void *ud, yolk_sb_t *scratch,
                          const char **err) {
  const unsigned char *p = (const unsigned char *)data;
  size_t i = 0;
  if (len == 0) {
    *err = "empty payload";
    return -1;
  }
  while (i < len) {
    size_t units;
    if (parse_length(p, len, &i, '0', ':', &units) != 0) {
      *err = "invalid length prefix";
      return -1;
    }
    /* take `units` UTF-16 code units worth of UTF-8 bytes (an ill-formed
     * subpart is one unit: the U+FFFD a JavaScript server would read) */
    size_t start = i, got = 0;
    while (got < units && i < len) {
      uint32_t cp = 0;
      size_t bad = 0, k = p[i] < 0x80 ? (cp = p[i], 1) : yolk__utf8_decode(p + i, len - i, &cp, &bad);
      i += k ? k : bad;
      got += k && cp > 0xFFFF ? 2 : 1;
    }
    if (got != units) {
      *err = got < units ? "packet shorter than its length" : "length splits a surrogate pair";
      return -1;
    }
    if (i == start) continue; /* "0:" is an empty packet; the reference skips it */
    yolk_eio_packet_t pkt;
    if (yolk__eio_packet_decode(3, 0, data + start, i - start, scratch, &pkt, err) != 0) return -1;
    if (cb(ud, &pkt)) return 1;
  }
  return 0;
}

static int decode_v3_binary(const char *data, size_t len, yolk_eio_packet_cb cb, void *ud, yolk_sb_t *scratch,
                            const char **err) {
  const unsigned char *p = (const unsigned char *)data;
  size_t i = 0;
  if (len == 0) {
    *err = "empty payload";
    return -1;
  }
  while (i < len) {
    int is_string = p[i] == 0;
    if (p[i] > 1) {
      *err = "invalid binary payload marker";
      return -1;
    }
    i++;
    size_t n;
    if (parse_length(p, len, &i, 0, 0xFF, &n) != 0) {
      *err = "invalid binary payload length";
      return -1;
    }
    if (n > len - i) {
      *err = "packet shorter than its length";
      return -1;
    }
    yolk_eio_packet_t pkt;
    if (yolk__eio_packet_decode(3, !is_string, data + i, n, scratch, &pkt, err) != 0) return -1;
    i += n;
    if (cb(ud, &pkt)) return 1;
  }
  return 0;
}

int yolk__eio_payload_decode(int format, const char *data, size_t len, yolk_eio_packet_cb cb, void *ud,
                             const char **err) {
  yolk_sb_t scratch;
  yolk__sb_init(&scratch);
  int rc;
  *err = NULL;
  switch (format) {
  case YOLK_EIO_PAYLOAD_V4:
    rc = decode_v4(data, len, cb, ud, &scratch, err);
    break;
  case YOLK_EIO_PAYLOAD_V3_TEXT:
    rc = decode_v3_text(data, len, cb, ud, &scratch, err);
    break;
  case YOLK_EIO_PAYLOAD_V3_BINARY:
    rc = decode_v3_binary(data, len, cb, ud, &scratch, err);
    break;
  default:
    *err = "unknown payload format";
    rc = -1;
  }
  yolk__sb_free(&scratch);
  return rc;
}

/* ---- JSONP ---------------------------------------------------------------------------- */

void yolk__eio_jsonp_wrap(yolk_sb_t *out, const char *index, const char *payload, size_t len) {
  static const char hex[] = "0123456789abcdef";
  yolk__sb_puts(out, "___eio[");
  for (const char *c = index; *c; c++)
    if (*c >= '0' && *c <= '9') yolk__sb_putc(out, *c);
  yolk__sb_puts(out, "](\"");
  const unsigned char *p = (const unsigned char *)payload;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = p[i];
    switch (c) {
    case '"': yolk__sb_puts(out, "\\\""); continue;
    case '\\': yolk__sb_puts(out, "\\\\"); continue;
    case '\b': yolk__sb_puts(out, "\\b"); continue;
    case '\f': yolk__sb_puts(out, "\\f"); continue;
    case '\n': yolk__sb_puts(out, "\\n"); continue;
    case '\r': yolk__sb_puts(out, "\\r"); continue;
    case '\t': yolk__sb_puts(out, "\\t"); continue;
    default: break;
    }
    if (c < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      yolk__sb_append(out, e, 6);
    } else if (c == 0xE2 && i + 2 < len && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
      /* U+2028/U+2029 are legal in JSON strings but end a line in older JavaScript */
      yolk__sb_puts(out, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
      i += 2;
    } else {
      yolk__sb_putc(out, (char)c);
    }
  }
  yolk__sb_puts(out, "\");");
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int yolk__eio_jsonp_body(const char *body, size_t len, yolk_sb_t *out) {
  size_t i = 0;
  while (i < len) {
    const char *amp = memchr(body + i, '&', len - i);
    size_t end = amp ? (size_t)(amp - body) : len;
    if (end - i >= 2 && body[i] == 'd' && body[i + 1] == '=') {
      /* url-decode into a temporary, then undo the newline escaping */
      yolk_sb_t dec;
      yolk__sb_init(&dec);
      yolk__sb_reserve(&dec, end - i);
      for (size_t k = i + 2; k < end; k++) {
        char c = body[k];
        int h1, h2;
        if (c == '+') {
          c = ' ';
        } else if (c == '%' && k + 2 < end && (h1 = hexval(body[k + 1])) >= 0 &&
                   (h2 = hexval(body[k + 2])) >= 0) {
          c = (char)(h1 * 16 + h2);
          k += 2;
        }
        yolk__sb_putc(&dec, c);
      }
      for (size_t k = 0; k < dec.len; k++) {
        if (dec.data[k] == '\\' && k + 2 < dec.len && dec.data[k + 1] == '\\' && dec.data[k + 2] == 'n') {
          yolk__sb_append(out, "\\n", 2);
          k += 2;
        } else if (dec.data[k] == '\\' && k + 1 < dec.len && dec.data[k + 1] == 'n') {
          yolk__sb_putc(out, '\n');
          k += 1;
        } else {
          yolk__sb_putc(out, dec.data[k]);
        }
      }
      sb_terminate(out);
      yolk__sb_free(&dec);
      return 0;
    }
    i = end + 1;
  }
  return -1;
}
