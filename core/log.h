/* log.h - the core's log lines ("bad input gets a log line saying what was wrong").
 * Lines go to stderr as "<ISO time> <LEVEL> [<component>] message". The level
 * threshold and an optional sink (the Lua runtime adds a log file) are set
 * through the public API (yolk_log_set_level / yolk_log_set_sink in yolk.h). */
#ifndef YOLK_LOG_H
#define YOLK_LOG_H

#include "yolk.h"

void yolk__log(int level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Which process of a cluster writes: "master", "worker3" (NULL: a single
 * process, the default). Every line then reads "[<tag>/<component>]", so the
 * lines of a master and its workers on one stderr (or log file) stay apart. */
void yolk__log_set_process(const char *tag);

#define YOLK_LOG_DEBUG_(c, ...) yolk__log(YOLK_LOG_DEBUG, c, __VA_ARGS__)
#define YOLK_LOG_INFO_(c, ...) yolk__log(YOLK_LOG_INFO, c, __VA_ARGS__)
#define YOLK_LOG_WARN_(c, ...) yolk__log(YOLK_LOG_WARN, c, __VA_ARGS__)
#define YOLK_LOG_ERROR_(c, ...) yolk__log(YOLK_LOG_ERROR, c, __VA_ARGS__)

#endif
