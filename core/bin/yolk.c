/* yolk.c - the yolk command (placeholder until the Lua runtime lands). */
#include <stdio.h>

#include "yolk.h"

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "yolk: not yet implemented\n");
  return 1;
}
