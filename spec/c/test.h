/* test.h - tiny assertion macros for the C unit tests (one executable per file).
 * CHECK records a failure with file:line and goes on; main returns
 * TEST_RESULT() so ctest sees a non-zero exit when anything failed. */
#ifndef YOLK_TEST_H
#define YOLK_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures_ = 0;
static int test_checks_ = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    test_checks_++;                                                        \
    if (!(cond)) {                                                         \
      test_failures_++;                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)

/* Compares len bytes at a with the string literal-ish b (explicit length). */
#define CHECK_MEM(a, alen, b, blen) CHECK((alen) == (blen) && memcmp((a), (b), (blen)) == 0)
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

#define TEST_RESULT()                                                                \
  (fprintf(stderr, "%d checks, %d failures\n", test_checks_, test_failures_), \
   test_failures_ ? 1 : 0)

#endif
