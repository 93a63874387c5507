// Starts the demo app (the repository root) with the real yolk binary for the demo tests.
// YOLK_BUILD_DIR picks the build (default ./build). YOLK_DEMO_URL points the tests at an
// already running server instead (then nothing is started).
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

// A sanitizer build (YOLK_BUILD_DIR=build-asan) reports memory errors on stderr: fail on them.
export function assertNoSanitizerReport(output) {
  const m = /(ERROR: (Address|Leak)Sanitizer[^\n]*|runtime error:[^\n]*)/.exec(output);
  if (m) throw new Error(`sanitizer report from yolk: ${m[1]}\n${output.slice(-4000)}`);
}

// Returns { url, stop(), output() }; stop() resolves once the process is gone.
export async function startDemo({ env = 'unittest' } = {}) {
  if (process.env.YOLK_DEMO_URL) {
    return { url: process.env.YOLK_DEMO_URL.replace(/\/$/, ''), stop: async () => {}, output: () => '' };
  }
  const buildDir = path.resolve(process.env.YOLK_BUILD_DIR || path.join(repoRoot, 'build'));
  const port = await freePort();
  let out = '';
  const child = spawn(path.join(buildDir, 'yolk'),
    ['start', '--baseDir', repoRoot, '--port', String(port), '--env', env],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  const deadline = Date.now() + 15000;
  while (!(await canConnect(port))) {
    if (exited) throw new Error(`yolk exited (${JSON.stringify(exited)}) before listening:\n${out}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`yolk did not listen on ${port}:\n${out}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: () => new Promise((resolve) => {
      if (exited) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.on('exit', () => { clearTimeout(t); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}
