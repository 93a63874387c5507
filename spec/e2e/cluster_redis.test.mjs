// The Redis adapter (core/adapter_redis.c) against a real redis-server: two yolk nodes
// (spec/cluster_app) where every cluster-wide call of the Lua API crosses between them; a
// mixed cluster of a yolk node and a Node.js socket.io 4.8 server with
// @socket.io/redis-adapter 8 (fixtures/node_cluster_server.cjs), driven the same way from
// either side; @socket.io/redis-emitter messages reaching yolk's clients; requests to a
// node that never answers; and Redis going away and coming back.
//
// Harness note: a node subscribes to its channels right after it starts, so before
// using a cluster the test waits until Redis counts every node on the request channels
// (PUBSUB NUMSUB), rather than sleeping.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import { Emitter } from '@socket.io/redis-emitter';
import { createClient } from 'redis';
import { assertNoSanitizerReport } from './demo_server.mjs';
import { freePort, repoRoot, sleep, startRedis, startYolk, stopYolk } from './lib.mjs';

const run = promisify(execFile);
const APP = path.join(repoRoot, 'spec/cluster_app');
const NODE_SERVER = path.join(repoRoot, 'spec/e2e/fixtures/node_cluster_server.cjs');
const TIMEOUT = 1500; // requestsTimeout of every node here

let redis;
const yolks = [];
const nodeServers = [];
const clients = [];

async function startNode(name, key) {
  return startYolk(['--baseDir', APP], {
    env: {
      YOLK_TEST_REDIS_URL: redis.url, YOLK_TEST_NODE: name, YOLK_TEST_REDIS_KEY: key,
      YOLK_TEST_REQUESTS_TIMEOUT: String(TIMEOUT),
    },
  }).then((s) => { s.name = name; yolks.push(s); return s; });
}

