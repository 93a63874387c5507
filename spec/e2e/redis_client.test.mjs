// app.redis (lua/yolk/redis.lua on core/redis.c) against a real redis-server, through
// the fixture app spec/redis_app (routes that run commands and answer with the replies):
// commands and their Lua values, binary values, errors, misuse, pipelines, Redis going
// away and coming back without restarting yolk, config.redis.clients, reloads that keep
// (or replace) the connection, and the demo chat's room check with Redis configured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import { assertNoSanitizerReport, startDemo } from './demo_server.mjs';
import { repoRoot, sleep, startRedis, startYolk, stopYolk, until } from './lib.mjs';

const run = promisify(execFile);
const APP = path.join(repoRoot, 'spec/redis_app');

let redis;
const servers = [];

before(async () => { redis = await startRedis(); });
after(async () => {
  for (const s of servers) {
    await stopYolk(s);
    assertNoSanitizerReport(s.out.text);
  }
  await redis?.stop();
});

// redis-cli against the test's server; resolves with its output, trimmed.
async function cli(...args) {
  const { stdout } = await run('redis-cli', ['-p', String(redis.port), ...args.map(String)]);
  return stdout.trim();
}

async function start(env, baseDir = APP) {
  const s = await startYolk(['--baseDir', baseDir, '--env', env], { env: { YOLK_TEST_REDIS_URL: redis.url } });
  servers.push(s);
  return s;
}

async function post(s, route, body) {
  const r = await fetch(s.url + route, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, `${route} ${JSON.stringify(body)}`);
  return r.json();
}

async function get(s, route) {
  const r = await fetch(s.url + route);
  assert.equal(r.status, 200, route);
  return r.json();
}

// app.redis:<args[1]>(args...) in the app, or app.redis:call(args...) with raw.
const call = (s, args, extra = {}) => post(s, '/call', { args, ...extra });

// The connections Redis has from clients named `name` (CLIENT SETNAME).
async function connections(name) {
  const list = await cli('CLIENT', 'LIST');
  return list.split('\n').filter((l) => l.includes(` name=${name} `)).map((l) => /^id=(\d+)/.exec(l)[1]);
}

const pick = ({ value, err, type }) => ({ value, err, type });

test('commands as methods: strings, integers, nil, arrays, hashes, EX, errors', async () => {
  const s = await start('single');
  assert.deepEqual(pick(await call(s, ['set', 'k', 'v', 'EX', 60])), { value: 'OK', err: null, type: 'string' });
  const ttl = await call(s, ['ttl', 'k']);
  assert.equal(ttl.type, 'number');
  assert.ok(ttl.value > 55 && ttl.value <= 60, `ttl ${ttl.value}`);
  assert.equal(await cli('GET', 'k'), 'v');
  assert.equal((await call(s, ['get', 'k'])).value, 'v');
  // a Redis nil is a Lua nil
  assert.deepEqual(pick(await call(s, ['get', 'nothing:here'])), { value: null, err: null, type: 'nil' });
  assert.deepEqual(pick(await call(s, ['incr', 'counter'])), { value: 1, err: null, type: 'number' });
  assert.equal((await call(s, ['incrby', 'counter', 41])).value, 42);
  assert.equal((await call(s, ['hset', 'h', 'f1', 'a', 'f2', 'b'])).value, 2);
  assert.equal((await call(s, ['hget', 'h', 'f2'])).value, 'b');
  assert.equal((await call(s, ['HGET', 'h', 'nope'])).type, 'nil');
  assert.deepEqual((await call(s, ['hgetall', 'h'])).value, ['f1', 'a', 'f2', 'b']);
  // arrays: a nil inside is null (yolk.null), empty is []
  assert.deepEqual((await call(s, ['mget', 'k', 'nothing:here', 'counter'])).value, ['v', null, '42']);
  assert.deepEqual((await call(s, ['lrange', 'empty:list', 0, -1])).value, []);
  // any command by name, and :call()
  assert.equal((await call(s, ['ping'])).value, 'PONG');
  assert.equal((await call(s, ['echo', 'hi'], { raw: true })).value, 'hi');
  assert.equal((await call(s, ['client', 'getname'])).value, 'yolk-single');
  // error replies: nil, err
  await cli('RPUSH', 'list', 'x');
  const wrong = await call(s, ['incr', 'list']);
  assert.equal(wrong.type, 'nil');
  assert.match(wrong.err, /^WRONGTYPE Operation against a key holding the wrong kind of value/);
  assert.match((await call(s, ['nosuchcommand', 'x'])).err, /^ERR unknown command/);
  // numbers go as integers when they are ("60", not "6e+01"), others in full
  await call(s, ['set', 'num', 1e15]);
  assert.equal(await cli('GET', 'num'), '1000000000000000');
  await call(s, ['set', 'num', 0.1]);
  assert.equal(await cli('GET', 'num'), '0.10000000000000001');
});

