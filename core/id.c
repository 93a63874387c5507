/* id.c - see id.h */
#include "id.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

const char yolk__id_alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* RAND_bytes has a fixed cost per call (in OpenSSL 3 a DRBG request through
 * the provider layer: about 7,000 instructions, a third of a whole
 * connect-and-disconnect) and a small one per byte, so ids take their bytes
 * from a pool that one call fills. The pool is per thread and forgotten in a
 * forked child (pthread_atfork): two processes never hand out the same bytes.
 * Bytes are cleared as they are taken. */
#define POOL_SIZE 512
static _Thread_local unsigned char pool[POOL_SIZE];
static _Thread_local size_t pool_left;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void pool_forget(void) {
  memset(pool, 0, sizeof(pool));
  pool_left = 0;
}

static void atfork_register(void) { pthread_atfork(NULL, NULL, pool_forget); }

/* k (<= POOL_SIZE) random bytes into raw. */
static void random_bytes(unsigned char *raw, size_t k) {
  if (pool_left < k) {
    pthread_once(&atfork_once, atfork_register);
    if (RAND_bytes(pool, POOL_SIZE) != 1) {
      /* OpenSSL's generator does not fail once seeded; if it ever does, an
       * id that is only unique is still better than no session. */
      pool_forget();
      for (size_t i = 0; i < k; i++) raw[i] = (unsigned char)(rand() & 0xFF);
      return;
    }
    pool_left = POOL_SIZE;
  }
  pool_left -= k;
  memcpy(raw, pool + pool_left, k);
  memset(pool + pool_left, 0, k);
}

void yolk__random_id(char *out, size_t n) {
  unsigned char raw[64];
  size_t done = 0;
  while (done < n) {
    size_t k = n - done < sizeof(raw) ? n - done : sizeof(raw);
    random_bytes(raw, k);
    /* 6 random bits per character: every character equally likely */
    for (size_t i = 0; i < k; i++) out[done + i] = yolk__id_alphabet[raw[i] & 63];
    done += k;
  }
  out[n] = '\0';
}
