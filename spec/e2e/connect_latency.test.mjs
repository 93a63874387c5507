// connect_latency.test.mjs - nothing waits on purpose when a WebSocket
// connection opens (issue 8, defect 1): the Engine.IO open packet follows the
// 101 at once, and what a connection middleware emits before next() follows
// the Socket.IO CONNECT acknowledgement at once. (yolk once held the open
// packet 15 ms and the packets after a CONNECT ack 5 ms, for the official
// suites' `ws` client; that client's race is now handled where it lives,
// spec/suites/.) Measured here as gaps on the wire, which a fixed delay
// makes at least as long as itself, and as socket.io-client's io() ->
// `connect` time; the benchmark compares connect latency with Node's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';
import { startYolk, stopYolk } from './lib.mjs';

let server;
before(async () => { server = await startYolk(['--baseDir', 'spec/app']); });
after(() => stopYolk(server));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// Opens a raw WebSocket to /socket.io/, reads frames as they arrive and
// resolves with the arrival times of: the 101, the open packet, the CONNECT
// ack and the `auth` event that spec/app's `hello` middleware emits before
// next().
function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const t = {};
    let buf = Buffer.alloc(0);
    let headDone = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`timeout; got ${JSON.stringify(t)}`)); }, 5000);
    sock.on('error', reject);
    sock.on('connect', () => {
      sock.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
        'Sec-WebSocket-Version: 13\r\n\r\n');
    });
    const sendText = (text) => {
      const payload = Buffer.from(text);
      const mask = randomBytes(4);
      const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
      sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    };
    sock.on('data', (chunk) => {
      const at = nowMs();
      buf = Buffer.concat([buf, chunk]);
      if (!headDone) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        assert.match(buf.subarray(0, end).toString(), /^HTTP\/1\.1 101/);
        t.head = at;
        headDone = true;
        buf = buf.subarray(end + 4);
      }
      while (buf.length >= 2 && buf.length >= 2 + (buf[1] & 0x7f)) {
        const len = buf[1] & 0x7f; // the frames here are all short
        const text = buf.subarray(2, 2 + len).toString();
        buf = buf.subarray(2 + len);
        if (text.startsWith('0{')) {
          t.open = at;
          sendText('40');
        } else if (text.startsWith('40{')) {
          t.ack = at;
        } else if (text.startsWith('42["auth"')) {
          t.auth = at;
          clearTimeout(timer);
          sock.destroy();
          resolve(t);
        }
      }
    });
  });
}

test('the open packet follows the 101, and the first emit the CONNECT ack, without a pause', async () => {
  const openGaps = [];
  const ackGaps = [];
  for (let i = 0; i < 10; i++) {
    const t = await rawConnect(server.port);
    openGaps.push(t.open - t.head);
    ackGaps.push(t.auth - t.ack);
  }
  // a fixed delay would make every gap at least 15 ms / 5 ms long
  assert.ok(median(openGaps) < 5, `101 -> open packet: ${openGaps.map((g) => g.toFixed(2)).join(' ')} ms`);
  assert.ok(median(ackGaps) < 3, `CONNECT ack -> next packet: ${ackGaps.map((g) => g.toFixed(2)).join(' ')} ms`);
});

test('socket.io-client over WebSocket connects without a fixed wait', async () => {
  const times = [];
  for (let i = 0; i < 20; i++) {
    const t0 = nowMs();
    const socket = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise((resolve, reject) => {
      socket.on('connect', resolve);
      socket.on('connect_error', reject);
    });
    times.push(nowMs() - t0);
    socket.disconnect();
  }
  // Node's socket.io: 2.5-4 ms here; with the old 15 ms wait, never under 15
  assert.ok(median(times) < 12, `io() -> connect: ${times.map((g) => g.toFixed(1)).join(' ')} ms`);
});
