// The Redis Streams adapter (core/adapter_redis_streams.c) against a real redis-server:
// two yolk nodes (spec/cluster_app with YOLK_TEST_REDIS_ADAPTER=streams) and a mixed
// cluster of a yolk node and a Node.js socket.io 4.8 server with
// @socket.io/redis-streams-adapter 0.3.1 (fixtures/node_cluster_server.cjs), driven through
// the scenarios of cluster_scenarios.mjs that the classic adapter's test runs too; what both
// write in the stream, side by side; malformed entries and messages; a node that never
// answers; Redis going away and coming back (the stream's reading resumes without spinning).
// Recovery across nodes is recovery_redis_streams.test.mjs.
//
// Harness note: besides being subscribed (PUBSUB NUMSUB of the public channels), a node
// must have started reading the stream before it gets broadcasts (the Node adapter reads
// from "$" once its reader connection is up): before() broadcasts from each node until
// the other one hears it.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decode } from '@msgpack/msgpack';
import { call, cluster, collect, next, redisRestart, sharedTests, silentNode, until } from './cluster_scenarios.mjs';
import { sleep, startRedis, stopYolk } from './lib.mjs';

const c = cluster('streams');
c.timeout = 1500; // requestsTimeout of every yolk node here

let A, B, Y, N; // yolk A and B (stream "ss"); yolk Y and Node N (stream "ms")

// Each node's broadcasts reach the other (both read the stream).
async function streamReady(x, y) {
  for (const [from, to] of [[x, y], [y, x]]) {
    const a = await c.connect(from);
    const b = await c.connect(to);
    await until(async () => {
      const p = next(b, 'warm', 300).catch(() => null);
      await call(a, 'broadcast', {}, 'warm', from.name);
      return (await p) !== null;
    }, 10000, `${from.name}'s broadcasts reaching ${to.name}`);
    await sleep(100); // the warm-ups still in flight
    a.close();
    b.close();
  }
}

before(async () => {
  c.redis = await startRedis();
  [A, B, Y, N] = await Promise.all([c.startNode('A', 'ss'), c.startNode('B', 'ss'), c.startNode('Y', 'ms'),
    c.startNodeJs('N', 'ms')]);
  await c.ready('ss', 2);
  await c.ready('ms', 2);
  await streamReady(A, B);
  await streamReady(Y, N);
});

afterEach(() => c.closeClients());

after(() => c.stopAll());

const pairs = () => [['yolk -> yolk', A, B], ['yolk -> node', Y, N], ['node -> yolk', N, Y]];

// allRooms: yolk asks every node for its sockets' rooms; Node's streams adapter has no allRooms
sharedTests(c, pairs, () => [A, B], { allRooms: (from) => from !== N });

test('serverSideEmit carries binary arguments (MessagePack), unlike the classic adapter\'s JSON requests', async () => {
  const a = await c.connect(A);
  const b = await c.connect(B);
  await call(a, 'serverSideEmit', { bin: Buffer.from([7, 8]) });
  await until(async () => (await call(b, 'heard'))[0].some((h) => h.payload?.bin), 3000, 'binary serverSideEmit');
  const [heard] = await call(b, 'heard');
  assert.deepEqual(heard.find((h) => h.payload?.bin).payload.bin, Buffer.from([7, 8]));
});

test('a node applies its operations on a namespace in the order they were made, here and on the others', async () => {
  const a = await c.connect(A);
  const b = await c.connect(B);
  const got = collect([a, b], 'order', 500);
  await call(a, 'ordered');
  const [ga, gb] = await got;
  assert.deepEqual(ga.map(([n]) => n), [1, 2, 3, 4]);
  assert.deepEqual(gb.map(([n]) => n), [1, 3, 4]);
});

test('a node stopped with requests, a restore and XADDs in flight (Redis paused) frees everything and exits', async () => {
  const C = await c.startNode('C', 'ss', { YOLK_TEST_RECOVERY_MS: '5000' });
  await c.ready('ss', 3);
  const a = await c.connect(C);
  const b = await c.connect(B);
  b.on('question', () => {}); // never answers
  a.emit('ackAll', null, 5000, () => {});
  await sleep(100);
  await c.cli('CLIENT', 'PAUSE', '1000', 'ALL');
  a.emit('fetch', () => {});
  a.emit('allRooms', () => {});
  a.emit('serverSideEmitWithAck', () => {});
  a.emit('broadcast', {}, 'news', 'x', () => {});
  a.emit('socketsJoin', 'r', 'j', () => {});
  // a client asking for its session back (GETDEL waits in Redis)
  const r = await c.connect(C, '/', { auth: { pid: 'p', offset: '1-0' } }).catch(() => null);
  void r;
  await sleep(100);
  await stopYolk(C);
  assert.equal((await C.exited).code, 0);
  assert.doesNotMatch(C.out.text, /ERROR/);
});

