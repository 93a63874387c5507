// Hot reload under `yolk dev` (issue 5): the test edits the files of a running
// application (a copy of spec/reload_app in a temp directory); the watcher
// reloads it into a new generation; the SAME socket (same id, same rooms)
// sees the new behaviour. A broken file keeps the old code running and the log
// names the file and line; fixing it reloads. Changing the listen port says
// "restart required". Also: SIGHUP to `yolk start` reloads without a
// disconnect, and `yolk start` does not watch files.
//
// Reloads are awaited by watching the server's log for its reload line, not
// with fixed sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io as ioc } from 'socket.io-client';
import { buildDir, freePort, repoRoot, sleep } from './lib.mjs';

const YOLK = path.join(buildDir, 'yolk');
const FIXTURE = path.join(repoRoot, 'spec/reload_app');
const servers = [];
const clients = [];
const dirs = [];

// A copy of the fixture listening on a free port (set in its config, so that
// the test can change it), run with `yolk <command>`.
async function startApp(command, { broken } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-reload-dev-'));
  dirs.push(dir);
  fs.cpSync(FIXTURE, dir, { recursive: true });
  const port = await freePort();
  const cfg = path.join(dir, 'config/config.default.lua');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('port = 7001', `port = ${port}`));
  if (broken) broken(dir);
  const srv = { dir, port, out: '', url: `http://127.0.0.1:${port}` };
  srv.child = spawn(YOLK, [command, '--baseDir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  srv.child.stdout.on('data', (d) => { srv.out += d; });
  srv.child.stderr.on('data', (d) => { srv.out += d; });
  servers.push(srv);
  if (broken) return srv;
  for (let i = 0; i < 200; i++) {
    if (srv.child.exitCode !== null) break;
    try { if ((await fetch(`${srv.url}/log`)).ok) return srv; } catch {}
    await sleep(25);
  }
  throw new Error(`yolk ${command} did not start\n${srv.out}`);
}

after(async () => {
  for (const c of clients) c.close();
  for (const srv of servers) {
    if (srv.child.exitCode === null) {
      srv.child.kill('SIGTERM');
      await new Promise((r) => srv.child.on('exit', r));
    }
    assert.doesNotMatch(srv.out, /ERROR: AddressSanitizer|runtime error:|LeakSanitizer/, 'no sanitizer report');
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function connect(srv, nsp = '') {
  const s = ioc(srv.url + nsp, { transports: ['websocket'], forceNew: true, reconnection: false });
  clients.push(s);
  await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
  return s;
}

const ask = (s, ev, ...args) => s.timeout(2000).emitWithAck(ev, ...args);

// Run fn (which edits files or sends a signal), then wait until the log, from
// that point on, has a line matching re; returns that part of the log.
async function expectLog(srv, re, fn, ms = 5000) {
  const from = srv.out.length;
  await fn();
  const t0 = Date.now();
  while (!re.test(srv.out.slice(from))) {
    if (Date.now() - t0 > ms) assert.fail(`no log line matching ${re} within ${ms} ms; log since:\n${srv.out.slice(from)}`);
    await sleep(10);
  }
  return srv.out.slice(from);
}

function edit(srv, rel, from, to) {
  const f = path.join(srv.dir, rel);
  const text = fs.readFileSync(f, 'utf8');
  assert.ok(text.includes(from), `${rel} contains ${JSON.stringify(from)}`);
  fs.writeFileSync(f, text.replace(from, to));
}
const write = (srv, rel, text) => {
  fs.mkdirSync(path.dirname(path.join(srv.dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(srv.dir, rel), text);
};
const RELOADED = /INFO \[yolk\] reloaded \((.*) changed\) in [\d.]+ ms/;

test('yolk dev: edits reload the application; the same socket sees the new code', async () => {
  const srv = await startApp('dev');
  assert.match(srv.out, /watching app\/, config\/ and app\.lua for changes/);
  const s = await connect(srv);
  const id = s.id;
  let disconnected = false;
  s.on('disconnect', () => { disconnected = true; });
  assert.equal(await ask(s, 'join', 'keep'), true);
  assert.equal(await ask(s, 'hello'), 'hello v1');
  assert.equal(await ask(s, 'tag'), 'tag v1');
  assert.equal(await ask(s, 'greeting'), 'greeting v1');
  assert.equal(await ask(s, 'version'), 'lib v1');

  // a controller: the event answers something else; the log line names the file and the time
  let log = await expectLog(srv, RELOADED, () => edit(srv, 'app/io/controller/main.lua', "'hello v1'", "'hello v2'"));
  assert.match(log, /reloaded \(app\/io\/controller\/main\.lua changed\) in [\d.]+ ms/);
  assert.equal(await ask(s, 'hello'), 'hello v2');
  assert.equal(s.id, id);
  assert.equal(await ask(s, 'id'), id, 'the server knows the socket by the same id');
  assert.ok((await ask(s, 'rooms')).includes('keep'), 'rooms survive the reload');

  // a packet middleware: its tag changes
  await expectLog(srv, RELOADED, () => edit(srv, 'app/io/middleware/tag.lua', "'tag v1'", "'tag v2'"));
  assert.equal(await ask(s, 'tag'), 'tag v2');

  // a new route (socket event) in a new controller in a new sub-directory, and a new HTTP route
  assert.equal((await fetch(`${srv.url}/added`)).status, 404);
  await expectLog(srv, RELOADED, () => {
    write(srv, 'app/io/controller/extra/more.lua', "return { added = function(ctx) ctx.ack('added ' .. ctx.args[1]) end }\n");
    edit(srv, 'app/router.lua', "app.router:get('/log', app.controller.home.log)",
      "app.router:get('/log', app.controller.home.log)\n" +
      "  root:route('added', app.io.controller.extra.more.added)\n" +
      "  app.router:get('/added', function(ctx) ctx.body = 'new route' end)");
  });
  assert.equal(await ask(s, 'added', 'x'), 'added x');
  assert.equal(await (await fetch(`${srv.url}/added`)).text(), 'new route');

  // a file in the directory created above is watched too
  await expectLog(srv, RELOADED, () => edit(srv, 'app/io/controller/extra/more.lua', "'added '", "'added v2 '"));
  assert.equal(await ask(s, 'added', 'y'), 'added v2 y');

  // config: applied at once
  await expectLog(srv, RELOADED, () => edit(srv, 'config/config.default.lua', "'greeting v1'", "'greeting v2'"));
  assert.equal(await ask(s, 'greeting'), 'greeting v2');

  // a module the app require()s is loaded afresh
  await expectLog(srv, RELOADED, () => edit(srv, 'app/lib/version.lua', "'lib v1'", "'lib v2'"));
  assert.equal(await ask(s, 'version'), 'lib v2');

  // the connection middleware: the live socket's chain finishes in the code
  // it started with; a new connection runs the new code
  await expectLog(srv, RELOADED, () => edit(srv, 'app/io/middleware/conn.lua', /* before */ "'conn v1 before '", "'conn v2 before '"));
  await expectLog(srv, RELOADED, () => edit(srv, 'app/io/middleware/conn.lua', "'conn v1 after '", "'conn v2 after '"));
  // generateId is called through the running generation: its code reloads too
  await expectLog(srv, RELOADED, () => edit(srv, 'config/config.default.lua', "'v1-'", "'v2-'"));
  assert.match(id, /^v1-\d+$/);
  const s2 = await connect(srv);
  const id2 = s2.id;
  assert.match(id2, /^v2-\d+$/);
  s2.disconnect();
  assert.equal(await ask(s, 'hello'), 'hello v2');
  assert.ok(s.connected && !disconnected, 'the first socket never disconnected');
  assert.equal(s.id, id);
  s.disconnect();
  let events = [];
  for (let i = 0; i < 200; i++) {
    events = await (await fetch(`${srv.url}/log`)).json();
    if (events.includes(`conn v1 after ${id}`) && events.includes(`conn v2 after ${id2}`)) break;
    await sleep(10);
  }
  assert.ok(events.includes(`conn v1 before ${id}`), JSON.stringify(events));
  assert.ok(events.includes(`conn v1 after ${id}`), 'old chain finished in old code: ' + JSON.stringify(events));
  assert.ok(events.includes(`conn v2 before ${id2}`) && events.includes(`conn v2 after ${id2}`),
    'a new connection runs the new middleware: ' + JSON.stringify(events));
  assert.ok(!events.includes(`conn v2 after ${id}`));
});

test('yolk dev: packets in flight during reloads are all answered, each by one whole generation', async () => {
  const srv = await startApp('dev');
  const s = await connect(srv);
  let disconnected = false;
  s.on('disconnect', () => { disconnected = true; });
  const answers = [];
  let stop = false;
  // a client that keeps asking while the files change under it
  const pump = (async () => {
    while (!stop) {
      answers.push(...await Promise.all([ask(s, 'both'), ask(s, 'both'), ask(s, 'both')]));
    }
  })();
  for (let v = 2; v <= 6; v++) {
    // controller and middleware change together: every packet must see both old or both new
    await expectLog(srv, RELOADED, () => {
      edit(srv, 'app/io/controller/main.lua', `'hello v${v - 1}'`, `'hello v${v}'`);
      edit(srv, 'app/io/middleware/tag.lua', `'tag v${v - 1}'`, `'tag v${v}'`);
    });
    await sleep(30);
  }
  stop = true;
  await pump;
  assert.ok(answers.length > 10, `${answers.length} rounds`);
  const seen = new Set(answers);
  for (const a of seen) assert.match(a, /^tag v(\d) \+ hello v\1$/, 'one generation per packet');
  assert.equal(answers.at(-1), 'tag v6 + hello v6');
  assert.ok(seen.size >= 3, `several generations answered: ${[...seen].join(', ')}`);
  assert.ok(!disconnected && s.connected);
});

test('yolk dev: a broken file keeps the running code and names file and line; fixing it reloads', async () => {
  const srv = await startApp('dev');
  const s = await connect(srv);
  const id = s.id;
  await ask(s, 'join', 'keep');
  const good = fs.readFileSync(path.join(srv.dir, 'app/io/controller/main.lua'), 'utf8');

  // a syntax error
  let log = await expectLog(srv, /reload failed/, () =>
    write(srv, 'app/io/controller/main.lua', good.replace("'hello v1'", "'hello v2'").replace('function Main:tag()', 'function Main:tag(( ')));
  assert.match(log, /ERROR \[yolk\] reload failed \(app\/io\/controller\/main\.lua changed\), keeping the running code: .*main\.lua:10:/);
  assert.equal(await ask(s, 'hello'), 'hello v1', 'the previous generation keeps running');
  assert.ok(s.connected);

  // fixing it reloads
  await expectLog(srv, RELOADED, () => write(srv, 'app/io/controller/main.lua', good.replace("'hello v1'", "'hello v3'")));
  assert.equal(await ask(s, 'hello'), 'hello v3');

  // a runtime error while loading (at the top of a file)
  log = await expectLog(srv, /reload failed/, () =>
    write(srv, 'app/io/controller/broken.lua', "local x = 1\nerror('broken at load time')\nreturn {}\n"));
  assert.match(log, /broken\.lua:2: broken at load time/);
  assert.equal(await ask(s, 'hello'), 'hello v3');
  await expectLog(srv, RELOADED, () => fs.rmSync(path.join(srv.dir, 'app/io/controller/broken.lua')));

  // a middleware name that does not exist: the config file and line are named
  log = await expectLog(srv, /reload failed/, () =>
    edit(srv, 'config/config.default.lua', "packetMiddleware = { 'tag' }", "packetMiddleware = { 'nope' }"));
  assert.match(log, /config\.default\.lua:15: .*unknown middleware 'nope'/);
  assert.equal(await ask(s, 'tag'), 'tag v1', 'the old middleware chain still runs');
  await expectLog(srv, RELOADED, () =>
    edit(srv, 'config/config.default.lua', "packetMiddleware = { 'nope' }", "packetMiddleware = { 'tag' }"));
  assert.equal(await ask(s, 'tag'), 'tag v1');

  // an error in the router
  log = await expectLog(srv, /reload failed/, () =>
    edit(srv, 'app/router.lua', "root:route(ev, c[ev])", "root:route(ev, c[ev .. 'x'])"));
  assert.match(log, /router\.lua:\d+/);
  assert.equal(await ask(s, 'hello'), 'hello v3');
  await expectLog(srv, RELOADED, () => edit(srv, 'app/router.lua', "c[ev .. 'x']", 'c[ev]'));

  assert.equal(s.id, id);
  assert.ok(s.connected);
  assert.ok((await ask(s, 'rooms')).includes('keep'));
});

test('yolk dev: changing the listen port logs "restart required" and keeps listening where it was', async () => {
  const srv = await startApp('dev');
  const s = await connect(srv);
  const other = await freePort();
  const log = await expectLog(srv, RELOADED, () => edit(srv, 'config/config.default.lua', `port = ${srv.port}`, `port = ${other}`));
  assert.match(log, new RegExp(`WARN \\[yolk\\] restart required to apply cluster\\.listen\\.port \\(${srv.port} -> ${other}\\)`));
  assert.ok(s.connected);
  assert.equal(await ask(s, 'hello'), 'hello v1');
  assert.ok((await fetch(`${srv.url}/log`)).ok, 'still listening on the old port');
  await assert.rejects(fetch(`http://127.0.0.1:${other}/log`), 'not half-applied: nothing on the new port');
  // worker count: also restart-only
  const log2 = await expectLog(srv, RELOADED, () =>
    edit(srv, 'config/config.default.lua', "hostname = '127.0.0.1' }", "hostname = '127.0.0.1' }, workers = 4"));
  assert.match(log2, /restart required to apply .*cluster\.workers \(nil -> 4\)/);
});

test('yolk dev: an app that does not load at start-up waits for the fix, then starts', async () => {
  const main = 'app/io/controller/main.lua';
  let good;
  const srv = await startApp('dev', {
    broken: (dir) => {
      good = fs.readFileSync(path.join(dir, main), 'utf8');
      fs.writeFileSync(path.join(dir, main), good.replace('function Main:id()', 'function Main:id(('));
    },
  });
  await expectLog(srv, /waiting for a change in app\/, config\/ or app\.lua to start again/, () => {});
  assert.match(srv.out, /ERROR \[yolk\] cannot start the application: .*main\.lua:13:/);
  assert.equal(srv.child.exitCode, null, 'still running');
  // still broken: says so again
  await expectLog(srv, /cannot start the application: .*main\.lua:13: .*\(app\/io\/controller\/main\.lua changed\)/,
    () => fs.writeFileSync(path.join(srv.dir, main), good.replace('function Main:id()', 'function Main:id((( ')));
  await expectLog(srv, /listening on http:\/\/127\.0\.0\.1:\d+\/[\s\S]*watching app\//, () => fs.writeFileSync(path.join(srv.dir, main), good));
  const s = await connect(srv);
  assert.equal(await ask(s, 'hello'), 'hello v1');
  await expectLog(srv, RELOADED, () => edit(srv, main, "'hello v1'", "'hello v2'"));
  assert.equal(await ask(s, 'hello'), 'hello v2');
  s.close();
  // and a stop while waiting ends the process cleanly
  const other = await startApp('dev', { broken: (dir) => fs.writeFileSync(path.join(dir, 'app/router.lua'), 'return {{') });
  await expectLog(other, /waiting for a change/, () => {});
  other.child.kill('SIGTERM');
  const code = await new Promise((r) => other.child.on('exit', r));
  assert.equal(code, 0);
});

test('yolk start: SIGHUP reloads with no disconnect; files are not watched', async () => {
  const srv = await startApp('start');
  assert.doesNotMatch(srv.out, /watching/);
  const s = await connect(srv);
  const id = s.id;
  let disconnected = false;
  s.on('disconnect', () => { disconnected = true; });
  await ask(s, 'join', 'keep');
  edit(srv, 'app/io/controller/main.lua', "'hello v1'", "'hello v2'");
  edit(srv, 'app/io/middleware/tag.lua', "'tag v1'", "'tag v2'");
  await sleep(400); // longer than the dev watcher's debounce: nothing may happen
  assert.doesNotMatch(srv.out, /reloaded/);
  assert.equal(await ask(s, 'hello'), 'hello v1');
  const log = await expectLog(srv, /reloaded \(SIGHUP\) in [\d.]+ ms/, () => srv.child.kill('SIGHUP'));
  assert.doesNotMatch(log, /ERROR/);
  assert.match(log, /reloaded \(SIGHUP\) in [\d.]+ ms: app\/io\/controller\/main\.lua, app\/io\/middleware\/tag\.lua changed/,
    'the log says which files changed since the running generation was loaded');
  const log2 = await expectLog(srv, /reloaded \(SIGHUP\)/, () => srv.child.kill('SIGHUP'));
  assert.match(log2, /reloaded \(SIGHUP\) in [\d.]+ ms: no file changed/);
  assert.equal(await ask(s, 'hello'), 'hello v2');
  assert.equal(await ask(s, 'tag'), 'tag v2');
  assert.equal(s.id, id);
  assert.ok((await ask(s, 'rooms')).includes('keep'));
  assert.ok(s.connected && !disconnected);
});

// The demo app (the repo root) under yolk dev: a reload keeps the chat's
// members (app.shared) and the sockets; the reload time is reported.
test('yolk dev on the demo app: members survive a reload; reload time', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-reload-demo-'));
  dirs.push(dir);
  for (const f of ['app', 'config', 'public', 'package.json']) fs.cpSync(path.join(repoRoot, f), path.join(dir, f), { recursive: true });
  const port = await freePort();
  const srv = { dir, port, out: '', url: `http://127.0.0.1:${port}` };
  srv.child = spawn(YOLK, ['dev', '--baseDir', dir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  srv.child.stdout.on('data', (d) => { srv.out += d; });
  srv.child.stderr.on('data', (d) => { srv.out += d; });
  servers.push(srv);
  await expectLog(srv, /watching app\/, config\/ and app\.lua/, () => {});
  const join = async (nickname) => {
    const s = ioc(srv.url, { transports: ['websocket'], forceNew: true, reconnection: false, query: { room: 'demo', nickname } });
    clients.push(s);
    s.users = [];
    s.on('users', (m) => s.users.push(m.users.map((u) => u.nickname)));
    await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
    return s;
  };
  const a = await join('alice');
  const b = await join('bob');
  const times = [];
  for (let i = 0; i < 5; i++) {
    const log = await expectLog(srv, RELOADED, () =>
      fs.appendFileSync(path.join(dir, 'app/io/controller/nsp.lua'), `-- edit ${i}\n`));
    times.push(Number(log.match(/ in ([\d.]+) ms/)[1]));
  }
  times.sort((x, y) => x - y);
  t.diagnostic(`demo app reload: median ${times[2]} ms (min ${times[0]}, max ${times[4]}) over 5 reloads`);
  const c = await join('carol');
  for (let i = 0; i < 200 && !c.users.length; i++) await sleep(10);
  assert.deepEqual(c.users.at(-1), ['alice', 'bob', 'carol'], 'the members from before the reloads are still there');
  assert.ok(a.connected && b.connected);
});
