/* lua_socketio.c - server:socketio, namespaces and sockets (filled in once
 * the sio branch lands). */
#include "lua_core.h"

void yolk__lua_open_socketio(lua_State *L) { (void)L; }
