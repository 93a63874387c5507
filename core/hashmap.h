/* hashmap.h - two small open-addressing hash tables used by the Socket.IO
 * layer and the in-memory adapter (rooms, socket ids, per-socket room sets).
 *
 *  - yolk_smap_t: NUL-terminated string keys (copied and owned by the map,
 *    or borrowed from the values) -> void * values (not owned).
 *  - yolk_pmap_t: pointer keys -> void * values; a pointer set is a pmap whose
 *    values are ignored.
 *
 * Linear probing with backward-shift deletion (no tombstones), so lookups stay
 * short however many insert/delete cycles a long-lived room goes through.
 * Iteration walks the slots: `for (i = 0; i < m.cap; i++) if (m.slots[i].key)`.
 * Inserting or removing while iterating is not allowed (slots move); callers
 * that must mutate collect the keys first.
 */
#ifndef YOLK_HASHMAP_H
#define YOLK_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *key; /* NULL: empty slot */
  uint32_t hash;
  void *value;
} yolk_smap_slot_t;

typedef struct {
  yolk_smap_slot_t *slots;
  size_t cap; /* 0 or a power of two */
  size_t len;
  int borrowed; /* the keys are the values' own strings (yolk__smap_init_borrowed) */
} yolk_smap_t;

void yolk__smap_init(yolk_smap_t *m);
/* A map whose keys are not copied: each key passed to put must stay valid
 * (and unchanged) until the entry is removed, as a string inside the value
 * does (a socket's id, a room's name). A put that replaces a value takes the
 * new key pointer too. */
void yolk__smap_init_borrowed(yolk_smap_t *m);
/* Frees the keys and the table (not the values). */
void yolk__smap_free(yolk_smap_t *m);
void *yolk__smap_get(const yolk_smap_t *m, const char *key);
/* The stored key (stable until removed) or NULL. */
const char *yolk__smap_key(const yolk_smap_t *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *yolk__smap_put(yolk_smap_t *m, const char *key, void *value);
/* Removes; returns the value or NULL when absent. */
void *yolk__smap_del(yolk_smap_t *m, const char *key);

typedef struct {
  const void *key; /* NULL: empty slot (NULL cannot be stored) */
  void *value;
} yolk_pmap_slot_t;

typedef struct {
  yolk_pmap_slot_t *slots;
  size_t cap;
  size_t len;
} yolk_pmap_t;

void yolk__pmap_init(yolk_pmap_t *m);
void yolk__pmap_free(yolk_pmap_t *m);
/* 1 when key is present (its value in *value if value is not NULL). */
int yolk__pmap_get(const yolk_pmap_t *m, const void *key, void **value);
/* Inserts or replaces; returns 1 if the key was new. */
int yolk__pmap_put(yolk_pmap_t *m, const void *key, void *value);
/* Removes; returns 1 if the key was present. */
int yolk__pmap_del(yolk_pmap_t *m, const void *key);

uint32_t yolk__hash_str(const char *s);

#endif
