/* eio_packet.h - the Engine.IO packet and payload codec (pure functions, no I/O).
 *
 * Engine.IO has two wire revisions that a server must speak at once:
 *  - v4 (socket.io v3/v4 clients): polling payloads join packets with the
 *    record separator 0x1e; binary packets are 'b' + base64 in payloads and
 *    raw bytes on WebSocket.
 *  - v3 (socket.io v2 clients): polling payloads frame each packet as
 *    "<length>:<packet>", the length counted in UTF-16 code units (what a
 *    JavaScript string's .length says, so "€" is 1 and an emoji 2); binary is
 *    "b4<base64>" when the client asked for b64, otherwise the whole payload
 *    switches to a binary framing (type byte 0 string / 1 binary, the length's
 *    decimal digits one per byte, 0xFF, the bytes). On WebSocket a binary
 *    message starts with the packet type byte (0x04).
 *
 * Ownership: decoded packets point into the input or into a scratch buffer
 * owned by the caller (or by the payload decoder for the duration of its
 * callback); nothing here keeps a pointer after returning.
 */
#ifndef YOLK_EIO_PACKET_H
#define YOLK_EIO_PACKET_H

#include <stddef.h>

#include "buf.h"
#include "utf8.h"

enum {
  YOLK_EIO_OPEN = 0,
  YOLK_EIO_CLOSE = 1,
  YOLK_EIO_PING = 2,
  YOLK_EIO_PONG = 3,
  YOLK_EIO_MESSAGE = 4,
  YOLK_EIO_UPGRADE = 5,
  YOLK_EIO_NOOP = 6,
};

typedef struct {
  int type;         /* YOLK_EIO_OPEN .. YOLK_EIO_NOOP */
  int binary;       /* data is binary (only message packets carry binary) */
  const char *data; /* may be NULL when len == 0 */
  size_t len;
} yolk_eio_packet_t;

/* ---- base64 (OpenSSL EVP_EncodeBlock / EVP_DecodeBlock underneath) ------- */

/* Appends the padded base64 of data to out. */
void yolk__eio_b64_encode(yolk_sb_t *out, const void *data, size_t len);
/* Appends the decoded bytes to out. Accepts padded or unpadded standard
 * base64 (Node's Buffer.from(s, "base64") is lenient about padding; clients
 * pad). Returns 0, or -1 on a character outside the alphabet, misplaced '=',
 * or an impossible length (out unchanged then). */
int yolk__eio_b64_decode(yolk_sb_t *out, const char *s, size_t len);

/* ---- single packets ----------------------------------------------------- */

/* Appends the text form of p: "<type digit><data>", or for binary "b<base64>"
 * (v4) / "b4<base64>" (v3). */
void yolk__eio_packet_encode_text(yolk_sb_t *out, int protocol, const yolk_eio_packet_t *p);

/* Size and bytes of the WebSocket message carrying p (send it as a binary
 * frame when p->binary, text otherwise): text "<type><data>"; binary the raw
 * bytes (v4) or 0x04 + bytes (v3). ws_write writes exactly ws_size bytes, so
 * an encoder can write straight into a frame buffer. */
size_t yolk__eio_packet_ws_size(int protocol, const yolk_eio_packet_t *p);
void yolk__eio_packet_ws_write(char *dst, int protocol, const yolk_eio_packet_t *p);

/* Decodes one packet: a WebSocket message (binary says which frame type) or
 * one element of a payload. Text starting with 'b' is a base64 binary message
 * whose bytes are appended to scratch (cleared first) and out->data points
 * there. Returns 0, or -1 with *err set (unknown type, bad base64, empty). */
int yolk__eio_packet_decode(int protocol, int binary, const char *data, size_t len, yolk_sb_t *scratch,
                            yolk_eio_packet_t *out, const char **err);

/* ---- payloads (HTTP long-polling bodies) ---------------------------------- */

enum {
  YOLK_EIO_PAYLOAD_V4 = 0,        /* packets joined with 0x1e */
  YOLK_EIO_PAYLOAD_V3_TEXT = 1,   /* "<utf16 length>:<packet>"... */
  YOLK_EIO_PAYLOAD_V3_BINARY = 2, /* the v3 binary framing (application/octet-stream) */
};

/* Appends one packet to a payload being built in out; first says whether it
 * is the first packet (v4 puts the separator between packets). */
void yolk__eio_payload_append(yolk_sb_t *out, int format, const yolk_eio_packet_t *p, int first);

/* Called for each decoded packet, in order; return non-zero to stop. */
typedef int (*yolk_eio_packet_cb)(void *ud, const yolk_eio_packet_t *p);

/* Decodes a payload, delivering packets as they are parsed (as the reference
 * does: packets before a malformed one are still delivered). Returns 0 when
 * all were delivered, 1 when cb stopped, -1 on malformed input with *err set
 * (empty payload, bad length, truncated packet, bad packet). */
int yolk__eio_payload_decode(int format, const char *data, size_t len, yolk_eio_packet_cb cb, void *ud,
                             const char **err);


/* ---- JSONP (v3 polling with j=N) ------------------------------------------ */

/* Appends ___eio[<index>]("<payload as a JSON string>"); U+2028/U+2029 are
 * escaped too so the result is valid JavaScript. index is digits only. */
void yolk__eio_jsonp_wrap(yolk_sb_t *out, const char *index, const char *payload, size_t len);
/* Extracts the form field d= from a JSONP POST body (url-decoded, '+' as
 * space) and undoes the client's newline escaping ("\\n" -> newline,
 * "\\\\n" -> "\\n"), appending to out. Returns 0, or -1 when there is no d. */
int yolk__eio_jsonp_body(const char *body, size_t len, yolk_sb_t *out);

#endif
