/* metrics.c - the metrics registry, the text exposition format and the loop
 * lag watcher; see metrics.h. Nothing here runs on the hot path: counters
 * are the layers' own integers, read when a scrape calls the collectors. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct {
  yolk_metrics_collect_cb cb;
  void *ud;
} collector_t;

struct yolk_metrics_s {
  collector_t *collectors;
  size_t ncollectors, cap;
  /* a label every sample carries first (a cluster worker's "worker"), or none */
  char *label_name, *label_value;
};

/* One metric family of a scrape: its declaration and its sample lines. */
typedef struct {
  char *name;
  char *help; /* escaped, as written after "# HELP name " */
  char *type; /* "counter", "gauge", "histogram", ... */
  yolk_sb_t samples;
} family_t;

struct yolk_metrics_writer_s {
  yolk_metrics_t *m;
  family_t *fams;
  size_t n, cap;
  family_t *cur; /* the family yolk_metrics_sample writes to */
};

yolk_metrics_t *yolk__metrics_new(void) { return yolk__calloc(1, sizeof(yolk_metrics_t)); }

void yolk__metrics_free(yolk_metrics_t *m) {
  if (!m) return;
  free(m->collectors);
  free(m->label_name);
  free(m->label_value);
  free(m);
}

void yolk_metrics_add_collector(yolk_metrics_t *m, yolk_metrics_collect_cb cb, void *ud) {
  if (m->ncollectors == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 8;
    m->collectors = yolk__realloc(m->collectors, m->cap * sizeof(*m->collectors));
  }
  m->collectors[m->ncollectors++] = (collector_t){cb, ud};
}

void yolk__metrics_remove_collector(yolk_metrics_t *m, yolk_metrics_collect_cb cb, void *ud) {
  for (size_t i = 0; i < m->ncollectors; i++) {
    if (m->collectors[i].cb != cb || m->collectors[i].ud != ud) continue;
    memmove(&m->collectors[i], &m->collectors[i + 1], (m->ncollectors - i - 1) * sizeof(*m->collectors));
    m->ncollectors--;
    return;
  }
}

void yolk_metrics_set_label(yolk_metrics_t *m, const char *name, const char *value) {
  free(m->label_name);
  free(m->label_value);
  m->label_name = name ? yolk__strndup(name, strlen(name)) : NULL;
  m->label_value = name && value ? yolk__strndup(value, strlen(value)) : NULL;
}

/* ---- the text format --------------------------------------------------------------- */

/* Text escaped for the format: backslash and line feed, and the double
 * quote too in a label value (quote), not in a HELP text. */
static void put_escaped(yolk_sb_t *sb, const char *v, int quote) {
  for (const char *p = v; *p; p++) {
    if (*p == '\\') yolk__sb_puts(sb, "\\\\");
    else if (*p == '"' && quote) yolk__sb_puts(sb, "\\\"");
    else if (*p == '\n') yolk__sb_puts(sb, "\\n");
    else yolk__sb_putc(sb, *p);
  }
}

static void put_label_value(yolk_sb_t *sb, const char *v) { put_escaped(sb, v, 1); }

/* A HELP text, escaped, as a string of its own. */
static char *escape_help(const char *help) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  put_escaped(&sb, help ? help : "", 0);
  if (!sb.data) return yolk__strndup("", 0);
  return sb.data;
}

/* A sample value: as JSON writes a number (integers as integers, the rest
 * as the shortest text that reads back the same double), and the format's
 * spellings of the special values. */
static void put_value(yolk_sb_t *sb, double v) {
  if (isnan(v)) yolk__sb_puts(sb, "NaN");
  else if (isinf(v)) yolk__sb_puts(sb, v > 0 ? "+Inf" : "-Inf");
  else yolk__json_write_number(sb, v);
}

static family_t *family_find(yolk_metrics_writer_t *w, const char *name, size_t len) {
  for (size_t i = 0; i < w->n; i++)
    if (strlen(w->fams[i].name) == len && memcmp(w->fams[i].name, name, len) == 0) return &w->fams[i];
  return NULL;
}

/* The family called name, declared on first use (help already escaped). */
static family_t *family_get(yolk_metrics_writer_t *w, const char *name, size_t len, const char *type, char *help) {
  family_t *f = family_find(w, name, len);
  if (f) {
    free(help);
    return f;
  }
  if (w->n == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 32;
    w->fams = yolk__realloc(w->fams, w->cap * sizeof(*w->fams));
  }
  f = &w->fams[w->n++];
  f->name = yolk__strndup(name, len);
  f->help = help ? help : yolk__strndup("", 0);
  f->type = yolk__strndup(type ? type : "untyped", strlen(type ? type : "untyped"));
  yolk__sb_init(&f->samples);
  return f;
}

