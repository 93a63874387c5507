'use strict';
/*
 * ws-late-listener.cjs: keeps the official protocol suites' WebSocket client
 * from dropping messages that arrive while it is not listening.
 *
 * Load it into the suites' mocha process (spec/suites/run.sh does):
 *
 *   NODE_OPTIONS="--require /abs/path/spec/suites/ws-late-listener.cjs" \
 *     node node_modules/mocha/bin/mocha test-suite.js
 *
 * The race it covers is the client's, not the server's. The suites
 * (socketio/engine.io-protocol and socketio/socket.io-protocol, test-suite/)
 * drive Node's `ws` one event at a time:
 *
 *   await waitFor(socket, "open");      // addEventListener(type, fn, { once: true })
 *   await waitFor(socket, "message");   // the next listener, one promise later
 *
 * Between the two there is no `message` listener at all. `ws` hands over the
 * bytes that came with the 101 response, and every further frame of the same
 * read, from process.nextTick callbacks, which run before the promise
 * continuation that would attach the next listener; an EventEmitter with no
 * listener drops the event. So a server that writes the 101 and the
 * Engine.IO open packet, or the Socket.IO CONNECT ack and the next event, in
 * one system call (as yolk does with everything one loop iteration produced)
 * fails WebSocket tests that a browser, socket.io-client or engine.io-client
 * would pass: those listen before they connect.
 *
 * What this changes: on every `ws` WebSocket, a `message` event emitted while
 * the socket has no `message` listener (or while earlier ones still wait) is
 * held, with its arguments as they are (data, isBinary: text stays text,
 * binary stays binary), until the promise continuations that are already due
 * have run: after the next microtask checkpoint (a queueMicrotask, then a
 * process.nextTick, which runs once that checkpoint's queue is empty). Then
 * the held messages go, in order, to whatever `message` listener there is
 * now, as long as there is one (a `once` listener takes one message; the
 * rest wait one more checkpoint for the listener its continuation adds).
 * Messages that nobody has started listening for by then are dropped, as
 * plain `ws` drops them at once.
 *
 * So the client behaves as if every frame had come in a read of its own:
 * Node runs the ticks and promise continuations due after one read before it
 * reads again, so a test that would have been listening by the next read
 * gets its message, and one that would not, does not. The latter matters: the
 * Engine.IO v4 upgrade tests send "2probe", never read the "3probe" answer,
 * and then expect the next message to be "4hello"; a wrapper that kept
 * messages for a later listener would hand them "3probe".
 *
 * Nothing else changes: sockets that always have a listener, other events
 * (open, close, error, ping, pong) and what is sent behave exactly as before.
 *
 * How: Module._load is wrapped, so whichever copy of `ws` the suite resolves
 * from its own node_modules (`import { WebSocket } from "ws"` goes through the
 * CommonJS loader for ws/lib/websocket.js) gets its WebSocket.prototype
 * patched once, when it is loaded.
 *
 * YOLK_WS_LATE_LISTENER_LOG=1 prints, at exit, how many WebSocket classes were
 * patched and how many messages were held, replayed and dropped.
 */

const Module = require('module');

const PATCHED = Symbol('ws-late-listener.patched');
const HELD = Symbol('ws-late-listener.held');
const ARMED = Symbol('ws-late-listener.armed');

const stats = { classes: 0, held: 0, replayed: 0, dropped: 0 };

// ws's WebSocket class: what `require('ws')` and ws/lib/websocket.js export.
function isWsWebSocket(x) {
  return (
    typeof x === 'function' &&
    x.name === 'WebSocket' &&
    x.prototype !== undefined &&
    typeof x.prototype.emit === 'function' &&
    typeof x.prototype.terminate === 'function' &&
    typeof x.prototype.ping === 'function'
  );
}

function patch(WebSocket) {
  const proto = WebSocket.prototype;
  if (Object.prototype.hasOwnProperty.call(proto, PATCHED)) return;
  proto[PATCHED] = true;
  stats.classes++;

  const emit = proto.emit; // EventEmitter.prototype.emit

  // settle() runs once the microtasks due now (and those they queue) have run.
  function arm(ws) {
    if (ws[ARMED]) return;
    ws[ARMED] = true;
    queueMicrotask(() => process.nextTick(settle, ws));
  }

  function settle(ws) {
    ws[ARMED] = false;
    const held = ws[HELD];
    let delivered = 0;
    while (held.length > 0 && ws.listenerCount('message') > 0) {
      delivered++;
      emit.apply(ws, ['message', ...held.shift()]);
    }
    stats.replayed += delivered;
    if (held.length === 0) return;
    // A message just went out: give its listener's continuation the same
    // chance to start listening for the next one. Otherwise nobody is coming.
    if (delivered > 0) arm(ws);
    else {
      stats.dropped += held.length;
      held.length = 0;
    }
  }

  // ws's receiver calls this.emit('message', data, isBinary) once per message.
  proto.emit = function (event, ...args) {
    if (event !== 'message') return emit.call(this, event, ...args);
    const held = this[HELD];
    if ((held === undefined || held.length === 0) && this.listenerCount('message') > 0) {
      return emit.call(this, event, ...args);
    }
    // Nobody listens yet, or older messages still wait (keep the order).
    if (held === undefined) this[HELD] = [args];
    else held.push(args);
    stats.held++;
    arm(this);
    return false;
  };
}

const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exports = load.apply(this, arguments);
  if (isWsWebSocket(exports)) patch(exports);
  return exports;
};

if (process.env.YOLK_WS_LATE_LISTENER_LOG === '1') {
  process.on('exit', () => {
    process.stderr.write(
      `ws-late-listener: ${stats.classes} ws WebSocket class(es) patched, ` +
        `${stats.held} message(s) held for a late listener, ${stats.replayed} replayed, ` +
        `${stats.dropped} dropped unclaimed\n`,
    );
  });
}
