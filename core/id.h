/* id.h - random identifiers: Engine.IO session ids and Socket.IO socket ids.
 *
 * Both are what the reference server makes (engine.io's base64id, socket.io's
 * 20-character ids): unguessable tokens in the URL-safe base64 alphabet
 * (A-Z a-z 0-9 - _), drawn from OpenSSL's RAND_bytes, so that a client can
 * neither predict nor take over another client's session. */
#ifndef YOLK_ID_H
#define YOLK_ID_H

#include <stddef.h>

/* The characters an id is made of. */
extern const char yolk__id_alphabet[64];

/* Writes n random characters of yolk__id_alphabet and a NUL into out
 * (n + 1 bytes). */
void yolk__random_id(char *out, size_t n);

#endif
