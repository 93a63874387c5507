// End-to-end tests of the command line and of cluster mode: `yolk start
// --workers N [--sticky]` on the fixture app spec/workers_app (a Socket.IO
// event and an HTTP route that answer with the worker's pid), with a
// redis-server of the test's own as config.io.redis, driven by
// socket.io-client 4 (polling, WebSocket, upgrade), raw HTTP on one keep-alive
// connection, and nginx in front (the README's configuration).
// Run: node --test spec/e2e/cluster.test.mjs   (binary from $YOLK_BUILD_DIR, default ./build)
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { io as ioc } from 'socket.io-client';
import {
  buildDir, freePort, repoRoot, sanitizerReport, sleep, startCluster, startRedis, stopYolk, waitForOutput,
} from './lib.mjs';

const YOLK = path.join(buildDir, 'yolk');
const APP = 'spec/workers_app';

const sockets = new Set();
function client(url, opts = {}) {
  const s = ioc(url, { forceNew: true, reconnection: false, ...opts });
  sockets.add(s);
  return s;
}
function closeAll() { for (const s of sockets) s.close(); sockets.clear(); }

function once(emitter, ev, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), ms);
    emitter.once(ev, (...args) => { clearTimeout(t); resolve(args); });
  });
}
async function connected(s, ms = 5000) {
  if (!s.connected) await once(s, 'connect', ms);
  return s;
}
const whoami = (s) => s.timeout(5000).emitWithAck('whoami');

async function until(fn, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(25);
  }
}

// Nothing in a cluster's output may say that a request reached a worker that
// does not own its session (a worker that does not know a sid logs it with
// the sid: its first character must be that worker's own prefix), or that a
// sanitizer found something. since: an offset in the output after which no
// "Session ID unknown" may appear at all (while the clients are active).
const PREFIX = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
function assertCleanOutput(server, since = null) {
  const text = server.out.text;
  assert.equal(sanitizerReport(text), null, `sanitizer report:\n${text.slice(-4000)}`);
  assert.doesNotMatch(text, /ERROR \[[a-z0-9]+\/lua\]|Segmentation|Aborted/);
  for (const m of text.matchAll(/\[worker(\d+)\/eio\] [^\n]*[?&]sid=([^&\s:]+)[^\n]*Session ID unknown/g)) {
    assert.equal(m[2][0], PREFIX[Number(m[1]) - 1], `a request of session ${m[2]} reached worker ${m[1]}`);
  }
  if (since !== null) assert.doesNotMatch(text.slice(since), /Session ID unknown/);
}

