// Runaway application code (issue 12, part 2), against the fixture spec/runaway_app:
//  - the Lua heap's cap (config.lua.memoryLimit, 64 MB here): a controller that allocates
//    without end gets "not enough memory", logged as a bug; the other clients are served;
//    the heap and the RSS come back once it is collected; a leak across packets fills the
//    heap, and everything works again once the application lets go;
//  - the watchdog (config.lua.blockedWarning, 200 ms here): a callback that keeps the loop
//    busy is named in a WARN while it runs, and how long it took once it returns;
//  - cluster mode (config.lua.blockedRestart, 2500 ms here): new clients go to the worker
//    that answers; the master kills and restarts a worker whose loop is stuck, its client
//    reconnects to a live worker;
//  - containment: endless recursion (in Lua, and through string.gsub), error values that
//    are not strings, errors raised while an error is described, coroutine.yield called by
//    a handler: each logged, contained to its packet or request, the server keeps serving.
// Run: node --test spec/e2e/runaway.test.mjs   (binary from $YOLK_BUILD_DIR, default ./build)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io as ioc } from 'socket.io-client';
import { sanitizerReport, sleep, startCluster, startRedis, startYolk, stopYolk } from './lib.mjs';

const APP = 'spec/runaway_app';
const MB = 1024 * 1024;

const sockets = new Set();
function client(srv, opts = {}) {
  const s = ioc(srv.url, { forceNew: true, reconnection: false, transports: ['websocket'], ...opts });
  sockets.add(s);
  return s;
}
function once(s, ev, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), ms);
    s.once(ev, (...args) => { clearTimeout(t); resolve(args); });
  });
}
async function connected(s) {
  if (!s.connected) await once(s, 'connect');
  return s;
}
const ack = (s, ev, ...args) => s.timeout(8000).emitWithAck(ev, ...args);
const memory = async (srv) => (await fetch(`${srv.url}/memory`)).json();

// Waits up to ms for a line of srv's output after `from` matching re; returns the match.
async function logLine(srv, from, re, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(srv.out.text.slice(from));
    if (m) return m;
    if (Date.now() > deadline) assert.fail(`no log line matching ${re} in:\n${srv.out.text.slice(from).slice(-4000)}`);
    await sleep(20);
  }
}

// Everything the server says must be contained: no error escaped to the runtime's last
// resort (ERROR [lua] lines are uncaught errors), no crash, no sanitizer report.
function assertContained(srv) {
  const text = srv.out.text;
  assert.equal(sanitizerReport(text), null, `sanitizer report:\n${text.slice(-4000)}`);
  assert.doesNotMatch(text, /ERROR \[(\w+\/)?lua\] (?!the Lua heap)|Segmentation|Aborted|unprotected Lua error/);
}

after(() => { for (const s of sockets) s.close(); });

