// Bad input, end to end: `yolk start` on spec/app gets malformed HTTP,
// WebSocket, Engine.IO and Socket.IO input over raw TCP / raw WebSocket /
// HTTP while one healthy socket.io-client 4 connection stays connected.
// Each case checks the protocol's error reply (or a close of that one
// connection), that the server still runs, that the healthy client still gets
// its ack, and, where the core refuses the input, a WARN line naming it.
// Run: node --test spec/e2e/bad_input.test.mjs (binary from $YOLK_BUILD_DIR;
// with a YOLK_SANITIZE build, the final SIGTERM check also catches memory errors)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { io as ioc } from 'socket.io-client';
import WebSocket from 'ws';
import { sleep, startYolk } from './lib.mjs';

let server;
let healthy;

function ack(socket, ev, ...args) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ack for ${ev}`)), 3000);
    socket.emit(ev, ...args, (...res) => { clearTimeout(t); resolve(res); });
  });
}

// The server still runs and the healthy connection still round-trips.
let pings = 0;
async function stillHealthy() {
  assert.equal(server.child.exitCode, null, 'server process is alive');
  assert.equal(server.child.signalCode, null, 'server process is alive');
  assert.ok(healthy.connected, 'healthy client still connected');
  const tag = `ping-${++pings}`;
  assert.deepEqual(await ack(healthy, 'message-with-ack', tag), [tag]);
}

// Waits for a log line (after the mark) matching re.
async function logLine(mark, re, ms = 2000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const lines = server.out.text.slice(mark).split('\n');
    const hit = lines.find((l) => re.test(l));
    if (hit) return hit;
    if (Date.now() > deadline) {
      assert.fail(`no log line matching ${re} in:\n${server.out.text.slice(mark)}`);
    }
    await sleep(20);
  }
}
const mark = () => server.out.text.length;
const WARN = (what) => new RegExp(`WARN .*${what}`);

// ---- raw TCP -----------------------------------------------------------------------------

// Writes chunks (strings/Buffers), collects the answer until the server closes
// (or ms pass). Resolves { text, buf, closed }.
function raw(chunks, { ms = 2000, endAfter = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1');
    const parts = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      sock.destroy();
      const buf = Buffer.concat(parts);
      resolve({ buf, text: buf.toString('latin1'), closed });
    };
    const t = setTimeout(() => finish(false), ms);
    sock.on('data', (d) => parts.push(d));
    sock.on('close', () => finish(true));
    sock.on('error', (e) => { if (e.code === 'ECONNRESET' || e.code === 'EPIPE') finish(true); else reject(e); });
    sock.on('connect', async () => {
      for (const c of [].concat(chunks)) {
        if (sock.destroyed) break;
        sock.write(c);
        await sleep(5);
      }
      if (endAfter) sock.end();
    });
  });
}
const statusOf = (text) => Number((/^HTTP\/1\.1 (\d{3})/.exec(text) || [])[1]);

// ---- raw WebSocket -------------------------------------------------------------------------

function frame(opcode, payload, { fin = true, mask = true, rsv = 0, len } = {}) {
  payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const n = len ?? payload.length;
  let head;
  if (n < 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, (mask ? 0x80 : 0) | n]);
  } else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = (fin ? 0x80 : 0) | rsv | opcode; head[1] = (mask ? 0x80 : 0) | 126; head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | rsv | opcode; head[1] = (mask ? 0x80 : 0) | 127; head.writeBigUInt64BE(BigInt(n), 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  const key = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([head, key, body]);
}

// Server frames (unmasked) in buf.
function parseFrames(buf) {
  const out = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const op = buf[i] & 0x0f;
    let n = buf[i + 1] & 0x7f;
    let h = 2;
    if (n === 126) { n = buf.readUInt16BE(i + 2); h = 4; } else if (n === 127) { n = Number(buf.readBigUInt64BE(i + 2)); h = 10; }
    if (i + h + n > buf.length) break;
    out.push({ op, payload: buf.subarray(i + h, i + h + n) });
    i += h + n;
  }
  return out;
}

const WS_HEAD = (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const EIO_WS = '/socket.io/?EIO=4&transport=websocket';

// Opens a raw Engine.IO websocket, sends frames after the handshake, and
// returns the close code the server sent (or null) and whether it closed.
async function rawWsClose(frames, ms = 2000) {
  const r = await raw([WS_HEAD(EIO_WS), ...[].concat(frames)], { ms });
  const i = r.buf.indexOf('\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 101/);
  const fr = parseFrames(r.buf.subarray(i + 4));
  const close = fr.find((f) => f.op === 8);
  return { closed: r.closed, code: close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : null, frames: fr };
}

// ---- Engine.IO / Socket.IO over `ws` ---------------------------------------------------

// An Engine.IO v4 websocket session; with nsp, also a Socket.IO CONNECT to it.
function eioWs({ nsp = '/', query = 'EIO=4' } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?${query}&transport=websocket`);
    const msgs = [];
    const waiters = [];
    ws.closed = new Promise((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (d, isBinary) => {
      const m = isBinary ? d : d.toString();
      if (m === '2') { ws.send('3'); return; } // answer the heartbeat
      msgs.push(m);
      for (const w of waiters.splice(0)) w();
    });
    ws.next = async (pred, ms = 2000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = msgs.findIndex(pred);
        if (i >= 0) return msgs.splice(i, 1)[0];
        if (Date.now() > deadline) throw new Error(`no matching message; have ${JSON.stringify(msgs)}`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
      }
    };
    ws.on('error', reject);
    ws.on('open', async () => {
      try {
        ws.openPacket = await ws.next((m) => typeof m === 'string' && m[0] === '0');
        if (nsp) {
          ws.send(nsp === '/' ? '40' : `40${nsp},`);
          await ws.next((m) => typeof m === 'string' && m.startsWith(nsp === '/' ? '40{' : `40${nsp},{`));
        }
        resolve(ws);
      } catch (e) { reject(e); }
    });
  });
}

