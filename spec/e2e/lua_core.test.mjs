// lua_core.test.mjs - the yolk.core Lua bindings end to end: a server written
// directly against yolk.core (spec/e2e/fixtures/lua_core_server.lua, run with
// `yolk lua`) driven by socket.io-client 4 and 2, plus the yolk command's exit
// codes and signal handling.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { io } from 'socket.io-client';
import ioV2 from 'socket.io-client-v2';
import { buildDir, repoRoot } from './lib.mjs';

// the binary: $YOLK_BIN, else yolk in $YOLK_BUILD_DIR (default ./build)
const yolk = process.env.YOLK_BIN || path.join(buildDir, 'yolk');
const fixture = path.join(repoRoot, 'spec/e2e/fixtures/lua_core_server.lua');

// Starts the fixture; resolves { proc, port, lines } once it printed its port.
function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(yolk, ['lua', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    let stderr = '';
    let buf = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        const m = /^PORT (\d+)$/.exec(line);
        if (m) resolve({ proc, port: Number(m[1]), lines, stderr: () => stderr });
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  });
}

function waitFor(pred, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error('timed out waiting'));
      setTimeout(tick, 10);
    };
    tick();
  });
}

function exited(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve([proc.exitCode, proc.signalCode]);
    proc.on('exit', (code, sig) => resolve([code, sig]));
  });
}

let server;
let base;
const clients = [];
function client(opts = {}, nsp = '/') {
  const c = io(base + nsp, { forceNew: true, reconnection: false, ...opts });
  clients.push(c);
  return c;
}
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...a) => resolve(a)));

before(async () => {
  server = await startServer();
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  for (const c of clients) c.close();
  if (server && server.proc.exitCode === null) {
    server.proc.kill('SIGKILL');
    await exited(server.proc);
  }
});


test('HTTP requests reach server:on_request as tables', async () => {
  let r = await fetch(`${base}/hello?a=1&b=2`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-query'), 'a=1&b=2');
  assert.equal(await r.text(), 'hello GET');
  r = await fetch(`${base}/echo-json`, { method: 'POST', body: '{"a":[],"b":{},"c":[1,2.5,null,"\\u00e9",1099511627776]}' });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(await r.text()), { n: 1, got: { a: [], b: {}, c: [1, 2.5, null, 'é', 1099511627776] } });
  r = await fetch(`${base}/echo-json`, { method: 'POST', body: '{nope' });
  assert.equal(r.status, 400);
  // a handler that raises: 500, and the server keeps serving
  r = await fetch(`${base}/throw`);
  assert.equal(r.status, 500);
  r = await fetch(`${base}/nothing`);
  assert.equal(r.status, 404);
});