describe('the Lua heap cap', () => {
  let srv;
  before(async () => {
    // warnings about the (slow) allocating loops are not what this is about
    srv = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_BLOCKED_WARNING: '0' } });
  });
  after(async () => {
    await stopYolk(srv);
    assertContained(srv);
  });

  test('a controller that allocates without end gets "not enough memory"; the others are served; memory comes back', async () => {
    const [hog, other] = await Promise.all([connected(client(srv)), connected(client(srv))]);
    const m0 = await memory(srv);
    assert.equal(m0.limit, 64 * MB);
    const from = srv.out.text.length;
    const r = await ack(hog, 'hog');
    assert.deepEqual(r, { ok: false, error: 'server error' });
    // a bug, in the packet's own coroutine: ERROR with the event, and what happened
    await logLine(srv, from, /ERROR \[runaway-app\] \[[\w-]+\] error while handling hog: not enough memory: the Lua heap reached its limit \(config\.lua\.memoryLimit, 64 MB\)/);
    await logLine(srv, from, /WARN \[lua\] the Lua heap reached config\.lua\.memoryLimit \(64\.0 MB\) while running event 'hog' on \/: 1 allocation refused/);
    assert.deepEqual(await ack(other, 'ping', 1), { ok: true, pong: 1 });
    assert.deepEqual(await ack(hog, 'ping', 2), { ok: true, pong: 2 });
    const m1 = await memory(srv);
    assert.ok(m1.refused >= 1);
    assert.ok(m1.used < 8 * MB, `the Lua heap after a collection: ${m1.used}`);
    // the peak: the cap, its reserve and the allocator's slack; then the RSS falls back
    assert.ok(m1.hwm - m0.rss < 64 * MB + 48 * MB, `peak RSS ${m1.hwm} (before: ${m0.rss})`);
    assert.ok(m1.rss < m0.rss + 32 * MB, `RSS after: ${m1.rss} (before: ${m0.rss}, peak ${m1.hwm})`);
  });

  test('an HTTP handler that does the same answers 500, and the server goes on', async () => {
    const from = srv.out.text.length;
    const r = await fetch(`${srv.url}/hog`);
    assert.equal(r.status, 500);
    await logLine(srv, from, /ERROR \[runaway-app\] \[GET \/hog\] not enough memory: the Lua heap reached its limit/);
    assert.equal(await (await fetch(`${srv.url}/hello/ready`)).text(), 'ready');
  });

  test('a leak across packets fills the heap: each packet past it fails and says so; once the app lets go, all is well', async () => {
    const s = await connected(client(srv));
    const from = srv.out.text.length;
    let kept = 0;
    let failed = 0;
    for (let i = 0; i < 90 && failed < 3; i++) {
      const r = await ack(s, 'leak');
      if (r.ok) kept = r.kept;
      else failed++;
    }
    assert.equal(failed, 3, 'leaking 1 MB per packet hits the cap');
    assert.ok(kept >= 50 && kept <= 64, `kept ${kept} MB before the cap`);
    await logLine(srv, from, /error while handling leak: not enough memory/);
    await logLine(srv, from, /ERROR \[lua\] the Lua heap reached config\.lua\.memoryLimit \(64\.0 MB\) while running event 'leak' on \/: 1 allocation refused, and it still holds 6\d\.\d MB after a full collection: the application keeps that much reachable \(a leak\?\)/);
    // the heap is full of live data: what needs little still runs
    assert.deepEqual(await ack(s, 'ping', 3), { ok: true, pong: 3 });
    assert.deepEqual(await ack(s, 'free'), { ok: true, freed: kept });
    assert.deepEqual(await ack(s, 'leak'), { ok: true, kept: 1 });
    await ack(s, 'free');
    assert.ok((await memory(srv)).used < 8 * MB);
  });
});

describe('the watchdog', () => {
  let srv;
  before(async () => {
    srv = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_BLOCKED_WARNING: '200' } });
  });
  after(async () => {
    await stopYolk(srv);
    assertContained(srv);
  });

  test('a controller that keeps the loop busy for 1.5 s in pure Lua is named while it runs, then timed', async () => {
    const [busy, other] = await Promise.all([connected(client(srv)), connected(client(srv))]);
    const from = srv.out.text.length;
    const spun = ack(busy, 'spin', 1500);
    await sleep(100);
    const t0 = Date.now();
    const pong = await ack(other, 'ping', 1); // waits for the loop
    const waited = Date.now() - t0;
    assert.deepEqual(pong, { ok: true, pong: 1 });
    assert.equal((await spun).ok, true);
    assert.ok(waited > 1000, `the other client waited ${waited} ms`);
    const warn = await logLine(srv, from,
      /WARN \[lua\] event 'spin' on \/ has kept the loop busy for (\d+\.\d) s \(config\.lua\.blockedWarning = 200 ms\): no other client is served until it returns/);
    assert.ok(Number(warn[1]) >= 0.2 && Number(warn[1]) < 0.6, warn[0]);
    const end = await logLine(srv, from, /WARN \[lua\] event 'spin' on \/ returned after (\d+\.\d+) s/);
    assert.ok(Number(end[1]) >= 1.4, end[0]);
    // the first warning came while it was still running, not after
    assert.ok(srv.out.text.indexOf(warn[0], from) < srv.out.text.indexOf(end[0], from));
  });

  test('an HTTP route: the method and the path', async () => {
    const from = srv.out.text.length;
    assert.equal(await (await fetch(`${srv.url}/spin?ms=600`)).text(), 'spun');
    await logLine(srv, from, /WARN \[lua\] HTTP GET \/spin has kept the loop busy for 0\.\d s/);
    await logLine(srv, from, /WARN \[lua\] HTTP GET \/spin returned after 0\.\d+ s/);
  });

  test('callbacks shorter than blockedWarning are not warned about', async () => {
    const s = await connected(client(srv));
    const from = srv.out.text.length;
    for (let i = 0; i < 5; i++) assert.equal((await ack(s, 'spin', 50)).ok, true);
    await sleep(300);
    assert.doesNotMatch(srv.out.text.slice(from), /has kept the loop busy/);
  });
});

