// The cross-node scenarios of the Redis adapters' tests, shared by cluster_redis.test.mjs
// (the classic pub/sub adapter) and cluster_redis_streams.test.mjs (the Redis Streams
// adapter): the nodes (spec/cluster_app, and fixtures/node_cluster_server.cjs for Node.js
// socket.io with the matching npm adapter), the client helpers, and each scenario as a
// function of the nodes it runs on. Not a test file itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import { assertNoSanitizerReport } from './demo_server.mjs';
import { freePort, repoRoot, sleep, startYolk, stopYolk, until } from './lib.mjs';

const run = promisify(execFile);
export const APP = path.join(repoRoot, 'spec/cluster_app');
const NODE_SERVER = path.join(repoRoot, 'spec/e2e/fixtures/node_cluster_server.cjs');

export { until };

// Emits with an ack and resolves with all the ack's arguments.
export const call = (s, ev, ...args) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ack for ${ev}`)), 8000);
  s.emit(ev, ...args, (...res) => { clearTimeout(t); resolve(res); });
});

export function next(s, ev, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { s.off(ev, on); reject(new Error(`no ${ev} within ${ms} ms`)); }, ms);
    const on = (...args) => { clearTimeout(t); resolve(args); };
    s.once(ev, on);
  });
}

// Collects the `ev` events of each socket during ms.
export async function collect(sockets, ev, ms = 300) {
  const got = sockets.map(() => []);
  const fns = sockets.map((s, i) => { const f = (...a) => got[i].push(a); s.on(ev, f); return f; });
  await sleep(ms);
  sockets.forEach((s, i) => s.off(ev, fns[i]));
  return got;
}

// The nodes and clients of one test file, around one redis-server (startRedis()).
// adapter: 'classic' or 'streams'; ready(key, nsp) names the channel whose PUBSUB NUMSUB
// counts the nodes of the cluster `key` in a namespace.
export function cluster(adapter) {
  const c = { redis: null, yolks: [], nodeServers: [], clients: [] };
  c.countChannel = adapter === 'streams' ? (key, nsp) => `${key}#${nsp}#` : (key, nsp) => `${key}-request#${nsp}#`;

  c.startNode = (name, key, env = {}) => startYolk(['--baseDir', APP], {
    env: {
      YOLK_TEST_REDIS_URL: c.redis.url, YOLK_TEST_NODE: name, YOLK_TEST_REDIS_KEY: key,
      YOLK_TEST_REDIS_ADAPTER: adapter, YOLK_TEST_REQUESTS_TIMEOUT: String(c.timeout), ...env,
    },
  }).then((s) => { s.name = name; c.yolks.push(s); return s; });

  // node_cluster_server.cjs <port> <redis url> <name> <key> <requestsTimeout> <adapter> [recovery ms]
  c.startNodeJs = async (name, key, recoveryMs) => {
    const port = await freePort();
    const args = [NODE_SERVER, String(port), c.redis.url, name, key, String(c.timeout), adapter];
    if (recoveryMs) args.push(String(recoveryMs));
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const s = { child, port, name, url: `http://127.0.0.1:${port}`, out: { text: '' } };
    child.stdout.on('data', (d) => { s.out.text += d; });
    child.stderr.on('data', (d) => { s.out.text += d; });
    s.exited = new Promise((resolve) => child.on('exit', resolve));
    c.nodeServers.push(s);
    const deadline = Date.now() + 10000;
    while (!s.out.text.includes('listening')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`node server did not start:\n${s.out.text}`);
      await sleep(50);
    }
    return s;
  };

  c.stopNodeJs = async (s) => {
    if (s.child.exitCode === null) s.child.kill('SIGTERM');
    await s.exited;
  };

  c.cli = async (...args) => {
    const { stdout } = await run('redis-cli', ['-p', String(c.redis.port), ...args.map(String)]);
    return stdout.trim();
  };

  // Every node of the cluster `key` is subscribed (both namespaces).
  c.ready = async (key, n) => {
    for (const nsp of ['/', '/chat']) {
      await until(async () => {
        const out = (await c.cli('PUBSUB', 'NUMSUB', c.countChannel(key, nsp))).split('\n');
        return Number(out[1]) === n;
      }, 10000, `${n} nodes on ${key}`);
    }
  };

  c.connect = (server, nsp = '/', opts = {}) => {
    const s = io(server.url + nsp, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
    c.clients.push(s);
    return new Promise((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
  };

  c.closeClients = () => { for (const s of c.clients.splice(0)) s.close(); };

  c.stopAll = async () => {
    c.closeClients();
    if (process.env.YOLK_TEST_DUMP) for (const s of [...c.yolks, ...c.nodeServers]) console.log(`--- ${s.name}\n${s.out.text}`);
    for (const s of c.yolks) {
      await stopYolk(s);
      assertNoSanitizerReport(s.out.text);
    }
    for (const s of c.nodeServers) {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
      await s.exited;
    }
    await c.redis?.stop();
  };
  return c;
}

// ---- the scenarios: pairs is a list of [label, from, to] ----------------------------------------

// The tests both adapters pass, on pairs() (from, to) of nodes and yolkPair() (two yolk
// nodes); opts as serverSideEmits's.
export function sharedTests(c, pairs, yolkPair, opts = {}) {
  test('broadcasts cross nodes: all, rooms, except, local, socket.broadcast, binary, namespaces', () =>
    broadcasts(c, pairs()));
  test('fetchSockets, a fetched socket acting remotely, socketsJoin/Leave and disconnectSockets across nodes', () =>
    socketsAcrossNodes(c, pairs()));
  test('serverSideEmit, with answers from every other node, and allRooms; the yolk API\'s other forms', async () => {
    await serverSideEmits(c, pairs(), opts);
    await yolkForms(c, ...yolkPair());
  });
  test('broadcasts with acks collect the answers of every node, or time out with those that came', () =>
    broadcastsWithAcks(c, pairs()));
}

export async function broadcasts(c, pairs) {
  for (const [label, from, to] of pairs) {
    const a = await c.connect(from);
    const b = await c.connect(to);
    const b2 = await c.connect(to);
    const chatB = await c.connect(to, '/chat');
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
    const chatA = await c.connect(from, '/chat');
    got = collect([chatB, b], 'news');
    await call(chatA, 'broadcast', {}, 'news', 'chat');
    const [gc, gbb] = await got;
    assert.deepEqual(gc, [['chat']], label);
    assert.deepEqual(gbb, [], label);
    for (const s of [a, b, b2, chatA, chatB]) s.close();
  }
}

export async function socketsAcrossNodes(c, pairs) {
  for (const [label, from, to] of pairs) {
    const a = await c.connect(from);
    const b = await c.connect(to, '/', { query: { who: 'b' } });
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
}

// allRooms(from): whether that node has allRooms (Node's Redis Streams adapter has none)
export async function serverSideEmits(c, pairs, { allRooms = () => true } = {}) {
  for (const [label, from, to] of pairs) {
    const a = await c.connect(from);
    const b = await c.connect(to);
    await call(b, 'join', 'room-of-b');

    await call(a, 'serverSideEmit', { x: label });
    await until(async () => (await call(b, 'heard'))[0].some((h) => h.payload?.x === label), 3000, label);
    const [heardA] = await call(a, 'heard');
    assert.ok(!heardA.some((h) => h.payload?.x === label), `${label}: the sender does not hear itself`);

    const [answers, err] = await call(a, 'serverSideEmitWithAck');
    assert.equal(err, null, label);
    assert.deepEqual(answers, [{ node: to.name, from: from.name }], label);

    if (allRooms(from)) {
      const [rooms, rerr] = await call(a, 'allRooms');
      assert.equal(rerr, null, label);
      for (const r of ['room-of-b', a.id, b.id]) assert.ok(rooms.includes(r), `${label}: ${r} in ${rooms}`);
    }
    a.close();
    b.close();
  }
}

// The yolk API's other forms, between two yolk nodes: a trailing callback, timeout(ms),
// egg-socket.io's adapter calls, the callback form of a broadcast with acks.
export async function yolkForms(c, A, B) {
  let a = await c.connect(A);
  let b = await c.connect(B);
  await call(b, 'join', 'egg');
  assert.deepEqual(await call(a, 'serverSideEmitCallback'), [null, [{ node: B.name, from: A.name }]]);
  assert.deepEqual(await call(a, 'serverSideEmitWithAck', 300), [[{ node: B.name, from: A.name }], null]);
  assert.deepEqual(await call(a, 'clients', 'egg'), [[b.id], null]);
  assert.deepEqual((await call(a, 'clients'))[0], [a.id, b.id].sort());
  const gone = next(b, 'disconnect');
  await call(a, 'remoteDisconnect', b.id);
  assert.equal((await gone)[0], 'io server disconnect');

  b = await c.connect(B);
  a.on('question', (who, cb) => cb('a'));
  b.on('question', (who, cb) => cb('b'));
  const [err, answers] = await call(a, 'ackAllCallback', 2000);
  assert.equal(err, null);
  assert.deepEqual(answers.sort(), ['a', 'b']);
  a.close();
  b.close();
}

export async function broadcastsWithAcks(c, pairs) {
  for (const [label, from, to] of pairs) {
    const a = await c.connect(from);
    const b = await c.connect(to);
    a.on('question', (who, cb) => cb(`a answers ${who}`));
    b.on('question', (who, cb) => cb(`b answers ${who}`));
    const [answers, err] = await call(a, 'ackAll', null, 2000);
    assert.equal(err, null, label);
    assert.deepEqual(answers.sort(), [`a answers ${from.name}`, `b answers ${from.name}`], label);

    // a silent client on the other node: the timeout, with the answer that came
    const silent = await c.connect(to);
    silent.on('question', () => {});
    const t0 = Date.now();
    const [none, terr] = await call(a, 'ackAll', null, 500);
    assert.equal(none, null, label);
    assert.equal(terr, 'operation has timed out', label);
    assert.ok(Date.now() - t0 >= 450, label);
    for (const s of [a, b, silent]) s.close();
  }
}

// A subscriber on the channel the nodes are counted on counts as a node but never answers:
// requests end after the requests timeout with the error. errors: { fetch, allRooms }.
export async function silentNode(c, A, key, errors) {
  const channel = c.countChannel(key, '/');
  const silent = spawn('redis-cli', ['-p', String(c.redis.port), 'SUBSCRIBE', channel], { stdio: 'ignore' });
  try {
    await until(async () => Number((await c.cli('PUBSUB', 'NUMSUB', channel)).split('\n')[1]) === 3, 5000,
      'the silent subscriber');
    const a = await c.connect(A);
    let t0 = Date.now();
    const [list, err] = await call(a, 'fetch');
    assert.equal(list, null);
    assert.equal(err, errors.fetch);
    assert.ok(Date.now() - t0 >= c.timeout - 100);
    t0 = Date.now();
    const [answers, serr] = await call(a, 'serverSideEmitWithAck');
    assert.equal(answers, null);
    assert.equal(serr, 'timeout reached: only 1 responses received out of 2');
    assert.ok(Date.now() - t0 >= c.timeout - 100);
    // timeout(ms) instead of requestsTimeout
    t0 = Date.now();
    assert.deepEqual(await call(a, 'serverSideEmitWithAck', 300),
      [null, 'timeout reached: only 1 responses received out of 2']);
    assert.ok(Date.now() - t0 < c.timeout - 300);
    const [rooms, rerr] = await call(a, 'allRooms');
    assert.equal(rooms, null);
    assert.equal(rerr, errors.allRooms);
    a.close();
  } finally {
    silent.kill();
  }
}

// Redis stopped and restarted under the cluster key of A and B (their only nodes).
// connections: how many Redis connections a node has (each may log its outage once);
// whileDown(): more checks while Redis is down.
export async function redisRestart(c, A, B, key, { connections, whileDown = async () => {} }) {
  const a = await c.connect(A);
  const a2 = await c.connect(A);
  const b = await c.connect(B);
  await c.redis.stop();
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
  await whileDown();

  await c.redis.start();
  await c.ready(key, 2);
  await until(async () => {
    const p = next(b, 'news', 500).catch(() => null);
    await call(a, 'broadcast', {}, 'news', 'back');
    return (await p)?.[0] === 'back';
  }, 15000, 'cross-node broadcasts after Redis came back');
  // (a node is counted once its subscriber is back; it answers once its command connection
  // is back too, whose next attempt may come a few seconds later: the first request may
  // still time out)
  const all = await until(async () => (await call(a, 'fetch'))[0], 10000, 'fetchSockets after Redis came back');
  assert.equal(all.length, 3);
  for (const s of [A, B]) {
    assert.equal(s.child.exitCode, null, `${s.name} is up`);
    const lost = s.out.text.split('\n').filter((l) => /WARN.*(lost|cannot)/.test(l));
    assert.ok(lost.length <= 2 * connections, `${s.name} logs the outage once per connection:\n${lost.join('\n')}`);
  }
  for (const s of [a, a2, b]) s.close();
}