// SIGTERM to the master: it must exit 0 within a few seconds, and take every
// worker with it.
async function stopCluster(server) {
  const pids = Object.values(server.workers());
  const t0 = Date.now();
  server.child.kill('SIGTERM');
  const killer = setTimeout(() => server.child.kill('SIGKILL'), 12000);
  const { code, signal } = await server.exited;
  clearTimeout(killer);
  const ms = Date.now() - t0;
  assert.equal(signal, null, `master killed:\n${server.out.text.slice(-3000)}`);
  assert.equal(code, 0, `master exit status:\n${server.out.text.slice(-3000)}`);
  assert.ok(ms < 5000, `stopped in ${ms} ms`);
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is gone`);
  }
  assertCleanOutput(server);
}

// ---- the command line ----------------------------------------------------------------

function run(args, env = {}) {
  const r = spawnSync(YOLK, args, { cwd: repoRoot, encoding: 'utf8', timeout: 10000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('command line', () => {
  test('an unknown option prints the usage on stderr, status 2', () => {
    for (const args of [['start', '--bogus'], ['dev', '--baseDir', APP, '--nope=1'], ['start', '--sticky=yes'],
      ['dev', '--workers', '2']]) {
      const r = run(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^usage: yolk dev/m, args.join(' '));
      assert.equal(r.stdout, '');
    }
    assert.match(run(['start', '--bogus']).stderr, /unknown option '--bogus'/);
  });

  test('a stray argument, or a bad value, is refused with status 2', () => {
    for (const args of [['start', 'extra'], ['start', '--baseDir', APP, 'x', '--port', '1'], ['start', '--port', 'abc'],
      ['start', '--workers', 'two'], ['start', '--workers', '0'], ['start', '--sticky'], ['start', '--port']]) {
      const r = run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: yolk/);
    }
    assert.match(run(['start', 'extra']).stderr, /unexpected argument 'extra'/);
    assert.match(run(['start', '--workers', '65']).stderr, /at most 64 workers/);
  });

  test('--version and -v print the version, status 0', () => {
    for (const flag of ['--version', '-v']) {
      const r = run([flag]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^yolk \d+\.\d+\.\d+\n$/);
    }
  });

  test('--workers 2 without config.io.redis is refused, naming the setting and the config file', () => {
    const r = run(['start', '--baseDir', APP, '--workers', '2', '--port', '0'], { YOLK_TEST_REDIS_PORT: '' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config\.io\.redis/);
    assert.match(r.stderr, /spec\/workers_app\/config\/config\.default\.lua/);
  });

  test('--cluster-worker is only for processes a master starts', () => {
    const r = run(['start', '--baseDir', APP, '--cluster-worker', '1', '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not started by a yolk master/);
  });
});

// ---- clients ----------------------------------------------------------------------------

// Connects n clients (opts each), asks each which worker it is on; returns
// [{ s, pid, address, transport }].
async function connectMany(url, n, optsFor) {
  const list = [];
  for (let i = 0; i < n; i++) list.push(client(url, optsFor(i)));
  await Promise.all(list.map((s) => connected(s)));
  const out = [];
  for (const s of list) {
    const w = await whoami(s);
    out.push({ s, pid: w.pid, address: w.address, peerHeader: w.peerHeader });
  }
  return out;
}

async function echoes(s, n, tag) {
  for (let i = 0; i < n; i++) {
    const got = once(s, 'echoed');
    assert.equal(await s.timeout(5000).emitWithAck('echo', `${tag}-${i}`), `${tag}-${i}`);
    assert.deepEqual(await got, [`${tag}-${i}`]);
  }
}

// A minimal HTTP/1.1 client on one keep-alive TCP connection: one request at
// a time, responses read by Content-Length (yolk always sends it).
function keepAliveConnection(port) {
  const sock = net.connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let wake = null;
  let closed = false;
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); if (wake) wake(); });
  sock.on('close', () => { closed = true; if (wake) wake(); });
  sock.on('error', () => {});
  const request = async (method, url, body = '') => {
    sock.write(`${method} ${url} HTTP/1.1\r\nHost: yolk\r\nContent-Type: text/plain;charset=UTF-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = buf.subarray(0, end).toString();
        const len = Number((/\r\ncontent-length: *(\d+)/i.exec(head) || [])[1] || 0);
        if (buf.length >= end + 4 + len) {
          const res = { status: Number(head.split(' ')[1]), head, body: buf.subarray(end + 4, end + 4 + len).toString() };
          buf = buf.subarray(end + 4 + len);
          return res;
        }
      }
      if (closed) throw new Error(`connection closed during ${method} ${url}`);
      await new Promise((r) => { wake = r; });
      wake = null;
    }
  };
  return { request, close: () => sock.destroy(), socket: sock };
}

// Engine.IO v4 polling by hand, on a shared connection.
function rawSession(conn) {
  const base = '/socket.io/?EIO=4&transport=polling';
  const sess = { sid: null, inbox: [] };
  sess.open = async () => {
    const r = await conn.request('GET', base);
    assert.equal(r.status, 200, r.body);
    sess.sid = JSON.parse(r.body.slice(1)).sid;
    return sess;
  };
  sess.post = async (...packets) => {
    const r = await conn.request('POST', `${base}&sid=${sess.sid}`, packets.join('\x1e'));
    assert.equal(r.status, 200, `POST ${sess.sid}: ${r.status} ${r.body}`);
  };
  // GETs until a packet matching re arrives (answering pings on the way).
  sess.await = async (re) => {
    for (let i = 0; i < 20; i++) {
      const hit = sess.inbox.findIndex((p) => re.test(p));
      if (hit >= 0) return sess.inbox.splice(hit, 1)[0];
      const r = await conn.request('GET', `${base}&sid=${sess.sid}`);
      assert.equal(r.status, 200, `GET ${sess.sid}: ${r.status} ${r.body}`);
      for (const p of r.body.split('\x1e')) {
        if (p === '2') await sess.post('3');
        else sess.inbox.push(p);
      }
    }
    throw new Error(`${sess.sid}: no packet matching ${re}; got ${sess.inbox}`);
  };
  return sess;
}

