// The README's "Your first app" walk-through, kept true: the README shows
// the files of docs/first-app exactly (every file, every line), and running
// the README's client snippet (docs/first-app/client.mjs) against
// `yolk start` on a copy of that folder prints what the README says it does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, sleep, startYolk, stopYolk } from './lib.mjs';

const DIR = path.join(repoRoot, 'docs/first-app');

// The README's "Your first app" section: its code blocks, each as
// { lang, text }.
function walkthrough() {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Your first app\n');
  assert.ok(start >= 0, 'README has a "Your first app" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], text: m[2] }));
}

// The .lua and .mjs files below dir, as paths relative to it (not logs/,
// left there by a run by hand).
function files(dir, rel = '') {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(dir, path.join(rel, e.name))
      : /\.(lua|mjs)$/.test(e.name) ? [path.join(rel, e.name)] : []).sort();
}

test('the README shows each file of docs/first-app as it is', () => {
  const shown = {};
  for (const b of walkthrough()) {
    // a file's block starts with a comment naming it: -- app/router.lua, // client.mjs
    const m = b.text.match(/^(?:--|\/\/) ([\w./-]+\.(?:lua|mjs))\n/);
    if (m) shown[m[1]] = b.text;
  }
  assert.deepEqual(Object.keys(shown).sort(), files(DIR));
  for (const [rel, text] of Object.entries(shown)) {
    assert.equal(text, fs.readFileSync(path.join(DIR, rel), 'utf8'), `README block for ${rel}`);
  }
});

test("the walk-through's app runs and the client prints what the README says", async () => {
  const expected = walkthrough().find((b) => b.lang === 'text' && b.text.startsWith('Ann bids'));
  assert.ok(expected, 'the README shows what client.mjs prints');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-first-app-'));
  let srv;
  try {
    fs.cpSync(DIR, dir, { recursive: true });
    srv = await startYolk(['--baseDir', dir], { waitReady: false });
    const deadline = Date.now() + 10000;
    while (!/listening on http/.test(srv.out.text)) {
      assert.ok(srv.child.exitCode === null && Date.now() < deadline, `yolk did not start:\n${srv.out.text}`);
      await sleep(25);
    }
    const child = spawn(process.execPath, [path.join(DIR, 'client.mjs')], {
      env: { ...process.env, URL: srv.url }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), 10000);
    const code = await new Promise((resolve) => child.on('exit', resolve));
    clearTimeout(t);
    assert.equal(code, 0, out);
    assert.equal(out, expected.text);
    // the refusal and the departures are in the server's log
    await sleep(100);
    assert.match(srv.out.text, /INFO .*connection to \/auction refused: a name is required \(app\/io\/middleware\/auth\.lua:7\)/);
    assert.match(srv.out.text, /INFO .*Ann left \(client namespace disconnect\)/);
    assert.doesNotMatch(srv.out.text, /ERROR|WARN/);
  } finally {
    await stopYolk(srv);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