// Sends each message, expects the server to close that connection.
async function expectClosed(ws, msgs, ms = 2000) {
  for (const m of [].concat(msgs)) ws.send(m);
  const code = await Promise.race([ws.closed, sleep(ms).then(() => 'open')]);
  assert.notEqual(code, 'open', 'the server closes the connection');
  return code;
}

async function pollingHandshake(eio = 4) {
  const r = await fetch(`${server.url}/socket.io/?EIO=${eio}&transport=polling`);
  const t = await r.text();
  const sid = /"sid":"([^"]+)"/.exec(t)[1];
  return sid;
}

before(async () => {
  server = await startYolk(['--baseDir', 'spec/app']);
  healthy = ioc(server.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  await new Promise((resolve, reject) => {
    healthy.once('connect', resolve);
    healthy.once('connect_error', reject);
  });
});

after(async () => {
  healthy?.close();
  if (!server || server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  const t = setTimeout(() => server.child.kill('SIGKILL'), 5000);
  const { code, signal } = await server.exited;
  clearTimeout(t);
  assert.equal(signal, null, `server exited on SIGTERM cleanly\n${server.out.text.slice(-3000)}`);
  assert.equal(code, 0, `server exited 0\n${server.out.text.slice(-3000)}`);
  const bad = server.out.text.split('\n').filter((l) =>
    /ERROR \[lua\]|AddressSanitizer|LeakSanitizer|runtime error:|PANIC|Segmentation/.test(l));
  assert.deepEqual(bad, [], 'no framework or memory errors in the server log');
});

// ---- HTTP --------------------------------------------------------------------------------

test('HTTP: garbage request line -> 400, connection closed, WARN', async () => {
  const m = mark();
  const r = await raw('\x00\x01GARBAGE \xff\xfe nonsense\r\n\r\n');
  assert.equal(statusOf(r.text), 400);
  assert.ok(r.closed);
  await logLine(m, WARN('malformed request'));
  await stillHealthy();
});

test('HTTP: request line without version / bad method -> 400', async () => {
  for (const req of ['FOO@BAR / HTTP/1.1\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET / HTTP/1.1\r\nHost x\r\n\r\n']) {
    const m = mark();
    const r = await raw(req);
    assert.equal(statusOf(r.text), 400, JSON.stringify(req) + ' -> ' + r.text);
    assert.ok(r.closed);
    await logLine(m, WARN('malformed request'));
  }
  // no version at all is HTTP/0.9 to llhttp: refused with 505, not served
  const m = mark();
  const r = await raw('GET /\r\n\r\n');
  assert.equal(statusOf(r.text), 505, r.text);
  assert.ok(r.closed);
  await logLine(m, WARN('HTTP/0.9 request'));
  await stillHealthy();
});

test('HTTP: oversized headers -> 431, WARN', async () => {
  const m = mark();
  const r = await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
  assert.equal(statusOf(r.text), 431);
  assert.ok(r.closed);
  await logLine(m, WARN('request head over'));
  // many small headers too
  const m2 = mark();
  let many = 'GET / HTTP/1.1\r\nHost: x\r\n';
  for (let i = 0; i < 3000; i++) many += `X-H${i}: v\r\n`;
  const r2 = await raw(many + '\r\n');
  assert.equal(statusOf(r2.text), 431);
  await logLine(m2, WARN('request head over'));
  await stillHealthy();
});

test('HTTP: huge Content-Length -> 413, WARN', async () => {
  for (const cl of ['99999999999', '18446744073709551615']) {
    const m = mark();
    const r = await raw(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${cl}\r\n\r\nabc`);
    assert.equal(statusOf(r.text), 413, cl + ' -> ' + r.text);
    assert.ok(r.closed);
    await logLine(m, WARN('request body over'));
  }
  // beyond 64 bits: a parse error
  const m = mark();
  const r = await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999999999999\r\n\r\n');
  assert.ok([400, 413].includes(statusOf(r.text)), r.text);
  await logLine(m, /WARN .*(malformed request|request body over)/);
  // negative / two different lengths
  for (const h of ['Content-Length: -1', 'Content-Length: 5\r\nContent-Length: 6']) {
    const m3 = mark();
    const r3 = await raw(`POST /echo HTTP/1.1\r\nHost: x\r\n${h}\r\n\r\nhello`);
    assert.equal(statusOf(r3.text), 400, h + ' -> ' + r3.text);
    await logLine(m3, WARN('malformed request'));
  }
  await stillHealthy();
});

test('HTTP: bad chunked encoding -> 400, WARN', async () => {
  const bodies = [
    'zz\r\nabc\r\n0\r\n\r\n', // size not hex
    // (a chunk longer than its size, '3\r\nabcdef\r\n', is not refused by the
    // llhttp of Debian 12: it skips the two bytes after the data, reads 'ef' as
    // the next size and waits for the body until the 408 timeout)
    'fffffffffffffffffffff\r\n', // size overflow
    '3\r\nabc0\r\n\r\n', // missing CRLF after data
  ];
  for (const b of bodies) {
    const m = mark();
    const r = await raw(`POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${b}`);
    assert.equal(statusOf(r.text), 400, JSON.stringify(b) + ' -> ' + r.text);
    assert.ok(r.closed);
    await logLine(m, WARN('malformed request'));
  }
  // a huge announced chunk: refused as too large (or malformed), never buffered
  const m = mark();
  const r = await raw('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n' + 'x'.repeat(2000));
  const st = statusOf(r.text);
  assert.ok(st === 413 || st === 400 || (!r.closed && r.text === ''), `answer ${r.text}`);
  if (st) await logLine(m, /WARN .*(request body over|malformed request)/);
  // Content-Length together with chunked
  const m2 = mark();
  const r2 = await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  assert.equal(statusOf(r2.text), 400, r2.text);
  await logLine(m2, WARN('malformed request'));
  await stillHealthy();
});

test('HTTP: Engine.IO request errors -> 400 with the JSON code', async () => {
  const cases = [
    ['EIO=4&transport=polling&sid=nope', 1, 'Session ID unknown'],
    ['EIO=9&transport=polling', 5, 'Unsupported protocol version'],
    ['EIO=abc&transport=polling', 5, 'Unsupported protocol version'],
    ['transport=polling', 5, 'Unsupported protocol version'],
    ['EIO=4&transport=carrier-pigeon', 0, 'Transport unknown'],
    ['EIO=4', 0, 'Transport unknown'],
  ];
  for (const [q, code, message] of cases) {
    const m = mark();
    const r = await fetch(`${server.url}/socket.io/?${q}`);
    assert.equal(r.status, 400, q);
    assert.deepEqual(await r.json(), { code, message }, q);
    await logLine(m, WARN(message));
  }
  // unknown sid on a websocket upgrade: 400 and the connection closes
  const m = mark();
  const r = await raw(WS_HEAD('/socket.io/?EIO=4&transport=websocket&sid=nope'));
  assert.equal(statusOf(r.text), 400, r.text);
  assert.ok(r.closed);
  await logLine(m, WARN('Session ID unknown'));
  await stillHealthy();
});

test('HTTP: bad WebSocket handshakes -> 400', async () => {
  const heads = [
    `GET ${EIO_WS} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    `GET ${EIO_WS} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n`,
  ];
  for (const h of heads) {
    const m = mark();
    const r = await raw(h);
    assert.ok([400, 426].includes(statusOf(r.text)), r.text);
    assert.ok(r.closed);
    await logLine(m, /WARN .*(bad WebSocket handshake|Bad request)/);
  }
  await stillHealthy();
});

// ---- WebSocket frames --------------------------------------------------------------------

test('WebSocket: protocol violations -> close 1002/1007/1009, WARN', async () => {
  const cases = [
    ['unmasked client frame', frame(1, '4hi', { mask: false }), 1002],
    ['reserved data opcode', frame(3, 'x'), 1002],
    ['reserved control opcode', frame(0xb, 'x'), 1002],
    ['reserved bits set', frame(1, '4hi', { rsv: 0x40 }), 1002],
    ['continuation frame without a message', frame(0, 'x'), 1002],
    ['fragmented control frame', frame(9, 'x', { fin: false }), 1002],
    ['control frame payload over 125', frame(9, 'x'.repeat(126)), 1002],
    ['invalid close code', frame(8, Buffer.from([0x03, 0xe7])), 1002],
    ['close frame with a 1-byte payload', frame(8, Buffer.from([0x03])), 1002],
    ['close reason is not valid UTF-8', frame(8, Buffer.from([0x03, 0xe8, 0xff])), 1007],
    ['new data frame while a fragmented', Buffer.concat([frame(1, '4a', { fin: false }), frame(1, '4b')]), 1002],
    ['invalid UTF-8', frame(1, Buffer.from([0x34, 0xc3, 0x28])), 1007],
    ['ends inside a UTF-8 sequence', frame(1, Buffer.from([0x34, 0xe2, 0x82])), 1007],
    ['maximum size', frame(1, 'x', { len: 2 ** 40 }), 1009],
    ['top bit set', frame(1, 'x', { len: 2 ** 63 }), 1002],
  ];
  // 2**63 does not fit a JS number exactly; write it by hand
  cases[cases.length - 1][1] = Buffer.concat([Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([1, 2, 3, 4])]);
  for (const [what, f, code] of cases) {
    const m = mark();
    const r = await rawWsClose(f);
    assert.equal(r.code, code, what);
    assert.ok(r.closed, what);
    await logLine(m, WARN(what.split(' ').slice(0, 3).join(' ')));
  }
  // a clean close from the client is answered with the same code, no WARN
  const rc = await rawWsClose(frame(8, Buffer.from([0x03, 0xe8])));
  assert.equal(rc.code, 1000);
  // a real oversized message (just over maxHttpBufferSize)
  const m = mark();
  const r = await rawWsClose(frame(1, '4' + 'x'.repeat(1e6 + 10)), 3000);
  assert.equal(r.code, 1009);
  await logLine(m, WARN('maximum size'));
  await stillHealthy();
});

// ---- Engine.IO packets -------------------------------------------------------------------

test('Engine.IO over websocket: unknown packet types close that connection, WARN', async () => {
  for (const [bad, why] of [['9', 'unknown packet type'], ['x', 'unknown packet type'], ['', 'empty packet'],
    ['7abc', 'unknown packet type']]) {
    const ws = await eioWs({ nsp: null });
    const m = mark();
    await expectClosed(ws, bad);
    await logLine(m, WARN(`invalid packet format on websocket \\(${why}`));
  }
  // open / upgrade / noop from the client: ignored (as the reference does), the session goes on
  const ws = await eioWs();
  for (const p of ['0', '0{"sid":"x"}', '5', '6', '3probe']) ws.send(p);
  ws.send('421["message-with-ack",7]');
  assert.equal(await ws.next((x) => typeof x === 'string' && x.startsWith('431')), '431[7]');
  ws.close();
  await stillHealthy();
});

test('Engine.IO over polling: bad payloads -> 400 code 3, session closed, WARN', async () => {
  const cases = [
    [4, 'text/plain', '9hello'],
    [4, 'text/plain', 'bAB$$$$'], // bad base64
    [4, 'text/plain', '4a\x1e\x1e'], // empty packet
    [3, 'text/plain', '10:4hi'], // v3 length over the payload
    [3, 'text/plain', '2:4hi'], // v3 length under the payload
    [3, 'text/plain', 'abc:4hi'], // v3 length not a number
    [3, 'text/plain', '99999999999999999999:4'], // v3 length overflow
    [3, 'text/plain', '6:b4!!!!'], // v3 bad base64
    [3, 'text/plain', '3:b2x'], // v3 base64 of a non-message type
    [3, 'application/octet-stream', Buffer.from([0, 9, 9, 0xff, 4, 0x61])], // v3 binary length over
    [3, 'application/octet-stream', Buffer.from([2, 1, 0xff, 4, 0x61])], // v3 binary: bad kind
  ];
  for (const [eio, ct, body] of cases) {
    const sid = await pollingHandshake(eio);
    const url = `${server.url}/socket.io/?EIO=${eio}&transport=polling&sid=${sid}`;
    const m = mark();
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': ct }, body });
    assert.equal(r.status, 400, `${eio} ${JSON.stringify(String(body))}`);
    assert.deepEqual(await r.json(), { code: 3, message: 'Bad request' });
    await logLine(m, WARN('invalid packet format'));
    // that session is gone
    const g = await fetch(url);
    assert.equal(g.status, 400);
    assert.equal((await g.json()).code, 1);
  }
  // a binary POST on a v4 session
  const sid = await pollingHandshake(4);
  const m = mark();
  const r = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`,
    { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([4, 1]) });
  assert.equal(r.status, 400);
  await logLine(m, WARN('binary POST body on a v4 session'));
  // a POST over maxHttpBufferSize: 413
  const sid2 = await pollingHandshake(4);
  const m2 = mark();
  const r2 = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid2}`,
    { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '4' + 'x'.repeat(1e6 + 10) });
  assert.equal(r2.status, 413);
  await logLine(m2, /WARN .*(exceeds maxHttpBufferSize|request body over)/);
  await stillHealthy();
});

// ---- Socket.IO packets -------------------------------------------------------------------

test('Socket.IO: malformed packets close that connection, WARN naming the problem', async () => {
  const cases = [
    ['42["message-with-ack",', 'not valid JSON'],
    ['42{"a":1}', 'not an array'],
    ['42"str"', 'not an array'],
    ['42[]', 'empty array'],
    ['42[{}]', 'EVENT name is not a string'],
    ['42["connect"]', 'reserved'],
    ['42["disconnecting"]', 'reserved'],
    ['42["newListener"]', 'reserved'],
    ['42abc["x"]', 'not valid JSON'], // ack id with letters
    ['4212a["x"]', 'not valid JSON'],
    ['4299999999999999999999["x"]', 'ack id too large'],
    ['40[1,2]', 'CONNECT payload is not an object'],
    ['40/custom,"x"', 'CONNECT payload is not an object'],
    ['41{"x":1}', 'DISCONNECT has a payload'],
    ['43', 'ACK without payload'],
    ['43{"a":1}', 'ACK payload is not an array'],
    ['44"nope"', 'CONNECT_ERROR'],
    ['47["x"]', 'unknown packet type'],
    ['4x', 'unknown packet type'],
    ['4', 'empty packet'],
    ['45["x"]', 'illegal attachments count'], // no count
    ['451["x"]', 'illegal attachments count'], // no dash
    ['4599999999-["x",{"_placeholder":true,"num":0}]', 'too many attachments'],
    ['451-["x",{"_placeholder":true,"num":5}]', 'placeholder'], // checked once the binary arrives
    ['42["x",{"_placeholder":true,"num":0}]', 'placeholder'], // placeholder without attachments
    ['42["x",' + '['.repeat(100000), 'nested too deeply'],
    ['42["x",' + '{"a":'.repeat(50000), 'nested too deeply'],
    ['42/nowhere,["x"]', 'not joined'],
    ['42/custom,["x"]', 'not joined'],
  ];
  for (const [pkt, why] of cases) {
    const ws = await eioWs();
    const m = mark();
    const msgs = [pkt];
    if (pkt.startsWith('451-["x",{"_placeholder":true,"num":5')) msgs.push(Buffer.from([1, 2, 3]));
    await expectClosed(ws, msgs);
    await logLine(m, WARN(why.replace(/[[\]]/g, '\\$&')));
  }
  await stillHealthy();
});

test('Socket.IO: attachment without a binary packet / binary frame out of turn', async () => {
  // a binary frame with no BINARY_EVENT announcing it
  let ws = await eioWs();
  let m = mark();
  await expectClosed(ws, Buffer.from([1, 2, 3]));
  await logLine(m, WARN('binary|attachment'));
  // BINARY_EVENT announcing 2 attachments, then a text packet instead
  ws = await eioWs();
  m = mark();
  await expectClosed(ws, ['452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', '42["x"]']);
  await logLine(m, WARN('attachment|binary'));
  await stillHealthy();
});

test('Socket.IO: long event names and namespaces', async () => {
  // a long but valid event name: no route, the connection stays
  const ws = await eioWs();
  ws.send(`42${JSON.stringify(['e'.repeat(200000)])}`);
  ws.send('421["message-with-ack","ok"]');
  assert.equal(await ws.next((x) => typeof x === 'string' && x.startsWith('431')), '431["ok"]');
  // a long namespace name: CONNECT_ERROR "Invalid namespace"
  ws.send(`40/${'n'.repeat(200000)},`);
  const err = await ws.next((x) => typeof x === 'string' && x.startsWith('44/nnn'));
  assert.match(err, /"message":"Invalid namespace"/);
  ws.close();
  await stillHealthy();
});

test('Socket.IO: CONNECT to an unknown namespace -> CONNECT_ERROR, connection stays', async () => {
  const ws = await eioWs();
  ws.send('40/nope,');
  assert.equal(await ws.next((x) => typeof x === 'string' && x.startsWith('44/nope,')),
    '44/nope,{"message":"Invalid namespace"}');
  ws.send('421["message-with-ack",1]');
  assert.equal(await ws.next((x) => typeof x === 'string' && x.startsWith('431')), '431[1]');
  ws.close();
  await stillHealthy();
});

test('Engine.IO v3 over websocket: bad binary frames close that connection', async () => {
  for (const [bin, why] of [[Buffer.from([9, 1]), 'unknown packet type|binary packet of a type'], [Buffer.alloc(0), 'empty binary packet']]) {
    const ws = await eioWs({ query: 'EIO=3', nsp: null });
    const m = mark();
    await expectClosed(ws, bin);
    await logLine(m, WARN(`invalid packet format on websocket \\((${why})`));
  }
  await stillHealthy();
});

test('Socket.IO v3 (EIO=3): malformed packets close that connection', async () => {
  for (const [pkt, why] of [['42{"a":1}', 'not an array'], ['40/custom,[1]', 'CONNECT payload is not an object']]) {
    const ws = await eioWs({ query: 'EIO=3', nsp: null });
    // v2 clients are connected to / at once
    await ws.next((x) => x === '40');
    const m = mark();
    await expectClosed(ws, pkt);
    await logLine(m, WARN(why));
  }
  await stillHealthy();
});

// ---- Lua controllers with unexpected argument types -------------------------------------

test('Lua controllers: events with numbers/nulls/objects where strings are expected', async () => {
  const s = ioc(server.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
  const weird = [null, 5, 1.5, true, { a: 1 }, [1, 2], '', 'x'.repeat(10000)];
  const events = ['join', 'leave', 'toRoom', 'nspToRoom', 'broadcastAll', 'exceptRoom', 'clients', 'events',
    'helper', 'roomJoin', 'roomLeave', 'roomKick', 'whoami', 'kinds', 'binary', 'rooms', 'fast'];
  const m = mark();
  for (const ev of events) {
    for (const w of weird) {
      // an ack may come or not (a controller error); the connection must stay
      s.emit(ev, w, w, () => {});
      s.emit(ev, w);
    }
  }
  s.emit('slow', { a: 1 }, () => {});
  s.emit('ask', 'abc', () => {});
  s.emit('remoteKick', { a: 1 }, () => {});
  s.emit('remoteKick', 12345, () => {});
  assert.deepEqual(await ack(s, 'message-with-ack', 'still'), ['still']);
  assert.ok(s.connected);
  // no error from the framework itself, only (maybe) app-level ones
  const lines = server.out.text.slice(m).split('\n');
  assert.deepEqual(lines.filter((l) => /ERROR \[lua\]|PANIC|stack overflow/.test(l)), []);
  // a null or object room is refused with a clear controller error, not read as "every socket"
  await logLine(m, /error while handling roomKick: .*rooms? must be a string/);
  await logLine(m, /error while handling roomKick: .*rooms must be a string or an array of strings, not an object/);
  s.close();
  await stillHealthy();
});

test('Lua controllers: deeply nested but valid JSON arguments', async () => {
  const ws = await eioWs();
  // as deep as the JSON parser allows: echoed back, or refused with a close
  let deep = 'null';
  for (let i = 0; i < 900; i++) deep = `[${deep}]`;
  ws.send(`421["message-with-ack",${deep}]`);
  ws.send('422["message-with-ack","after"]');
  const r = await Promise.race([ws.next((x) => typeof x === 'string' && x.startsWith('432'), 3000), ws.closed]);
  assert.ok(r === '432["after"]' || typeof r === 'number', String(r).slice(0, 100));
  ws.close();
  await stillHealthy();
});

// ---- more: fragments, upgrades, polling overlap, acks, app HTTP bodies -------------------

test('WebSocket: a fragmented message over the maximum size -> 1009', async () => {
  const chunk = 'x'.repeat(60000);
  const frames = [frame(1, '4' + chunk, { fin: false })];
  for (let i = 0; i < 20; i++) frames.push(frame(0, chunk, { fin: false }));
  frames.push(frame(0, 'end'));
  const m = mark();
  const r = await rawWsClose(Buffer.concat(frames), 3000);
  assert.equal(r.code, 1009);
  await logLine(m, WARN('maximum size'));
  await stillHealthy();
});

test('Engine.IO: garbage during the websocket upgrade closes the probe, the polling session goes on', async () => {
  const sid = await pollingHandshake(4);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  await new Promise((r, j) => { ws.on('open', r); ws.on('error', j); });
  const closed = new Promise((r) => ws.on('close', r));
  const m = mark();
  ws.send('4not a probe');
  await Promise.race([closed, sleep(2000).then(() => assert.fail('probe not closed'))]);
  await logLine(m, WARN('during the upgrade|invalid packet on the upgrade'));
  // the polling session is still there
  const r = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '6' });
  assert.equal(r.status, 200);
  await stillHealthy();
});

test('Engine.IO: overlapping polling GETs close that session, WARN', async () => {
  const sid = await pollingHandshake(4);
  const url = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  const m = mark();
  const first = fetch(url).then((r) => r.text());
  await sleep(50);
  const second = await fetch(url);
  assert.equal(second.status, 400);
  await logLine(m, WARN('overlapping GET'));
  await first; // answered (a close/noop), not left hanging
  const g = await fetch(url);
  assert.equal((await g.json()).code, 1);
  await stillHealthy();
});

test('Socket.IO: acks - unknown id ignored, malformed answer to a server ack closes', async () => {
  const ws = await eioWs();
  ws.send('43999["nobody asked"]');
  ws.send('421["message-with-ack","x"]');
  assert.equal(await ws.next((x) => typeof x === 'string' && x.startsWith('431')), '431["x"]');
  // the server asks (emitWithAck 'question'); the client answers with a non-array
  ws.send('422["ask",1000]');
  const q = await ws.next((x) => typeof x === 'string' && x.startsWith('42') && x.includes('"question"'));
  const id = /^42(\d+)/.exec(q)[1];
  const m = mark();
  await expectClosed(ws, `43${id}{"not":"an array"}`);
  await logLine(m, WARN('ACK payload is not an array'));
  await stillHealthy();
});

test('Socket.IO: bytes that are not UTF-8 over polling reach websocket clients repaired', async () => {
  const sid = await pollingHandshake(4);
  const url = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  assert.equal((await fetch(url, { method: 'POST', body: '40' })).status, 200);
  assert.match(await (await fetch(url)).text(), /^40\{"sid"/);
  const got = new Promise((r) => healthy.once('broadcast-message', r));
  const body = Buffer.concat([Buffer.from('42["broadcastAll","a'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('b"]')]);
  assert.equal((await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } })).status, 200);
  assert.equal(await Promise.race([got, sleep(2000).then(() => 'none')]), 'a\ufffd\ufffd\ufffdb');
  await stillHealthy();
});

