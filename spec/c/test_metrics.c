/* test_metrics.c - the registry and the text exposition format: families
 * written once whoever contributes, escaping, values, histograms, the
 * constant label, merging rendered texts (a cluster master's scrape), and
 * the loop lag watcher on a real loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "test.h"

static int calls;

static void collect_a(yolk_metrics_writer_t *w, void *ud) {
  (void)ud;
  calls++;
  yolk_metrics_family(w, YOLK_METRIC_COUNTER, "t_total", "Things\\done\nso far");
  yolk_metrics_sample(w, NULL, NULL, 3);
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "t_by_name", "By name");
  yolk_metrics_sample(w, "name", "a\"b\\c\nd", 1.5);
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "t_empty", "Declared, no samples");
}

/* a second contributor to one of a's families */
static void collect_b(yolk_metrics_writer_t *w, void *ud) {
  calls++;
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "t_by_name", "ignored: the first HELP wins");
  yolk_metrics_sample(w, "name", ud, 0.1);
  yolk_metrics_sample(w, "name", "big", 12345678901234.0);
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void lag_done(void *arg) { *(int *)arg = 1; }

static void busy_cb(uv_timer_t *t) {
  (void)t;
  /* keep the loop busy for 30 ms: the watcher's next look is late */
  uint64_t until = uv_hrtime() + 30 * 1000000ull;
  while (uv_hrtime() < until) {
  }
}

static void stop_cb(uv_timer_t *t) { uv_stop(t->loop); }

int main(void) {
  yolk_metrics_t *m = yolk__metrics_new();
  yolk_metrics_add_collector(m, collect_a, NULL);
  yolk_metrics_add_collector(m, collect_b, "x");
  size_t len;
  char *text = yolk_metrics_text(m, &len);
  CHECK_EQ_INT(calls, 2);
  CHECK_EQ_INT(strlen(text), len);
  CHECK_STR(text, "# HELP t_total Things\\\\done\\nso far\n"
                  "# TYPE t_total counter\n"
                  "t_total 3\n"
                  "# HELP t_by_name By name\n"
                  "# TYPE t_by_name gauge\n"
                  "t_by_name{name=\"a\\\"b\\\\c\\nd\"} 1.5\n"
                  "t_by_name{name=\"x\"} 0.1\n"
                  "t_by_name{name=\"big\"} 12345678901234\n"
                  "# HELP t_empty Declared, no samples\n"
                  "# TYPE t_empty gauge\n");
  free(text);

  /* a worker's constant label comes first */
  yolk_metrics_set_label(m, "worker", "2");
  text = yolk_metrics_text(m, NULL);
  CHECK(strstr(text, "t_total{worker=\"2\"} 3\n") != NULL);
  CHECK(strstr(text, "t_by_name{worker=\"2\",name=\"x\"} 0.1\n") != NULL);

  /* a master merges two workers' texts family by family, and adds its own */
  yolk_metrics_set_label(m, "worker", "1");
  char *text1 = yolk_metrics_text(m, NULL);
  yolk_metrics_writer_t *w = yolk__metrics_begin(NULL);
  yolk__metrics_add_text(w, text1, strlen(text1));
  yolk__metrics_add_text(w, text, strlen(text));
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "t_up", "Up");
  yolk_metrics_sample(w, "worker", "1", 1);
  yolk_sb_t out;
  yolk__sb_init(&out);
  yolk__metrics_end(w, &out);
  CHECK_EQ_INT(count_of(out.data, "# HELP t_total "), 1);
  CHECK_EQ_INT(count_of(out.data, "# TYPE t_by_name gauge\n"), 1);
  CHECK(strstr(out.data, "t_total{worker=\"1\"} 3\nt_total{worker=\"2\"} 3\n# HELP t_by_name") != NULL);
  CHECK(strstr(out.data, "# TYPE t_empty gauge\n# HELP t_up Up\n# TYPE t_up gauge\nt_up{worker=\"1\"} 1\n") != NULL);
  yolk__sb_free(&out);
  free(text);
  free(text1);

  /* values and histograms */
  yolk_metrics_set_label(m, NULL, NULL);
  w = yolk__metrics_begin(m);
  yolk_metrics_family(w, YOLK_METRIC_GAUGE, "t_v", "Values");
  yolk_metrics_sample(w, "k", "nan", NAN);
  yolk_metrics_sample(w, "k", "inf", INFINITY);
  yolk_metrics_sample(w, "k", "third", 1.0 / 3);
  static const double bounds[] = {0.0025, 1};
  static const uint64_t counts[] = {2, 0, 5};
  yolk__metrics_histogram(w, "t_h", "H", bounds, counts, 2, 7.25);
  yolk__sb_init(&out);
  yolk__metrics_end(w, &out);
  CHECK(strstr(out.data, "t_v{k=\"nan\"} NaN\nt_v{k=\"inf\"} +Inf\nt_v{k=\"third\"} 0.3333333333333333\n") != NULL);
  CHECK(strstr(out.data, "# TYPE t_h histogram\nt_h_bucket{le=\"0.0025\"} 2\nt_h_bucket{le=\"1\"} 2\n"
                         "t_h_bucket{le=\"+Inf\"} 7\nt_h_sum 7.25\nt_h_count 7\n") != NULL);
  yolk__sb_free(&out);

  /* a collector removed is not called */
  calls = 0;
  yolk__metrics_remove_collector(m, collect_a, NULL);
  text = yolk_metrics_text(m, NULL);
  CHECK_EQ_INT(calls, 1);
  CHECK(strstr(text, "t_total") == NULL);
  free(text);
  yolk__metrics_free(m);

  /* the lag watcher: looks every 100 ms; a 30 ms block shows up as a late look */
  uv_loop_t loop;
  uv_loop_init(&loop);
  yolk_metrics_lag_t lag;
  memset(&lag, 0, sizeof(lag));
  yolk__metrics_lag_start(&lag, &loop);
  uv_timer_t busy, stop;
  uv_timer_init(&loop, &busy);
  uv_timer_init(&loop, &stop);
  uv_timer_start(&busy, busy_cb, 150, 0);
  uv_timer_start(&stop, stop_cb, 450, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  uint64_t n = 0, late = 0;
  for (size_t i = 0; i <= YOLK_METRICS_LAG_BUCKETS; i++) n += lag.counts[i];
  for (size_t i = 4; i <= YOLK_METRICS_LAG_BUCKETS; i++) late += lag.counts[i]; /* above 10 ms */
  CHECK(n >= 3 && n <= 5);
  CHECK_EQ_INT(late, 1);
  CHECK(lag.sum > 0.015 && lag.sum < 0.2);
  int closed = 0;
  yolk__metrics_lag_close(&lag, lag_done, &closed);
  uv_close((uv_handle_t *)&busy, NULL);
  uv_close((uv_handle_t *)&stop, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(closed, 1);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  TEST_MAIN_END();
}
