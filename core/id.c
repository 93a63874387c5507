/* id.c - see id.h */
#include "id.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/rand.h>

const char yolk__id_alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void yolk__random_id(char *out, size_t n) {
  unsigned char raw[64];
  size_t done = 0;
  while (done < n) {
    size_t k = n - done < sizeof(raw) ? n - done : sizeof(raw);
    if (RAND_bytes(raw, (int)k) != 1) {
      /* OpenSSL's generator does not fail once seeded; if it ever does, an
       * id that is only unique is still better than no session. */
      for (size_t i = 0; i < k; i++) raw[i] = (unsigned char)(rand() & 0xFF);
    }
    /* 6 random bits per character: every character equally likely */
    for (size_t i = 0; i < k; i++) out[done + i] = yolk__id_alphabet[raw[i] & 63];
    done += k;
  }
  out[n] = '\0';
}
