// Connection state recovery across nodes with the Redis Streams adapter: a client (socket.io-client
// 4.8) loses the node it was connected to and comes back on another one, which restores its id,
// rooms and data and sends it every packet it missed, in the stream's order, once; yolk -> yolk,
// yolk -> Node.js (socket.io 4.8 + @socket.io/redis-streams-adapter 0.3.1) and Node.js -> yolk.
//
// The client connects through a small TCP proxy of the test's (the "load balancer"): the
// proxy points at the first node; while the client is away it refuses connections (the
// client keeps retrying) and the other nodes broadcast; then it points at the second node
// and the client's next attempt lands there. The first node is lost either by being stopped
// (SIGTERM: its sockets close with "server shutting down", a reason that keeps sessions) or
// by the proxy cutting the client's connection (the node sees "transport close").
import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { io } from 'socket.io-client';
import { call, cluster, next, until } from './cluster_scenarios.mjs';
import { sleep, startRedis, stopYolk } from './lib.mjs';

const RECOVERY_MS = 10000;
const c = cluster('streams');
c.timeout = 1500;
const proxies = [];
const recoveryEnv = { YOLK_TEST_RECOVERY_MS: String(RECOVERY_MS) };

// A TCP proxy on a free port: each connection goes to the port of proxy.target (a node), or
// is closed at once when target is null. cut() closes every connection it carries.
async function startProxy(target) {
  const conns = new Set();
  const proxy = { target };
  proxy.server = net.createServer((down) => {
    if (!proxy.target) {
      down.destroy();
      return;
    }
    const up = net.connect(proxy.target.port, '127.0.0.1');
    conns.add(down);
    conns.add(up);
    const close = () => { down.destroy(); up.destroy(); conns.delete(down); conns.delete(up); };
    down.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
    down.pipe(up);
    up.pipe(down);
  });
  proxy.cut = () => { for (const s of conns) s.destroy(); conns.clear(); };
  await new Promise((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${proxy.server.address().port}`;
  proxies.push(proxy);
  return proxy;
}

let redisStarted;
async function redis() {
  if (!redisStarted) redisStarted = startRedis().then((r) => { c.redis = r; return r; });
  return redisStarted;
}

// A client through the proxy that reconnects quickly, recording its 'news' (value, offset).
function recoveringClient(proxy) {
  const s = io(proxy.url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100,
    reconnectionDelayMax: 200, randomizationFactor: 0 });
  c.clients.push(s);
  s.news = [];
  s.on('news', (n, offset) => s.news.push([n, offset]));
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

// The news numbers of the stream key, in the stream's order.
async function streamOrder(key) {
  const raw = (await c.cli('--raw', 'XRANGE', key, '-', '+')).split('\n');
  const out = [];
  for (const line of raw) {
    if (!line.startsWith('{"packet"')) continue;
    const { packet } = JSON.parse(line);
    if (packet.data[0] === 'news' && typeof packet.data[1] === 'number') out.push(packet.data[1]);
  }
  return out;
}

afterEach(() => {
  c.closeClients();
  for (const p of proxies.splice(0)) { p.cut(); p.server.close(); }
});

after(() => c.stopAll());

// The scenario: the client on `first` joins room r, sets its data and gets news 0 (so it has
// an offset); `lose(first)` takes `first` away; the nodes of `senders` broadcast news 1..n to
// r in turns while the client cannot connect; the proxy turns to `second`, where the client
// must come back recovered with every missed packet in the stream's order, then live ones.
async function scenario(key, first, second, senders, lose, n = 20) {
  const proxy = await startProxy(first);
  const cl = await recoveringClient(proxy);
  const bs = [];
  for (const s of senders) bs.push(await c.connect(s));
  await call(cl, 'join', 'r');
  await call(cl, 'setData', { nick: 'cee', n: 1 });
  await call(bs[0], 'broadcast', { rooms: ['r'] }, 'news', 0);
  await until(() => cl.news.length === 1, 3000, 'the first packet');
  assert.equal(typeof cl.news[0][1], 'string', 'recovery on: the offset comes as a last argument');
  const id = cl.id;
  const [before] = await call(cl, 'whoami');

  proxy.target = null;
  const gone = next(cl, 'disconnect', 5000);
  await lose(first, proxy);
  await gone;
  for (let i = 1; i <= n; i++) await call(bs[i % bs.length], 'broadcast', { rooms: ['r'] }, 'news', i);
  await call(bs[0], 'broadcast', { rooms: ['elsewhere'] }, 'news', 'not for r');
  const back = next(cl, 'connect', 8000);
  proxy.target = second;
  await back;
  assert.equal(cl.recovered, true, `recovered on ${second.name}`);
  assert.equal(cl.id, id);
  await until(() => cl.news.length >= n + 1, 5000, 'the missed packets');
  await call(bs[0], 'broadcast', { rooms: ['r'] }, 'news', n + 1);
  await until(() => cl.news.length >= n + 2, 3000, 'a live packet');
  await sleep(200);
  const order = await streamOrder(key);
  assert.deepEqual(cl.news.map(([v]) => v), [0, ...order.filter((v) => v >= 1 && v <= n), n + 1]);
  assert.deepEqual([...cl.news.map(([v]) => v)].sort((a, b) => a - b), Array.from({ length: n + 2 }, (_, i) => i));
  assert.equal(new Set(cl.news.map(([, o]) => o)).size, n + 2, 'distinct offsets');
  for (const [, o] of cl.news) assert.match(o, /^\d+-\d+$/, 'offsets are stream entry ids');

  const [now] = await call(cl, 'whoami');
  assert.equal(now.recovered, true);
  assert.equal(now.id, id);
  assert.deepEqual(now.rooms, before.rooms);
  assert.deepEqual(now.data, { nick: 'cee', n: 1 });
  for (const b of bs) b.close();
  cl.close();
}

const cut = (s, proxy) => proxy.cut();

test('yolk -> yolk: the node is stopped (SIGTERM); another yolk node restores the client with what two nodes sent meanwhile', async () => {
  await redis();
  const [Y1, Y2, Y3] = await Promise.all(['Y1', 'Y2', 'Y3'].map((n) => c.startNode(n, 'r1', recoveryEnv)));
  await c.ready('r1', 3);
  await scenario('r1', Y1, Y2, [Y2, Y3], (s) => stopYolk(s));
});

test('yolk -> yolk: the connection is cut; the client comes back on another node', async () => {
  await redis();
  const [Y1, Y2] = await Promise.all(['Y1', 'Y2'].map((n) => c.startNode(n, 'r2', recoveryEnv)));
  await c.ready('r2', 2);
  await scenario('r2', Y1, Y2, [Y2, Y1], cut);
});

test('yolk -> Node.js: the Node adapter restores a session yolk left, with the packets both sent', async () => {
  await redis();
  const [Y, N] = await Promise.all([c.startNode('Y', 'r3', recoveryEnv), c.startNodeJs('N', 'r3', RECOVERY_MS)]);
  await c.ready('r3', 2);
  await sleep(300); // the Node adapter's reader starts from "$" once its connection is up
  await scenario('r3', Y, N, [N, Y], cut);
});

test('Node.js -> yolk: the Node server is stopped; yolk restores the session it left, with the packets both sent', async () => {
  await redis();
  const [Y, N] = await Promise.all([c.startNode('Y', 'r4', recoveryEnv), c.startNodeJs('N', 'r4', RECOVERY_MS)]);
  await c.ready('r4', 2);
  await sleep(300);
  // N's stop: io.close() closes its sockets with "server shutting down"
  await scenario('r4', N, Y, [Y], (s) => c.stopNodeJs(s));
});
