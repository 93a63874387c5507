/* json_msgpack.h - JSON text (with Socket.IO attachments) <-> MessagePack,
 * for what yolk exchanges with other nodes through Redis (internal).
 *
 * The Redis adapter speaks @socket.io/redis-adapter's format: broadcasts and
 * some requests are MessagePack (notepack.io on the Node side), where binary
 * values are `bin` and everything else is what JSON would be. yolk carries
 * arguments as JSON text whose binary values are placeholders
 * {"_placeholder":true,"num":i} indexing an attachment list; these two
 * functions convert between the two forms (MessagePack through msgpack-c,
 * JSON through the core's one reader and writer, json.h).
 *
 *  - JSON -> MessagePack: objects become maps (keys in order), integral
 *    numbers that fit become integers, others float64, a placeholder
 *    becomes the `bin` of its attachment.
 *  - MessagePack -> JSON: a `bin` becomes a placeholder and an attachment
 *    (pointing into the unpacked data: valid while its zone lives); notepack
 *    writes JavaScript's `undefined` as the extension type 0: it is dropped
 *    from maps and becomes null in arrays, as JSON.stringify would write it;
 *    other extensions become null; map keys that are not strings become
 *    the property names JavaScript makes of them (String(key): 1 -> "1",
 *    [1,2] -> "1,2", a map -> "[object Object]", bytes as text).
 */
#ifndef YOLK_JSON_MSGPACK_H
#define YOLK_JSON_MSGPACK_H

#include <msgpack.h>

#include "buf.h"
#include "yolk.h"

/* Packs the JSON value json[0..len) into pk. 0, or -1 when the text is not
 * valid JSON. */
int yolk__json_to_msgpack(msgpack_packer *pk, const char *json, size_t len, const yolk_sio_bin_t *bins, size_t nbins);

/* Attachments collected while converting MessagePack to JSON. */
typedef struct {
  yolk_sio_bin_t *v;
  size_t n, cap;
} yolk_bins_t;
void yolk__bins_free(yolk_bins_t *b);

/* Appends the JSON text of o to out; bins collect the binary values (NULL:
 * binary values become null). */
void yolk__msgpack_to_json(yolk_sb_t *out, const msgpack_object *o, yolk_bins_t *bins);

/* The value of key in the map o, or NULL (o not a map, or no such key). */
const msgpack_object *yolk__msgpack_get(const msgpack_object *o, const char *key);
/* The string o as a pointer and length (0 and NULL when o is not a string;
 * never NULL for a string, the empty one included). */
const char *yolk__msgpack_str(const msgpack_object *o, size_t *len);
/* o as a number (integers and floats); def when it is none. */
double yolk__msgpack_num(const msgpack_object *o, double def);

#endif
