/* server.h - the listener's registration API (internal).
 *
 * A yolk_server_t (server.c; public API in yolk.h) is one HTTP listener. The
 * protocols served on it register *routes*: Engine.IO claims the requests
 * under its path, Socket.IO its browser client files. A request no route
 * claims goes to the application's handler (404 without one).
 *
 * The listener knows routes only through this table of functions: it never
 * reads a protocol's structures, and the protocols never call the listener
 * (they are handed requests and answer them through http.h). Layers, bottom
 * up: http -> ws -> eio -> server (this) -> sio.
 *
 * Lifetimes: a route lives as long as the server. yolk_server_close calls each
 * route's close, waits for every one to report done, closes the HTTP layer,
 * then calls each route's free in the reverse order of registration.
 */
#ifndef YOLK_SERVER_H
#define YOLK_SERVER_H

#include <stddef.h>

#include "http.h"
#include "yolk.h"

typedef struct {
  /* 1 when the route takes req. Routes are asked in registration order; the
   * first that claims a request answers it. */
  int (*claims)(const yolk_http_req_t *req, void *ud);
  /* Answers req (now or later, exactly once; upgrades included). */
  void (*handle)(yolk_http_req_t *req, void *ud);
  /* The largest request body the route accepts: the listener's body limit is
   * raised to it when it is larger (0: no need). */
  size_t max_body_size;
  /* The server is closing: end everything the route has open, then call
   * done(arg) once nothing of it is left (maybe before returning). NULL:
   * nothing to wait for. */
  void (*close)(void *ud, void (*done)(void *arg), void *arg);
  /* Everything is closed: release what ud holds. NULL: nothing to free. */
  void (*free)(void *ud);
  void *ud;
} yolk_route_t;

/* Adds a route (copied). Routes added after listen do not raise the body
 * limit (a warning says so). */
void yolk__server_add_route(yolk_server_t *srv, const yolk_route_t *route);

/* Cluster mode (core/cluster.h): instead of yolk_server_listen, a worker
 * listens on a socket its master made (http.h's yolk__http_server_listen_fd;
 * the server owns fd from this call on) and adopts the connections the
 * master hands over (yolk__http_server_adopt_ipc; after listen_fd, until close).
 * 0 or a libuv error. */
int yolk__server_listen_fd(yolk_server_t *srv, int fd, unsigned flags);
int yolk__server_adopt_ipc(yolk_server_t *srv, uv_pipe_t *ipc, const char *pre, size_t len);

/* Metrics (yolk_server_serve_metrics): a cluster worker whose clients reach
 * it directly (the shared socket) answers a metrics request with the whole
 * cluster's figures, which its master gathers: with a relay set, the
 * endpoint hands each request to cb, which must answer it exactly once
 * (with yolk__server_metrics_respond, or an error) or let it be aborted. */
typedef void (*yolk_server_metrics_relay_cb)(yolk_http_req_t *req, void *ud);
void yolk__server_metrics_relay(yolk_server_t *srv, yolk_server_metrics_relay_cb cb, void *ud);
/* Answers req with exposition text (200, the format's Content-Type). */
void yolk__server_metrics_respond(yolk_http_req_t *req, const char *text, size_t len);

#endif
