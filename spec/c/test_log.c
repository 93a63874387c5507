/* test_log.c - the core's log lines: client data cannot forge extra lines. */
#include <string.h>

#include "log.h"
#include "test.h"

static char last[4096];
static int lines;

static void sink(int level, const char *line, size_t len, void *ud) {
  (void)level;
  (void)ud;
  if (len >= sizeof(last)) len = sizeof(last) - 1;
  memcpy(last, line, len);
  last[len] = '\0';
  lines++;
}

static int count_char(const char *s, char c) {
  int n = 0;
  for (; *s; s++) n += *s == c;
  return n;
}

int main(void) {
  yolk_log_set_sink(sink, NULL);
  /* a namespace name from a client, with CR/LF and other control bytes */
  yolk__log(YOLK_LOG_WARN, "sio", "CONNECT to %s refused", "/evil\r\n2026-01-01 ERROR [yolk] forged\x01\x7f");
  CHECK(lines == 1);
  CHECK(count_char(last, '\n') == 1); /* only the line's own end */
  CHECK(count_char(last, '\r') == 0);
  CHECK(strstr(last, "/evil\\x0d\\x0a2026-01-01 ERROR [yolk] forged\\x01\\x7f refused\n") != NULL);
  /* plain text and UTF-8 pass unchanged */
  yolk__log(YOLK_LOG_WARN, "sio", "caf\xc3\xa9 %d", 1);
  CHECK(strstr(last, "WARN [sio] caf\xc3\xa9 1\n") != NULL);
  /* a long message of control bytes is cut, not overflowed */
  char big[3000];
  memset(big, '\n', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  yolk__log(YOLK_LOG_WARN, "sio", "%s", big);
  CHECK(count_char(last, '\n') == 1);
  /* a cluster process tags its lines; NULL goes back to the plain form */
  yolk__log_set_process("worker2");
  yolk__log(YOLK_LOG_WARN, "eio", "x");
  CHECK(strstr(last, "WARN [worker2/eio] x\n") != NULL);
  yolk__log_set_process(NULL);
  yolk__log(YOLK_LOG_WARN, "eio", "y");
  CHECK(strstr(last, "WARN [eio] y\n") != NULL);
  TEST_MAIN_END();
}
