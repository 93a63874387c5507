/* sio_packet.h - Socket.IO packet codec (protocol v5 and v4), internal.
 *
 * Text form: <type>[<attachments>-][<nsp>,][<ack id>][<JSON>]
 *   - the namespace only when it is not "/";
 *   - <attachments> only for BINARY_EVENT (5) and BINARY_ACK (6); that many
 *     Engine.IO binary messages follow, and the JSON holds placeholders
 *     {"_placeholder":true,"num":i} where the binary values were.
 *
 * The decoder applies the reference server's checks (socket.io-parser's
 * decodeString / isPayloadValid) in one pass of the JSON reader, without
 * building anything: the payload is handed on as the text it came as. It
 * names the first thing that was wrong, so the caller can log it and close
 * the connection.
 */
#ifndef YOLK_SIO_PACKET_H
#define YOLK_SIO_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum {
  YOLK_SIO_PKT_CONNECT = 0,
  YOLK_SIO_PKT_DISCONNECT = 1,
  YOLK_SIO_PKT_EVENT = 2,
  YOLK_SIO_PKT_ACK = 3,
  YOLK_SIO_PKT_CONNECT_ERROR = 4, /* "ERROR" in protocol v4 */
  YOLK_SIO_PKT_BINARY_EVENT = 5,
  YOLK_SIO_PKT_BINARY_ACK = 6,
};

/* Largest ack id accepted (JavaScript's Number.MAX_SAFE_INTEGER): ids are
 * numbers on the client, a larger one could not come back unchanged. */
#define YOLK_SIO_MAX_ACK_ID 9007199254740991LL

/* A decoded packet: every pointer points into the decoded text. */
typedef struct {
  int type;
  const char *nsp; /* "/" when absent; v4 may carry "?query" */
  size_t nsp_len;
  int64_t id;           /* ack id, -1 when absent */
  unsigned attachments; /* binary types only */
  const char *data;     /* the JSON payload; NULL (len 0) when there was none */
  size_t data_len;
} yolk_sio_decoded_t;

/* Decodes and checks one text message. 0 on success, or -1 with *why set to a
 * static description for the log line. max_depth bounds the payload's JSON
 * nesting. Placeholders must index the attachments the packet announces. */
int yolk__sio_decode(const char *s, size_t len, unsigned max_attachments, unsigned max_depth, yolk_sio_decoded_t *p,
                     const char **why);

/* 1 when the event name (first element of an EVENT array) is reserved by
 * Socket.IO and must not come from a client. */
int yolk__sio_is_reserved_event(const char *name, size_t len);

/* Checks an argument array produced by the server side before it is sent:
 * need_event: the first element is a string that is not reserved, or a
 * number; placeholders only when nbins > 0 (or when the text mentions
 * "_placeholder"), each indexing one of nbins. The JSON itself is trusted
 * (it comes from yolk's own writer or from the embedder, whose contract says
 * it is valid). 0, or -1 with *why. */
int yolk__sio_check_args(const char *json, size_t len, size_t nbins, int need_event, const char **why);

/* Writes the packet head into out: type, attachments (binary types),
 * namespace (when not "/"), ack id (id >= 0); returns its length. out needs
 * YOLK_SIO_HEAD_MAX(strlen(nsp)) bytes. The JSON payload follows, written by
 * the caller. nsp NULL means "/". */
#define YOLK_SIO_HEAD_MAX(nsp_len) (1 + 21 + (nsp_len) + 1 + 21)
size_t yolk__sio_encode_head(char *out, int type, const char *nsp, int64_t id, size_t attachments);

/* Splits a v4 namespace "/nsp?a=1&b=2" into its path (returned, malloc'd)
 * and the JSON text of the query as an object (appended to query_json: names
 * in first-appearance order, the last value of a repeated name, decoded by
 * query.h, as URLSearchParams + Object.fromEntries give it). */
char *yolk__sio_split_nsp_query(const char *nsp, size_t len, yolk_sb_t *query_json);

/* Appends the JSON object of a query string (see yolk__sio_split_nsp_query). */
void yolk__sio_query_object(yolk_sb_t *out, const char *qs, size_t len);

#endif
