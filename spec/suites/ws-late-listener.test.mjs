// Checks spec/suites/ws-late-listener.cjs against `ws` with a fake server that
// writes the 101 response and its frames in one write, as yolk does.
//
//   node --test spec/suites/
//
// `ws` comes from the repository's node_modules, or from the folder in
// $WS_LATE_LISTENER_WS_FROM (a suite's test-suite folder, to check its own copy).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
require('./ws-late-listener.cjs');
const from = process.env.WS_LATE_LISTENER_WS_FROM || path.resolve(here, '../..');
const WebSocket = createRequire(path.join(path.resolve(from), 'x.js'))('ws');

// An unmasked server frame: FIN + opcode (1 text, 2 binary), short payloads only.
const frame = (opcode, payload) => {
  const data = Buffer.from(payload);
  return Buffer.concat([Buffer.from([0x80 | opcode, data.length]), data]);
};
const text = (s) => frame(1, s);

// Each connection runs `script(write)`; write(...frames) sends them in one write.
let server;
let script;
before(async () => {
  server = net.createServer((sock) => {
    let head = '';
    sock.on('data', (d) => {
      if (head.includes('\r\n\r\n')) return; // client frames are not looked at
      head += d;
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)[1];
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      const upgrade = Buffer.from(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      script((...frames) => sock.write(Buffer.concat(frames)), upgrade);
    });
    sock.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
});
after(() => server.close());

const connect = () => new WebSocket(`ws://127.0.0.1:${server.address().port}/`);
// the suites' helper
const waitFor = (socket, type) =>
  new Promise((resolve) => socket.addEventListener(type, (event) => resolve(event), { once: true }));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('the frame that came with the 101 reaches a listener added after "open"', { timeout: 2000 }, async () => {
  script = (write, upgrade) => write(upgrade, text('0{"sid":"a"}'));
  const socket = connect();
  await waitFor(socket, 'open');
  const { data } = await waitFor(socket, 'message');
  assert.equal(data, '0{"sid":"a"}');
  socket.terminate();
});

test('frames of one read go one by one to listeners added in turn, text and binary as sent', { timeout: 2000 }, async () => {
  script = (write, upgrade) => {
    write(upgrade, text('0{}'));
    setTimeout(() => write(text('40{"sid":"x"}'), text('42["auth",{}]'), frame(2, [1, 2, 3])), 20);
  };
  const socket = connect();
  socket.binaryType = 'arraybuffer';
  await waitFor(socket, 'message');
  const got = [];
  got.push((await waitFor(socket, 'message')).data);
  got.push((await waitFor(socket, 'message')).data);
  got.push((await waitFor(socket, 'message')).data);
  assert.deepEqual(got, ['40{"sid":"x"}', '42["auth",{}]', Uint8Array.from([1, 2, 3]).buffer]);
  socket.terminate();
});

test('a message nobody starts listening for in time is dropped, as plain ws drops it', { timeout: 2000 }, async () => {
  script = (write, upgrade) => {
    write(upgrade);
    setTimeout(() => write(text('3probe')), 20);
    setTimeout(() => write(text('4hello')), 80);
  };
  const socket = connect();
  await waitFor(socket, 'open');
  await sleep(50); // "3probe" arrives meanwhile, unheard
  const { data } = await waitFor(socket, 'message');
  assert.equal(data, '4hello');
  socket.terminate();
});

test('a listener that was there all along gets everything in order, with isBinary', { timeout: 2000 }, async () => {
  script = (write, upgrade) => write(upgrade, text('a'), text('b'), frame(2, [7]));
  const socket = connect();
  const got = [];
  socket.on('message', (data, isBinary) => got.push([String(data), isBinary]));
  await waitFor(socket, 'open');
  await sleep(30);
  assert.deepEqual(got, [['a', false], ['b', false], ['\u0007', true]]);
  socket.terminate();
});
