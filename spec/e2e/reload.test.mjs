// Reloading a running application (SIGHUP to `yolk start`): a new generation
// of the Lua code is loaded and swapped in; sockets stay connected with the
// same ids and rooms; a failed reload keeps the running code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as ioc } from 'socket.io-client';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const YOLK = path.join(path.resolve(ROOT, process.env.YOLK_BUILD_DIR || 'build'), 'yolk');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

let dir, child, port, out = '';
const sockets = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-reload-'));
  fs.cpSync(path.join(ROOT, 'spec/app'), dir, { recursive: true, filter: (p) => !p.includes('/logs') });
  port = await freePort();
  child = spawn(YOLK, ['start', '--baseDir', dir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/env`)).ok) return; } catch {}
    await sleep(50);
  }
  throw new Error('yolk did not start\n' + out);
});

after(async () => {
  for (const s of sockets) s.close();
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function edit(rel, from, to) {
  const f = path.join(dir, rel);
  const text = fs.readFileSync(f, 'utf8');
  assert.ok(text.includes(from), `${rel} contains ${from}`);
  fs.writeFileSync(f, text.replace(from, to));
}

async function reload(expect) {
  const before = out.length;
  child.kill('SIGHUP');
  for (let i = 0; i < 100 && !expect.test(out.slice(before)); i++) await sleep(20);
  assert.match(out.slice(before), expect);
}

test('SIGHUP swaps in new code; sockets keep ids and rooms; a failed reload keeps the old code', async () => {
  const url = `http://127.0.0.1:${port}`;
  const s = ioc(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  const m = ioc(url + '/mw', { transports: ['websocket'], forceNew: true, reconnection: false });
  sockets.push(s, m);
  await Promise.all([new Promise((r) => s.on('connect', r)), new Promise((r) => m.on('connect', r))]);
  const id = s.id;
  await s.emitWithAck('join', 'keep');
  assert.deepEqual(await s.emitWithAck('fast'), 'fast done');

  edit('app/io/controller/default.lua', "self.ctx.ack('fast done')", "self.ctx.ack('fast v2')");
  edit('app/router.lua', "app.router:get('/env', app.controller.home.env)",
    "app.router:get('/env', app.controller.home.env)\n  app.router:get('/added', function(ctx) ctx.body = 'new route' end)");
  edit('app/io/middleware/trace.lua', "'trace after '", "'trace v2 after '");
  await reload(/reloaded \(SIGHUP\)/);

  assert.equal(await s.emitWithAck('fast'), 'fast v2');
  assert.equal(s.id, id);
  assert.ok(s.connected);
  assert.ok((await s.emitWithAck('rooms')).includes('keep'));
  assert.equal(await (await fetch(`${url}/added`)).text(), 'new route');

  // the /mw connection's middleware chain started in the old generation and
  // finishes there; a new connection uses the new middleware
  const mid = m.id;
  m.disconnect();
  let ev = [];
  for (let i = 0; i < 100 && !ev.some((e) => e.startsWith('trace')) ; i++) {
    ev = await (await fetch(`${url}/events/${mid}`)).json();
    if (!ev.some((e) => e.startsWith('trace after') || e.startsWith('trace v2'))) await sleep(20);
  }
  assert.ok(ev.includes('trace after client namespace disconnect'), JSON.stringify(ev));

  fs.writeFileSync(path.join(dir, 'app/io/controller/default.lua'), 'return {{{\n');
  await reload(/reload failed.*default\.lua:\d+/);
  assert.equal(await s.emitWithAck('fast'), 'fast v2', 'the previous generation keeps running');
  assert.ok(s.connected);
});