// socket.io-client sessions whose polling requests share an http.Agent's
// keep-alive sockets (as a browser's tabs share its connections to a host).
// Returns the clients and, per TCP connection, the sids it carried.
function sharedAgent(maxSockets) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const perSocket = [];
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (...args) => {
    const sock = create(...args);
    const sids = new Set();
    perSocket.push(sids);
    const write = sock.write.bind(sock);
    sock.write = (chunk, ...rest) => {
      const m = /^(?:GET|POST) \S*[?&]sid=([^&\s]+)/.exec(String(chunk));
      if (m) sids.add(m[1]);
      return write(chunk, ...rest);
    };
    return sock;
  };
  return { agent, perSocket };
}

// Sessions closed by the previous test leave the workers' load reports
// (every 250 ms) before new clients are spread by them.
const settle = () => sleep(600);

// The checks every front (the master itself, nginx) must pass.
function clientChecks(getUrl, getCluster) {
  test('polling-only clients: every request reaches the worker of its session, both workers used', async () => {
    await settle();
    const mark = getCluster().out.text.length;
    const url = getUrl();
    const list = await connectMany(url, 6, () => ({ transports: ['polling'] }));
    const pids = new Set(Object.values(getCluster().workers()));
    for (const c of list) assert.ok(pids.has(c.pid), `pid ${c.pid} is a worker's`);
    assert.equal(new Set(list.map((c) => c.pid)).size, 2, 'both workers have sessions');
    await Promise.all(list.map((c, i) => echoes(c.s, 3, `p${i}`)));
    for (const c of list) assert.equal(c.s.io.engine.transport.name, 'polling');
    assertCleanOutput(getCluster(), mark);
    closeAll();
  });

  test('default clients upgrade to WebSocket and keep working', async () => {
    await settle();
    const mark = getCluster().out.text.length;
    const list = await connectMany(getUrl(), 6, () => ({}));
    await until(() => list.every((c) => c.s.io.engine.transport.name === 'websocket'));
    for (const c of list) assert.equal(c.s.io.engine.transport.name, 'websocket');
    assert.equal(new Set(list.map((c) => c.pid)).size, 2, 'both workers have sessions');
    await Promise.all(list.map((c, i) => echoes(c.s, 3, `w${i}`)));
    // after the upgrade the session is still on the worker it started on
    for (const c of list) assert.equal((await whoami(c.s)).pid, c.pid);
    assertCleanOutput(getCluster(), mark);
    closeAll();
  });

  test('two polling sessions whose requests share a pool of keep-alive connections', async () => {
    await settle();
    // three sockets for two sessions that each want two (a long-poll GET and
    // their POSTs): the connections carry requests of both, in turn. (With
    // two, the client itself can stall: both sockets held by long-polls, both
    // pongs queued behind them, until pingTimeout. That is the connection
    // limit, as in a browser with too many polling tabs, not the routing; the
    // raw test below puts two sessions on one connection without that.)
    const mark = getCluster().out.text.length;
    const { agent, perSocket } = sharedAgent(3);
    const list = await connectMany(getUrl(), 2, () => ({ transports: ['polling'], agent }));
    assert.equal(new Set(list.map((c) => c.pid)).size, 2, 'one session on each worker');
    await Promise.all(list.map((c, i) => echoes(c.s, 4, `k${i}`)));
    assert.ok(perSocket.length <= 3, `${perSocket.length} connections`);
    assert.ok(perSocket.some((sids) => sids.size >= 2), 'a connection carried requests of several sessions');
    assertCleanOutput(getCluster(), mark);
    // (closing: a client's DISCONNECT and close packets may take different
    // connections of the pool and arrive in either order; the second then
    // finds its session closed. That is the pool, not the routing.)
    closeAll();
    agent.destroy();
    await sleep(200);
    assertCleanOutput(getCluster());
  });
}

// ---- sticky ----------------------------------------------------------------------------