test('binary values go and come back byte for byte (strings and buffers)', async () => {
  const s = servers[0];
  assert.deepEqual(await get(s, '/binary'), { set: 'OK,OK', same: true, len: 256, buf: true });
  assert.equal((await run('redis-cli', ['-p', String(redis.port), '--no-raw', 'GET', 'bin:buf'])).stdout.trim(),
    '"\\x00\\x01\\x02\\xff"');
});

test('misuse raises with a message; a pipeline returns every result in order', async () => {
  const s = servers[0];
  const m = await get(s, '/misuse');
  assert.match(m[0], /redis: argument #2 to SET is a table \(expected a string, number or buffer\)/);
  assert.match(m[1], /argument #2 to SET is a boolean/);
  assert.match(m[2], /the command must be a non-empty string/);
  assert.match(m[3], /argument #2 to SET is a function/);
  assert.match(m[4], /SUBSCRIBE needs a subscriber connection/);
  const p = await get(s, '/pipeline');
  assert.equal(p.err, null);
  assert.deepEqual(p.res.slice(0, 6), [0, 1, 11, null, 2, ['a', 'b']]);
  assert.match(p.res[6].err, /^WRONGTYPE/);
  assert.deepEqual(await get(s, '/status'), { status: 'ready', tostring: 'redis client app.redis (ready)' });
});

test('Redis stops: calls return nil, err at once; it restarts: calls work again, same yolk', async () => {
  const s = servers[0];
  const pid = s.child.pid;
  const logStart = s.out.text.length;
  await redis.stop();
  await until(async () => (await get(s, '/status')).status === 'down', 3000, 'status down');
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    const r = await call(s, ['get', 'k']);
    const took = Date.now() - t0;
    assert.equal(r.type, 'nil');
    assert.match(r.err, /^redis: not connected \(/);
    assert.ok(took < 200, `the call took ${took} ms`);
    assert.ok(r.ms < 50, `inside yolk ${r.ms} ms`);
  }
  await sleep(700); // several reconnection attempts
  await redis.start();
  await until(async () => (await call(s, ['set', 'k', 'again'])).value === 'OK', 8000, 'a working call');
  assert.equal(await cli('GET', 'k'), 'again');
  assert.equal(s.child.pid, pid);
  assert.equal(s.child.exitCode, null);
  // one line for the outage, one for the way back, whatever the number of attempts
  const log = s.out.text.slice(logStart);
  assert.equal(log.match(/WARN \[redis\] app\.redis: connection to .* lost/g)?.length, 1, log);
  assert.equal(log.match(/INFO \[redis\] app\.redis: connection to .* is back/g)?.length, 1, log);
  assert.doesNotMatch(log, /ERROR/);
});

test('config.redis.clients: app.redis.clients.<name>, each with its own db', async () => {
  const s = await start('multi');
  assert.equal((await call(s, ['set', 'where', 'cache'], { client: 'cache' })).value, 'OK');
  assert.equal((await call(s, ['set', 'where', 'queue'], { client: 'queue' })).value, 'OK');
  assert.equal(await cli('-n', 1, 'GET', 'where'), 'cache');
  assert.equal(await cli('-n', 2, 'GET', 'where'), 'queue');
  assert.equal((await call(s, ['client', 'getname'], { client: 'queue' })).value, 'yolk-queue');
  const c = await get(s, '/container');
  assert.match(c.raised, /app\.redis has several clients \(config\.redis\.clients\): use app\.redis\.clients\.<name>:set/);
  assert.equal(c.get, true);
  assert.deepEqual(c.names, ['redis client app.redis.clients.cache (ready)', 'redis client app.redis.clients.queue (ready)']);
  await stopYolk(s);
  // a graceful stop closed both connections
  await until(async () => (await connections('yolk-cache')).length === 0 && (await connections('yolk-queue')).length === 0,
    3000, 'connections closed');
});

test('reload keeps the connection; a config change replaces it; a failed reload keeps the old one', async () => {
  // the first app uses the same connection name: a graceful stop closes its connection
  await stopYolk(servers[0]);
  await until(async () => (await connections('yolk-single')).length === 0, 3000, 'the first app\'s connection closed');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-redis-'));
  fs.cpSync(APP, dir, { recursive: true });
  try {
    const s = await start('single', dir);
    assert.equal((await call(s, ['set', 'r', '1'])).value, 'OK');
    const ids = await connections('yolk-single');
    assert.equal(ids.length, 1, 'one connection');
    const reload = async (expect) => {
      const from = s.out.text.length;
      s.child.kill('SIGHUP');
      await until(async () => expect.test(s.out.text.slice(from)), 3000, String(expect));
      await sleep(50); // the old generation's clients are settled on the next loop turn
    };
    for (let i = 0; i < 3; i++) await reload(/reloaded \(SIGHUP\)/);
    assert.deepEqual(await connections('yolk-single'), ids, 'the same connection after three reloads');
    assert.equal((await call(s, ['incr', 'r'])).value, 2);

    const cfg = path.join(dir, 'config/config.single.lua');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace("'yolk-single'", "'yolk-single-2'"));
    await reload(/reloaded \(SIGHUP\)/);
    await until(async () => (await connections('yolk-single')).length === 0, 3000, 'the old connection closed');
    assert.equal((await connections('yolk-single-2')).length, 1);
    assert.equal((await call(s, ['client', 'getname'])).value, 'yolk-single-2');

    // a reload that fails after the config changed: its new client goes, the running one stays
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace("'yolk-single-2'", "'yolk-single-3'"));
    const router = path.join(dir, 'app/router.lua');
    const good = fs.readFileSync(router, 'utf8');
    fs.writeFileSync(router, good + '\nthis is not Lua\n');
    await reload(/reload failed/);
    await sleep(200);
    assert.equal((await connections('yolk-single-3')).length, 0);
    assert.equal((await connections('yolk-single-2')).length, 1);
    assert.equal((await call(s, ['client', 'getname'])).value, 'yolk-single-2');
    // fixed: now it takes the new config
    fs.writeFileSync(router, good);
    await reload(/reloaded \(SIGHUP\)/);
    await until(async () => (await connections('yolk-single-2')).length === 0, 3000, 'the replaced connection closed');
    assert.equal((await connections('yolk-single-3')).length, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the demo with Redis configured: a room exists iff room:<name> is set', async () => {
  process.env.REDIS_URL = redis.url;
  const demo = await startDemo({ env: 'redis' });
  const opened = [];
  // resolves with the first thing the server says: 'joined' (users) or the deny type
  const attempt = (room) => new Promise((resolve, reject) => {
    const c = io(demo.url, { query: { room, nickname: 'n' + Math.random().toString(36).slice(2, 8) },
      forceNew: true, reconnection: false, transports: ['websocket'] });
    opened.push(c);
    c.on('connect', () => {
      const id = c.id;
      c.on(id, (msg) => resolve(msg.data.payload.type));
    });
    c.on('users', (m) => { if (m.room === room) resolve('joined'); });
    c.on('connect_error', reject);
    setTimeout(() => reject(new Error('no answer')), 5000);
  });
  try {
    await cli('DEL', 'room:tutorial');
    assert.equal(await attempt('tutorial'), 'deleted');
    assert.equal(await attempt('demo'), 'deleted', 'config.chat.rooms does not count with Redis');
    await cli('SET', 'room:tutorial', '1');
    assert.equal(await attempt('tutorial'), 'joined');
    await cli('DEL', 'room:tutorial');
    assert.equal(await attempt('tutorial'), 'deleted');
  } finally {
    for (const c of opened) c.close();
    delete process.env.REDIS_URL;
    await demo.stop();
    assertNoSanitizerReport(demo.output());
  }
  assert.match(demo.output(), /app\.redis: connected to/);
});