static const char *type_name(int type) {
  switch (type) {
  case YOLK_METRIC_COUNTER: return "counter";
  case YOLK_METRIC_GAUGE: return "gauge";
  default: return "untyped";
  }
}

void yolk_metrics_family(yolk_metrics_writer_t *w, int type, const char *name, const char *help) {
  w->cur = family_get(w, name, strlen(name), type_name(type), escape_help(help));
}

/* "name{const="x",label="v"" up to the closing brace, which the caller adds
 * (with more labels before it, or none). */
static int open_sample(yolk_metrics_writer_t *w, yolk_sb_t *sb, const char *name, const char *suffix) {
  yolk__sb_puts(sb, name);
  if (suffix) yolk__sb_puts(sb, suffix);
  if (!w->m || !w->m->label_name) return 0;
  yolk__sb_printf(sb, "{%s=\"", w->m->label_name);
  put_label_value(sb, w->m->label_value ? w->m->label_value : "");
  yolk__sb_putc(sb, '"');
  return 1;
}

void yolk_metrics_sample(yolk_metrics_writer_t *w, const char *label, const char *value, double v) {
  family_t *f = w->cur;
  if (!f) return;
  yolk_sb_t *sb = &f->samples;
  int open = open_sample(w, sb, f->name, NULL);
  if (label) {
    yolk__sb_printf(sb, "%s%s=\"", open ? "," : "{", label);
    put_label_value(sb, value ? value : "");
    yolk__sb_putc(sb, '"');
    open = 1;
  }
  yolk__sb_puts(sb, open ? "} " : " ");
  put_value(sb, v);
  yolk__sb_putc(sb, '\n');
}

void yolk__metrics_histogram(yolk_metrics_writer_t *w, const char *name, const char *help, const double *bounds,
                             const uint64_t *counts, size_t n, double sum) {
  family_t *f = family_get(w, name, strlen(name), "histogram", escape_help(help));
  w->cur = NULL; /* a histogram's lines are written here only */
  yolk_sb_t *sb = &f->samples;
  uint64_t cum = 0;
  for (size_t i = 0; i <= n; i++) {
    cum += counts[i];
    int open = open_sample(w, sb, name, "_bucket");
    yolk__sb_puts(sb, open ? ",le=\"" : "{le=\"");
    if (i < n) put_value(sb, bounds[i]);
    else yolk__sb_puts(sb, "+Inf");
    yolk__sb_printf(sb, "\"} %llu\n", (unsigned long long)cum);
  }
  if (open_sample(w, sb, name, "_sum")) yolk__sb_putc(sb, '}');
  yolk__sb_putc(sb, ' ');
  put_value(sb, sum);
  yolk__sb_putc(sb, '\n');
  if (open_sample(w, sb, name, "_count")) yolk__sb_putc(sb, '}');
  yolk__sb_printf(sb, " %llu\n", (unsigned long long)cum);
}

/* ---- a scrape -------------------------------------------------------------------------- */

yolk_metrics_writer_t *yolk__metrics_begin(yolk_metrics_t *m) {
  yolk_metrics_writer_t *w = yolk__calloc(1, sizeof(*w));
  w->m = m;
  return w;
}

void yolk__metrics_collect(yolk_metrics_writer_t *w) {
  if (!w->m) return;
  for (size_t i = 0; i < w->m->ncollectors; i++) {
    w->cur = NULL;
    w->m->collectors[i].cb(w, w->m->collectors[i].ud);
  }
  w->cur = NULL;
}

/* The metric name a line starts with ("# HELP name ..." past its prefix). */
static size_t name_len(const char *p, const char *end) {
  const char *q = p;
  while (q < end && *q != ' ' && *q != '{' && *q != '\t') q++;
  return (size_t)(q - p);
}

