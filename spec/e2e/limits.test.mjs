// The limits yolk adds (README "Limits"), each crossed: Engine.IO sessions and handshakes
// per client address, namespaces per client, HTTP header size and time. (Message size,
// JSON depth, attachments and body size are crossed in bad_input.test.mjs, slow clients
// in slow_client.test.mjs.) The fixture is spec/cluster_app, its limits set by env vars.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { io } from 'socket.io-client';
import { assertNoSanitizerReport } from './demo_server.mjs';
import { repoRoot, sleep, startYolk, stopYolk } from './lib.mjs';

const APP = path.join(repoRoot, 'spec/cluster_app');
const servers = [];
after(async () => {
  for (const s of servers) {
    await stopYolk(s);
    assertNoSanitizerReport(s.out.text);
  }
});

async function start(env) {
  const s = await startYolk(['--baseDir', APP], { env });
  servers.push(s);
  return s;
}

// An Engine.IO v4 polling handshake: { status, sid, body }.
async function handshake(server) {
  const r = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  const body = await r.text();
  return { status: r.status, body, sid: r.status === 200 ? JSON.parse(body.slice(1)).sid : null };
}

test('maxClientsPerAddress: open sessions from one address are counted; one more is refused with 403', async () => {
  const server = await start({ YOLK_TEST_MAX_CLIENTS_PER_ADDRESS: '3' });
  const open = [];
  for (let i = 0; i < 3; i++) {
    const h = await handshake(server);
    assert.equal(h.status, 200);
    open.push(h.sid);
  }
  const refused = await handshake(server);
  assert.equal(refused.status, 403);
  assert.deepEqual(JSON.parse(refused.body), { code: 4, message: 'Forbidden' });
  assert.match(server.out.text, /WARN \[eio\] 127\.0\.0\.1: handshake refused \(maxClientsPerAddress\)/);
  // a WebSocket handshake is refused as well
  const ws = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise((resolve) => ws.once('connect_error', resolve));
  ws.close();
  // one session closes (the client says so): room for one more
  await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${open[0]}`, { method: 'POST', body: '1' });
  await sleep(100);
  assert.equal((await handshake(server)).status, 200);
});

test('maxHandshakesPerSecond: the next handshake in the same second is refused, the one after a second is not', async () => {
  const server = await start({ YOLK_TEST_MAX_HANDSHAKES: '5' });
  let ok = 0;
  let refused = 0;
  for (let i = 0; i < 8; i++) {
    const h = await handshake(server);
    if (h.status === 200) ok++;
    else if (h.status === 403) refused++;
  }
  assert.ok(ok >= 5 && ok <= 6, `${ok} accepted`); // a second boundary may fall inside the loop
  assert.equal(ok + refused, 8);
  await sleep(1100);
  assert.equal((await handshake(server)).status, 200);
  assert.match(server.out.text, /handshake refused \(maxHandshakesPerSecond\)/);
});

test('maxNamespaces: a client already in that many namespaces gets CONNECT_ERROR for one more', async () => {
  const server = await start({ YOLK_TEST_MAX_NAMESPACES: '1' });
  const root = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise((resolve) => root.once('connect', resolve));
  const chat = root.io.socket('/chat');
  const err = await new Promise((resolve) => chat.once('connect_error', resolve));
  assert.equal(err.message, 'Too many namespaces');
  assert.equal(root.connected, true);
  root.close();
  for (let i = 0; i < 50 && !/maxNamespaces/.test(server.out.text); i++) await sleep(20); // the log line's pipe
  assert.match(server.out.text, /CONNECT to \/chat refused: already in 1 namespaces \(maxNamespaces\)/);
});

// Raw HTTP: sends text, resolves with what came back when the server closes or after ms.
function raw(server, text, ms = 3000) {
  return new Promise((resolve) => {
    const s = net.connect(server.port, '127.0.0.1');
    let out = '';
    const t0 = Date.now();
    s.on('connect', () => s.write(text));
    s.on('data', (d) => { out += d; });
    const done = () => resolve({ text: out, ms: Date.now() - t0 });
    s.on('close', done);
    s.on('error', () => {});
    setTimeout(() => { s.destroy(); }, ms);
  });
}

test('http.maxHeaderSize, headerTimeout, keepAliveTimeout: 431 past the size, 408 past the time, idle connections closed', async () => {
  const server = await start({ YOLK_TEST_MAX_HEADER_SIZE: '2kb', YOLK_TEST_HEADER_TIMEOUT: '300',
    YOLK_TEST_KEEPALIVE_TIMEOUT: '400' });
  const big = await raw(server, `GET /hello/ready HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(3000)}\r\n\r\n`);
  assert.match(big.text, /^HTTP\/1\.1 431 /);
  const small = await raw(server, `GET /hello/ready HTTP/1.1\r\nHost: x\r\nX-Small: ${'a'.repeat(1000)}\r\n\r\n`, 500);
  assert.match(small.text, /^HTTP\/1\.1 200 /);
  const slow = await raw(server, 'GET /hello/ready HTTP/1.1\r\nHost: x\r\n');
  assert.match(slow.text, /^HTTP\/1\.1 408 /);
  assert.ok(slow.ms >= 250 && slow.ms < 2000, `${slow.ms} ms`);
  // a keep-alive connection left idle after its response is closed by the server
  const idle = await raw(server, 'GET /hello/ready HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
  assert.match(idle.text, /^HTTP\/1\.1 200 /);
  assert.ok(idle.ms >= 350 && idle.ms < 3000, `closed after ${idle.ms} ms`);
});