test('response headers: arrays, numbers, reserved names, injection refused; binary bodies', async () => {
  const r = await fetch(`${base}/headers`, { headers: { cookie: 'a=1' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-multi'), 'one, two');
  assert.equal(r.headers.get('x-num'), '7');
  assert.equal(r.headers.get('x-injected'), 'false');
  assert.equal(r.headers.get('x-badname'), 'false');
  assert.equal(r.headers.get('x-evil'), null);
  assert.equal(r.headers.get('x-cookie'), 'a=1');
  assert.equal(r.headers.get('content-length'), '8'); // the HTTP layer's, not the handler's 999
  assert.deepEqual([...new Uint8Array(await r.arrayBuffer())], [0, 98, 105, 110, 97, 114, 121, 255]);
});

test('an HTTP client that goes away: req.aborted and req.on_abort', async () => {
  const ac = new AbortController();
  const p = fetch(`${base}/slow`, { signal: ac.signal }).catch(() => 'aborted');
  await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  assert.equal(await p, 'aborted');
  await waitFor(() => server.lines.includes('ABORTED true'));
});

test('connect, async admit, handshake, custom id', async () => {
  const c = client({ query: { customId: 'abc', x: 'y z' }, auth: { token: 't1' } });
  const [welcome] = await once(c, 'welcome');
  assert.equal(welcome.id, 'custom-abc');
  assert.equal(c.id, 'custom-abc');
  assert.equal(welcome.query.x, 'y z');
  assert.equal(welcome.query.EIO, '4');
  assert.deepEqual(welcome.auth, { token: 't1' });
  assert.equal(welcome.protocol, 5);
  assert.equal(welcome.nsp, '/');
  assert.equal(welcome.connected, true);
  assert.equal(welcome.same_nsp, true);
  assert.equal(welcome.found, true);
  assert.equal(welcome.address, '127.0.0.1');
  assert.match(welcome.time, /GMT/);
});

test('events with acks round-trip values and binary attachments', async () => {
  const c = client();
  await once(c, 'welcome');
  const payload = { a: [], b: {}, n: [1, -5, 2 ** 40, 1.5], s: 'é😀', z: null, t: true };
  const res = await c.timeout(2000).emitWithAck('echo', payload, Buffer.from([0, 1, 2, 255]), { deep: [Buffer.from('xy')] });
  assert.deepEqual(res, payload); // emitWithAck resolves with the first ack argument
  const both = await new Promise((resolve) => c.emit('echo', 'one', Buffer.from('bin'), (...a) => resolve(a)));
  assert.equal(both[0], 'one');
  assert.ok(Buffer.isBuffer(both[1]));
  assert.equal(both[1].toString(), 'bin');
  const nested = await new Promise((resolve) => c.emit('echo', { deep: [Buffer.from('xy')] }, (...a) => resolve(a)));
  assert.equal(nested[0].deep[0].toString(), 'xy');
  const [types, n] = await new Promise((resolve) => c.emit('types', Buffer.from('q'), null, 1, 'x', {}, [], true, (...a) => resolve(a)));
  assert.deepEqual(types, ['buffer', 'null', 'number', 'string', 'table', 'table', 'boolean']);
  assert.equal(n, 8);
});

test('a handler error is logged and does not break the connection', async () => {
  const c = client();
  await once(c, 'welcome');
  c.emit('throw');
  const res = await c.timeout(2000).emitWithAck('echo', 'still here');
  assert.equal(res, 'still here');
  await waitFor(() => server.stderr().includes('expected error from an event handler'));
  assert.match(server.stderr(), /stack traceback/);
});

test('server emit with ack: answer, and timeout', async () => {
  const c = client();
  await once(c, 'welcome');
  c.on('question', (q, ack) => { if (q === 'answer me') ack('42'); });
  let answer = once(c, 'answer');
  assert.equal(await c.timeout(2000).emitWithAck('ask', 'answer me', 0), true);
  assert.deepEqual(await answer, [null, '42']);
  answer = once(c, 'answer');
  await c.timeout(2000).emitWithAck('ask', 'ignore me', 100);
  assert.deepEqual(await answer, ['timeout', null]);
});

test('a pending ack gets "socket disconnected" when the client leaves', async () => {
  const a = client();
  await once(a, 'welcome');
  a.on('question', () => {}); // never answers
  await a.timeout(2000).emitWithAck('ask', 'ignored', 0);
  a.disconnect();
  const b = client();
  await once(b, 'welcome');
  let last;
  await waitFor(() => {
    b.emit('last-answer', (v) => { last = v; });
    return last && last.err === 'socket disconnected';
  });
  assert.equal(typeof last.alive, 'boolean');
});

test('rooms, broadcast with except, fetch_sockets, socket data', async () => {
  const a = client();
  const b = client();
  const cc = client();
  await Promise.all([once(a, 'welcome'), once(b, 'welcome'), once(cc, 'welcome')]);
  const [roomsA] = await a.timeout(2000).emitWithAck('join', 'r1').then((x) => [x]);
  assert.deepEqual([...roomsA].sort(), [a.id, 'r1'].sort());
  await b.timeout(2000).emitWithAck('join', 'r1');
  await cc.timeout(2000).emitWithAck('join', 'r2');
  const got = { a: [], b: [], c: [] };
  a.on('room-msg', (m) => got.a.push(m));
  b.on('room-msg', (m) => got.b.push(m));
  cc.on('room-msg', (m) => got.c.push(m));
  await a.timeout(2000).emitWithAck('to-room', 'r1', 'hi r1');
  await a.timeout(2000).emitWithAck('to-room', 'r1', 'not for r2', 'r2');
  await a.timeout(2000).emitWithAck('to-room', 'r2', 'hi r2', b.id);
  await waitFor(() => got.a.length === 2 && got.b.length === 2 && got.c.length === 1);
  assert.deepEqual(got, { a: ['hi r1', 'not for r2'], b: ['hi r1', 'not for r2'], c: ['hi r2'] });
  const ids = await new Promise((resolve) => a.emit('fetch', 'r1', (err, list) => resolve([err, list])));
  assert.deepEqual(ids, [null, [a.id, b.id].sort()]);
  const data = await a.timeout(2000).emitWithAck('set-data', { user: 'ann', tags: [] });
  assert.deepEqual(data, { user: 'ann', tags: [] });
});

test('refused connections: refuse(err), refuse(string), a connect handler that raises', async () => {
  const bad = client({ auth: { token: 'bad' } });
  const [err] = await once(bad, 'connect_error');
  assert.equal(err.message, 'bad token');
  assert.deepEqual(err.data, { code: 1 });
  const priv = client({}, '/private');
  const [err2] = await once(priv, 'connect_error');
  assert.equal(err2.message, 'private namespace');
  const broken = client({}, '/broken');
  const [err3] = await once(broken, 'connect_error');
  assert.equal(err3.message, 'Internal server error');
});

test('after close a kept socket object is dead: methods return false/nil', async () => {
  const a = client();
  await once(a, 'welcome');
  await a.timeout(2000).emitWithAck('join', 'leaving-room');
  const id = a.id;
  a.emit('bye');
  await once(a, 'disconnect');
  const b = client();
  await once(b, 'welcome');
  const info = await b.timeout(2000).emitWithAck('last-closed');
  assert.equal(info.reason, 'server namespace disconnect');
  assert.equal(info.id_after_close, null);
  assert.equal(info.emit_after_close, false);
  assert.equal(info.alive, false);
  assert.deepEqual([...info.disconnecting_rooms].sort(), [id, 'leaving-room'].sort());
});

test('socket.io-client 2 (protocol 4) through the same bindings', async () => {
  const c = ioV2(base, { forceNew: true, reconnection: false, transports: ['websocket'] });
  clients.push(c);
  const [welcome] = await once(c, 'welcome');
  assert.equal(welcome.protocol, 4);
  const res = await new Promise((resolve) => c.emit('echo', 'v2', Buffer.from('b2'), (...a) => resolve(a)));
  assert.equal(res[0], 'v2');
  assert.equal(Buffer.from(res[1]).toString(), 'b2');
});

test('SIGHUP calls the Lua handler; SIGTERM stops gracefully with exit 0', async () => {
  const s = await startServer();
  s.proc.kill('SIGHUP');
  await waitFor(() => s.lines.includes('SIGHUP'));
  assert.equal(s.proc.exitCode, null);
  const t0 = Date.now();
  s.proc.kill('SIGTERM');
  const [code] = await exited(s.proc);
  assert.equal(code, 0);
  assert.ok(Date.now() - t0 < 5000);
});

test('SIGINT stops a server that has connected clients', async () => {
  const s = await startServer();
  const c = io(`http://127.0.0.1:${s.port}`, { forceNew: true, reconnection: false });
  clients.push(c);
  await once(c, 'welcome');
  const closed = once(c, 'disconnect');
  s.proc.kill('SIGINT');
  const [code] = await exited(s.proc);
  assert.equal(code, 0);
  await closed;
});

// After every test that uses it (node:test runs tests in order): a graceful stop after all the
// traffic above exits 0 without a sanitizer report (in a -DYOLK_SANITIZE build
// a leak or a use-after-free shows up here).
test('the fixture server stops cleanly after everything above', async () => {
  await new Promise((r) => setTimeout(r, 50));
  server.proc.kill('SIGTERM');
  const [code] = await exited(server.proc);
  assert.doesNotMatch(server.stderr(), /Sanitizer|runtime error/);
  assert.equal(code, 0);
});

test('a loop stuck in Lua: the second SIGINT ends the process', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-stuck-'));
  const file = path.join(dir, 'stuck.lua');
  fs.writeFileSync(file, 'require("yolk.core").timer(0, function() io.stdout:write("READY\\n") io.stdout:flush() while true do end end)');
  const p = spawn(yolk, ['lua', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  try {
    await waitFor(() => out.includes('READY'));
    p.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(p.exitCode, null); // the loop cannot run the graceful stop
    p.kill('SIGINT');
    const [, sig] = await exited(p);
    assert.equal(sig, 'SIGINT');
  } finally {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function run(args, opts = {}) {
  return spawnSync(yolk, args, { encoding: 'utf8', timeout: 10000, ...opts });
}

test('yolk lua: exit codes, arg, errors with tracebacks', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-lua-'));
  try {
    const w = (name, code) => { fs.writeFileSync(path.join(dir, name), code); return path.join(dir, name); };
    let r = run(['lua', w('ok.lua', 'print(arg[0] ~= nil, arg[1], arg[2], select("#", ...))'), 'x', 'y']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'true\tx\ty\t2\n');
    r = run(['lua', w('raise.lua', 'local function f() error("boom") end\nf()')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /boom/);
    assert.match(r.stderr, /stack traceback/);
    r = run(['lua', w('exit.lua', 'require("yolk.core").timer(10, function() os.exit(7) end)')]);
    assert.equal(r.status, 7);
    r = run(['lua', w('exit0.lua', 'os.exit(true) print("not reached")')]);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '');
    r = run(['lua', w('syntax.lua', 'this is not lua')]);
    assert.equal(r.status, 1);
    r = run(['lua', path.join(dir, 'missing.lua')]);
    assert.equal(r.status, 1);
    // the loop runs until no handle is left; core.stop() ends it early
    r = run(['lua', w('stop.lua', 'local c = require("yolk.core"); c.timer(1e6, function() end); c.timer(5, function() c.stop() print("stopped") end)')]);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'stopped\n');
    // the app's baseDir is not on package.path, the framework dir is
    r = run(['lua', w('path.lua', 'print(package.path:find("' + dir + '", 1, true) == nil)')], { cwd: dir });
    assert.equal(r.stdout, 'true\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('yolk command line: --version, --help, bad input, missing framework', () => {
  let r = run(['--version']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^yolk \d+\.\d+\.\d+/);
  r = run(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^usage: yolk dev /);
  assert.match(r.stdout, /yolk start .*--workers/);
  r = run(['frobnicate']);
  assert.equal(r.status, 2);
  r = run(['dev', '--baseDir', '/nonexistent/yolk-app']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nonexistent/);
  r = run(['start', '--port', 'abc']);
  assert.equal(r.status, 2);
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-nofw-'));
  try {
    r = run(['dev', '--baseDir', empty], { env: { ...process.env, YOLK_LUA_DIR: empty } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /yolk\.boot/);
    // a yolk.boot whose main raises: exit 1, message shown
    fs.mkdirSync(path.join(empty, 'yolk'));
    fs.writeFileSync(path.join(empty, 'yolk/boot.lua'), 'return { main = function(o) error("boot failed for " .. o.command .. " " .. o.baseDir) end }');
    r = run(['start', '--baseDir', empty], { env: { ...process.env, YOLK_LUA_DIR: empty } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /boot failed for start/);
    // main gets command, baseDir, port, env, framework_dir (and workers, sticky with --workers)
    fs.writeFileSync(path.join(empty, 'yolk/boot.lua'),
      'local core = require("yolk.core"); return { main = function(o) print(o.command, o.baseDir, o.port, o.env, o.framework_dir, o.workers, o.sticky, o.args) end }');
    r = run(['dev', '--baseDir', empty, '--port=7002', '--env', 'unittest'], { env: { ...process.env, YOLK_LUA_DIR: empty } });
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `dev\t${fs.realpathSync(empty)}\t7002\tunittest\t${empty}\tnil\tnil\tnil\n`);
    r = run(['start', '--baseDir', empty, '--workers=3', '--sticky'], { env: { ...process.env, YOLK_LUA_DIR: empty } });
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `start\t${fs.realpathSync(empty)}\tnil\tnil\t${empty}\t3\ttrue\tnil\n`);
    // nothing else passes: an unknown option is a usage error, before any Lua runs
    r = run(['dev', '--baseDir', empty, '--extra'], { env: { ...process.env, YOLK_LUA_DIR: empty } });
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /unknown option '--extra'/);
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});
