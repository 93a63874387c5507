/* hashmap.c - see hashmap.h */
#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* FNV-1a: short keys (room names, socket ids), no need for anything stronger. */
uint32_t yolk__hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  return h;
}

static uint32_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (uint32_t)x;
}

/* ---- string keys ---------------------------------------------------------- */

void yolk__smap_init(yolk_smap_t *m) {
  m->slots = NULL;
  m->cap = m->len = 0;
  m->borrowed = 0;
}

void yolk__smap_init_borrowed(yolk_smap_t *m) {
  yolk__smap_init(m);
  m->borrowed = 1;
}

void yolk__smap_free(yolk_smap_t *m) {
  int borrowed = m->borrowed;
  if (!borrowed)
    for (size_t i = 0; i < m->cap; i++) free(m->slots[i].key);
  free(m->slots);
  yolk__smap_init(m);
  m->borrowed = borrowed;
}

static size_t smap_find(const yolk_smap_t *m, const char *key, uint32_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const yolk_smap_slot_t *s = &m->slots[i];
    if (!s->key || (s->hash == h && strcmp(s->key, key) == 0)) return i;
  }
}

static void smap_grow(yolk_smap_t *m) {
  size_t old_cap = m->cap;
  yolk_smap_slot_t *old = m->slots;
  m->cap = old_cap ? old_cap * 2 : 8;
  m->slots = yolk__calloc(m->cap, sizeof(*m->slots));
  for (size_t i = 0; i < old_cap; i++) {
    if (!old[i].key) continue;
    size_t j = smap_find(m, old[i].key, old[i].hash);
    m->slots[j] = old[i];
  }
  free(old);
}

void *yolk__smap_get(const yolk_smap_t *m, const char *key) {
  if (!m->len) return NULL;
  size_t i = smap_find(m, key, yolk__hash_str(key));
  return m->slots[i].key ? m->slots[i].value : NULL;
}

const char *yolk__smap_key(const yolk_smap_t *m, const char *key) {
  if (!m->len) return NULL;
  size_t i = smap_find(m, key, yolk__hash_str(key));
  return m->slots[i].key;
}

void *yolk__smap_put(yolk_smap_t *m, const char *key, void *value) {
  if ((m->len + 1) * 4 > m->cap * 3) smap_grow(m); /* load factor <= 3/4 */
  uint32_t h = yolk__hash_str(key);
  size_t i = smap_find(m, key, h);
  yolk_smap_slot_t *s = &m->slots[i];
  if (s->key) {
    void *prev = s->value;
    s->value = value;
    if (m->borrowed) s->key = (char *)key;
    return prev;
  }
  s->key = m->borrowed ? (char *)key : yolk__strndup(key, strlen(key));
  s->hash = h;
  s->value = value;
  m->len++;
  return NULL;
}

void *yolk__smap_del(yolk_smap_t *m, const char *key) {
  if (!m->len) return NULL;
  size_t mask = m->cap - 1;
  size_t i = smap_find(m, key, yolk__hash_str(key));
  if (!m->slots[i].key) return NULL;
  void *value = m->slots[i].value;
  if (!m->borrowed) free(m->slots[i].key);
  /* Backward-shift: pull later entries of the probe run into the hole when
   * their home slot is not between the hole and their current slot. */
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!m->slots[j].key) break;
    size_t home = m->slots[j].hash & mask;
    if (((j - home) & mask) >= ((j - i) & mask)) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].key = NULL;
  m->slots[i].value = NULL;
  m->len--;
  return value;
}

/* ---- pointer keys --------------------------------------------------------- */

void yolk__pmap_init(yolk_pmap_t *m) {
  m->slots = NULL;
  m->cap = m->len = 0;
}

void yolk__pmap_free(yolk_pmap_t *m) {
  free(m->slots);
  yolk__pmap_init(m);
}

static size_t pmap_find(const yolk_pmap_t *m, const void *key) {
  size_t mask = m->cap - 1;
  for (size_t i = hash_ptr(key) & mask;; i = (i + 1) & mask) {
    if (!m->slots[i].key || m->slots[i].key == key) return i;
  }
}

static void pmap_grow(yolk_pmap_t *m) {
  size_t old_cap = m->cap;
  yolk_pmap_slot_t *old = m->slots;
  m->cap = old_cap ? old_cap * 2 : 8;
  m->slots = yolk__calloc(m->cap, sizeof(*m->slots));
  for (size_t i = 0; i < old_cap; i++) {
    if (!old[i].key) continue;
    m->slots[pmap_find(m, old[i].key)] = old[i];
  }
  free(old);
}

int yolk__pmap_get(const yolk_pmap_t *m, const void *key, void **value) {
  if (!m->len) return 0;
  size_t i = pmap_find(m, key);
  if (!m->slots[i].key) return 0;
  if (value) *value = m->slots[i].value;
  return 1;
}

int yolk__pmap_put(yolk_pmap_t *m, const void *key, void *value) {
  if ((m->len + 1) * 4 > m->cap * 3) pmap_grow(m);
  size_t i = pmap_find(m, key);
  int fresh = m->slots[i].key == NULL;
  m->slots[i].key = key;
  m->slots[i].value = value;
  if (fresh) m->len++;
  return fresh;
}

int yolk__pmap_del(yolk_pmap_t *m, const void *key) {
  if (!m->len) return 0;
  size_t mask = m->cap - 1;
  size_t i = pmap_find(m, key);
  if (!m->slots[i].key) return 0;
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!m->slots[j].key) break;
    size_t home = hash_ptr(m->slots[j].key) & mask;
    if (((j - home) & mask) >= ((j - i) & mask)) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].key = NULL;
  m->slots[i].value = NULL;
  m->len--;
  return 1;
}
