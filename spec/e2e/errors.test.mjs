// Refusals and bugs (issue 13): the same fixture app (spec/errors_app) under
// `yolk start` and under `yolk dev`. A deliberate refusal (ctx:refuse,
// error('...'), error{ message, data }) is logged at INFO and its message
// reaches the client; a bug (what the VM raises) is logged at ERROR with the
// file, the line and the traceback, and the client gets 'server error' under
// `yolk start`, the real message under `yolk dev`. Also: unrouted events
// (WARN under dev only), HTTP 500s, and a config mistake at start-up.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io as ioc } from 'socket.io-client';
import { sleep, startYolk, stopYolk } from './lib.mjs';

const require = createRequire(import.meta.url);
const ioc2 = require('socket.io-client-v2');

const APP = 'spec/errors_app';
const servers = {};
const sockets = new Set();

before(async () => {
  servers.start = await startYolk(['--baseDir', APP]);
  servers.dev = await startYolk(['--baseDir', APP], { command: 'dev' });
});
after(async () => {
  for (const s of sockets) s.close();
  for (const srv of Object.values(servers)) {
    await stopYolk(srv);
    assert.doesNotMatch(srv.out.text, /ERROR \[lua\]|ERROR: AddressSanitizer|runtime error:|LeakSanitizer/,
      'no framework or sanitizer errors');
  }
});

function client(srv, opts = {}) {
  const s = ioc(`${srv.url}/live`, { forceNew: true, reconnection: false, transports: ['websocket'], ...opts });
  sockets.add(s);
  return s;
}
function once(s, ev, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), ms);
    s.once(ev, (...args) => { clearTimeout(t); resolve(args); });
  });
}
const connected = async (s) => { await once(s, 'connect'); return s; };
const connectError = async (s) => (await once(s, 'connect_error'))[0];

// The log lines of srv from `from` on, waiting up to ms for one matching re.
async function logLine(srv, from, re, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = srv.out.text.slice(from);
    const m = text.match(re);
    if (m) return { line: m[0], after: text.slice(m.index) };
    if (Date.now() > deadline) assert.fail(`no log line matching ${re} in:\n${text}`);
    await sleep(20);
  }
}

describe('a bug in a connection middleware', () => {
  test('yolk start: ERROR with file, line and traceback; the client gets "server error"', async () => {
    const srv = servers.start;
    const from = srv.out.text.length;
    const err = await connectError(client(srv, { auth: { mode: 'bug' } }));
    assert.equal(err.message, 'server error');
    const { line, after } = await logLine(srv, from,
      /.* ERROR \[errors-app\] \[[^\]]+\] error in connection middleware of \/live \(the client gets 'server error'\): .*/);
    assert.match(line, /app\/io\/middleware\/auth\.lua:8: attempt to index local 'cfg' \(a nil value\)$/);
    assert.match(after, /^.*\nstack traceback:\n\t.*auth\.lua:8: in function/);
    assert.doesNotMatch(srv.out.text.slice(from), /refused/, 'not logged as a refusal');
  });

  test('yolk dev: the same ERROR, and the client gets the real message', async () => {
    const srv = servers.dev;
    const from = srv.out.text.length;
    const err = await connectError(client(srv, { auth: { mode: 'bug' } }));
    assert.equal(err.message, "app/io/middleware/auth.lua:8: attempt to index local 'cfg' (a nil value)");
    const { after } = await logLine(srv, from, /ERROR \[errors-app\] .*error in connection middleware of \/live/);
    assert.match(after, /auth\.lua:8: attempt to index local 'cfg' \(a nil value\)\nstack traceback:/);
  });

  test('a socket.io-client 2 gets the same (its error event)', async () => {
    for (const [name, want] of [['start', 'server error'], ['dev', /^app\/io\/middleware\/auth\.lua:8: attempt to index/]]) {
      const s = ioc2(`${servers[name].url}/live`, { forceNew: true, reconnection: false, transports: ['websocket'], query: { mode: 'bug' } });
      sockets.add(s);
      const [err] = await once(s, 'error');
      if (typeof want === 'string') assert.equal(err, want); else assert.match(err, want);
    }
  });
});

describe('a deliberate refusal in a connection middleware', () => {
  for (const name of ['start', 'dev']) {
    test(`yolk ${name}: INFO with where it was raised; message and data reach the client`, async () => {
      const srv = servers[name];
      const from = srv.out.text.length;
      let err = await connectError(client(srv, { auth: { mode: 'refuse' } }));
      assert.equal(err.message, 'closed for today');
      assert.deepEqual(err.data, { reopens: 9 });
      let { line } = await logLine(srv, from, /.* INFO \[errors-app\] .*connection to \/live refused: closed for today.*/);
      assert.match(line, /\(app\/io\/middleware\/auth\.lua:10\)$/);
      err = await connectError(client(srv, { auth: { mode: 'error' } }));
      assert.equal(err.message, 'not on the list');
      ({ line } = await logLine(srv, from, /.* INFO .*refused: not on the list.*/));
      assert.match(line, /\(app\/io\/middleware\/auth\.lua:11\)$/);
      assert.doesNotMatch(srv.out.text.slice(from), /ERROR|stack traceback/);
    });
  }
});

