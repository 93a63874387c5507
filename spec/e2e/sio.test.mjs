// sio.test.mjs - the Socket.IO layer end to end: `sio-suite` (core/examples/
// sio_suite.c) driven by socket.io-client 4 (WebSocket, polling, upgrade),
// socket.io-client 2.5 (Engine.IO v3) and raw WebSockets for the protocol's
// error paths.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import http from 'node:http';
import { io } from 'socket.io-client';
import ioV2 from 'socket.io-client-v2';
import WebSocket from 'ws';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = process.env.SIO_SUITE_BIN || path.join(path.resolve(root, process.env.YOLK_BUILD_DIR || 'build'), 'sio-suite');
const clientDist = path.join(root, 'node_modules/socket.io-client/dist');

let server;
let url;
let stderr = '';
const clients = [];

function startServer(extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['--port', '0', '--client-dist', clientDist, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on ([\d.]+):(\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[2]) });
    });
    proc.on('exit', (code) => reject(new Error(`sio-suite exited (${code}) before listening: ${stderr}`)));
  });
}

before(async () => {
  const s = await startServer();
  server = s.proc;
  url = `http://127.0.0.1:${s.port}`;
});

after(async () => {
  for (const c of clients) c.close ? c.close() : c.disconnect();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.on('exit', r));
    server.kill('SIGTERM');
    const t = setTimeout(() => server.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
});

// ---- helpers -----------------------------------------------------------------

function v4(nsp = '/', opts = {}) {
  const s = io(url + nsp, { forceNew: true, reconnection: false, transports: ['websocket'], ...opts });
  clients.push(s);
  return s;
}

function v2(nsp = '/', opts = {}) {
  const s = ioV2(url + nsp, { forceNew: true, reconnection: false, transports: ['websocket'], ...opts });
  clients.push(s);
  return s;
}

