// Slow consumers (issue 12, part 1): a WebSocket client that completes the handshake and
// then stops reading must not make the server keep everything it is sent. Past
// maxBufferedBytes (8 MiB by default) the connection is closed with a logged reason and
// the socket leaves with reason "slow client"; every other client gets every message;
// the server's memory stays bounded. volatile emits are dropped for a connection that is
// behind instead of queued (RSS is bounded in the plain build only: see lib.mjs's
// sanitized). The fixture is spec/cluster_app ('flood' broadcasts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { assertNoSanitizerReport } from './demo_server.mjs';
import { repoRoot, sanitized, sleep, startYolk, stopYolk } from './lib.mjs';

const APP = path.join(repoRoot, 'spec/cluster_app');
const servers = [];
const closers = [];

after(async () => {
  for (const c of closers) c();
  for (const s of servers) {
    await stopYolk(s);
    assertNoSanitizerReport(s.out.text);
  }
});

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

const call = (s, ev, ...args) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ack for ${ev}`)), 60000);
  s.emit(ev, ...args, (...res) => { clearTimeout(t); resolve(res); });
});

// A raw WebSocket client that joins "/" and then stops reading: the kernel's buffers fill
// and the server's writes to it back up. Resolves with its socket id.
function stalledClient(server) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`);
    closers.push(() => ws.terminate());
    ws.on('error', reject);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('0')) ws.send('40');
      else if (text.startsWith('40')) {
        const sid = JSON.parse(text.slice(2)).sid;
        ws._socket.pause(); // stop reading
        ws.removeAllListeners('message');
        resolve({ ws, sid });
      }
    });
  });
}

test('a client that stops reading is cut at maxBufferedBytes; everyone else gets every message; memory stays bounded', async () => {
  const server = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_LOG_LEVEL: 'INFO' } });
  servers.push(server);
  const good = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  closers.push(() => good.close());
  await new Promise((resolve) => good.once('connect', resolve));
  const slow = await stalledClient(server);
  let got = 0;
  let bad = 0;
  good.on('flood', (i, payload) => {
    if (i !== got + 1 || payload.length !== 10240) bad++;
    got = i;
  });
  const before = rssKb(server.child.pid);
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, rssKb(server.child.pid)); }, 20);
  // 20,000 broadcasts of 10 KB, 200 MB for each client, asked for 100 at a time by the
  // healthy client as it receives them (a producer that outruns every consumer would
  // make every consumer slow; here only the stalled one is)
  for (let k = 1; k <= 200; k++) {
    await call(good, 'flood', 100, 10240, null, (k - 1) * 100);
    while (got < k * 100) await sleep(1);
  }
  clearInterval(sampler);
  assert.equal(bad, 0, 'every message in order, whole');
  const growthMb = (peak - before) / 1024;
  console.log(`server RSS ${before} kB before, ${peak} kB at the peak (+${growthMb.toFixed(1)} MB)`);
  if (!sanitized) assert.ok(growthMb < 50, `RSS grew by ${growthMb.toFixed(1)} MB`);
  assert.match(server.out.text, /WARN \[eio\] \S+ \(127\.0\.0\.1\): slow client: \d+ bytes queued \(maxBufferedBytes 8388608\); closing/);
  const [reasons] = await call(good, 'reasons');
  assert.equal(reasons[slow.sid], 'slow client');
  good.close();
});

test('volatile emits are dropped for a connection that is behind, not queued', async () => {
  const server = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_MAX_BUFFERED: '64mb' } });
  servers.push(server);
  const good = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  closers.push(() => good.close());
  await new Promise((resolve) => good.once('connect', resolve));
  const slow = await stalledClient(server);
  const before = rssKb(server.child.pid);
  // 5,000 volatile broadcasts of 10 KB (50 MB per client): the stalled one gets what its
  // kernel buffers hold, then nothing; memory does not follow
  await call(good, 'flood', 5000, 10240, true);
  const growthMb = (rssKb(server.child.pid) - before) / 1024;
  if (!sanitized) assert.ok(growthMb < 30, `RSS grew by ${growthMb.toFixed(1)} MB`);
  const [reasons] = await call(good, 'reasons');
  assert.equal(reasons[slow.sid], undefined, 'still connected: volatile never queued past the limit');
  good.close();
});

test('a polling session that stops polling is cut at maxBufferedBytes too', async () => {
  const server = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_MAX_BUFFERED: '1mb' } });
  servers.push(server);
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const sid = JSON.parse(open.slice(1)).sid;
  await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40' });
  const ack = await (await fetch(`${base}&sid=${sid}`)).text(); // the CONNECT answer; no GET after it
  const socketId = JSON.parse(ack.slice(ack.indexOf('{'))).sid;
  const good = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  closers.push(() => good.close());
  await new Promise((resolve) => good.once('connect', resolve));
  let got = 0;
  good.on('flood', (i) => { got = i; });
  for (let k = 1; k <= 20; k++) {
    await call(good, 'flood', 10, 10240, null, (k - 1) * 10);
    while (got < k * 10) await sleep(1);
  }
  const [reasons] = await call(good, 'reasons');
  assert.equal(reasons[socketId], 'slow client');
  assert.match(server.out.text, /slow client: \d+ bytes queued \(maxBufferedBytes 1048576\)/);
  // the session is gone
  const after = await fetch(`${base}&sid=${sid}`);
  assert.equal(after.status, 400);
  good.close();
});