describe('packets: controllers and packet middleware', () => {
  test('yolk start: a bug is an ERROR with its traceback; the ack gets "server error"', async () => {
    const srv = servers.start;
    const s = await connected(client(srv));
    const from = srv.out.text.length;
    assert.deepEqual(await s.timeout(2000).emitWithAck('boom', 'ten'), { ok: false, error: 'server error' });
    const { line, after } = await logLine(srv, from, /.* ERROR \[errors-app\] .*error while handling boom: .*/);
    assert.match(line, /auction\.lua:10: attempt to perform arithmetic on local 'amount' \(a string value\)$/);
    assert.match(after, /\nstack traceback:/);
    assert.deepEqual(await s.timeout(2000).emitWithAck('filterBug'), { ok: false, error: 'server error' });
    await logLine(srv, from, /ERROR .*error while handling filterBug: .*filter\.lua:5: attempt to index field 'missing'/);
    assert.ok(s.connected, 'the connection stays');
  });

  test('yolk dev: the ack tells the real message', async () => {
    const s = await connected(client(servers.dev));
    assert.deepEqual(await s.timeout(2000).emitWithAck('boom', 'ten'),
      { ok: false, error: "app/io/controller/auction.lua:10: attempt to perform arithmetic on local 'amount' (a string value)" });
  });

  for (const name of ['start', 'dev']) {
    test(`yolk ${name}: refusals are INFO; the ack gets the message and data`, async () => {
      const srv = servers[name];
      const s = await connected(client(srv));
      const from = srv.out.text.length;
      assert.deepEqual(await s.timeout(2000).emitWithAck('tooLow', 1), { ok: false, error: 'bid too low', data: { min: 10 } });
      assert.deepEqual(await s.timeout(2000).emitWithAck('spam'), { ok: false, error: 'no spam here' });
      await logLine(srv, from, /INFO \[errors-app\] .*'tooLow' on \/live refused: bid too low \(app\/io\/controller\/auction\.lua:15\)/);
      await logLine(srv, from, /INFO \[errors-app\] .*'spam' on \/live refused: no spam here \(app\/io\/middleware\/filter\.lua:4\)/);
      assert.deepEqual(await s.timeout(2000).emitWithAck('bid', 12), { ok: true, amount: 12 });
      assert.doesNotMatch(srv.out.text.slice(from), /ERROR/);
    });
  }
});

describe('unrouted events', () => {
  test('yolk dev: one WARN per event and namespace, with the routed names', async () => {
    const srv = servers.dev;
    const s = await connected(client(srv));
    const from = srv.out.text.length;
    s.emit('bidd', 1);
    s.emit('bidd', 2);
    s.emit('nothingLikeIt');
    await s.timeout(2000).emitWithAck('bid', 1); // handled after the others
    await logLine(srv, from, /nothingLikeIt/);
    const warns = srv.out.text.slice(from).split('\n').filter((l) => / WARN /.test(l));
    assert.equal(warns.length, 2, warns.join('\n'));
    assert.match(warns[0], /WARN \[errors-app\] \[[^\]]+\] no route for event 'bidd' on \/live \(routed there: bid, boom, filterBug, spam, tooLow; did you mean 'bid'\?\)$/);
    assert.match(warns[1], /no route for event 'nothingLikeIt' on \/live \(routed there: [^;]*\)$/);
  });

  test('yolk start: nothing above DEBUG', async () => {
    const srv = servers.start;
    const s = await connected(client(srv));
    const from = srv.out.text.length;
    s.emit('bidd', 1);
    await s.timeout(2000).emitWithAck('bid', 1);
    await sleep(50);
    assert.doesNotMatch(srv.out.text.slice(from), /no route/);
  });
});

describe('HTTP', () => {
  test('a bug: 500, ERROR with its traceback; a generic body under start, details under dev', async () => {
    let from = servers.start.out.text.length;
    let r = await fetch(`${servers.start.url}/bug`);
    assert.equal(r.status, 500);
    assert.equal(await r.text(), 'Internal Server Error');
    const { after } = await logLine(servers.start, from, /ERROR \[errors-app\] \[GET \/bug\] .*home\.lua:5: attempt to index local 'lot' \(a nil value\)/);
    assert.match(after, /\nstack traceback:/);

    from = servers.dev.out.text.length;
    r = await fetch(`${servers.dev.url}/bug`);
    assert.equal(r.status, 500);
    const body = await r.text();
    assert.match(body, /^Internal Server Error\n\napp\/controller\/home\.lua:5: attempt to index local 'lot' \(a nil value\)\nstack traceback:\n/);
    await logLine(servers.dev, from, /ERROR \[errors-app\] \[GET \/bug\]/);
  });

  test('ctx:throw is a refusal: its status and message, INFO', async () => {
    const from = servers.start.out.text.length;
    const r = await fetch(`${servers.start.url}/forbidden`);
    assert.equal(r.status, 403);
    assert.deepEqual(await r.json(), { message: 'not yours' });
    await logLine(servers.start, from, /INFO \[errors-app\] \[GET \/forbidden\] answered 403: not yours \(app\/controller\/home\.lua:7\)/);
  });
});

describe('a config mistake at start-up', () => {
  test("a namespace without its '/' names the key and the file, exit status 1", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-config-mistake-'));
    try {
      fs.mkdirSync(path.join(dir, 'config'));
      fs.writeFileSync(path.join(dir, 'config/config.default.lua'),
        "return {\n  io = {\n    namespace = {\n      live = { connectionMiddleware = {} },\n    },\n  },\n}\n");
      const srv = await startYolk(['--baseDir', dir], { waitReady: false });
      const { code } = await srv.exited;
      assert.equal(code, 1);
      assert.match(srv.out.text, /cannot start the application: config\/config\.default\.lua:4: config\.io\.namespace\['live'\]: a namespace name starts with '\/' \(did you mean '\/live'\?\)/);
      assert.doesNotMatch(srv.out.text, /lua\/yolk\//, 'no framework file in the message');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
