/* log.c - see log.h */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static int log_level = YOLK_LOG_INFO;
/* Lines may come from another thread (the Lua runtime's watchdog, while the
 * loop is stuck): the sink is swapped and called under this lock, so a log
 * file is never closed under a writer. Each line is one fwrite (stdio locks
 * the stream for it), so lines never interleave. */
static pthread_mutex_t log_sink_lock = PTHREAD_MUTEX_INITIALIZER;
static yolk_log_sink_cb log_sink;
static void *log_sink_ud;
static char log_process[24]; /* "" or "<tag>/" */

void yolk_log_set_level(int level) { log_level = level; }
int yolk_log_get_level(void) { return log_level; }

void yolk_log_set_sink(yolk_log_sink_cb cb, void *ud) {
  pthread_mutex_lock(&log_sink_lock);
  log_sink = cb;
  log_sink_ud = ud;
  pthread_mutex_unlock(&log_sink_lock);
}

void yolk__log_set_process(const char *tag) {
  if (tag && *tag) snprintf(log_process, sizeof(log_process), "%.22s/", tag);
  else log_process[0] = '\0';
}

static const char *level_name(int level) {
  switch (level) {
  case YOLK_LOG_DEBUG: return "DEBUG";
  case YOLK_LOG_INFO: return "INFO";
  case YOLK_LOG_WARN: return "WARN";
  default: return "ERROR";
  }
}

/* Client data (namespace names, URLs, parser reasons) reaches the core's
 * messages; a CR or LF in it would forge log lines, so control bytes are
 * written as \xNN. */
static void escape_controls(const char *in, char *out, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < cap; p++) {
    if (*p < 0x20 || *p == 0x7f) {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    } else {
      out[o++] = (char)*p;
    }
  }
  out[o] = '\0';
}

void yolk__log(int level, const char *component, const char *fmt, ...) {
  if (level < log_level) return;
  char msg[2048], safe[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  escape_controls(msg, safe, sizeof(safe));
  yolk_log_write(level, component, safe);
}

void yolk_log_write(int level, const char *component, const char *msg) {
  if (level < log_level) return;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char line[2300];
  int n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03d %s [%s%s] %s\n", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                   level_name(level), log_process, component ? component : "yolk", msg);
  if (n < 0) return;
  if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
  fwrite(line, 1, (size_t)n, stderr);
  pthread_mutex_lock(&log_sink_lock);
  if (log_sink) log_sink(level, line, (size_t)n, log_sink_ud);
  pthread_mutex_unlock(&log_sink_lock);
}
