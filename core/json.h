/* json.h - parsing JSON text received from clients (Socket.IO packets, HTTP
 * bodies) with cJSON, the way JavaScript's JSON.parse reads it. */
#ifndef YOLK_JSON_H
#define YOLK_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Parses exactly s[0..len) as one JSON value: whitespace around it is
 * allowed, anything else after it is an error (JSON.parse's rules). Lone
 * surrogate escapes ("\ud83d", from a JavaScript string cut inside an emoji),
 * which JSON.parse accepts and cJSON refuses, become U+FFFD. Returns a tree
 * the caller frees with cJSON_Delete, or NULL; then *err_pos (if not NULL)
 * is the byte offset where parsing stopped. */
cJSON *yolk__json_parse(const char *s, size_t len, size_t *err_pos);

#endif
