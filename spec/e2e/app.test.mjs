// End-to-end tests of the Lua application runtime: `yolk start` on the
// fixture app spec/app, driven by socket.io-client 4 (websocket, polling,
// upgrade) and socket.io-client 2.5 (Engine.IO v3).
// Run: node --test spec/e2e/app.test.mjs   (binary from $YOLK_BUILD_DIR, default ./build)
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { io as ioc } from 'socket.io-client';
import { repoRoot, sleep, startYolk, stopYolk } from './lib.mjs';

const require = createRequire(import.meta.url);
const ioc2 = require('socket.io-client-v2');

function once(socket, ev, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), ms);
    socket.once(ev, (...args) => { clearTimeout(t); resolve(args); });
  });
}

function ack(socket, ev, ...args) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ack for ${ev}`)), 3000);
    socket.emit(ev, ...args, (...res) => { clearTimeout(t); resolve(res); });
  });
}

const sockets = new Set();
function client(server, nsp = '/', opts = {}) {
  const s = ioc(server.url + nsp, { forceNew: true, reconnection: false, ...opts });
  sockets.add(s);
  return s;
}
function client2(server, nsp = '/', opts = {}) {
  const s = ioc2(server.url + nsp, { forceNew: true, reconnection: false, ...opts });
  sockets.add(s);
  return s;
}
async function connected(s) {
  if (s.connected) return s;
  await once(s, 'connect');
  return s;
}
function closeAll() { for (const s of sockets) s.close(); sockets.clear(); }

async function events(server, id) {
  const r = await fetch(`${server.url}/events/${encodeURIComponent(id)}`);
  return r.json();
}

// Poll until fn() is true (for server-side effects of a disconnect).
async function until(fn, ms = 2000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) return v;
    await sleep(25);
  }
}

let server;
before(async () => { server = await startYolk(['--baseDir', 'spec/app']); });
after(async () => {
  closeAll();
  await stopYolk(server);
  // Errors that reached the C side's pcall wrapper are framework bugs; under
  // YOLK_SANITIZE builds memory errors show up here too.
  const bad = server.out.text.split('\n').filter((l) =>
    /ERROR \[lua\]|ERROR: AddressSanitizer|runtime error:/.test(l));
  assert.deepEqual(bad, [], 'no framework or memory errors in the server log');
});

const TRANSPORTS = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'] },
  upgrade: {},
};

for (const [name, topts] of Object.entries(TRANSPORTS)) {
  describe(`socket.io-client 4 over ${name}`, () => {
    after(closeAll);

    test('auth event, message-back and message-with-ack, unicode and JSON kinds', async () => {
      const s = client(server, '/', { ...topts, auth: { token: 'abc', n: 1 } });
      const [auth] = await once(s, 'auth');
      assert.deepEqual(auth, { token: 'abc', n: 1 });
      const payload = ['你好, 世界 🎉 é', { nested: { a: [1, 2.5, -3], empty: [], obj: {} } }, null, true, 12345678901];
      s.emit('message', ...payload);
      const back = await once(s, 'message-back');
      assert.deepEqual(back, payload);
      const acked = await ack(s, 'message-with-ack', 'x', 2, { y: '🙂' });
      assert.deepEqual(acked, ['x', 2, { y: '🙂' }]);
      const kinds = await ack(s, 'kinds', { k: [] });
      assert.deepEqual(kinds, [[], {}, null, { k: [] }]);
    });

    test('objects keep their key order through Lua; keys added in Lua come after (issue 10)', async () => {
      const s = await connected(client(server, '/', topts));
      const obj = { t: 1, s: 0, n: 5, p: 'x', nested: { z: 1, a: 2, m: [{ b: 1, a: 2 }] } };
      s.emit('message', obj);
      const [back] = await once(s, 'message-back');
      assert.equal(JSON.stringify(back), JSON.stringify(obj));
      const [stamped] = await ack(s, 'stamp', { z: 1, y: 2, x: 3 });
      assert.equal(JSON.stringify(stamped), '{"z":1,"y":2,"x":3,"stamped":true}');
    });

    test('a string cut inside an emoji (a lone surrogate) arrives as U+FFFD, connection up', async () => {
      const s = await connected(client(server, '/', topts));
      s.emit('message', 'cut \ud83d', '\ude00 too', '\ud83d\ude00 whole');
      const back = await once(s, 'message-back');
      assert.deepEqual(back, ['cut \ufffd', '\ufffd too', '\ud83d\ude00 whole']);
      assert.ok(s.connected);
    });

    test('binary round trip', async () => {
      const s = await connected(client(server, '/', topts));
      const data = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
      const [isbuf, back, fresh] = await ack(s, 'binary', data);
      assert.equal(isbuf, true);
      assert.ok(Buffer.isBuffer(back) || back instanceof ArrayBuffer);
      assert.deepEqual(Buffer.from(back), data);
      assert.deepEqual(Buffer.from(fresh), Buffer.from([0, 1, 2]));
    });

    test('a waiting controller does not block other packets of the same socket', async () => {
      const s = await connected(client(server, '/', topts));
      const order = [];
      const slow = ack(s, 'slow', 300).then((r) => order.push(r[0]));
      const fast = ack(s, 'fast').then((r) => order.push(r[0]));
      await Promise.all([slow, fast]);
      assert.deepEqual(order, ['fast done', 'slow done']);
    });

    test('an error in a controller is logged and leaves the connection up', async () => {
      const s = await connected(client(server, '/', topts));
      s.emit('boom');
      const [r] = await ack(s, 'fast');
      assert.equal(r, 'fast done');
      assert.ok(s.connected);
      const line = await until(() => server.out.text.split('\n')
        .find((l) => l.includes('controller exploded on purpose') && l.includes(s.id)));
      assert.ok(line, 'the error is logged with the socket id');
      assert.match(server.out.text, /default\.lua:\d+/);
    });

    test('socket:disconnect(true) after an emit: the emit, then "io server disconnect"', async () => {
      const s = await connected(client(server, '/', topts));
      const seen = [];
      s.on('bye', (n) => seen.push('bye ' + n));
      const gone = once(s, 'disconnect').then(([reason]) => seen.push(reason));
      s.emit('byeClose');
      await gone;
      await new Promise((r) => setTimeout(r, 50)); // a second, late disconnect would show here
      assert.deepEqual(seen, ['bye 1', 'io server disconnect']);
    });

    test('server-to-client acks with emitWithAck, and its timeout', async () => {
      const s = await connected(client(server, '/', topts));
      s.on('question', (q, cb) => cb('answer to ' + q));
      assert.deepEqual(await ack(s, 'ask', 1000), ['answer to what?', null]);
      const s2 = await connected(client(server, '/', topts));
      s2.on('question', () => {}); // never acks
      const [res, err] = await ack(s2, 'ask', 200);
      assert.equal(res, null);
      assert.equal(typeof err, 'string');
    });
  });
}

describe('connection and packet middleware (/mw)', () => {
  after(closeAll);

  test('order: before next() -> admit; after-code runs on disconnect with the reason', async () => {
    const s = await connected(client(server, '/mw', { transports: ['websocket'] }));
    const id = s.id;
    const [rooms] = await ack(s, 'rooms');
    assert.ok(rooms.includes('authed') && rooms.includes(id));
    s.disconnect();
    const ev = await until(async () => {
      const e = await events(server, id);
      return e.length >= 7 && e;
    });
    assert.deepEqual(ev, [
      'trace before', 'auth before',
      'filter before rooms', 'filter after rooms',
      'route disconnect client namespace disconnect',
      'auth after client namespace disconnect',
      'trace after client namespace disconnect',
    ]);
  });

  test('error() before next() refuses with CONNECT_ERROR {message}', async () => {
    const s = client(server, '/mw', { auth: { mode: 'deny' } });
    const [err] = await once(s, 'connect_error');
    assert.equal(err.message, 'not authorized');
  });

  test('a table error gives message and data', async () => {
    const s = client(server, '/mw', { auth: { mode: 'deny-table' } });
    const [err] = await once(s, 'connect_error');
    assert.equal(err.message, 'forbidden');
    assert.deepEqual(err.data, { code: 4031 });
  });

  test('disconnect before next(): CONNECT, the emit, then DISCONNECT', async () => {
    const s = client(server, '/mw', { auth: { mode: 'kick' }, transports: ['websocket'] });
    const seen = [];
    s.on('connect', () => seen.push('connect'));
    s.onAny((ev, msg) => seen.push(ev === s.id ? 'own-id:' + msg.action : ev));
    const [reason] = await once(s, 'disconnect');
    seen.push('disconnect');
    assert.equal(reason, 'io server disconnect');
    assert.deepEqual(seen, ['connect', 'own-id:deny', 'disconnect']);
  });

  test("the tutorial's tick(): emit to own id, adapter:remoteDisconnect, return without next()", async () => {
    const s = client(server, '/mw', { auth: { mode: 'tick' }, transports: ['websocket'] });
    const seen = [];
    s.on('connect', () => seen.push('connect'));
    s.onAny((ev, msg) => seen.push(ev === s.id ? 'own-id:' + msg.action : ev));
    await once(s, 'disconnect');
    seen.push('disconnect');
    assert.deepEqual(seen, ['connect', 'own-id:deny', 'disconnect']);
  });

  test('a middleware that returns without next() still admits', async () => {
    const s = await connected(client(server, '/mw', { auth: { mode: 'skip' } }));
    const [x] = await ack(s, 'echo', 'hi');
    assert.equal(x, 'hi');
    const ev = await events(server, s.id);
    assert.ok(ev.includes('auth skipped next'));
  });

  test('a middleware that sleeps before next() delays admission only', async () => {
    const t0 = Date.now();
    const s = await connected(client(server, '/mw', { auth: { mode: 'slow' } }));
    assert.ok(Date.now() - t0 >= 150);
    const [x] = await ack(s, 'echo', 1);
    assert.equal(x, 1);
  });

  test('packet middleware drops packets without next(); after-code runs after the controller', async () => {
    const s = await connected(client(server, '/mw'));
    await assert.rejects(s.timeout(300).emitWithAck('blocked', 1));
    await ack(s, 'slow');
    const ev = await events(server, s.id);
    const i = ev.indexOf('filter before slow');
    assert.ok(ev.includes('dropped blocked'));
    assert.deepEqual(ev.slice(i, i + 4), ['filter before slow', 'slow start', 'slow end', 'filter after slow']);
  });

  test('unknown namespace -> Invalid namespace', async () => {
    const s = client(server, '/nope');
    const [err] = await once(s, 'connect_error');
    assert.equal(err.message, 'Invalid namespace');
  });
});

describe('rooms and broadcasts', () => {
  after(closeAll);

  test('to/except/broadcast reach exactly the right sockets', async () => {
    const [a, b, c] = await Promise.all([
      connected(client(server, '/', { transports: ['websocket'] })),
      connected(client(server, '/', { transports: ['polling'] })),
      connected(client(server, '/')),
    ]);
    await ack(a, 'join', 'r1');
    await ack(b, 'join', ['r1', 'r2']);
    const got = { a: [], b: [], c: [] };
    for (const [k, s] of Object.entries({ a, b, c })) {
      s.onAny((ev, ...args) => { if (ev !== 'auth') got[k].push([ev, ...args]); });
    }
    await ack(c, 'nspToRoom', 'r1', 'n1');
    await ack(a, 'toRoom', 'r1', 't1');
    await ack(a, 'broadcastAll', 'b1');
    await ack(c, 'exceptRoom', 'r1', 'e1');
    await sleep(300);
    assert.deepEqual(got.a, [['room-message', 'n1']]);
    assert.deepEqual(got.b, [['room-message', 'n1'], ['room-message', 't1'], ['broadcast-message', 'b1']]);
    assert.deepEqual(got.c, [['broadcast-message', 'b1'], ['except-message', 'e1']]);
    const [ids] = await ack(c, 'clients', 'r1');
    assert.deepEqual(ids, [a.id, b.id].sort());
    const [all] = await ack(c, 'fetch');
    for (const s of [a, b, c]) assert.ok(all.includes(s.id));
  });

  test('socketsJoin, socketsLeave, disconnectSockets, remoteDisconnect; disconnecting route', async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => connected(client(server, '/', { transports: ['websocket'] }))));
    await ack(a, 'join', 'club');
    await ack(b, 'join', 'club');
    await ack(c, 'roomJoin', 'club', 'vip');
    assert.ok((await ack(a, 'rooms'))[0].includes('vip'));
    assert.ok((await ack(b, 'rooms'))[0].includes('vip'));
    assert.ok(!(await ack(c, 'rooms'))[0].includes('vip'));
    await ack(c, 'roomLeave', 'vip', 'vip');
    assert.ok(!(await ack(a, 'rooms'))[0].includes('vip'));
    const aGone = once(a, 'disconnect');
    const bGone = once(b, 'disconnect');
    await ack(c, 'roomKick', 'club');
    assert.equal((await aGone)[0], 'io server disconnect');
    assert.equal((await bGone)[0], 'io server disconnect');
    const d = await connected(client(server, '/', { transports: ['websocket'] }));
    const dId = d.id;
    const dGone = once(d, 'disconnect');
    await ack(c, 'remoteKick', d.id);
    assert.equal((await dGone)[0], 'io server disconnect');
    const ev = await until(async () => (await events(server, dId)).length > 0 && events(server, dId));
    assert.match(ev[0], /^disconnecting server namespace disconnect in 1 rooms$/);
    assert.ok(c.connected);
  });

  test('helpers and services', async () => {
    const s = await connected(client(server, '/'));
    const [shout, stamp] = await ack(s, 'helper', 'hey');
    assert.equal(shout, 'HEY!');
    assert.deepEqual(stamp, { value: 1, by: s.id });
  });

  test('/custom emits auth too', async () => {
    const s = client(server, '/custom', { auth: { z: 1 } });
    const [auth] = await once(s, 'auth');
    assert.deepEqual(auth, { z: 1 });
  });
});

describe('socket.io-client 2 (Engine.IO v3)', () => {
  after(closeAll);

  for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
    test(`echo, acks, binary over ${transports.join('+')}`, async () => {
      const s = client2(server, '/', { transports });
      await once(s, 'auth');
      s.emit('message', 'héllo 🌍', { a: [] });
      assert.deepEqual(await once(s, 'message-back'), ['héllo 🌍', { a: [] }]);
      assert.deepEqual(await ack(s, 'message-with-ack', 1, '二'), [1, '二']);
      const [isbuf, back] = await ack(s, 'binary', Buffer.from([9, 8, 7]));
      assert.equal(isbuf, true);
      assert.deepEqual(Buffer.from(back), Buffer.from([9, 8, 7]));
      const [who] = await ack(s, 'whoami');
      assert.equal(who.id, s.id);
    });
  }

  test('refusal reaches a v2 client as an error string', async () => {
    const s = client2(server, '/mw', { query: { mode: 'deny' }, transports: ['websocket'] });
    const [err] = await once(s, 'error');
    assert.equal(err, 'not authorized');
  });

  test('v2 and v4 clients share rooms', async () => {
    const v2 = client2(server, '/', { transports: ['websocket'] });
    await once(v2, 'connect');
    const v4 = await connected(client(server, '/'));
    await ack(v2, 'join', 'mixed');
    const got = once(v2, 'room-message');
    await ack(v4, 'nspToRoom', 'mixed', 'hi v2');
    assert.deepEqual(await got, ['hi v2']);
  });
});

describe('HTTP', () => {
  test('router, params, query, headers, JSON', async () => {
    const r = await fetch(`${server.url}/hello/wor%20ld?q=1`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-yolk'), 'yes');
    assert.equal(r.headers.get('x-powered-by'), 'yolk-spec', 'HTTP middleware from config.middleware');
    assert.match(r.headers.get('content-type'), /application\/json/);
    assert.deepEqual(await r.json(), { hello: 'wor ld', q: '1' });
  });

  test('JSON and form bodies are parsed', async () => {
    let r = await fetch(`${server.url}/echo`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: [1, 2], b: '中' }),
    });
    assert.equal(r.status, 201);
    assert.deepEqual(await r.json(), { body: { a: [1, 2], b: '中' }, method: 'POST' });
    r = await fetch(`${server.url}/echo`, {
      method: 'PUT', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1&y=a+b%21',
    });
    assert.deepEqual(await r.json(), { body: { x: '1', y: 'a b!' }, method: 'PUT' });
  });

  test('static files under /public/ with content types; no escaping public/', async () => {
    let r = await fetch(`${server.url}/public/hello.txt`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/plain/);
    assert.equal(await r.text(), 'hello from public\n');
    r = await fetch(`${server.url}/public/site.css`);
    assert.match(r.headers.get('content-type'), /text\/css/);
    r = await fetch(`${server.url}/public/..%2fpackage.json`);
    assert.equal(r.status, 404);
  });

  test('the log file logs/<app name>.log gets the lines', async () => {
    const fs = await import('node:fs');
    const text = fs.readFileSync(path.join(repoRoot, 'spec/app/logs/yolk-spec-app.log'), 'utf8');
    assert.match(text, new RegExp(`listening on http://127.0.0.1:${server.port}/`));
  });

  test('app.lua boot hooks: didLoad, then serverDidReady', async () => {
    const r = await until(async () => {
      const e = await (await fetch(`${server.url}/env`)).json();
      return e.boot.length === 2 && e;
    });
    assert.deepEqual(r.boot, ['didLoad', 'serverDidReady']);
  });

  test('404, 500 with the process alive, a waiting handler, html', async () => {
    assert.equal((await fetch(`${server.url}/nope`)).status, 404);
    assert.equal((await fetch(`${server.url}/boom`)).status, 500);
    assert.match(server.out.text, /http handler exploded/);
    assert.equal(await (await fetch(`${server.url}/sleep`)).text(), 'slept');
    const r = await fetch(`${server.url}/`);
    assert.match(r.headers.get('content-type'), /text\/html/);
  });

  test('serves the socket.io client bundle', async () => {
    const r = await fetch(`${server.url}/socket.io/socket.io.js`);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /io/);
  });
});