describe('yolk start --workers 2 --sticky', () => {
  let redis;
  let cluster;
  before(async () => {
    redis = await startRedis();
    cluster = await startCluster(['--baseDir', APP, '--workers', '2', '--sticky'],
      { env: { YOLK_TEST_REDIS_PORT: String(redis.port) } });
  });
  after(async () => {
    closeAll();
    if (cluster) await stopYolk(cluster);
    if (redis) await redis.stop();
  });

  test('the master says which process writes each log line; every worker got a sid prefix of its own', async () => {
    assert.match(cluster.out.text, /INFO \[master\/cluster\] listening on http:\/\/127\.0\.0\.1:\d+\/, starting 2 workers/);
    // (a worker says so right after telling the master: its line may come second)
    await waitForOutput(cluster, /INFO \[worker1\/yolk\] workers-app \(env prod\) serving/);
    await waitForOutput(cluster, /INFO \[worker2\/yolk\] workers-app \(env prod\) serving/);
    const seen = new Set();
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${cluster.url}/socket.io/?EIO=4&transport=polling`);
      const { sid } = JSON.parse((await r.text()).slice(1));
      seen.add(sid[0]);
      // closed at once: a session left to time out would skew the next tests' spread
      const c = await fetch(`${cluster.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '1' });
      assert.equal(c.status, 200);
    }
    assert.deepEqual([...seen].sort(), ['A', 'B']);
  });

  clientChecks(() => cluster.url, () => cluster);

  test('two sessions interleaved on one keep-alive connection, raw HTTP', async () => {
    const mark = cluster.out.text.length;
    const conn = keepAliveConnection(cluster.port);
    try {
      // two sessions of different workers on the same connection
      const a = await rawSession(conn).open();
      let b = await rawSession(conn).open();
      for (let i = 0; i < 6 && b.sid[0] === a.sid[0]; i++) {
        await b.post('1');
        b = await rawSession(conn).open();
      }
      assert.notEqual(a.sid[0], b.sid[0], 'sessions of both workers');
      await a.post('40');
      await b.post('40');
      await a.await(/^40/);
      await b.await(/^40/);
      for (let i = 0; i < 4; i++) {
        await a.post(`42["echo","a${i}"]`);
        await b.post(`42["echo","b${i}"]`);
        assert.equal(await b.await(/^42\["echoed"/), `42["echoed","b${i}"]`);
        assert.equal(await a.await(/^42\["echoed"/), `42["echoed","a${i}"]`);
      }
      await a.post('420["whoami"]');
      await b.post('421["whoami"]');
      const wa = JSON.parse((await a.await(/^430/)).slice(3))[0];
      const wb = JSON.parse((await b.await(/^431/)).slice(3))[0];
      assert.notEqual(wa.pid, wb.pid);
      assert.equal(wa.address, '127.0.0.1');
      // the app's own routes on the same connection, in between
      const r = await conn.request('GET', '/whoami');
      assert.equal(r.status, 200);
      assert.match(r.head, /^Connection: keep-alive$/mi);
      await a.post('1');
      await b.post('1');
    } finally {
      conn.close();
    }
    assertCleanOutput(cluster, mark);
  });

  test('HTTP through the master: the client\'s address, bodies, the client bundle; x-yolk-peer from a client is dropped', async () => {
    const r = await fetch(`${cluster.url}/whoami`, { headers: { 'x-yolk-peer': '6.6.6.6' } });
    assert.equal(r.status, 200);
    const w = await r.json();
    assert.equal(w.ip, '127.0.0.1');
    assert.equal(w.peerHeader, false);
    assert.ok(r.headers.get('date'));
    const p = await (await fetch(`${cluster.url}/whoami`, { method: 'POST', body: 'x'.repeat(200000) })).json();
    assert.equal(p.body.length, 200000);
    const js = await fetch(`${cluster.url}/socket.io/socket.io.min.js`);
    assert.equal(js.status, 200);
    assert.ok((await js.arrayBuffer()).byteLength > 10000);
    assert.equal((await fetch(`${cluster.url}/nope`)).status, 404);
    const head = await fetch(`${cluster.url}/whoami`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    // Socket.IO's handshake.address too, over WebSocket (a handed-over connection)
    const s = await connected(client(cluster.url, { transports: ['websocket'], extraHeaders: { 'x-yolk-peer': '6.6.6.6' } }));
    const ws = await whoami(s);
    assert.equal(ws.address, '127.0.0.1');
    assert.equal(ws.peerHeader, false);
    closeAll();
  });

  test('a sid no worker owns gets Engine.IO\'s "Session ID unknown"', async () => {
    for (const sid of ['zzzzzzzzzzzzzzzzzzzz', '_xxxxxxxxxxxxxxxxxxx', 'Axxxxxxxxxxxxxxxxxxx']) {
      const r = await fetch(`${cluster.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      assert.equal(r.status, 400);
      assert.deepEqual(await r.json(), { code: 1, message: 'Session ID unknown' });
    }
  });

  test('bad input to the master gets what a single yolk answers', async () => {
    const raw = (bytes) => new Promise((resolve) => {
      const s = net.connect(cluster.port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => { out += d; });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      s.write(bytes);
    });
    assert.match(await raw('GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
    assert.match(await raw('GET /\r\n\r\n'), /^HTTP\/1\.1 505 /);
    assert.equal((await fetch(`${cluster.url}/whoami`)).status, 200);
  });

  describe('behind nginx', () => {
    let nginx;
    before(async () => { nginx = await startNginx(cluster.port); });
    after(async () => { closeAll(); if (nginx) await nginx.stop(); });
    clientChecks(() => nginx.url, () => cluster);
    test('the app sees nginx\'s X-Forwarded-For', async () => {
      const r = await fetch(`${nginx.url}/whoami`);
      assert.equal(r.status, 200);
      const w = await r.json();
      assert.equal(w.ip, '127.0.0.1');
      assert.equal(w.xff, '127.0.0.1');
    });
  });

  test('SIGHUP to the master reloads every worker in turn; clients stay connected', async () => {
    const list = await connectMany(cluster.url, 4, (i) => (i % 2 ? { transports: ['polling'] } : {}));
    let dropped = 0;
    for (const c of list) c.s.on('disconnect', () => { dropped++; });
    const before = (cluster.out.text.match(/reloaded \(SIGHUP\)/g) || []).length;
    cluster.child.kill('SIGHUP');
    await waitForOutput(cluster, /\[master\/cluster\] reload done/);
    const text = cluster.out.text;
    assert.equal((text.match(/reloaded \(SIGHUP\)/g) || []).length, before + 2);
    const w1 = text.lastIndexOf('[master/cluster] worker 1 reloaded');
    const w2 = text.lastIndexOf('[master/cluster] worker 2 reloaded');
    assert.ok(w1 > 0 && w2 > w1, 'one after the other');
    await Promise.all(list.map((c, i) => echoes(c.s, 2, `h${i}`)));
    assert.equal(dropped, 0);
    closeAll();
  });

  test('a killed worker is restarted, and its clients reconnect to a live one', async () => {
    const opts = (i) => ({ reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300,
      ...(i % 2 ? { transports: ['polling'] } : {}) });
    const list = await connectMany(cluster.url, 6, opts);
    const old = cluster.workers();
    const victim = old['1'];
    const onVictim = list.filter((c) => c.pid === victim);
    assert.ok(onVictim.length > 0, 'some clients on worker 1');
    const reconnected = onVictim.map((c) => once(c.s.io, 'reconnect', 10000));
    process.kill(victim, 'SIGKILL');
    await waitForOutput(cluster, new RegExp(`worker 1 \\(pid ${victim}\\) was killed by signal 9 \\(Killed\\): restarting it`));
    await until(() => cluster.workers()['1'] !== victim, 10000);
    const fresh = cluster.workers();
    assert.notEqual(fresh['1'], victim);
    assert.equal(fresh['2'], old['2']);
    await Promise.all(reconnected);
    const live = new Set(Object.values(fresh));
    for (const c of list) {
      await connected(c.s);
      const w = await whoami(c.s);
      assert.ok(live.has(w.pid), `client on a live worker (${w.pid})`);
    }
    await Promise.all(list.map((c, i) => echoes(c.s, 2, `r${i}`)));
    closeAll();
    assertCleanOutput(cluster);
  });

  test('a worker that keeps dying is restarted 5 times a minute, then left dead; the others serve', async () => {
    for (let i = 1; i <= 6; i++) {
      const pid = cluster.workers()['2'];
      process.kill(pid, 'SIGKILL');
      if (i <= 5) {
        await until(() => cluster.workers()['2'] !== pid, 10000);
        assert.notEqual(cluster.workers()['2'], pid, `restart ${i}`);
      } else {
        await waitForOutput(cluster, new RegExp(`worker 2 \\(pid ${pid}\\) was killed by signal 9 \\(Killed\\); ` +
          'it was restarted 5 times in the last minute: not restarting it'));
      }
    }
    await settle();
    const list = await connectMany(cluster.url, 4, (i) => (i % 2 ? { transports: ['polling'] } : {}));
    for (const c of list) assert.equal(c.pid, cluster.workers()['1']);
    await Promise.all(list.map((c, i) => echoes(c.s, 1, `l${i}`)));
    // the dead worker's sessions: Engine.IO's answer for a sid nobody knows
    const r = await fetch(`${cluster.url}/socket.io/?EIO=4&transport=polling&sid=Bxxxxxxxxxxxxxxxxxxx`);
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { code: 1, message: 'Session ID unknown' });
    closeAll();
    assertCleanOutput(cluster);
  });

  test('SIGTERM: the master stops the workers and exits 0', async () => {
    const list = await connectMany(cluster.url, 4, (i) => (i % 2 ? { transports: ['polling'] } : {}));
    // every client is let go (a polling one between two polls learns it from
    // its next request: "transport error")
    const reasons = list.map((c) => once(c.s, 'disconnect', 8000));
    const stopped = stopCluster(cluster);
    await Promise.all(reasons);
    await stopped;
    cluster = null;
  });
});

// ---- shared socket (no --sticky) -------------------------------------------------------

describe('yolk start --workers 2 (WebSocket only, the workers share the socket)', () => {
  let redis;
  let cluster;
  before(async () => {
    redis = await startRedis();
    cluster = await startCluster(['--baseDir', APP, '--workers', '2'],
      { env: { YOLK_TEST_REDIS_PORT: String(redis.port), YOLK_TEST_TRANSPORTS: 'websocket' } });
  });
  after(async () => {
    closeAll();
    if (cluster) await stopYolk(cluster);
    if (redis) await redis.stop();
  });

  test('WebSocket clients work; every answer comes from one of the workers', async () => {
    assert.doesNotMatch(cluster.out.text, /without --sticky/);
    const list = await connectMany(cluster.url, 8, () => ({ transports: ['websocket'] }));
    const pids = new Set(Object.values(cluster.workers()));
    for (const c of list) assert.ok(pids.has(c.pid));
    await Promise.all(list.map((c, i) => echoes(c.s, 2, `s${i}`)));
    const r = await fetch(`${cluster.url}/whoami`);
    assert.ok(pids.has((await r.json()).pid));
    closeAll();
  });

  test('a killed worker is restarted; SIGTERM exits 0', async () => {
    const victim = cluster.workers()['2'];
    process.kill(victim, 'SIGKILL');
    await until(() => cluster.workers()['2'] !== victim, 10000);
    const s = await connected(client(cluster.url, { transports: ['websocket'] }));
    await echoes(s, 1, 'after');
    closeAll();
    await stopCluster(cluster);
    cluster = null;
  });
});

describe('yolk start --workers 1', () => {
  test('a worker that cannot load the app: its error names the file and line, the master exits 1', async () => {
    // a copy: the master opens the app's log file (logs/) before any worker runs
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-bad-'));
    try {
      fs.cpSync(path.join(repoRoot, 'spec/lua/fixtures/bad_syntax'), dir, { recursive: true });
      const r = run(['start', '--baseDir', dir, '--workers', '1', '--port', '0']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /router\.lua:3:/);
      assert.match(r.stderr, /\[master\/cluster\] worker 1 \(pid \d+\) exited with status 1 before it was ready: stopping/);
      assert.equal(sanitizerReport(r.stderr), null);
      assert.ok(fs.existsSync(path.join(dir, 'logs')), 'the master logs to the app\'s log file too');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('needs no Redis; polling works without --sticky (one worker), so no warning', async () => {
    const redisless = await startCluster(['--baseDir', APP, '--workers', '1']);
    try {
      assert.doesNotMatch(redisless.out.text, /without --sticky/);
      const s = await connected(client(redisless.url, { transports: ['polling'] }));
      await echoes(s, 1, 'one');
      closeAll();
    } finally {
      await stopCluster(redisless);
    }
  });
});

// ---- nginx ------------------------------------------------------------------------------

// nginx in front of the master with the README's configuration, in a
// directory of its own; the test's child, stopped by stop().
async function startNginx(upstreamPort) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-nginx-'));
  fs.chmodSync(dir, 0o755); // nginx's worker (nobody, when the test runs as root) uses it too
  const port = await freePort();
  const conf = fs.readFileSync(path.join(repoRoot, 'spec/e2e/fixtures/nginx.conf'), 'utf8')
    .replaceAll('{{DIR}}', dir).replaceAll('{{PORT}}', String(port)).replaceAll('{{UPSTREAM}}', String(upstreamPort));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log'),
    '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  process.on('exit', () => child.kill('SIGKILL'));
  const deadline = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`nginx did not start: ${out}${fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : ''}`);
    }
    await sleep(50);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
