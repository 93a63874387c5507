/* lua_http.c - core.server: the HTTP server binding (filled in once the
 * transport branch lands; until then the runtime has no servers). */
#include "lua_core.h"

void yolk__lua_servers_close_all(yolk_lua_rt_t *rt) { (void)rt; }

void yolk__lua_open_http(lua_State *L) { (void)L; }
