/* cluster_ipc.c - the frames on the pipe between a cluster master and its
 * workers; see cluster.h. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

void yolk__cluster_msg_begin(yolk_sb_t *sb, int type) {
  char head[5] = {0, 0, 0, 0, (char)type};
  yolk__sb_append(sb, head, sizeof(head));
}

void yolk__cluster_msg_finish(yolk_sb_t *sb, size_t start) {
  size_t n = sb->len - start - 4;
  unsigned char *p = (unsigned char *)sb->data + start;
  p[0] = (unsigned char)(n & 0xff);
  p[1] = (unsigned char)((n >> 8) & 0xff);
  p[2] = (unsigned char)((n >> 16) & 0xff);
  p[3] = (unsigned char)((n >> 24) & 0xff);
}

int yolk__cluster_msg_next(yolk_sb_t *in, size_t *in_off, int *type, const char **payload, size_t *len) {
  size_t avail = in->len - *in_off;
  if (avail < 4) return 0;
  const unsigned char *p = (const unsigned char *)in->data + *in_off;
  size_t n = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
  if (n < 1 || n > YOLK_CLUSTER_MSG_MAX) return -1;
  if (avail < 4 + n) return 0;
  *type = p[4];
  *payload = (const char *)p + 5;
  *len = n - 1;
  *in_off += 4 + n;
  return 1;
}

typedef struct {
  uv_write_t req;
  yolk_sb_t sb;
} msg_write_t;

static void msg_written(uv_write_t *req, int status) {
  (void)status; /* a broken pipe shows up as the peer's EOF (or its exit) too */
  msg_write_t *w = req->data;
  yolk__sb_free(&w->sb);
  free(w);
}

/* A frame of type: head (may be empty), then payload. */
static int send_frame(uv_pipe_t *pipe, int type, const void *head, size_t hlen, const void *payload, size_t len) {
  msg_write_t *w = yolk__calloc(1, sizeof(*w));
  yolk__sb_init(&w->sb);
  yolk__cluster_msg_begin(&w->sb, type);
  if (hlen) yolk__sb_append(&w->sb, head, hlen);
  if (len) yolk__sb_append(&w->sb, payload, len);
  yolk__cluster_msg_finish(&w->sb, 0);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->sb.data, (unsigned)w->sb.len);
  int r = uv_write(&w->req, (uv_stream_t *)pipe, &b, 1, msg_written);
  if (r < 0) {
    yolk__sb_free(&w->sb);
    free(w);
  }
  return r;
}

int yolk__cluster_msg_send(uv_pipe_t *pipe, int type, const void *payload, size_t len) {
  return send_frame(pipe, type, NULL, 0, payload, len);
}

int yolk__cluster_msg_send_id(uv_pipe_t *pipe, int type, uint32_t id, const void *payload, size_t len) {
  unsigned char b[4] = {(unsigned char)(id & 0xff), (unsigned char)((id >> 8) & 0xff), (unsigned char)((id >> 16) & 0xff),
                        (unsigned char)((id >> 24) & 0xff)};
  return send_frame(pipe, type, b, sizeof(b), payload, len);
}

int yolk__cluster_msg_id(const char *payload, size_t len, uint32_t *id) {
  if (len < 4) return 0;
  const unsigned char *p = (const unsigned char *)payload;
  *id = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  return 1;
}