test('app HTTP: invalid or too deep JSON bodies -> 400 with a WARN', async () => {
  for (const body of ['{bad', '['.repeat(100000), '{"a":' + '"x"'.repeat(3)]) {
    const m = mark();
    const r = await fetch(`${server.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(r.status, 400);
    assert.match((await r.json()).message, /^invalid JSON body/);
    await logLine(m, WARN('invalid JSON body'));
  }
  // bad percent-encoding in paths, queries and forms: answered, not refused
  let r = await fetch(`${server.url}/hello/%ff%fe%25%?q=%ff%`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { hello: '\ufffd\ufffd%%', q: '\ufffd%' });
  r = await fetch(`${server.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=%zz&b=%ff&c&=&&' });
  assert.equal(r.status, 201);
  await stillHealthy();
});

test('connections that vanish mid-input: nothing leaks or hangs (see the ASan run)', async () => {
  // half a request head, half a body, half a WebSocket frame, then a reset
  await raw('GET /hello/x HTTP/1.1\r\nHost: x\r\nX-Half: abc', { ms: 100 });
  await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', { ms: 100 });
  await raw([WS_HEAD(EIO_WS), frame(1, '4hello').subarray(0, 5)], { ms: 100 });
  await raw([WS_HEAD(EIO_WS), frame(1, '4' + 'x'.repeat(500), { fin: false })], { ms: 100 });
  // a BINARY_EVENT waiting for its attachments when the connection goes
  const ws = await eioWs();
  ws.send('452-["binary",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  ws.send(Buffer.from([1, 2, 3]));
  await sleep(50);
  ws.terminate();
  // a polling session with a pending GET whose client goes away
  const sid = await pollingHandshake(4);
  const ac = new AbortController();
  const pending = fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { signal: ac.signal }).catch(() => 'aborted');
  await sleep(50);
  ac.abort();
  assert.equal(await pending, 'aborted');
  await sleep(100);
  await stillHealthy();
});

test('Lua: more arguments than a Lua stack holds (100000) are an app error, not a framework one', async () => {
  const ws = await eioWs();
  const many = Array.from({ length: 100000 }, (_, i) => i);
  const m = mark();
  ws.send(`421${JSON.stringify(['message-with-ack', ...many])}`);
  ws.send(`42${JSON.stringify(['message', ...many])}`);
  // and the same as the answer to a server's emitWithAck
  ws.send('422["ask",1000]');
  const q = await ws.next((x) => typeof x === 'string' && x.startsWith('42') && x.includes('"question"'));
  ws.send(`43${/^42(\d+)/.exec(q)[1]}${JSON.stringify(many)}`);
  ws.send('423["message-with-ack","after"]');
  assert.equal(await ws.next((x) => typeof x === 'string' && x.startsWith('433')), '433["after"]');
  await logLine(m, /error while handling message-with-ack: .*too many results to unpack/);
  await logLine(m, /error while handling ask: .*too many results to unpack/);
  assert.deepEqual(server.out.text.slice(m).split('\n').filter((l) => /ERROR \[lua\]/.test(l)), []);
  ws.close();
  await stillHealthy();
});

test('static files: paths that leave public/ -> 404, WARN', async () => {
  for (const [p, why] of [['/public//etc/passwd', 'absolute'], ['/public/%2fetc%2fpasswd', 'absolute'],
    ['/public/%2e%2e/config/config.default.lua', '\\.\\.'], ['/public/hello.txt%00.css', 'NUL byte']]) {
    const m = mark();
    const r = await raw(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(r.text), 404, `${p} -> ${r.text.slice(0, 200)}`);
    assert.doesNotMatch(r.text, /root:|greeting/);
    await logLine(m, new RegExp(`WARN .*static path .* refused \\(.*${why}`));
  }
  const r = await fetch(`${server.url}/public/hello.txt`);
  assert.equal(r.status, 200);
  await stillHealthy();
});

test('Engine.IO: a sid used on the wrong transport -> 400 code 3 / the second websocket is closed', async () => {
  const ws = await eioWs();
  const sid = /"sid":"([^"]+)"/.exec(ws.openPacket)[1];
  for (const [method, q] of [['GET', 'EIO=4'], ['POST', 'EIO=4'], ['GET', 'EIO=3']]) {
    const m = mark();
    const r = await fetch(`${server.url}/socket.io/?${q}&transport=polling&sid=${sid}`, method === 'POST' ? { method, body: '6' } : {});
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { code: 3, message: 'Bad request' });
    await logLine(m, WARN('transport does not match'));
  }
  const m = mark();
  const ws2 = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  ws2.on('error', () => {});
  await new Promise((r) => ws2.on('close', r));
  await logLine(m, WARN('refusing a websocket for this sid'));
  ws.send('421["message-with-ack","first"]');
  assert.equal(await ws.next((x) => typeof x === 'string' && x.startsWith('431')), '431["first"]');
  ws.close();
  await stillHealthy();
});