describe('environments', () => {
  const envOf = async (opts, args = []) => {
    const s = await startYolk(['--baseDir', 'spec/app', ...args], opts);
    try {
      const env = await (await fetch(`${s.url}/env`)).json();
      const c = await connected(client(s, '/', { transports: ['websocket'] }));
      env.sid = c.id;
      c.close();
      return env;
    } finally {
      await stopYolk(s);
    }
  };
  test('start is prod, dev is local, --env and YOLK_ENV choose; config.<env>.lua merges', async () => {
    const strip = ({ env, greeting }) => ({ env, greeting });
    const prod = await envOf({});
    assert.deepEqual(strip(prod), { env: 'prod', greeting: 'from default' });
    assert.doesNotMatch(prod.sid, /^u-/);
    assert.deepEqual(strip(await envOf({ command: 'dev' })), { env: 'local', greeting: 'from default' });
    const ut = await envOf({}, ['--env', 'unittest']);
    assert.deepEqual(strip(ut), { env: 'unittest', greeting: 'from unittest' });
    assert.match(ut.sid, /^u-1-\d+$/, 'config.io.generateId made the socket id');
    assert.deepEqual(strip(await envOf({ env: { YOLK_ENV: 'unittest' } })), { env: 'unittest', greeting: 'from unittest' });
  });
});