function once(emitter, ev, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${ev}"`)), ms);
    emitter.once(ev, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function emitAck(s, ...args) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ack for ${args[0]}`)), 3000);
    s.emit(...args, (...res) => {
      clearTimeout(t);
      resolve(res);
    });
  });
}

// Records every event a socket receives (name + args).
function record(s) {
  const got = [];
  if (s.onAny) s.onAny((ev, ...args) => got.push([ev, ...args]));
  return got;
}

const unicode = ['你好，世界', '😀🎉', 'ＡＢＣ', 'ü', { '键': ['值', '🚀'] }];

// ---- socket.io-client 4 (protocol v5) -----------------------------------------

describe('socket.io-client 4', () => {
  for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
    test(`connect, auth, events, acks, unicode over ${transports.join('+')}`, async () => {
      const s = v4('/', { transports, auth: { token: 'abc', n: 1 } });
      const [auth] = await once(s, 'auth');
      assert.deepEqual(auth, { token: 'abc', n: 1 });
      assert.ok(s.connected);
      assert.notEqual(s.id, s.io.engine.id, 'v5 socket ids are not the Engine.IO sid');

      s.emit('message', 1, '2', { 3: [true] }, null, ...unicode);
      const back = await once(s, 'message-back');
      assert.deepEqual(back, [1, '2', { 3: [true] }, null, ...unicode]);

      const acked = await emitAck(s, 'message-with-ack', 'x', [1, 2], ...unicode);
      assert.deepEqual(acked, ['x', [1, 2], ...unicode]);

      if (transports.length === 2) {
        if (s.io.engine.transport.name !== 'websocket') await once(s.io.engine, 'upgrade');
        assert.equal(s.io.engine.transport.name, 'websocket');
        s.emit('message', 'after upgrade');
        assert.deepEqual(await once(s, 'message-back'), ['after upgrade']);
      }
      s.disconnect();
    });
  }

  test('binary arguments and binary acks (websocket and polling)', async () => {
    for (const transports of [['websocket'], ['polling']]) {
      const s = v4('/', { transports });
      await once(s, 'auth');
      const a = Buffer.from([1, 2, 3]);
      const b = Buffer.from([]);
      const c = Buffer.from('😀 bytes');
      s.emit('message', a, { nested: [b, 'text', c] });
      const [x, y] = await once(s, 'message-back');
      assert.deepEqual(Buffer.from(x), a);
      assert.deepEqual(Buffer.from(y.nested[0]), b);
      assert.equal(y.nested[1], 'text');
      assert.deepEqual(Buffer.from(y.nested[2]), c);
      const [r] = await emitAck(s, 'message-with-ack', a);
      assert.deepEqual(Buffer.from(r), a);
      s.disconnect();
    }
  });

  test('the generate_id hook names v5 sockets; v4 ids stay Engine.IO based', async () => {
    const other = await startServer(['--id-prefix', 'custom-id-']);
    const u = `http://127.0.0.1:${other.port}`;
    try {
      const a = io(u, { forceNew: true, reconnection: false, transports: ['websocket'] });
      const b = io(u + '/custom', { forceNew: true, reconnection: false, transports: ['websocket'] });
      clients.push(a, b);
      await Promise.all([once(a, 'connect'), once(b, 'connect')]);
      assert.match(a.id, /^custom-id-\d+$/);
      assert.match(b.id, /^custom-id-\d+$/);
      assert.notEqual(a.id, b.id);
      const old = ioV2(u, { forceNew: true, reconnection: false, transports: ['websocket'] });
      clients.push(old);
      await once(old, 'connect');
      assert.equal(old.id, old.io.engine.id);
      a.disconnect();
      b.disconnect();
      old.close();
    } finally {
      const exited = new Promise((r) => other.proc.on('exit', r));
      other.proc.kill('SIGTERM');
      await exited;
    }
  });

  test('custom namespace and invalid namespace', async () => {
    const s = v4('/custom', { auth: { k: 'v' } });
    const [auth] = await once(s, 'auth');
    assert.deepEqual(auth, { k: 'v' });
    s.disconnect();

    const bad = v4('/nope');
    const [err] = await once(bad, 'connect_error');
    assert.equal(err.message, 'Invalid namespace');
  });

  test('a refused connection gets the message and data', async () => {
    const s = v4('/refused');
    const [err] = await once(s, 'connect_error');
    assert.equal(err.message, 'Not authorized');
    assert.deepEqual(err.data, { code: 42 });
  });

  test('server -> client acks: answer, timeout', async () => {
    const s = v4('/');
    await once(s, 'auth');
    s.on('ask', (a, b, cb) => cb(a + b, 'ok'));
    s.emit('server-ack', 'ask', 1000, 2, 3);
    const [err, args] = await once(s, 'server-ack-result');
    assert.equal(err, null);
    assert.deepEqual(args, [5, 'ok']);

    s.on('ignored', () => {}); // never answers
    s.emit('server-ack', 'ignored', 100);
    const [err2, args2] = await once(s, 'server-ack-result');
    assert.equal(err2, 'timeout');
    assert.equal(args2, null);
    s.disconnect();
  });

  test('emits before admission are delivered after the CONNECT ack, in order', async () => {
    const s = v4('/slow');
    const got = record(s);
    let connectedAtFirstEvent = null;
    s.onAny(() => { if (connectedAtFirstEvent === null) connectedAtFirstEvent = s.connected; });
    await once(s, 'after');
    assert.equal(connectedAtFirstEvent, true);
    assert.deepEqual(got.map((e) => e[0]), ['early', 'after']);
    assert.equal(got[0][1], s.id);
    s.disconnect();
  });

  test('disconnect before admission: CONNECT ack, buffered emits, then DISCONNECT', async () => {
    const s = v4('/slow', { auth: { disconnect: true } });
    const events = [];
    s.on('connect', () => events.push('connect'));
    s.on('early', () => events.push('early'));
    const [reason] = await once(s, 'disconnect');
    assert.equal(reason, 'io server disconnect');
    assert.deepEqual(events, ['connect', 'early']);
  });

  test('packets from one sender arrive in emit order, then the disconnect', async () => {
    const s = v4('/');
    await once(s, 'auth');
    const seq = [];
    s.on('seq', (n) => seq.push(n));
    s.emit('emit-then-disconnect', 50);
    const [reason] = await once(s, 'disconnect');
    assert.equal(reason, 'io server disconnect');
    assert.deepEqual(seq, Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test('disconnect(close) closes the whole connection', async () => {
    const s = v4('/');
    await once(s, 'auth');
    const c = s.io.socket('/custom'); // same connection, another namespace
    c.connect();
    await once(c, 'auth');
    const both = Promise.all([once(s, 'disconnect'), once(c, 'disconnect')]);
    s.emit('disconnect-me', true);
    const [[r1], [r2]] = await both;
    assert.equal(r1, 'io server disconnect');
    assert.equal(r2, 'io server disconnect');
  });

  test('rooms and broadcasts reach exactly the right sockets, once each', async () => {
    const [a, b, c, d] = [v4('/'), v4('/'), v4('/'), v4('/custom')];
    await Promise.all([a, b, c, d].map((s) => once(s, 'auth')));
    await emitAck(a, 'join', 'red');
    await emitAck(a, 'join', 'blue');
    await emitAck(b, 'join', 'red');
    await emitAck(c, 'join', 'blue');
    await emitAck(d, 'join', 'red'); // another namespace: never reached from "/"
    const [rooms] = await emitAck(a, 'rooms');
    assert.deepEqual(rooms.sort(), ['blue', 'red', a.id].sort());

    const got = new Map([[a, []], [b, []], [c, []], [d, []]]);
    for (const s of got.keys()) s.on('news', (...args) => got.get(s).push(args));
    const named = [[a, 'a'], [b, 'b'], [c, 'c'], [d, 'd']];
    const count = (s, label) => got.get(s).filter((x) => x[0] === label).length;
    const check = async (label, expected) => {
      // wait for the expected receivers, then a little more for strays
      for (let t = 0; t < 3000; t += 10) {
        if (named.every(([s, name]) => !expected.includes(name) || count(s, label) > 0)) break;
        await sleep(10);
      }
      await sleep(60);
      for (const [s, name] of named) {
        const n = got.get(s).filter((x) => x[0] === label).length;
        assert.equal(n, expected.includes(name) ? 1 : 0, `${label}: ${name} got ${n}`);
      }
    };
    await emitAck(a, 'broadcast', { rooms: ['red', 'blue'] }, 'news', 'red+blue');
    await check('red+blue', ['a', 'b', 'c']);
    await emitAck(a, 'broadcast', { rooms: ['red'], from_me: true }, 'news', 'red from a');
    await check('red from a', ['b']);
    await emitAck(b, 'broadcast', {}, 'news', 'all');
    await check('all', ['a', 'b', 'c']);
    await emitAck(b, 'broadcast', { except: ['blue'] }, 'news', 'all but blue');
    await check('all but blue', ['b']);
    await emitAck(c, 'broadcast', { rooms: [b.id] }, 'news', 'to b');
    await check('to b', ['b']);
    await emitAck(c, 'broadcast', { rooms: ['red'], except: [a.id] }, 'news', 'red not a', Buffer.from([9]));
    await check('red not a', ['b']);
    const bin = got.get(b).find((x) => x[0] === 'red not a');
    assert.deepEqual(Buffer.from(bin[1]), Buffer.from([9]));
    await emitAck(a, 'broadcast-from', {}, 'news', 'from a');
    await check('from a', ['b', 'c']);
    await emitAck(c, 'broadcast-from', { rooms: ['blue', 'red'], except: ['red'] }, 'news', 'blue but not red, from c');
    await check('blue but not red, from c', []);
    await emitAck(b, 'broadcast-from', { rooms: ['red'] }, 'news', 'red from b');
    await check('red from b', ['a']);
    await emitAck(c, 'broadcast', { rooms: ['nobody'] }, 'news', 'nobody');
    await check('nobody', []);

    const [ids] = await emitAck(c, 'fetch', { rooms: ['red'] });
    assert.deepEqual(ids.sort(), [a.id, b.id].sort());

    await emitAck(a, 'leave', 'red');
    await emitAck(c, 'broadcast', { rooms: ['red'] }, 'news', 'red after leave');
    await check('red after leave', ['b']);

    // a socket that disconnects leaves its rooms
    b.disconnect();
    await sleep(50);
    const [ids2] = await emitAck(c, 'fetch', { rooms: ['red'] });
    assert.deepEqual(ids2, []);
    for (const s of [a, c, d]) s.disconnect();
  });

  test('unicode in namespaces, rooms and event names', async () => {
    const a = v4('/');
    const b = v4('/');
    await Promise.all([once(a, 'auth'), once(b, 'auth')]);
    await emitAck(b, 'join', '房间🏠');
    const p = once(b, '事件🎯');
    await emitAck(a, 'broadcast', { rooms: ['房间🏠'] }, '事件🎯', '数据', '🙂');
    assert.deepEqual(await p, ['数据', '🙂']);
    a.disconnect();
    b.disconnect();
  });
});

// ---- socket.io-client 2.5 (protocol v4 over Engine.IO v3) -----------------------

describe('socket.io-client 2 (Engine.IO v3)', () => {
  for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
    test(`connect, events, acks, binary over ${transports.join('+')}`, async () => {
      const s = v2('/', { transports });
      await once(s, 'connect');
      assert.equal(s.id, s.io.engine.id, 'protocol v4: the id on "/" is the Engine.IO sid');
      s.emit('message', 1, '2', { 3: [true] }, ...unicode);
      assert.deepEqual(await once(s, 'message-back'), [1, '2', { 3: [true] }, ...unicode]);
      const acked = await emitAck(s, 'message-with-ack', 'x', [1, 2], '😀');
      assert.deepEqual(acked, ['x', [1, 2], '😀']);
      s.emit('message', Buffer.from([1, 2, 3]), { b: Buffer.from('ü') });
      const [x, y] = await once(s, 'message-back');
      assert.deepEqual(Buffer.from(x), Buffer.from([1, 2, 3]));
      assert.deepEqual(Buffer.from(y.b), Buffer.from('ü'));
      s.on('ask', (a, cb) => cb(a * 2));
      s.emit('server-ack', 'ask', 1000, 21);
      const [err, args] = await once(s, 'server-ack-result');
      assert.equal(err, null);
      assert.deepEqual(args, [42]);
      s.close();
    });
  }

  test('custom namespace id and query auth', async () => {
    const s = v2('/custom', { query: { token: 'q1', x: 'a b' } });
    const [auth] = await once(s, 'auth');
    assert.deepEqual(auth, { token: 'q1', x: 'a b' });
    assert.equal(s.id, '/custom#' + s.io.engine.id);
    s.close();
  });

  test('invalid and refused namespaces are reported as errors', async () => {
    const bad = v2('/nope');
    const [err] = await once(bad, 'error');
    assert.equal(err, 'Invalid namespace');
    const ref = v2('/refused');
    const [err2] = await once(ref, 'error');
    assert.deepEqual(err2, { code: 42 });
  });

  test('v2 and v4 clients share rooms and broadcasts', async () => {
    const old = v2('/');
    const cur = v4('/');
    await Promise.all([once(old, 'connect'), once(cur, 'auth')]);
    await emitAck(old, 'join', 'mixed');
    await emitAck(cur, 'join', 'mixed');
    const p1 = once(old, 'hello');
    const p2 = once(cur, 'hello');
    await emitAck(cur, 'broadcast', { rooms: ['mixed'] }, 'hello', '世界', Buffer.from([7]));
    const [[t1, b1], [t2, b2]] = await Promise.all([p1, p2]);
    assert.equal(t1, '世界');
    assert.equal(t2, '世界');
    assert.deepEqual(Buffer.from(b1), Buffer.from([7]));
    assert.deepEqual(Buffer.from(b2), Buffer.from([7]));
    old.close();
    cur.disconnect();
  });
});