void yolk__metrics_add_text(yolk_metrics_writer_t *w, const char *text, size_t len) {
  const char *p = text, *end = text + len;
  family_t *cur = NULL;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if (eol - p > 7 && (memcmp(p, "# HELP ", 7) == 0 || memcmp(p, "# TYPE ", 7) == 0)) {
      int help = p[2] == 'H';
      const char *name = p + 7;
      size_t nl = name_len(name, eol);
      const char *rest = name + nl + (name + nl < eol ? 1 : 0);
      char *val = yolk__strndup(rest, (size_t)(eol - rest));
      cur = family_find(w, name, nl);
      if (!cur) {
        cur = family_get(w, name, nl, help ? NULL : val, help ? val : NULL);
        if (help) val = NULL;
      } else if (!help && strcmp(cur->type, "untyped") == 0) {
        free(cur->type);
        cur->type = val;
        val = NULL;
      }
      free(val);
    } else if (eol > p && *p != '#') {
      /* a sample: into the family declared before it, else one of its own name */
      if (!cur) cur = family_get(w, p, name_len(p, eol), NULL, NULL);
      yolk__sb_append(&cur->samples, p, (size_t)(eol - p));
      yolk__sb_putc(&cur->samples, '\n');
    }
    p = eol + 1;
  }
}

void yolk__metrics_end(yolk_metrics_writer_t *w, yolk_sb_t *out) {
  for (size_t i = 0; i < w->n; i++) {
    family_t *f = &w->fams[i];
    if (out) {
      yolk__sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
      if (f->samples.len) yolk__sb_append(out, f->samples.data, f->samples.len);
    }
    free(f->name);
    free(f->help);
    free(f->type);
    yolk__sb_free(&f->samples);
  }
  free(w->fams);
  free(w);
}

void yolk__metrics_render(yolk_metrics_t *m, yolk_sb_t *out) {
  yolk_metrics_writer_t *w = yolk__metrics_begin(m);
  yolk__metrics_collect(w);
  yolk__metrics_end(w, out);
}

char *yolk_metrics_text(yolk_metrics_t *m, size_t *len) {
  yolk_sb_t sb;
  yolk__sb_init(&sb);
  yolk__metrics_render(m, &sb);
  if (!sb.data) yolk__sb_puts(&sb, "");
  if (len) *len = sb.len;
  return sb.data;
}

/* ---- the loop lag watcher ------------------------------------------------------------ */

/* Seconds; a late timer below a millisecond is within the loop clock's
 * resolution and lands in the first bucket. */
static const double lag_bounds[YOLK_METRICS_LAG_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25,  0.5,    1,     2.5,  5,     10};

static void lag_fired(uv_timer_t *t) {
  yolk_metrics_lag_t *l = t->data;
  uint64_t now = uv_hrtime();
  uint64_t due = l->armed_ns + (uint64_t)YOLK_METRICS_LAG_INTERVAL_MS * 1000000u;
  double lag = now > due ? (double)(now - due) / 1e9 : 0;
  size_t i = 0;
  while (i < YOLK_METRICS_LAG_BUCKETS && lag > lag_bounds[i]) i++;
  l->counts[i]++;
  l->sum += lag;
  /* re-armed from here, so that one long block is one late observation
   * rather than a burst of catch-up ones */
  l->armed_ns = now;
  uv_timer_start(&l->timer, lag_fired, YOLK_METRICS_LAG_INTERVAL_MS, 0);
}

void yolk__metrics_lag_start(yolk_metrics_lag_t *l, uv_loop_t *loop) {
  if (l->started) return;
  uv_timer_init(loop, &l->timer);
  l->timer.data = l;
  l->started = 1;
  uv_unref((uv_handle_t *)&l->timer);
  l->armed_ns = uv_hrtime();
  uv_timer_start(&l->timer, lag_fired, YOLK_METRICS_LAG_INTERVAL_MS, 0);
}

static void lag_closed(uv_handle_t *h) {
  yolk_metrics_lag_t *l = h->data;
  if (l->closed) l->closed(l->closed_arg);
}

void yolk__metrics_lag_close(yolk_metrics_lag_t *l, void (*closed)(void *arg), void *arg) {
  if (l->closing) return;
  l->closing = 1;
  l->closed = closed;
  l->closed_arg = arg;
  if (!l->started) {
    if (closed) closed(arg);
    return;
  }
  uv_close((uv_handle_t *)&l->timer, lag_closed);
}

void yolk__metrics_lag_collect(yolk_metrics_writer_t *w, void *ud) {
  yolk_metrics_lag_t *l = ud;
  yolk__metrics_histogram(w, "yolk_event_loop_lag_seconds",
                          "How late a timer due every 100 ms fires: the time a ready callback waits while the loop "
                          "runs others (Lua code, a large write), one observation per 100 ms",
                          lag_bounds, l->counts, YOLK_METRICS_LAG_BUCKETS, l->sum);
}
