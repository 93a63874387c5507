/* test_client.h - a tiny blocking client for the in-process server tests
 * (test_eio.c, test_sio.c): a helper thread uses it to talk raw HTTP and
 * WebSocket to a yolk server running on the main thread's loop.
 *
 * Header-only (static inline) because CMake builds every spec/c/test_*.c as
 * its own executable from that one file; inline keeps a test that uses only
 * part of it free of unused-function warnings. Sockets have a 5 s receive
 * timeout so a missing reply fails the test instead of hanging it. */
#ifndef YOLK_TEST_CLIENT_H
#define YOLK_TEST_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static inline void tc_msleep(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A TCP connection to 127.0.0.1:port (Nagle off so small frames go at once). */
static inline int tc_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) perror("connect");
  return fd;
}

static inline void tc_send(int fd, const void *p, size_t n) {
  const char *s = p;
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* 0 once exactly n bytes were read; -1 on EOF or timeout. */
static inline int tc_recv_exact(int fd, unsigned char *p, size_t n) {
  while (n) {
    ssize_t r = recv(fd, p, n, 0);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Opens a WebSocket to target (path and query, e.g. "/engine.io/?EIO=4&...")
 * and checks for the 101 answer; returns the fd. */
static inline int tc_ws_open(int port, const char *target) {
  int fd = tc_connect(port);
  char head[1024];
  int n = snprintf(head, sizeof(head),
                   "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   target);
  tc_send(fd, head, (size_t)n);
  /* read the 101 head byte by byte so no frame bytes are swallowed */
  char resp[1024];
  size_t len = 0;
  while (len < sizeof(resp) - 1) {
    if (recv(fd, resp + len, 1, 0) != 1) break;
    len++;
    if (len >= 4 && memcmp(resp + len - 4, "\r\n\r\n", 4) == 0) break;
  }
  resp[len] = '\0';
  CHECK(strncmp(resp, "HTTP/1.1 101", 12) == 0);
  return fd;
}

/* Sends one masked frame (as a client must); payloads under 126 bytes only. */
static inline void tc_ws_send(int fd, int opcode, const char *p, size_t n) {
  unsigned char h[2 + 4];
  size_t hl = 0;
  h[hl++] = (unsigned char)(0x80 | opcode);
  h[hl++] = (unsigned char)(0x80 | n);
  const unsigned char mask[4] = {1, 2, 3, 4};
  memcpy(h + hl, mask, 4);
  hl += 4;
  unsigned char m[128];
  for (size_t i = 0; i < n; i++) m[i] = (unsigned char)p[i] ^ mask[i % 4];
  tc_send(fd, h, hl);
  tc_send(fd, m, n);
}

/* Reads one frame: returns its opcode (-1 on EOF/timeout or when the payload
 * does not fit), the payload NUL-terminated into out. */
static inline int tc_ws_recv(int fd, char *out, size_t cap, size_t *len) {
  unsigned char h[2];
  if (tc_recv_exact(fd, h, 2)) return -1;
  uint64_t n = h[1] & 0x7F;
  if (n == 126) {
    unsigned char e[2];
    if (tc_recv_exact(fd, e, 2)) return -1;
    n = ((uint64_t)e[0] << 8) | e[1];
  } else if (n == 127) {
    unsigned char e[8];
    if (tc_recv_exact(fd, e, 8)) return -1;
    n = 0;
    for (int i = 0; i < 8; i++) n = (n << 8) | e[i];
  }
  if (n >= cap) return -1;
  if (tc_recv_exact(fd, (unsigned char *)out, (size_t)n)) return -1;
  out[n] = '\0';
  if (len) *len = (size_t)n;
  return h[0] & 0x0F;
}

#endif
