/* test.h - tiny test macros for the C unit tests (one executable per file).
 *
 * CHECK(cond) prints file:line and the condition when it fails and counts the
 * failure; TEST_MAIN_END() returns non-zero from main when anything failed.
 * The counter is atomic so checks may run on a helper thread too. */
#ifndef YOLK_TEST_H
#define YOLK_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures_;
static int test_checks_;

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    __atomic_fetch_add(&test_checks_, 1, __ATOMIC_SEQ_CST);                                  \
    if (!(cond)) {                                                                           \
      __atomic_fetch_add(&test_failures_, 1, __ATOMIC_SEQ_CST);                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
    }                                                                                        \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                   \
  do {                                                                                       \
    long long a_ = (long long)(a), b_ = (long long)(b);                                      \
    __atomic_fetch_add(&test_checks_, 1, __ATOMIC_SEQ_CST);                                  \
    if (a_ != b_) {                                                                          \
      __atomic_fetch_add(&test_failures_, 1, __ATOMIC_SEQ_CST);                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
              #a, #b, a_, b_);                                                               \
    }                                                                                        \
  } while (0)

#define CHECK_STR(a, b)                                                                      \
  do {                                                                                       \
    const char *a_ = (a), *b_ = (b);                                                         \
    __atomic_fetch_add(&test_checks_, 1, __ATOMIC_SEQ_CST);                                  \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                 \
      __atomic_fetch_add(&test_failures_, 1, __ATOMIC_SEQ_CST);                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,       \
              __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                     \
    }                                                                                        \
  } while (0)

#define TEST_MAIN_END()                                                                      \
  do {                                                                                       \
    fprintf(stderr, "%d checks, %d failures\n", test_checks_, test_failures_);               \
    return test_failures_ ? 1 : 0;                                                           \
  } while (0)

#endif
