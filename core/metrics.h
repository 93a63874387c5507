/* metrics.h - the metrics registry and the Prometheus text exposition format
 * (version 0.0.4), internal side; the public part is in yolk.h.
 *
 * The registry knows no layer. Every counter is a plain integer in the
 * struct of the layer that owns it (http.c's server, eio.c's server, a
 * Socket.IO namespace, the Lua runtime), incremented there and nowhere else:
 * no lock, no atomic, no lookup, no branch on "metrics enabled" on the hot
 * path. A layer that wants its figures shown registers a *collector* with
 * the registry of its listener (server.c owns one per yolk_server_t); at a
 * scrape the registry calls each collector, which writes its samples through
 * a writer. Layers call down into this file, never the other way round.
 *
 * A writer gathers samples by family (the metric name), in the order the
 * families first appear, so that every family is written once with its HELP
 * and TYPE lines and all its samples together, whoever contributed them (a
 * cluster master adds its workers' texts to one writer: add_text).
 *
 * Label values and HELP texts are escaped here (backslash, double quote,
 * newline); metric and label names are the callers' literals and must be
 * valid ([a-zA-Z_:][a-zA-Z0-9_:]*).
 *
 * The loop lag watcher (yolk_metrics_lag_t) is a repeating timer that
 * measures how late it fires: the time a ready callback waits because the
 * loop is busy running others. It lives in its owner's struct (server.c's
 * metrics route) and is closed with it.
 */
#ifndef YOLK_METRICS_H
#define YOLK_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "yolk.h"

/* A new registry (no collectors, no constant label). */
yolk_metrics_t *yolk__metrics_new(void);
void yolk__metrics_free(yolk_metrics_t *m);
/* Drops a collector added with yolk_metrics_add_collector (same cb and ud). */
void yolk__metrics_remove_collector(yolk_metrics_t *m, yolk_metrics_collect_cb cb, void *ud);

/* A scrape: begin, then any of collect (the registry's collectors) and
 * add_text (another registry's rendered text), then end, which renders every
 * family into out (appended) and frees the writer. m may be NULL (no
 * collectors, no constant label). */
yolk_metrics_writer_t *yolk__metrics_begin(yolk_metrics_t *m);
void yolk__metrics_collect(yolk_metrics_writer_t *w);
/* The families and samples of an exposition text this file rendered (a
 * cluster worker's): samples are kept as they are (their labels included),
 * HELP and TYPE are taken from the first text that declares the family. */
void yolk__metrics_add_text(yolk_metrics_writer_t *w, const char *text, size_t len);
void yolk__metrics_end(yolk_metrics_writer_t *w, yolk_sb_t *out);
/* begin + collect + end. */
void yolk__metrics_render(yolk_metrics_t *m, yolk_sb_t *out);

/* Writers for collectors (public: yolk_metrics_family / yolk_metrics_sample);
 * a histogram in one call: bounds[0..n) ascending (the +Inf bucket is
 * added), counts[i] the observations <= bounds[i] that are above
 * bounds[i-1] (not cumulative: the writer sums them), above the last bound
 * in counts[n]. */
void yolk__metrics_histogram(yolk_metrics_writer_t *w, const char *name, const char *help, const double *bounds,
                             const uint64_t *counts, size_t n, double sum);

/* The Content-Type of the text format. */
#define YOLK_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- the loop lag watcher ---------------------------------------------------- */

enum { YOLK_METRICS_LAG_BUCKETS = 13 };
typedef struct {
  uv_timer_t timer;
  uint64_t armed_ns;                             /* uv_hrtime when the timer was last armed */
  uint64_t counts[YOLK_METRICS_LAG_BUCKETS + 1]; /* per bucket (not cumulative), then above the last */
  double sum;                                    /* seconds */
  int started, closing;
  void (*closed)(void *arg);
  void *closed_arg;
} yolk_metrics_lag_t;

/* How often the watcher looks (each look is one observation). */
#define YOLK_METRICS_LAG_INTERVAL_MS 100
/* Starts watching loop (an unreferenced timer: it never keeps the loop alive). */
void yolk__metrics_lag_start(yolk_metrics_lag_t *l, uv_loop_t *loop);
/* Closes the timer; closed(arg) runs from its close callback (at once when
 * it was never started). */
void yolk__metrics_lag_close(yolk_metrics_lag_t *l, void (*closed)(void *arg), void *arg);
/* A collector (ud: the watcher): yolk_event_loop_lag_seconds. */
void yolk__metrics_lag_collect(yolk_metrics_writer_t *w, void *ud);

#endif