// ---- raw protocol: invalid input closes the connection with a log line --------------

function rawWs() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace('http', 'ws') + '/socket.io/?EIO=4&transport=websocket');
    const msgs = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? data : data.toString();
      if (m === '2') return ws.send('3');
      msgs.push(m);
      while (waiters.length && msgs.length) waiters.shift()(msgs.shift());
    });
    ws.next = (ms = 3000) => new Promise((resolve, reject) => {
      if (msgs.length) return resolve(msgs.shift());
      const t = setTimeout(() => reject(new Error('no message within ' + ms + ' ms')), ms);
      waiters.push((m) => { clearTimeout(t); resolve(m); });
    });
    ws.closed = new Promise((r) => ws.on('close', r));
    ws.on('error', () => {});
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('protocol errors', () => {
  const cases = [
    ['binary attachment without a binary packet', [Buffer.from([1])], 'binary message without a pending binary packet'],
    ['event for a namespace not joined', ['42/custom,["message"]'], 'packet for a namespace the client has not joined'],
    ['reserved event name', ['42["disconnect"]'], 'EVENT name is reserved'],
    ['too many attachments', ['4511-["message"]'], 'too many attachments'],
    ['text while waiting for attachments', ['451-["message",{"_placeholder":true,"num":0}]', '42["x"]'],
      'text message while waiting for binary attachments'],
    ['placeholder out of range', ['451-["message",{"_placeholder":true,"num":3}]', Buffer.from([1])],
      'placeholder with an invalid attachment index'],
    ['DISCONNECT with a payload', ['41{}'], 'DISCONNECT has a payload'],
    ['CONNECT_ERROR from a client', ['44{"message":"x"}'], 'CONNECT_ERROR packet from a client'],
  ];
  for (const [label, frames, logged] of cases) {
    test(label, async () => {
      const ws = await rawWs();
      assert.match(await ws.next(), /^0\{/);
      ws.send('40');
      assert.match(await ws.next(), /^40\{"sid":"[^"]+"\}$/);
      assert.equal(await ws.next(), '42["auth",{}]');
      const before = stderr.length;
      for (const f of frames) ws.send(f);
      await ws.closed;
      await sleep(20);
      assert.ok(stderr.slice(before).includes(logged), `log line "${logged}" in: ${stderr.slice(before)}`);
    });
  }

  test('CONNECT with a non-object payload closes; unknown namespace does not', async () => {
    const ws = await rawWs();
    await ws.next();
    ws.send('40/nope,');
    assert.equal(await ws.next(), '44/nope,{"message":"Invalid namespace"}');
    ws.send('40/custom,{"token":"t"}');
    assert.match(await ws.next(), /^40\/custom,\{"sid":/);
    assert.equal(await ws.next(), '42/custom,["auth",{"token":"t"}]');
    ws.send('40[]');
    await ws.closed;
  });

  test('a repeated CONNECT is ignored (socket.io-client sends one on connect() after autoConnect)', async () => {
    const ws = await rawWs();
    await ws.next();
    ws.send('40');
    ws.send('40');
    assert.match(await ws.next(), /^40\{"sid":/);
    assert.equal(await ws.next(), '42["auth",{}]');
    ws.send('42["message",1]');
    assert.equal(await ws.next(), '42["message-back",1]');
    ws.close();
  });

  test('leaving "/" keeps the session; other namespaces keep working', async () => {
    const ws = await rawWs();
    await ws.next();
    ws.send('40');
    await ws.next();
    await ws.next();
    ws.send('40/custom,');
    await ws.next();
    await ws.next();
    ws.send('41');
    ws.send('42/custom,["message-with-ack"]'); // /custom has no such handler: nothing comes back
    ws.send('40');
    assert.match(await ws.next(), /^40\{"sid":/);
    assert.equal(await ws.next(), '42["auth",{}]');
    ws.send('42["message","again"]');
    assert.equal(await ws.next(), '42["message-back","again"]');
    ws.close();
  });

  test('a client that joins no namespace is closed after connectTimeout', async () => {
    const ws = await rawWs();
    await ws.next();
    const t0 = Date.now();
    await ws.closed;
    const dt = Date.now() - t0;
    assert.ok(dt >= 900 && dt < 2500, `closed after ${dt} ms`);
  });
});

// ---- protocol v4 on the wire (Engine.IO v3 WebSocket) ------------------------------------
// The official suite has no v4 edition; these pin down what socket.io v2 clients rely on.

function rawWs3(query = '') {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace('http', 'ws') + '/socket.io/?EIO=3&transport=websocket' + query);
    const msgs = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      msgs.push(isBinary ? Buffer.from(data) : data.toString());
      while (waiters.length && msgs.length) waiters.shift()(msgs.shift());
    });
    ws.next = (ms = 3000) => new Promise((resolve, reject) => {
      if (msgs.length) return resolve(msgs.shift());
      const t = setTimeout(() => reject(new Error('no message within ' + ms + ' ms')), ms);
      waiters.push((m) => { clearTimeout(t); resolve(m); });
    });
    ws.closed = new Promise((r) => ws.on('close', r));
    ws.on('error', () => {});
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test('protocol v4: implicit "/", query auth, string errors, binary with the v3 type byte', async () => {
  const ws = await rawWs3();
  const open = await ws.next();
  assert.match(open, /^0\{"sid":"[^"]+","upgrades":\[\],"pingInterval":300,"pingTimeout":200\}$/);
  const sid = JSON.parse(open.slice(1)).sid;
  assert.equal(await ws.next(), '40');
  assert.equal(await ws.next(), '42["auth",{}]');
  ws.send('2');
  assert.equal(await ws.next(), '3');
  ws.send('42["message",1,"你好"]');
  assert.equal(await ws.next(), '42["message-back",1,"你好"]');
  ws.send('4217["message-with-ack","a"]');
  assert.equal(await ws.next(), '4317["a"]');
  ws.send('40/custom?token=abc&x=%F0%9F%98%80,');
  assert.equal(await ws.next(), '40/custom,');
  assert.equal(await ws.next(), '42/custom,["auth",{"token":"abc","x":"😀"}]');
  ws.send('40/nope,');
  assert.equal(await ws.next(), '44/nope,"Invalid namespace"');
  ws.send('40/refused,');
  assert.equal(await ws.next(), '44/refused,{"code":42}');
  ws.send('451-["message",{"_placeholder":true,"num":0}]');
  ws.send(Buffer.from([4, 1, 2, 3]));
  assert.equal(await ws.next(), '451-["message-back",{"_placeholder":true,"num":0}]');
  assert.deepEqual(await ws.next(), Buffer.from([4, 1, 2, 3]));
  ws.send('42["rooms"]'); // no ack asked: nothing comes back
  ws.send('4218["rooms"]');
  const rooms = JSON.parse((await ws.next()).slice(4));
  assert.deepEqual(rooms, [[sid]], 'the id on "/" is the Engine.IO sid');
  ws.send('42/custom,19["rooms"]');
  assert.equal(await ws.next(), `43/custom,19[["/custom#${sid}"]]`);
  ws.send('41/custom,');
  ws.send('42/custom,["rooms"]'); // left: the connection is closed
  await ws.closed;
});

// ---- volatile broadcasts ----------------------------------------------------------------

function httpReq(method, pathname, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url + pathname, { method }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

test('a volatile broadcast skips a polling client with no GET pending; a normal one waits for it', async () => {
  const open = await httpReq('GET', '/socket.io/?EIO=4&transport=polling');
  const { sid } = JSON.parse(open.body.slice(1));
  const q = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  await httpReq('POST', q, '40');
  let got = (await httpReq('GET', q)).body.split('\x1e');
  assert.ok(got.some((p) => p.startsWith('40{"sid":')), got.join(' | '));
  if (!got.includes('42["auth",{}]')) got = (await httpReq('GET', q)).body.split('\x1e');
  assert.ok(got.includes('42["auth",{}]'), got.join(' | '));
  // no GET pending now: the volatile packet is dropped, the other one queued
  const s = v4('/');
  await once(s, 'auth');
  await emitAck(s, 'broadcast', { volatile: true, except: [s.id] }, 'vol', Buffer.from([1]));
  await emitAck(s, 'broadcast', { except: [s.id] }, 'nonvol', 1);
  const pkts = (await httpReq('GET', q)).body.split('\x1e').filter((p) => p !== '2');
  assert.deepEqual(pkts, ['42["nonvol",1]']);
  await httpReq('POST', q, '1');
  s.disconnect();
});

// ---- the browser client --------------------------------------------------------------

function get(pathname, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url + pathname, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

describe('browser client files', () => {
  for (const name of ['socket.io.js', 'socket.io.min.js', 'socket.io.esm.min.js', 'socket.io.js.map']) {
    test(`GET /socket.io/${name}`, async () => {
      const res = await get('/socket.io/' + name);
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'], name.endsWith('.map') ? /application\/json/ : /application\/javascript/);
      assert.deepEqual(res.body, fs.readFileSync(path.join(clientDist, name)));
      assert.ok(res.headers.etag);
      const again = await get('/socket.io/' + name, { 'if-none-match': res.headers.etag });
      assert.equal(again.status, 304);
      assert.equal(again.body.length, 0);
    });
  }

  test('other files under the path are not served', async () => {
    const res = await get('/socket.io/../CMakeLists.txt');
    assert.notEqual(res.status, 200);
    const res2 = await get('/socket.io/socket.io.jsx');
    assert.notEqual(res2.status, 200);
  });
});

// ---- shutdown ---------------------------------------------------------------------------

test('SIGTERM closes every client and the server exits cleanly (no sanitizer report)', async () => {
  const s = v4('/');
  await once(s, 'auth');
  const old = v2('/custom');
  await once(old, 'connect');
  const gone = Promise.all([once(s, 'disconnect'), once(old, 'disconnect')]);
  const exited = new Promise((r) => server.on('exit', (code, sig) => r([code, sig])));
  server.kill('SIGTERM');
  const [code, sig] = await exited;
  await gone;
  assert.equal(sig, null);
  assert.equal(code, 0);
  assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error:/);
});
