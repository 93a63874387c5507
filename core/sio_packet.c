/* sio_packet.c - see sio_packet.h */
#include "sio_packet.h"

#include "json.h"

#include <stdlib.h>
#include <string.h>

static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

int yolk__sio_is_reserved_event(const char *name) {
  for (size_t i = 0; i < sizeof(reserved_events) / sizeof(reserved_events[0]); i++)
    if (strcmp(name, reserved_events[i]) == 0) return 1;
  return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *check_payload(int type, const cJSON *data) {
  switch (type) {
  case YOLK_SIO_PKT_CONNECT:
    /* absent is fine (auth defaults to {}) */
    if (data && !cJSON_IsObject(data)) return "CONNECT payload is not an object";
    return NULL;
  case YOLK_SIO_PKT_DISCONNECT:
    if (data) return "DISCONNECT has a payload";
    return NULL;
  case YOLK_SIO_PKT_CONNECT_ERROR:
    if (!data || !(cJSON_IsString(data) || cJSON_IsObject(data)))
      return "CONNECT_ERROR payload is not a string or an object";
    return NULL;
  case YOLK_SIO_PKT_EVENT:
  case YOLK_SIO_PKT_BINARY_EVENT: {
    if (!data) return "EVENT without payload";
    if (!cJSON_IsArray(data)) return "EVENT payload is not an array";
    const cJSON *first = data->child;
    if (!first) return "EVENT payload is an empty array";
    if (cJSON_IsNumber(first)) return NULL;
    if (!cJSON_IsString(first)) return "EVENT name is not a string or a number";
    if (yolk__sio_is_reserved_event(first->valuestring)) return "EVENT name is reserved";
    return NULL;
  }
  case YOLK_SIO_PKT_ACK:
  case YOLK_SIO_PKT_BINARY_ACK:
    if (!data) return "ACK without payload";
    if (!cJSON_IsArray(data)) return "ACK payload is not an array";
    return NULL;
  }
  return "unknown packet type";
}

int yolk__sio_decode(const char *s, size_t len, unsigned max_attachments, yolk_sio_packet_t *p, const char **why) {
  memset(p, 0, sizeof(*p));
  p->id = -1;
  *why = NULL;
  if (len == 0) {
    *why = "empty packet";
    return -1;
  }
  if (s[0] < '0' || s[0] > '6') {
    *why = "unknown packet type";
    return -1;
  }
  int type = s[0] - '0';
  size_t i = 1;

  unsigned attachments = 0;
  if (type == YOLK_SIO_PKT_BINARY_EVENT || type == YOLK_SIO_PKT_BINARY_ACK) {
    size_t start = i;
    uint64_t n = 0;
    while (i < len && is_digit(s[i])) {
      if (n <= 1000000) n = n * 10 + (uint64_t)(s[i] - '0'); /* saturates; refused below */
      i++;
    }
    if (i == start || i >= len || s[i] != '-') {
      *why = "illegal attachments count";
      return -1;
    }
    if (n > max_attachments) {
      *why = "too many attachments";
      return -1;
    }
    attachments = (unsigned)n;
    i++; /* '-' */
  }

  const char *nsp = "/";
  size_t nsp_len = 1;
  if (i < len && s[i] == '/') {
    size_t start = i;
    while (i < len && s[i] != ',') i++;
    nsp = s + start;
    nsp_len = i - start;
    if (i < len) i++; /* ',' */
  }

  int64_t id = -1;
  if (i < len && is_digit(s[i])) {
    int64_t n = 0;
    while (i < len && is_digit(s[i])) {
      n = n * 10 + (s[i] - '0');
      if (n > YOLK_SIO_MAX_ACK_ID) {
        *why = "ack id too large";
        return -1;
      }
      i++;
    }
    id = n;
  }

  cJSON *data = NULL;
  if (i < len) {
    data = yolk__json_parse(s + i, len - i, NULL);
    if (!data) {
      *why = "payload is not valid JSON";
      return -1;
    }
  }
  const char *bad = check_payload(type, data);
  if (bad) {
    cJSON_Delete(data);
    *why = bad;
    return -1;
  }
  p->type = type;
  p->nsp = yolk__strndup(nsp, nsp_len);
  p->id = id;
  p->attachments = attachments;
  p->data = data;
  return 0;
}

void yolk__sio_packet_free(yolk_sio_packet_t *p) {
  free(p->nsp);
  cJSON_Delete(p->data);
  memset(p, 0, sizeof(*p));
  p->id = -1;
}

int yolk__sio_check_placeholders(const cJSON *data, size_t nbins, const char **why) {
  if (!data) return 0;
  if (cJSON_IsObject(data)) {
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(data, "_placeholder");
    if (cJSON_IsTrue(ph)) {
      const cJSON *num = cJSON_GetObjectItemCaseSensitive(data, "num");
      if (!cJSON_IsNumber(num) || num->valuedouble < 0 || num->valuedouble >= (double)nbins ||
          num->valuedouble != (double)(size_t)num->valuedouble) {
        *why = "placeholder with an invalid attachment index";
        return -1;
      }
      return 0;
    }
  }
  if (cJSON_IsObject(data) || cJSON_IsArray(data)) {
    for (const cJSON *c = data->child; c; c = c->next)
      if (yolk__sio_check_placeholders(c, nbins, why) < 0) return -1;
  }
  return 0;
}

void yolk__sio_encode(yolk_sb_t *sb, int type, const char *nsp, int64_t id, const cJSON *data,
                      size_t attachments) {
  yolk__sb_putc(sb, (char)('0' + type));
  if (type == YOLK_SIO_PKT_BINARY_EVENT || type == YOLK_SIO_PKT_BINARY_ACK) yolk__sb_printf(sb, "%zu-", attachments);
  if (nsp && strcmp(nsp, "/") != 0) {
    yolk__sb_puts(sb, nsp);
    yolk__sb_putc(sb, ',');
  }
  if (id >= 0) yolk__sb_printf(sb, "%lld", (long long)id);
  if (data) {
    char *json = cJSON_PrintUnformatted(data);
    if (json) {
      yolk__sb_puts(sb, json);
      cJSON_free(json);
    } else {
      yolk__sb_puts(sb, "null"); /* cJSON fails only on OOM */
    }
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes application/x-www-form-urlencoded text (URLSearchParams rules: '+'
 * is a space, a '%' not followed by two hex digits stays as is). */
static char *form_decode(const char *s, size_t len) {
  char *out = yolk__malloc(len + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '+') {
      out[o++] = ' ';
    } else if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return out;
}

char *yolk__sio_split_nsp_query(const char *nsp, cJSON **query_obj) {
  cJSON *obj = cJSON_CreateObject();
  const char *q = strchr(nsp, '?');
  size_t path_len = q ? (size_t)(q - nsp) : strlen(nsp);
  /* Like new URL(nsp, base).pathname: a fragment is dropped too. */
  const char *hash = memchr(nsp, '#', path_len);
  char *path = yolk__strndup(nsp, hash ? (size_t)(hash - nsp) : path_len);
  if (q) {
    const char *p = q + 1;
    const char *end = strchr(p, '#');
    if (!end) end = p + strlen(p);
    while (p < end) {
      const char *amp = memchr(p, '&', (size_t)(end - p));
      const char *part_end = amp ? amp : end;
      if (part_end > p) {
        const char *eq = memchr(p, '=', (size_t)(part_end - p));
        char *key = form_decode(p, (size_t)((eq ? eq : part_end) - p));
        char *val = eq ? form_decode(eq + 1, (size_t)(part_end - eq - 1)) : yolk__strndup("", 0);
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key); /* the last value wins */
        cJSON_AddItemToObject(obj, key, cJSON_CreateString(val));
        free(key);
        free(val);
      }
      p = part_end + (amp ? 1 : 0);
      if (!amp) break;
    }
  }
  *query_obj = obj;
  return path;
}
