/* log.c - see log.h */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static int log_level = YOLK_LOG_INFO;
static yolk_log_sink_cb log_sink;
static void *log_sink_ud;

void yolk_log_set_level(int level) { log_level = level; }
int yolk_log_get_level(void) { return log_level; }

void yolk_log_set_sink(yolk_log_sink_cb cb, void *ud) {
  log_sink = cb;
  log_sink_ud = ud;
}

static const char *level_name(int level) {
  switch (level) {
  case YOLK_LOG_DEBUG: return "DEBUG";
  case YOLK_LOG_INFO: return "INFO";
  case YOLK_LOG_WARN: return "WARN";
  default: return "ERROR";
  }
}

void yolk__log(int level, const char *component, const char *fmt, ...) {
  if (level < log_level) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  yolk_log_write(level, component, msg);
}

void yolk_log_write(int level, const char *component, const char *msg) {
  if (level < log_level) return;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char line[2300];
  int n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03d %s [%s] %s\n", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                   level_name(level), component ? component : "yolk", msg);
  if (n < 0) return;
  if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
  fwrite(line, 1, (size_t)n, stderr);
  if (log_sink) log_sink(level, line, (size_t)n, log_sink_ud);
}
