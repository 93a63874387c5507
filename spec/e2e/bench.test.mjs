// bench.test.mjs - the benchmark's harness works end to end: bench/run.mjs
// with tiny counts against every server it knows (yolk with bench/app, Node
// socket.io with bench/node_server.mjs, and bench-floor's `sio-c` and `eio-c`
// levels), on the phases every one of them serves. The clients check what
// they get back (the echoed payload, ack ids, the CONNECT and `welcome`, the
// churn's departure count), so a server that answers wrongly fails its phase
// and run.mjs exits non-zero. Nothing here looks at a figure: timing is the
// benchmark's business (`make bench`), not a test's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDir, repoRoot } from './lib.mjs';

function run(args) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(repoRoot, 'bench/run.mjs'), ...args],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('bench/run.mjs: every server answers every phase it serves', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yolk-bench-'));
  try {
    const json = path.join(dir, 'r.json');
    const servers = ['yolk', 'node', 'sio-c', 'eio-c'];
    const phases = ['echo8', 'echo1', 'ack', 'churn', 'polling'];
    const r = await run(['--servers', servers.join(','), '--phases', phases.join(','),
      '--yolk', path.join(buildDir, 'yolk'), '--pin', '0', '--out', json,
      '--echoClients', '10', '--echoK', '20', '--echo1K', '10', '--ackK', '10',
      '--churnCycles', '60', '--churnParallel', '4', '--pollClients', '5', '--pollK', '5']);
    assert.equal(r.code, 0, `run.mjs failed:\n${r.err.slice(-4000)}`);
    assert.doesNotMatch(r.out, /FAILED/);
    assert.deepEqual(r.out.split('\n')[0].split('|').map((c) => c.trim()).slice(2, 6), servers);
    const { results } = JSON.parse(readFileSync(json, 'utf8'));
    const ops = { echo8: 200, echo1: 100, ack: 100, churn: 60 };
    for (const s of servers) {
      for (const [phase, n] of Object.entries(ops)) {
        assert.equal(results[s][phase]?.[phase === 'churn' ? 'churn' : phase]?.ops, n, `${s} ${phase}`);
      }
      assert.equal(results[s].polling?.polling?.ops, 25, `${s} polling`);
      assert.equal(results[s].churn.churn.leftCount.got, results[s].churn.churn.leftCount.expected, `${s} churn departures`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench/run.mjs: the C servers skip the phases they do not serve', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yolk-bench-'));
  try {
    const json = path.join(dir, 'r.json');
    const r = await run(['--servers', 'eio-c', '--phases', 'idle,echo1', '--yolk', path.join(buildDir, 'yolk'),
      '--pin', '0', '--out', json, '--echoClients', '4', '--echo1K', '5']);
    assert.equal(r.code, 0, `run.mjs failed:\n${r.err.slice(-4000)}`);
    const { results } = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(results['eio-c'].idle, undefined);
    assert.equal(results['eio-c'].echo1.echo1.ops, 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
