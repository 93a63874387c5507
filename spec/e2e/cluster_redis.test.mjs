// The Redis adapter (core/adapter_redis.c) against a real redis-server: two yolk nodes
// (spec/cluster_app) where every cluster-wide call of the Lua API crosses between them; a
// mixed cluster of a yolk node and a Node.js socket.io 4.8 server with
// @socket.io/redis-adapter 8 (fixtures/node_cluster_server.cjs), driven the same way from
// either side; @socket.io/redis-emitter messages reaching yolk's clients; requests to a
// node that never answers; and Redis going away and coming back.
//
// Harness note: a node subscribes to its channels right after it starts, so before
// using a cluster the test waits until Redis counts every node on the request channels
// (PUBSUB NUMSUB), rather than sleeping. The scenarios are cluster_scenarios.mjs's, which
// cluster_redis_streams.test.mjs runs on the Redis Streams adapter too.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter } from '@socket.io/redis-emitter';
import { createClient } from 'redis';
import { APP, call, cluster, collect, next, redisRestart, sharedTests, silentNode, until } from './cluster_scenarios.mjs';
import { startRedis, startYolk } from './lib.mjs';

const c = cluster('classic');
c.timeout = 1500; // requestsTimeout of every node here

let A, B, Y, N; // yolk A and B (key "yy"); yolk Y and Node N (key "mixed")

before(async () => {
  c.redis = await startRedis();
  [A, B, Y, N] = await Promise.all([c.startNode('A', 'yy'), c.startNode('B', 'yy'), c.startNode('Y', 'mixed'),
    c.startNodeJs('N', 'mixed')]);
  await c.ready('yy', 2);
  await c.ready('mixed', 2);
});

// every test starts with no client connected anywhere
afterEach(() => c.closeClients());

after(() => c.stopAll());

// The same scenarios, for (from, to) = (A, B) of two yolk nodes and both ways of the
// mixed cluster.
const pairs = () => [['yolk -> yolk', A, B], ['yolk -> node', Y, N], ['node -> yolk', N, Y]];

sharedTests(c, pairs, () => [A, B]);

test('@socket.io/redis-emitter messages reach yolk clients: rooms, except, namespaces, volatile, requests', async () => {
  const pub = createClient({ url: c.redis.url });
  await pub.connect();
  try {
    const emitter = new Emitter(pub, { key: 'yy' });
    const a = await c.connect(A);
    const b = await c.connect(B);
    const chat = await c.connect(B, '/chat');
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

test('a node that never answers: requests end after requestsTimeout with the error', () =>
  silentNode(c, A, 'yy', {
    fetch: 'timeout reached while waiting for fetchSockets response',
    allRooms: 'timeout reached while waiting for allRooms response',
  }));

test('Redis stopped and restarted: every node stays up, local emits go on, cluster calls fail at once, then resume', () =>
  redisRestart(c, A, B, 'yy', { connections: 2 }));

test('one node without Redis (the in-memory adapter): acks of every socket, serverSideEmit answered by nobody, allRooms', async () => {
  const solo = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_NODE: 'solo' } });
  c.yolks.push(solo);
  const a = await c.connect(solo);
  const b = await c.connect(solo);
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
  const d = await c.connect(solo);
  d.on('question', () => d.close());
  const [none, terr] = await call(a, 'ackAll', null, 500);
  assert.equal(none, null);
  assert.equal(terr, 'operation has timed out');

  assert.deepEqual(await call(a, 'serverSideEmitWithAck'), [[], null]);
  assert.deepEqual(await call(a, 'serverSideEmit', 1), [true]);
  const [rooms] = await call(a, 'allRooms');
  assert.deepEqual(rooms, [a.id, b.id, 'solo-room'].sort());
  assert.doesNotMatch(solo.out.text, /redis/i);
});