async function startNodeJs(name, key) {
  const port = await freePort();
  const child = spawn(process.execPath, [NODE_SERVER, String(port), redis.url, name, key, String(TIMEOUT)], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const s = { child, port, name, url: `http://127.0.0.1:${port}`, out: { text: '' } };
  child.stdout.on('data', (d) => { s.out.text += d; });
  child.stderr.on('data', (d) => { s.out.text += d; });
  s.exited = new Promise((resolve) => child.on('exit', resolve));
  nodeServers.push(s);
  const deadline = Date.now() + 10000;
  while (!s.out.text.includes('listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`node server did not start:\n${s.out.text}`);
    await sleep(50);
  }
  return s;
}

async function cli(...args) {
  const { stdout } = await run('redis-cli', ['-p', String(redis.port), ...args.map(String)]);
  return stdout.trim();
}

async function until(fn, ms = 8000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// Every node of the cluster `key` is subscribed (both namespaces).
async function clusterReady(key, n) {
  for (const nsp of ['/', '/chat']) {
    await until(async () => {
      const out = (await cli('PUBSUB', 'NUMSUB', `${key}-request#${nsp}#`)).split('\n');
      return Number(out[1]) === n;
    }, 10000, `${n} nodes on ${key}`);
  }
}

function connect(server, nsp = '/', opts = {}) {
  const s = io(server.url + nsp, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
  clients.push(s);
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

// Emits with an ack and resolves with all the ack's arguments.
const call = (s, ev, ...args) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ack for ${ev}`)), 8000);
  s.emit(ev, ...args, (...res) => { clearTimeout(t); resolve(res); });
});

function next(s, ev, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { s.off(ev, on); reject(new Error(`no ${ev} within ${ms} ms`)); }, ms);
    const on = (...args) => { clearTimeout(t); resolve(args); };
    s.once(ev, on);
  });
}

// Collects the `ev` events of each socket during ms.
async function collect(sockets, ev, ms = 300) {
  const got = sockets.map(() => []);
  const fns = sockets.map((s, i) => { const f = (...a) => got[i].push(a); s.on(ev, f); return f; });
  await sleep(ms);
  sockets.forEach((s, i) => s.off(ev, fns[i]));
  return got;
}

let A, B, Y, N; // yolk A and B (key "yy"); yolk Y and Node N (key "mixed")

before(async () => {
  redis = await startRedis();
  [A, B, Y, N] = await Promise.all([startNode('A', 'yy'), startNode('B', 'yy'), startNode('Y', 'mixed'),
    startNodeJs('N', 'mixed')]);
  await clusterReady('yy', 2);
  await clusterReady('mixed', 2);
});

// every test starts with no client connected anywhere
afterEach(() => { for (const c of clients.splice(0)) c.close(); });

after(async () => {
  for (const c of clients) c.close();
  if (process.env.YOLK_TEST_DUMP) for (const s of [...yolks, ...nodeServers]) console.log(`--- ${s.name}\n${s.out.text}`);
  for (const s of yolks) {
    await stopYolk(s);
    assertNoSanitizerReport(s.out.text);
  }
  for (const s of nodeServers) {
    if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await s.exited;
  }
  await redis?.stop();
});

// The same scenarios, for (from, to) = (A, B) of two yolk nodes and both ways of the
// mixed cluster.
const pairs = () => [['yolk -> yolk', A, B], ['yolk -> node', Y, N], ['node -> yolk', N, Y]];

test('broadcasts cross nodes: all, rooms, except, local, socket.broadcast, binary, namespaces', async () => {
  for (const [label, from, to] of pairs()) {
    const a = await connect(from);
    const b = await connect(to);
    const b2 = await connect(to);
    const chatB = await connect(to, '/chat');
    assert.deepEqual(await call(b, 'join', 'r1'), [to.name], label);
    await call(b2, 'join', 'r2');

    // everyone, with a binary argument (it stays binary on the other side)
    let got = collect([a, b, b2, chatB], 'news');
    await call(a, 'broadcast', {}, 'news', 'all', Buffer.from([1, 2, 3]));
    let [ga, gb, gb2, gchat] = await got;
    assert.equal(ga.length, 1, label);
    assert.deepEqual(gb, [['all', Buffer.from([1, 2, 3])]], label);
    assert.equal(gb2.length, 1, label);
    assert.deepEqual(gchat, [], `${label}: other namespace`);

    // a room, except a room, several rooms
    got = collect([a, b, b2], 'news');
    await call(a, 'broadcast', { rooms: ['r1'] }, 'news', 'r1 only');
    await call(a, 'broadcast', { except: ['r1'] }, 'news', 'all but r1');
    await call(a, 'broadcast', { rooms: ['r1', 'r2'] }, 'news', 'r1 and r2');
    [ga, gb, gb2] = await got;
    assert.deepEqual(ga, [['all but r1']], label);
    assert.deepEqual(gb, [['r1 only'], ['r1 and r2']], label);
    assert.deepEqual(gb2, [['all but r1'], ['r1 and r2']], label);

    // local: this node only
    got = collect([a, b], 'news');
    await call(a, 'broadcast', { local: true }, 'news', 'local');
    [ga, gb] = await got;
    assert.deepEqual(ga, [['local']], label);
    assert.deepEqual(gb, [], label);

    // socket.broadcast: everyone but the sender, on every node
    got = collect([a, b], 'news');
    await call(a, 'socketBroadcast', 'from a');
    [ga, gb] = await got;
    assert.deepEqual(ga, [], label);
    assert.deepEqual(gb, [['from a']], label);

    // the /chat namespace has its own channels
    const chatA = await connect(from, '/chat');
    got = collect([chatB, b], 'news');
    await call(chatA, 'broadcast', {}, 'news', 'chat');
    const [gc, gbb] = await got;
    assert.deepEqual(gc, [['chat']], label);
    assert.deepEqual(gbb, [], label);
    for (const s of [a, b, b2, chatA, chatB]) s.close();
  }
});

test('fetchSockets, a fetched socket acting remotely, socketsJoin/Leave and disconnectSockets across nodes', async () => {
  for (const [label, from, to] of pairs()) {
    const a = await connect(from);
    const b = await connect(to, '/', { query: { who: 'b' } });
    await call(b, 'join', 'fx');
    await call(b, 'setData', { nick: 'bee', n: 1 });

    const [list] = await call(a, 'fetch', 'fx');
    assert.equal(list.length, 1, label);
    assert.equal(list[0].id, b.id, label);
    assert.deepEqual(list[0].rooms.sort(), [b.id, 'fx'].sort(), label);
    assert.deepEqual(list[0].data, { nick: 'bee', n: 1 }, label);
    const [all] = await call(a, 'fetch');
    assert.deepEqual(all.map((s) => s.id).sort(), [a.id, b.id].sort(), label);

    // emit to a socket found on the other node
    const direct = next(b, 'direct');
    await call(a, 'remoteEmit', 'fx');
    assert.deepEqual(await direct, [from.name], label);

    // socketsJoin / socketsLeave on the other node's sockets
    await call(a, 'socketsJoin', 'fx', ['j1', 'j2']);
    await until(async () => {
      const [l] = await call(a, 'fetch', 'j2');
      return l.length === 1 && l[0].id === b.id;
    }, 3000, `${label}: socketsJoin`);
    await call(a, 'socketsLeave', 'fx', 'j1');
    await until(async () => (await call(a, 'fetch', 'j1'))[0].length === 0, 3000, `${label}: socketsLeave`);

    // disconnectSockets
    const gone = next(b, 'disconnect');
    await call(a, 'disconnectSockets', 'j2', false);
    assert.equal((await gone)[0], 'io server disconnect', label);
    assert.equal(a.connected, true, label);
    a.close();
  }
});

test('serverSideEmit, with answers from every other node, and allRooms', async () => {
  for (const [label, from, to] of pairs()) {
    const a = await connect(from);
    const b = await connect(to);
    await call(b, 'join', 'room-of-b');

    await call(a, 'serverSideEmit', { x: label });
    await until(async () => (await call(b, 'heard'))[0].some((h) => h.payload?.x === label), 3000, label);
    const [heardA] = await call(a, 'heard');
    assert.ok(!heardA.some((h) => h.payload?.x === label), `${label}: the sender does not hear itself`);

    const [answers, err] = await call(a, 'serverSideEmitWithAck');
    assert.equal(err, null, label);
    assert.deepEqual(answers, [{ node: to.name, from: from.name }], label);

    const [rooms, rerr] = await call(a, 'allRooms');
    assert.equal(rerr, null, label);
    for (const r of ['room-of-b', a.id, b.id]) assert.ok(rooms.includes(r), `${label}: ${r} in ${rooms}`);
    a.close();
    b.close();
  }
  // the yolk API's other forms: a trailing callback, timeout(ms), egg-socket.io's adapter calls
  const a = await connect(A);
  const b = await connect(B);
  await call(b, 'join', 'egg');
  assert.deepEqual(await call(a, 'serverSideEmitCallback'), [null, [{ node: 'B', from: 'A' }]]);
  assert.deepEqual(await call(a, 'serverSideEmitWithAck', 300), [[{ node: 'B', from: 'A' }], null]);
  assert.deepEqual(await call(a, 'clients', 'egg'), [[b.id], null]);
  assert.deepEqual((await call(a, 'clients'))[0], [a.id, b.id].sort());
  const gone = next(b, 'disconnect');
  await call(a, 'remoteDisconnect', b.id);
  assert.equal((await gone)[0], 'io server disconnect');
});

test('broadcasts with acks collect the answers of every node, or time out with those that came', async () => {
  for (const [label, from, to] of pairs()) {
    const a = await connect(from);
    const b = await connect(to);
    a.on('question', (who, cb) => cb(`a answers ${who}`));
    b.on('question', (who, cb) => cb(`b answers ${who}`));
    const [answers, err] = await call(a, 'ackAll', null, 2000);
    assert.equal(err, null, label);
    assert.deepEqual(answers.sort(), [`a answers ${from.name}`, `b answers ${from.name}`], label);

    // a silent client on the other node: the timeout, with the answer that came
    const silent = await connect(to);
    silent.on('question', () => {});
    const t0 = Date.now();
    const [none, terr] = await call(a, 'ackAll', null, 500);
    assert.equal(none, null, label);
    assert.equal(terr, 'operation has timed out', label);
    assert.ok(Date.now() - t0 >= 450, label);
    for (const s of [a, b, silent]) s.close();
  }
  // the callback form of the yolk API
  const a = await connect(A);
  const b = await connect(B);
  a.on('question', (who, cb) => cb('a'));
  b.on('question', (who, cb) => cb('b'));
  const [err, answers] = await call(a, 'ackAllCallback', 2000);
  assert.equal(err, null);
  assert.deepEqual(answers.sort(), ['a', 'b']);
  a.close();
  b.close();
});

test('@socket.io/redis-emitter messages reach yolk clients: rooms, except, namespaces, volatile, requests', async () => {
  const pub = createClient({ url: redis.url });
  await pub.connect();
  try {
    const emitter = new Emitter(pub, { key: 'yy' });
    const a = await connect(A);
    const b = await connect(B);
    const chat = await connect(B, '/chat');
    await call(b, 'join', 'em');

    let got = collect([a, b, chat], 'news', 400);
    emitter.emit('news', 'to all', Buffer.from('bin'));
    emitter.to('em').emit('news', 'to em');
    emitter.except('em').emit('news', 'not em');
    emitter.volatile.emit('news', 'volatile');
    emitter.of('/chat').emit('news', 'chat');
    let [ga, gb, gc] = await got;
    assert.deepEqual(ga, [['to all', Buffer.from('bin')], ['not em'], ['volatile']]);
    assert.deepEqual(gb, [['to all', Buffer.from('bin')], ['to em'], ['volatile']]);
    assert.deepEqual(gc, [['chat']]);

    // the emitter's requests: socketsJoin, serverSideEmit, disconnectSockets
    emitter.in('em').socketsJoin('em2');
    await until(async () => (await call(a, 'fetch', 'em2'))[0].length === 1, 3000, 'emitter socketsJoin');
    emitter.serverSideEmit('hello', 'emitter', { e: 1 });
    await until(async () => (await call(a, 'heard'))[0].some((h) => h.from === 'emitter'), 3000, 'emitter serverSideEmit');
    const gone = next(b, 'disconnect');
    emitter.in('em2').disconnectSockets();
    await gone;
    a.close();
    chat.close();
  } finally {
    await pub.quit();
  }
});

test('a node that never answers: requests end after requestsTimeout with the error', async () => {
  // a subscriber on the request channel counts as a node but never answers
  const silent = spawn('redis-cli', ['-p', String(redis.port), 'SUBSCRIBE', 'yy-request#/#'], { stdio: 'ignore' });
  try {
    await clusterReady('yy', 2).catch(() => {});
    await until(async () => Number((await cli('PUBSUB', 'NUMSUB', 'yy-request#/#')).split('\n')[1]) === 3, 5000,
      'the silent subscriber');
    const a = await connect(A);
    let t0 = Date.now();
    const [list, err] = await call(a, 'fetch');
    assert.equal(list, null);
    assert.equal(err, 'timeout reached while waiting for fetchSockets response');
    assert.ok(Date.now() - t0 >= TIMEOUT - 100);
    t0 = Date.now();
    const [answers, serr] = await call(a, 'serverSideEmitWithAck');
    assert.equal(answers, null);
    assert.equal(serr, 'timeout reached: only 1 responses received out of 2');
    assert.ok(Date.now() - t0 >= TIMEOUT - 100);
    // timeout(ms) instead of requestsTimeout
    t0 = Date.now();
    assert.deepEqual(await call(a, 'serverSideEmitWithAck', 300),
      [null, 'timeout reached: only 1 responses received out of 2']);
    assert.ok(Date.now() - t0 < TIMEOUT - 300);
    const [rooms, rerr] = await call(a, 'allRooms');
    assert.equal(rooms, null);
    assert.equal(rerr, 'timeout reached while waiting for allRooms response');
    a.close();
  } finally {
    silent.kill();
  }
});

test('Redis stopped and restarted: every node stays up, local emits go on, cluster calls fail at once, then resume', async () => {
  const a = await connect(A);
  const a2 = await connect(A);
  const b = await connect(B);
  await redis.stop();
  await sleep(200);

  // local delivery goes on
  const got = collect([a, a2, b], 'news');
  await call(a, 'broadcast', {}, 'news', 'while down');
  const [ga, ga2, gb] = await got;
  assert.deepEqual(ga, [['while down']]);
  assert.deepEqual(ga2, [['while down']]);
  assert.deepEqual(gb, []);
  // cluster calls answer at once with the error
  const t0 = Date.now();
  const [list, err] = await call(a, 'fetch');
  assert.equal(list, null);
  assert.match(err, /Redis is not reachable/);
  assert.ok(Date.now() - t0 < 1000);

  await redis.start();
  await clusterReady('yy', 2);
  await until(async () => {
    const p = next(b, 'news', 500).catch(() => null);
    await call(a, 'broadcast', {}, 'news', 'back');
    return (await p)?.[0] === 'back';
  }, 15000, 'cross-node broadcasts after Redis came back');
  const [all] = await call(a, 'fetch');
  assert.equal(all.length, 3);
  for (const s of yolks) {
    assert.equal(s.child.exitCode, null, `${s.name} is up`);
    const lost = s.out.text.split('\n').filter((l) => /WARN.*(lost|cannot)/.test(l));
    assert.ok(lost.length <= 4, `${s.name} logs the outage once per connection:\n${lost.join('\n')}`);
  }
  for (const s of [a, a2, b]) s.close();
});

test('one node without Redis (the in-memory adapter): acks of every socket, serverSideEmit answered by nobody, allRooms', async () => {
  const solo = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_NODE: 'solo' } });
  yolks.push(solo);
  const a = await connect(solo);
  const b = await connect(solo);
  await call(b, 'join', 'solo-room');
  a.on('question', (who, cb) => cb(`a to ${who}`));
  b.on('question', (who, cb) => cb(`b to ${who}`));
  const [answers, err] = await call(a, 'ackAll', null, 1000);
  assert.equal(err, null);
  assert.deepEqual(answers.sort(), ['a to solo', 'b to solo']);
  const [roomAnswers] = await call(a, 'ackAll', 'solo-room', 1000);
  assert.deepEqual(roomAnswers, ['b to solo']);
  // no socket in the room: done at once, with no answer
  const t0 = Date.now();
  assert.deepEqual(await call(a, 'ackAll', 'nobody', 1000), [[], null, null]);
  assert.ok(Date.now() - t0 < 500);
  // a client that leaves before answering: the timeout, not a hang
  const c = await connect(solo);
  c.on('question', () => c.close());
  const [none, terr] = await call(a, 'ackAll', null, 500);
  assert.equal(none, null);
  assert.equal(terr, 'operation has timed out');

  assert.deepEqual(await call(a, 'serverSideEmitWithAck'), [[], null]);
  assert.deepEqual(await call(a, 'serverSideEmit', 1), [true]);
  const [rooms] = await call(a, 'allRooms');
  assert.deepEqual(rooms, [a.id, b.id, 'solo-room'].sort());
  assert.doesNotMatch(solo.out.text, /redis/i);
});
