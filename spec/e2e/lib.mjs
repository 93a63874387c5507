// Helpers shared by the end-to-end tests. Not a test file itself: `node --test
// spec/e2e/` runs only the *.test.mjs files here.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The build with the binaries under test: $YOLK_BUILD_DIR (relative to the
// repository root), default ./build.
export const buildDir = path.resolve(repoRoot, process.env.YOLK_BUILD_DIR || 'build');
// A sanitizer build (-DYOLK_SANITIZE=ON): ASan keeps freed memory in quarantine (256 MB by
// default), so RSS figures say nothing there; tests that bound RSS check it in the plain build.
export const sanitized = (() => {
  try { return /^YOLK_SANITIZE:BOOL=ON$/m.test(fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8')); }
  catch { return false; }
})();

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves with fn()'s first truthy value, polling every 50 ms; rejects after ms.
export async function until(fn, ms = 8000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const YOLK = path.join(buildDir, 'yolk');

// Every yolk started here dies with the test process, whatever happens.
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

// Starts `yolk <command> ARGS --port <free>` from the repository root, collecting
// its output in server.out.text; resolves once GET /hello/ready answers (the
// fixture app spec/app has that route), unless waitReady is false.
export async function startYolk(args, { waitReady = true, command = 'start', env = {} } = {}) {
  const port = await freePort();
  const child = spawn(YOLK, [command, ...args, '--port', String(port)], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, YOLK_ENV: '', ...env },
  });
  children.add(child);
  const out = { text: '' };
  child.stdout.on('data', (d) => { out.text += d; });
  child.stderr.on('data', (d) => { out.text += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  const server = { child, port, out, exited, url: `http://127.0.0.1:${port}` };
  if (!waitReady) return server;
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      const r = await fetch(`${server.url}/hello/ready`);
      if (r.ok) break;
    } catch {}
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`yolk did not start:\n${out.text}`);
    }
    await sleep(50);
  }
  return server;
}

// Resolves once server.out.text (the output so far) matches re, with the
// match; rejects after ms, or when the process exits first.
export async function waitForOutput(server, re, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(server.out.text);
    if (m) return m;
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`yolk exited before printing ${re}:\n${server.out.text.slice(-4000)}`);
    }
    if (Date.now() > deadline) throw new Error(`yolk did not print ${re} within ${ms} ms:\n${server.out.text.slice(-4000)}`);
    await sleep(25);
  }
}

// `yolk start --workers N ...`: starts the master like startYolk and resolves
// once it says every worker is ready. server.workers() maps each worker
// number to the pid it was last reported ready with.
export async function startCluster(args, opts = {}) {
  const server = await startYolk(args, { ...opts, waitReady: false });
  await waitForOutput(server, /\[master\/cluster\] \d+ workers? ready on /, opts.timeout || 15000);
  server.workers = () => {
    const pids = {};
    for (const m of server.out.text.matchAll(/\[master\/cluster\] worker (\d+) \(pid (\d+)\) ready/g)) {
      pids[m[1]] = Number(m[2]);
    }
    return pids;
  };
  return server;
}

// A sanitizer build (YOLK_BUILD_DIR=build-asan) reports on stderr: none may appear.
export function sanitizerReport(text) {
  const m = /(ERROR: (Address|Leak)Sanitizer[^\n]*|runtime error:[^\n]*)/.exec(text);
  return m ? m[1] : null;
}

// SIGTERM, then SIGKILL after 3 s; resolves when the process is gone.
export async function stopYolk(server) {
  if (!server || server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  const t = setTimeout(() => server.child.kill('SIGKILL'), 3000);
  await server.exited;
  clearTimeout(t);
}

// Starts Debian's redis-server on a free loopback port, with no persistence
// and nothing else listening (a fresh, empty instance per call). Resolves
// with { port, url, stop(), restart() }: stop() ends it (SIGTERM, then
// SIGKILL), restart() starts it again on the same port (for tests of a
// Redis that goes away and comes back). It dies with the test process.
export async function startRedis() {
  const port = await freePort();
  const r = { port, url: `redis://127.0.0.1:${port}`, child: null, out: { text: '' } };
  r.start = async () => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.stdout.on('data', (d) => { r.out.text += d; });
    child.stderr.on('data', (d) => { r.out.text += d; });
    r.exited = new Promise((resolve) => child.on('exit', () => { children.delete(child); resolve(); }));
    r.child = child;
    const deadline = Date.now() + 10000;
    for (;;) {
      const ok = await new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => { s.end('PING\r\n'); });
        s.on('data', (d) => { resolve(d.toString().startsWith('+PONG')); s.destroy(); });
        s.on('error', () => resolve(false));
      });
      if (ok) return r;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${r.out.text}`);
      await sleep(50);
    }
  };
  r.stop = async () => {
    if (!r.child || r.child.exitCode !== null) return;
    r.child.kill('SIGTERM');
    const t = setTimeout(() => r.child.kill('SIGKILL'), 3000);
    await r.exited;
    clearTimeout(t);
  };
  r.restart = async () => { await r.stop(); return r.start(); };
  return r.start();
}
