/* ws.h - WebSocket (RFC 6455) server connections (internal).
 *
 * The layer above gets whole messages (fragments joined, UTF-8 of text
 * checked) and sends frames built once into shared buffers: server frames are
 * never masked, so the same yolk_buf_t can be queued on any number of
 * connections (encode-once broadcast).
 *
 * Errors close only the offending connection with the RFC's code and a log
 * line: protocol error 1002 (unmasked client frame, reserved bits/opcodes,
 * fragmented or oversized control frame, continuation without start, ...),
 * invalid UTF-8 in text 1007, message over max_message_size 1009.
 * Pings are answered with pongs here; close frames are echoed.
 */
#ifndef YOLK_WS_H
#define YOLK_WS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "utf8.h"

enum {
  YOLK_WS_OP_CONT = 0x0,
  YOLK_WS_OP_TEXT = 0x1,
  YOLK_WS_OP_BINARY = 0x2,
  YOLK_WS_OP_CLOSE = 0x8,
  YOLK_WS_OP_PING = 0x9,
  YOLK_WS_OP_PONG = 0xA,
};

typedef struct yolk_ws_s yolk_ws_t;

typedef struct {
  /* One complete message; data is valid only during the call. */
  void (*on_message)(yolk_ws_t *ws, int binary, const char *data, size_t len, void *ud);
  /* The connection is gone (closing handshake done, peer vanished, or error).
   * code: the one we sent if we closed first (or failed the connection with
   * 1002/1007/1009), else the one the peer sent (1005 for an empty close
   * frame), 1006 when no close frame was exchanged. ws is freed right after
   * this returns. Called exactly once, always from the loop (never from
   * inside a yolk__ws_* call). */
  void (*on_close)(yolk_ws_t *ws, int code, void *ud);
  /* The peer left more than max_backlog bytes unread after a loop
   * iteration's writes (called once; optional). */
  void (*on_backlog)(yolk_ws_t *ws, size_t pending, void *ud);
  size_t max_message_size; /* 0: 100 MB */
  size_t max_backlog;      /* 0: no limit */
} yolk_ws_handler_t;

/* Validates the upgrade request (GET, Upgrade: websocket, Connection: upgrade,
 * Sec-WebSocket-Version: 13, a valid Sec-WebSocket-Key), answers 101 with
 * Sec-WebSocket-Accept, and takes the connection over. On a bad request it
 * answers 400 (and frees req) and returns NULL. handler must outlive ws. */
yolk_ws_t *yolk__ws_accept(yolk_http_req_t *req, const yolk_ws_handler_t *handler, void *ud);

void yolk__ws_set_ud(yolk_ws_t *ws, void *ud);

/* One complete unmasked server frame (header + payload) in a new buffer, refs = 1. */
yolk_buf_t *yolk__ws_frame_new(int opcode, const void *payload, size_t len);
/* A frame buffer with the header written and room for len payload bytes
 * starting at data + *payload_off, for encoders that write in place. */
yolk_buf_t *yolk__ws_frame_alloc(int opcode, size_t len, size_t *payload_off);

/* Queues a frame built above (takes one reference). 0, or -1 when closing/closed. */
int yolk__ws_send_frame(yolk_ws_t *ws, yolk_buf_t *frame);
/* Builds and queues one frame. */
int yolk__ws_send(yolk_ws_t *ws, int opcode, const void *payload, size_t len);
/* Starts the closing handshake (sends a close frame with code/reason; code 0
 * sends an empty close payload and reports 1005); the TCP connection closes
 * when the peer answers or after a 1 s grace period. Sends fail afterwards. */
void yolk__ws_close(yolk_ws_t *ws, int code, const char *reason);
/* Bytes queued and not yet written (for volatile emits / backpressure). */
size_t yolk__ws_pending(yolk_ws_t *ws);
/* 1 while earlier writes still wait for the kernel (the peer is behind). */
int yolk__ws_backlogged(yolk_ws_t *ws);
/* Closes the TCP connection now, dropping what is queued (no closing
 * handshake: for a peer that does not read); on_close follows from the loop. */
void yolk__ws_abort(yolk_ws_t *ws);

/* ---- frame parser, exposed for unit tests ------------------------------- */

typedef struct {
  /* configuration */
  size_t max_message_size;
  /* results/callbacks */
  void (*on_message)(void *ud, int opcode, const char *data, size_t len); /* TEXT/BINARY (joined), PING, PONG, CLOSE */
  void *ud;
  const char *error;   /* what was wrong, for the log */
  /* state (private) */
  /* A message that arrives whole in one feed is unmasked into a buffer
   * shared by every parser (a control frame: onto the stack) and handed up
   * from there; only one that spans feeds (or fragments) is collected in
   * buffers of the parser's own, which go once it is handed up: an idle
   * connection holds none. */
  struct yolk_ws_held_s *held;
  uint64_t remaining;  /* payload bytes of the current frame still to come */
  uint32_t utf8_state; /* incremental UTF-8 validation of text fragments */
  uint16_t error_code; /* close code after a fatal error, else 0 */
  uint8_t message_opcode; /* 0 when no fragmented message is in progress */
  /* The parser streams: a frame's payload is unmasked as it arrives, so
   * nothing waits for a whole frame and bytes may come one by one. */
  uint8_t frame_opcode;
  unsigned char hdr[14]; /* header bytes so far */
  unsigned char mask[4];
  uint8_t hdr_len;
  uint8_t mask_pos;
  unsigned in_payload : 1; /* 0: reading a frame header, 1: its payload */
  unsigned frame_fin : 1;
  unsigned closed : 1; /* a close frame was parsed: later bytes are ignored */
} yolk_ws_parser_t;

void yolk__ws_parser_init(yolk_ws_parser_t *p, size_t max_message_size,
                          void (*on_message)(void *ud, int opcode, const char *data, size_t len), void *ud);
void yolk__ws_parser_free(yolk_ws_parser_t *p);
/* Feeds bytes; returns 0, or the close code (1002/1007/1009) after a fatal
 * error (p->error says why; nothing more is parsed). CLOSE payloads are
 * checked here (length 1, invalid code: 1002; reason not UTF-8: 1007) before
 * on_message sees them. */
int yolk__ws_parser_feed(yolk_ws_parser_t *p, const char *data, size_t len);


/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)),
 * written NUL-terminated into out (28 characters). 0, or -1 on failure. */
int yolk__ws_accept_key(const char *key, char out[32]);
/* 1 when a received close code is one a peer may send (RFC 6455 7.4). */
int yolk__ws_close_code_valid(int code);

#endif