test('the stream: yolk writes the entries @socket.io/redis-streams-adapter writes, JSON or base64 MessagePack', async () => {
  const y = await c.connect(Y);
  const n = await c.connect(N);
  // the last k entries, oldest first: redis-cli --raw prints an entry as its id, then
  // field and value lines (4 fields here)
  const last = async (k) => {
    const raw = (await c.cli('--raw', 'XREVRANGE', 'ms', '+', '-', 'COUNT', String(k))).split('\n');
    const out = [];
    for (let i = 0; i < raw.length; i += 9) {
      out.push({ id: raw[i], fields: raw.slice(i + 1, i + 9) });
    }
    return out.reverse();
  };
  for (const s of [n, y]) await call(s, 'broadcast', { rooms: ['r'], except: ['x'] }, 'news', 'text', { k: [1, null] });
  let [fromN, fromY] = await last(2);
  assert.deepEqual(fromN.fields.filter((_, i) => i % 2 === 0), ['uid', 'nsp', 'type', 'data']);
  assert.deepEqual(fromY.fields.filter((_, i) => i % 2 === 0), ['uid', 'nsp', 'type', 'data']);
  assert.deepEqual(fromY.fields.slice(2, 6), fromN.fields.slice(2, 6)); // nsp '/', type '3'
  assert.deepEqual(JSON.parse(fromY.fields[7]), JSON.parse(fromN.fields[7]));
  assert.deepEqual(JSON.parse(fromY.fields[7]),
    { packet: { type: 2, data: ['news', 'text', { k: [1, null] }] }, opts: { rooms: ['r'], except: ['x'], flags: {} } });
  assert.match(fromY.fields[1], /^[0-9a-f]{16}$/);

  // with a binary value: the base64 of the data's MessagePack
  for (const s of [n, y]) await call(s, 'broadcast', { volatile: true }, 'news', Buffer.from([0, 255]));
  [fromN, fromY] = await last(2);
  const bin = (e) => decode(Buffer.from(e.fields[7], 'base64'));
  assert.deepEqual(bin(fromY), bin(fromN));
  assert.deepEqual(bin(fromY).opts, { rooms: [], except: [], flags: { volatile: true } });

  // socketsJoin, socketsLeave, disconnectSockets
  for (const s of [n, y]) {
    await call(s, 'socketsJoin', 'nobody', ['j']);
    await call(s, 'socketsLeave', 'nobody', ['j']);
    await call(s, 'disconnectSockets', 'nobody', true);
  }
  // each node's own, in order (the two nodes' may interleave)
  const six = await last(6);
  const of = (uid) => six.filter((e) => e.fields[1] === uid);
  const [ofN, ofY] = [of(fromN.fields[1]), of(fromY.fields[1])];
  assert.deepEqual(ofN.map((e) => e.fields[5]), ['4', '5', '6']);
  assert.deepEqual(ofY.map((e) => e.fields[5]), ['4', '5', '6']);
  for (let i = 0; i < 3; i++) assert.deepEqual(JSON.parse(ofY[i].fields[7]), JSON.parse(ofN[i].fields[7]), `entry ${i}`);
});

test('malformed stream entries and pub/sub messages are logged and ignored; the node goes on', async () => {
  const a = await c.connect(A);
  const b = await c.connect(B);
  const before = B.out.text.length;
  const bad = [
    ['uid', 'zz', 'nsp', '/', 'type', '3', 'data', 'not base64!'],
    ['uid', 'zz', 'nsp', '/', 'type', '3', 'data', '{"packet":'],
    ['uid', 'zz', 'nsp', '/', 'type', '3', 'data', 'kQE='], // MessagePack [1]
    ['uid', 'zz', 'nsp', '/', 'type', '3', 'data', '{"packet":{"type":2,"data":"x"},"opts":{}}'],
    ['uid', 'zz', 'nsp', '/', 'type', '6', 'data', '{"close":true}'], // no opts: not "every socket"
    ['uid', 'zz', 'nsp', '/', 'type', 'three', 'data', '{}'],
    ['uid', 'zz', 'nsp', '/', 'type', '3'],
    ['nsp', '/', 'type', '3', 'data', '{}'],
    ['nsp', '/unknown', 'type', '3', 'data', '{}'],
    ['no', 'fields', 'we', 'know'],
  ];
  for (const f of bad) await c.cli('XADD', 'ss', '*', ...f);
  await c.cli('PUBLISH', 'ss#/#', 'hello');
  await c.cli('PUBLISH', 'ss#/#', '');
  await c.cli('SET', 'sio:session:x', 'y');
  // then a good one from yolk A
  const got = next(b, 'news');
  await call(a, 'broadcast', {}, 'news', 'still here');
  assert.deepEqual(await got, ['still here']);
  assert.equal(b.connected, true);
  const warned = B.out.text.slice(before).split('\n').filter((l) => /WARN/.test(l));
  assert.ok(warned.length >= 8, warned.join('\n'));
  assert.ok(warned.every((l) => /ignored|dropped/.test(l)), warned.join('\n'));
});

test('a node that never answers: requests end after requestsTimeout with ClusterAdapter\'s error', () =>
  silentNode(c, A, 'ss', {
    fetch: 'timeout reached: only 1 responses received out of 2',
    allRooms: 'timeout reached: only 1 responses received out of 2',
  }));

// CPU seconds the process used so far (user + system), from /proc.
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

test('Redis stopped and restarted: local emits go on, cluster calls fail at once, the stream is read again without spinning meanwhile', () =>
  redisRestart(c, A, B, 'ss', {
    connections: 3,
    whileDown: async () => {
      const t0 = cpuSeconds(A.child.pid);
      await sleep(2000);
      const used = cpuSeconds(A.child.pid) - t0;
      assert.ok(used < 0.5, `node A used ${used} s of CPU in 2 s while Redis was down`);
    },
  }));
