/* test_hashmap.c - the string and pointer hash maps: insert, replace, lookup,
 * delete with backward shift (checked against a plain array model under many
 * random operations), iteration, and growth. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "test.h"

static void test_smap_basics(void) {
  yolk_smap_t m;
  yolk__smap_init(&m);
  CHECK(yolk__smap_get(&m, "a") == NULL);
  CHECK(yolk__smap_del(&m, "a") == NULL);
  int one = 1, two = 2;
  CHECK(yolk__smap_put(&m, "a", &one) == NULL);
  CHECK(yolk__smap_get(&m, "a") == &one);
  CHECK(yolk__smap_put(&m, "a", &two) == &one); /* replace returns the old value */
  CHECK(yolk__smap_get(&m, "a") == &two);
  CHECK_EQ_INT(m.len, 1);
  char key[] = "copied";
  yolk__smap_put(&m, key, &one);
  key[0] = 'X'; /* the map keeps its own copy */
  CHECK(yolk__smap_get(&m, "copied") == &one);
  CHECK_STR(yolk__smap_key(&m, "copied"), "copied");
  CHECK(yolk__smap_get(&m, "") == NULL);
  yolk__smap_put(&m, "", &two); /* the empty string is a valid key */
  CHECK(yolk__smap_get(&m, "") == &two);
  CHECK(yolk__smap_del(&m, "a") == &two);
  CHECK(yolk__smap_get(&m, "a") == NULL);
  CHECK_EQ_INT(m.len, 2);
  yolk__smap_free(&m);
  CHECK_EQ_INT(m.len, 0);
}

/* Random operations on 200 keys, checked against an array model. Small key
 * space + many deletes exercise long probe runs and backward shifting. */
static void test_smap_model(void) {
  enum { KEYS = 200, OPS = 200000 };
  yolk_smap_t m;
  yolk__smap_init(&m);
  static int vals[KEYS];
  int present[KEYS] = {0};
  char key[32];
  unsigned seed = 12345;
  int bad = 0;
  for (int op = 0; op < OPS; op++) {
    seed = seed * 1103515245u + 12345u;
    int k = (int)((seed >> 8) % KEYS);
    snprintf(key, sizeof(key), "room-%d", k);
    if ((seed >> 20) % 3 == 0) {
      void *v = yolk__smap_del(&m, key);
      if ((v != NULL) != present[k]) bad++;
      present[k] = 0;
    } else {
      yolk__smap_put(&m, key, &vals[k]);
      present[k] = 1;
    }
    if (op % 997 == 0) {
      size_t n = 0;
      for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "room-%d", i);
        void *v = yolk__smap_get(&m, key);
        if ((v != NULL) != present[i] || (v && v != &vals[i])) bad++;
        n += (size_t)present[i];
      }
      if (n != m.len) bad++;
    }
  }
  CHECK_EQ_INT(bad, 0);
  size_t seen = 0;
  for (size_t i = 0; i < m.cap; i++) if (m.slots[i].key) seen++;
  CHECK_EQ_INT(seen, m.len);
  yolk__smap_free(&m);
}

static void test_pmap(void) {
  enum { N = 5000 };
  yolk_pmap_t m;
  yolk__pmap_init(&m);
  char *objs = malloc(N);
  for (int i = 0; i < N; i++) CHECK_EQ_INT(yolk__pmap_put(&m, objs + i, (void *)(intptr_t)(i + 1)), 1);
  CHECK_EQ_INT(m.len, N);
  CHECK_EQ_INT(yolk__pmap_put(&m, objs, (void *)(intptr_t)7), 0); /* replace: not new */
  void *v = NULL;
  CHECK(yolk__pmap_get(&m, objs, &v) && v == (void *)(intptr_t)7);
  CHECK(yolk__pmap_get(&m, objs + 1, NULL));
  int bad = 0;
  for (int i = 0; i < N; i += 3) bad += yolk__pmap_del(&m, objs + i) != 1;
  for (int i = 0; i < N; i += 3) bad += yolk__pmap_del(&m, objs + i) != 0;
  for (int i = 0; i < N; i++) {
    int want = i % 3 != 0;
    if (yolk__pmap_get(&m, objs + i, &v) != want) bad++;
    else if (want && v != (void *)(intptr_t)(i + 1)) bad++;
  }
  CHECK_EQ_INT(bad, 0);
  size_t seen = 0;
  for (size_t i = 0; i < m.cap; i++) if (m.slots[i].key) seen++;
  CHECK_EQ_INT(seen, m.len);
  CHECK_EQ_INT(m.len, N - (N + 2) / 3);
  yolk__pmap_free(&m);
  CHECK(!yolk__pmap_get(&m, objs + 1, NULL));
  free(objs);
}

/* Borrowed keys: the map keeps the caller's pointers (a value's own string),
 * a replacing put takes the new pointer, nothing is freed but the table. */
static void test_smap_borrowed(void) {
  yolk_smap_t m;
  yolk__smap_init_borrowed(&m);
  char k1[] = "sock-1", k2[] = "sock-1", k3[] = "sock-2";
  int one = 1, two = 2;
  CHECK(yolk__smap_put(&m, k1, &one) == NULL);
  CHECK(yolk__smap_key(&m, "sock-1") == k1);
  CHECK(yolk__smap_put(&m, k2, &two) == &one); /* replaced: the key is the new value's */
  CHECK(yolk__smap_key(&m, "sock-1") == k2);
  yolk__smap_put(&m, k3, &one);
  for (int i = 0; i < 100; i++) { /* growth moves slots, not keys */
    char *k = malloc(16);
    snprintf(k, 16, "k%d", i);
    yolk__smap_put(&m, k, k);
  }
  CHECK(yolk__smap_key(&m, "sock-2") == k3);
  for (int i = 0; i < 100; i++) {
    char name[16];
    snprintf(name, sizeof(name), "k%d", i);
    free(yolk__smap_del(&m, name)); /* the value owns the key: freed after removal */
  }
  CHECK(yolk__smap_del(&m, "sock-1") == &two);
  CHECK_EQ_INT(m.len, 1);
  yolk__smap_free(&m);
  CHECK(m.borrowed);
}

int main(void) {
  test_smap_basics();
  test_smap_borrowed();
  test_smap_model();
  test_pmap();
  TEST_MAIN_END();
}
