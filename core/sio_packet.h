/* sio_packet.h - Socket.IO packet codec (protocol v5 and v4), internal.
 *
 * Text form: <type>[<attachments>-][<nsp>,][<ack id>][<JSON>]
 *   - the namespace only when it is not "/";
 *   - <attachments> only for BINARY_EVENT (5) and BINARY_ACK (6); that many
 *     Engine.IO binary messages follow, and the JSON holds placeholders
 *     {"_placeholder":true,"num":i} where the binary values were.
 *
 * The decoder applies the reference server's checks (socket.io-parser's
 * decodeString / isPayloadValid) and names the first thing that was wrong, so
 * the caller can log it and close the connection.
 */
#ifndef YOLK_SIO_PACKET_H
#define YOLK_SIO_PACKET_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

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

typedef struct {
  int type;
  char *nsp;            /* owned; "/" when absent. v4 may carry "?query" */
  int64_t id;           /* ack id, -1 when absent */
  unsigned attachments; /* binary types only */
  cJSON *data;          /* owned; NULL when there was no payload */
} yolk_sio_packet_t;

/* Decodes one text message. On success returns 0 and fills *p (free it with
 * yolk__sio_packet_free). On failure returns -1, sets *why to a static
 * description for the log line, and leaves *p empty. */
int yolk__sio_decode(const char *s, size_t len, unsigned max_attachments, yolk_sio_packet_t *p, const char **why);
void yolk__sio_packet_free(yolk_sio_packet_t *p);

/* 1 when the event name (first element of an EVENT array) is reserved by
 * Socket.IO and must not come from a client. */
int yolk__sio_is_reserved_event(const char *name);

/* Checks that every placeholder in data ({"_placeholder":true,"num":i}) has an
 * integer num in [0, nbins). Returns 0, or -1 with *why set. */
int yolk__sio_check_placeholders(const cJSON *data, size_t nbins, const char **why);

/* Appends the text form of a packet to sb. nsp NULL means "/"; id < 0 means
 * none; data NULL means no payload; attachments is written for the binary
 * types only. */
void yolk__sio_encode(yolk_sb_t *sb, int type, const char *nsp, int64_t id, const cJSON *data,
                      size_t attachments);

/* Splits a v4 namespace "/nsp?a=1&b=2" into its path (returned, malloc'd) and
 * the query parsed into a new object {"a":"1","b":"2"} (percent-decoding and
 * '+' as space, as URLSearchParams does). *query_obj is always set. */
char *yolk__sio_split_nsp_query(const char *nsp, cJSON **query_obj);

#endif