describe('the handshake query (issue 8, defect 3)', () => {
  // socket.io 4.8: Object.fromEntries(new URLSearchParams(url)): a repeated
  // name keeps its last value, at its first place; '+' is a space; escapes
  // are decoded and a malformed one stays as written. The same wherever the
  // application reads it.
  test('generateId, socket.handshake, ctx.query and fetchSockets items agree', async () => {
    const s = await startYolk(['--baseDir', 'spec/app', '--env', 'unittest']);
    const WebSocket = require('ws');
    try {
      const ws = new WebSocket(`${s.url.replace('http', 'ws')}/socket.io/?z=0&a=1&EIO=4&transport=websocket&a=2&b=x+y%21&c=%zz`);
      const frames = [];
      // the next frame starting with prefix (pings and the hello middleware's emit pass by)
      const next = (prefix) => new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${prefix} frame in ${JSON.stringify(frames)}`)), 3000);
        const take = () => {
          const i = frames.findIndex((f) => f.startsWith(prefix));
          if (i >= 0) { clearTimeout(t); resolve(frames.splice(i, 1)[0]); } else setTimeout(take, 5);
        };
        take();
      });
      ws.on('message', (d) => frames.push(d.toString()));
      await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
      await next('0{');
      ws.send('40');
      assert.match(await next('40'), /^40\{"sid":"u-/);
      ws.send('420["queries"]');
      const got = JSON.parse((await next('430')).slice(3))[0];
      ws.close();
      const want = { q: { z: '0', a: '2', EIO: '4', transport: 'websocket', b: 'x y!', c: '%zz' },
        keys: ['z', 'a', 'EIO', 'transport', 'b', 'c'] };
      for (const where of ['generated', 'socket', 'ctx', 'fetched', 'remote']) assert.deepEqual(got[where], want, where);
    } finally {
      await stopYolk(s);
    }
  });
});

describe('start-up errors', () => {
  test('a syntax error names the file and line, exit code 1', async () => {
    const s = await startYolk(['--baseDir', 'spec/lua/fixtures/bad_syntax'], { waitReady: false });
    const { code } = await s.exited;
    assert.equal(code, 1);
    assert.match(s.out.text, /router\.lua:3:/);
    assert.doesNotMatch(s.out.text, /Segmentation|Aborted|core dumped/);
  });

  test('an unknown middleware name is named', async () => {
    const s = await startYolk(['--baseDir', 'spec/lua/fixtures/bad_mw'], { waitReady: false });
    const { code } = await s.exited;
    assert.equal(code, 1);
    assert.match(s.out.text, /unknown middleware 'nosuch'/);
  });
});
