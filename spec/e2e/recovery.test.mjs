// Connection state recovery on one node (the in-memory adapter's store), with
// socket.io-client 4.8, which implements it: a client that loses its transport comes
// back with its id, rooms, data and every packet it missed, in order, exactly once; a
// session past maxDisconnectionDuration, or one that ended on purpose, starts afresh;
// skipMiddlewares. The fixture is spec/cluster_app (no Redis: one node).
//
// A transport is lost the way a network loss looks to both ends: the test destroys the
// client's TCP socket (under the WebSocket), so the server sees "transport close" and the
// client reconnects by itself.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { io } from 'socket.io-client';
import { assertNoSanitizerReport } from './demo_server.mjs';
import { repoRoot, sleep, startYolk, stopYolk } from './lib.mjs';

const APP = path.join(repoRoot, 'spec/cluster_app');
const servers = [];
const clients = [];

after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) {
    await stopYolk(s);
    assertNoSanitizerReport(s.out.text);
  }
});

async function start(env) {
  const s = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_NODE: 'solo', ...env } });
  servers.push(s);
  return s;
}

function connect(server, opts = {}) {
  const s = io(server.url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100,
    reconnectionDelayMax: 200, ...opts });
  clients.push(s);
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

const call = (s, ev, ...args) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ack for ${ev}`)), 8000);
  s.emit(ev, ...args, (...res) => { clearTimeout(t); resolve(res); });
});

const reconnected = (s) => new Promise((resolve) => s.once('connect', resolve));

// The network goes away under the client: its TCP socket is destroyed.
function dropTransport(s) {
  s.io.engine.transport.ws._socket.destroy();
}

async function until(fn, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('a client that lost its transport gets its id, rooms, data and the 50 packets it missed, in order, once', async () => {
  const server = await start({ YOLK_TEST_RECOVERY_MS: '5000' });
  const b = await connect(server);
  const c = await connect(server);
  const news = [];
  const selves = [];
  c.on('news', (n, offset) => news.push([n, offset]));
  c.on('self', (i) => selves.push(i));
  await call(c, 'join', 'r');
  await call(c, 'setData', { nick: 'cee', n: 1 });
  // one packet first: the client needs an offset to ask for what follows it
  await call(b, 'broadcast', { rooms: ['r'] }, 'news', 0);
  await until(() => news.length === 1, 2000, 'the first packet');
  assert.equal(typeof news[0][1], 'string', 'recovery on: the offset comes as a last argument');
  const [before] = await call(c, 'whoami');
  const id = c.id;

  const back = reconnected(c);
  dropTransport(c);
  for (let i = 1; i <= 50; i++) await call(b, 'broadcast', { rooms: ['r'] }, 'news', i);
  await back;
  assert.equal(c.recovered, true);
  assert.equal(c.id, id);
  await call(b, 'broadcast', { rooms: ['r'] }, 'news', 51);
  await until(() => news.length >= 52, 3000, 'every packet');
  await sleep(100);
  assert.deepEqual(news.map(([n]) => n), Array.from({ length: 52 }, (_, i) => i));
  assert.equal(new Set(news.map(([, o]) => o)).size, 52, 'distinct offsets');

  const [now] = await call(c, 'whoami');
  assert.equal(now.recovered, true);
  assert.deepEqual(now.rooms, before.rooms);
  assert.deepEqual(now.data, { nick: 'cee', n: 1 });
  assert.equal(now.seen, before.seen, 'skipMiddlewares: the connection middleware did not run again');

  // socket:emit goes through the store too
  await call(c, 'emitSelf', 1);
  await until(() => selves.length === 1, 2000, 'the first self packet');
  const again = reconnected(c);
  dropTransport(c);
  await call(b, 'broadcast', {}, 'news', 52);
  await again;
  assert.equal(c.recovered, true);
  await call(c, 'emitSelf', 3);
  await until(() => selves.length === 4 && news.length === 53, 3000, 'the packets after the second loss');
  assert.deepEqual(selves, [1, 1, 2, 3]);
});

test('no recovery after maxDisconnectionDuration, after a deliberate disconnect, or when it is off', async () => {
  const server = await start({ YOLK_TEST_RECOVERY_MS: '600' });
  const b = await connect(server);

  // expired: the client comes back after the session is gone
  const c = await connect(server, { reconnectionDelay: 1200, reconnectionDelayMax: 1200, randomizationFactor: 0 });
  await call(c, 'join', 'r');
  await call(b, 'broadcast', {}, 'news', 'first');
  await sleep(100);
  const id = c.id;
  const back = reconnected(c);
  dropTransport(c);
  await back;
  assert.equal(c.recovered, false);
  assert.notEqual(c.id, id);
  const [fresh] = await call(c, 'whoami');
  assert.deepEqual(fresh.rooms, [c.id]);

  // a client-side disconnect ends the session
  const d = await connect(server);
  await call(d, 'join', 'r');
  await call(b, 'broadcast', {}, 'news', 'second');
  await sleep(100);
  const did = d.id;
  d.disconnect();
  d.connect();
  await reconnected(d);
  assert.equal(d.recovered, false);
  assert.notEqual(d.id, did);

  // a server-side disconnect too
  const e = await connect(server);
  await call(b, 'broadcast', {}, 'news', 'third');
  await sleep(100);
  const eid = e.id;
  const gone = new Promise((resolve) => e.once('disconnect', resolve));
  await call(b, 'disconnectSockets', eid, false);
  await gone;
  e.connect();
  await reconnected(e);
  assert.equal(e.recovered, false);
  assert.notEqual(e.id, eid);

  // recovery off: no offsets, no recovery
  const off = await start({});
  const f = await connect(off);
  const g = await connect(off);
  const got = [];
  f.on('news', (...a) => got.push(a));
  await call(g, 'broadcast', {}, 'news', 'plain');
  await until(() => got.length === 1, 2000, 'the packet');
  assert.deepEqual(got[0], ['plain']);
  const fid = f.id;
  const fback = reconnected(f);
  dropTransport(f);
  await fback;
  assert.ok(!f.recovered);
  assert.notEqual(f.id, fid);
});

test('skipMiddlewares off: a recovered socket goes through the connection middleware again', async () => {
  const server = await start({ YOLK_TEST_RECOVERY_MS: '5000', YOLK_TEST_RECOVERY_SKIP: '0' });
  const b = await connect(server);
  const c = await connect(server);
  await call(c, 'join', 'r');
  await call(b, 'broadcast', {}, 'news', 1);
  await sleep(100);
  const [before] = await call(c, 'whoami');
  const back = reconnected(c);
  dropTransport(c);
  await back;
  assert.equal(c.recovered, true);
  const [now] = await call(c, 'whoami');
  assert.equal(now.recovered, true);
  assert.equal(now.seen, before.seen + 1);
  assert.deepEqual(now.rooms, before.rooms);
});