describe('containment', () => {
  let srv;
  let s;
  before(async () => {
    srv = await startYolk(['--baseDir', APP]);
    s = await connected(client(srv));
  });
  after(async () => {
    await stopYolk(srv);
    assertContained(srv);
  });

  // each case: the packet's ack, then the same socket and a fresh one still work
  async function contained(ev) {
    const r = await ack(s, ev);
    assert.deepEqual(await ack(s, 'ping', ev), { ok: true, pong: ev });
    const fresh = await connected(client(srv));
    assert.deepEqual(await ack(fresh, 'ping', 1), { ok: true, pong: 1 });
    fresh.close();
    return r;
  }

  test('endless recursion, in Lua and through a C function (string.gsub), is a bug of its packet or request', async () => {
    for (const ev of ['recurse', 'recurseC']) {
      const from = srv.out.text.length;
      assert.deepEqual(await contained(ev), { ok: false, error: 'server error' });
      // "stack overflow" with its traceback, or, when the overflow left the handler too
      // little stack to describe it, what that means
      await logLine(srv, from, new RegExp(`ERROR \\[runaway-app\\] \\[[\\w-]+\\] error while handling ${ev}: (.*stack overflow|error in error handling: the error handler failed in turn, most likely out of stack after a stack overflow)`));
    }
    const from = srv.out.text.length;
    assert.equal((await fetch(`${srv.url}/recurse`)).status, 500);
    await logLine(srv, from, /ERROR \[runaway-app\] \[GET \/recurse\] .*(stack overflow|error in error handling)/);
  });

  test('error values that are not strings: tables and numbers are refusals, nil and userdata bugs', async () => {
    let from = srv.out.text.length;
    assert.deepEqual(await contained('throwTable'), { ok: false, error: 'refused' });
    await logLine(srv, from, /INFO \[runaway-app\] \[[\w-]+\] 'throwTable' on \/ refused: \(an error table without message\) \(app\/io\/controller\/runaway\.lua:\d+\)/);
    from = srv.out.text.length;
    assert.deepEqual(await contained('throwNumber'), { ok: false, error: '42' });
    await logLine(srv, from, /'throwNumber' on \/ refused: 42/);
    for (const kind of ['Nil', 'Userdata']) {
      from = srv.out.text.length;
      assert.deepEqual(await contained(`throw${kind}`), { ok: false, error: 'server error' });
      const m = await logLine(srv, from, new RegExp(`ERROR \\[runaway-app\\] \\[[\\w-]+\\] error while handling throw${kind}: \\(error object is a ${kind.toLowerCase()} value\\)\\nstack traceback:\\n(\\t\\[C\\][^\\n]*\\n)?[^\\n]*runaway\\.lua:\\d+: in function 'handler'`));
      assert.doesNotMatch(m[0], /0x[0-9a-f]+/);
    }
    for (const [kind, status] of [['table', 500], ['number', 500], ['nil', 500], ['userdata', 500]]) {
      assert.equal((await fetch(`${srv.url}/throw/${kind}`)).status, status, kind);
    }
    assert.equal(await (await fetch(`${srv.url}/hello/ready`)).text(), 'ready');
  });

  test('errors raised while an error is described: a __tostring that raises, an error route that raises', async () => {
    let from = srv.out.text.length;
    assert.deepEqual(await contained('throwBadToString'), { ok: false, error: 'refused' });
    await logLine(srv, from, /'throwBadToString' on \/ refused: \(a table whose __tostring failed: [^\n]*__tostring raised\)/);
    from = srv.out.text.length;
    // a message that cannot be made a string: the client is told no more than 'refused'
    assert.deepEqual(await contained('throwBadMessage'), { ok: false, error: 'refused' });
    await logLine(srv, from, /'throwBadMessage' on \/ refused: \(a table whose __tostring failed: [^\n]*message __tostring raised\)/);
    from = srv.out.text.length;
    assert.deepEqual(await contained('throwToErrorRoute'), { ok: false, error: 'the error route raises on this' });
    await logLine(srv, from, /ERROR \[runaway-app\] \[[\w-]+\] error in the error route: error: \(a table whose __tostring failed: [^\n]*again\)\nstack traceback:/);
    from = srv.out.text.length;
    assert.equal((await fetch(`${srv.url}/throw/tostring`)).status, 500);
    await logLine(srv, from, /\[GET \/throw\/tostring\] error: \(a table whose __tostring failed/);
  });

  test('coroutine.yield called by a handler: a bug at that line, not a packet that never ends', async () => {
    const from = srv.out.text.length;
    assert.deepEqual(await contained('yield'), { ok: false, error: 'server error' });
    await logLine(srv, from, /ERROR \[runaway-app\] \[[\w-]+\] error while handling yield: [^\n]*runaway\.lua:\d+: coroutine\.yield\(\) called in a connection, packet or request handler: nothing would resume it/);
    // a handler that catches it goes on
    const r = await contained('yieldInPcall');
    assert.equal(r.ok, true);
    assert.equal(r.caught, true);
    assert.equal((await fetch(`${srv.url}/yield`)).status, 500);
    await logLine(srv, from, /\[GET \/yield\] [^\n]*coroutine\.yield\(\) called in a connection, packet or request handler/);
  });
});

describe('cluster mode: a worker whose loop stays blocked is restarted', () => {
  let redis;
  let srv;
  before(async () => {
    redis = await startRedis();
    srv = await startCluster(['--baseDir', APP, '--workers', '2', '--sticky'], {
      env: { YOLK_TEST_REDIS_PORT: String(redis.port), YOLK_TEST_BLOCKED_RESTART: '2500', YOLK_TEST_BLOCKED_WARNING: '300' },
    });
  });
  after(async () => {
    if (srv) await stopYolk(srv);
    if (redis) await redis.stop();
    if (srv) {
      assert.equal(sanitizerReport(srv.out.text), null);
      assert.equal(srv.child.exitCode, 0, `master exit status:\n${srv.out.text.slice(-3000)}`);
    }
  });

  test('a controller that never returns: new clients go to the other worker, the master kills its worker after blockedRestart, the client reconnects', async () => {
    const stuck = await connected(client(srv, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 }));
    let other = await connected(client(srv));
    const stuckPid = (await ack(stuck, 'whoami')).pid;
    let otherPid = (await ack(other, 'whoami')).pid;
    for (let i = 0; i < 5 && otherPid === stuckPid; i++) {
      other.close();
      other = await connected(client(srv));
      otherPid = (await ack(other, 'whoami')).pid;
    }
    assert.notEqual(otherPid, stuckPid, 'two clients on two workers');
    const from = srv.out.text.length;
    const t0 = Date.now();
    const gone = once(stuck, 'disconnect', 10000);
    stuck.emit('forever');
    // the worker's own watchdog names what blocks it; the other worker serves meanwhile
    await logLine(srv, from, /WARN \[worker\d\/lua\] event 'forever' on \/ has kept the loop busy for 0\.\d s \(config\.lua\.blockedWarning = 300 ms\)/);
    assert.equal((await ack(other, 'whoami')).pid, otherPid);
    // silent for over a second: new sessions go to the worker that answers
    await sleep(Math.max(0, t0 + 1300 - Date.now()));
    for (let i = 0; i < 3; i++) {
      const fresh = await connected(client(srv, { transports: ['polling', 'websocket'] }));
      assert.equal((await ack(fresh, 'whoami')).pid, otherPid, 'a new client on the worker that is heard from');
      fresh.close();
    }
    const kill = await logLine(srv, from,
      /ERROR \[master\/cluster\] worker (\d) \(pid (\d+)\) has not been heard from for (\d+\.\d) s: its loop is blocked \(config\.lua\.blockedRestart = 2500 ms\); killing it/, 8000);
    assert.equal(Number(kill[2]), stuckPid);
    assert.ok(Number(kill[3]) >= 2.5 && Number(kill[3]) < 4, kill[0]);
    await logLine(srv, from, new RegExp(`WARN \\[master/cluster\\] worker ${kill[1]} \\(pid ${stuckPid}\\) blocked, was killed by signal 9 \\(Killed\\): restarting it`));
    await gone;
    await once(stuck, 'connect', 8000);
    const pid = (await ack(stuck, 'whoami')).pid;
    assert.notEqual(pid, stuckPid);
    assert.ok(Date.now() - t0 < 10000);
    await logLine(srv, from, new RegExp(`INFO \\[master/cluster\\] worker ${kill[1]} \\(pid \\d+\\) ready`));
    assert.equal((await ack(other, 'whoami')).pid, otherPid);
  });
});