test('logs: CR/LF in client data cannot forge log lines', async () => {
  const m = mark();
  const ws = await eioWs();
  ws.send('40/evil\r\n2026-01-01 00:00:00.000 ERROR [yolk] forged-sio,');
  await ws.next((x) => typeof x === 'string' && x.startsWith('44/evil'));
  await raw('GET /public/..%2f%0d%0a2026-01-01%20ERROR%20[yolk]%20forged-http HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await logLine(m, /CONNECT to unknown namespace \/evil\\x0d\\x0a2026/);
  await logLine(m, /static path ".*\\x0d\\x0a2026-01-01 ERROR/);
  await sleep(100);
  const forged = server.out.text.slice(m).split('\n').filter((l) => /^\S*\s*2026-01-01|^.{0,3}forged/.test(l));
  assert.deepEqual(forged, []);
  ws.close();
  await stillHealthy();
});

test('Lua: a timeout from the client (2^32 + 1 ms, 1e999) is clamped, not wrapped around', async () => {
  const ws = await eioWs();
  for (const [i, t] of [[1, 4294967297], [2, '1e999']]) {
    ws.send(`42${i}${JSON.stringify(['ask', t])}`);
    const q = await ws.next((x) => typeof x === 'string' && x.startsWith('42') && x.includes('"question"'));
    // (wrapped to 1 ms, the ack timed out at once: 43i[null,"timeout"])
    await sleep(200);
    ws.send(`43${/^42(\d+)/.exec(q)[1]}["yes"]`);
    assert.equal(await ws.next((x) => typeof x === 'string' && x.startsWith(`43${i}`)), `43${i}["yes",null]`);
  }
  ws.close();
  await stillHealthy();
});
