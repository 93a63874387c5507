// One benchmark client process, forked by bench/run.mjs: holds many Socket.IO v4 clients over
// raw TCP and speaks just enough WebSocket / Engine.IO / Socket.IO to drive the benchmark.
//
// Why not socket.io-client: the client side must not be the bottleneck. A full client parses
// every packet into objects and runs an emitter per message; here a broadcast delivery costs a
// frame-header read and two byte compares, so the server is what gets measured. Correctness is
// still checked: the first packet of every kind in each phase is decoded and compared.
//
// Frames to the server are masked with the all-zero key (valid per RFC 6455 section 5.3; the
// server still runs its unmasking), so sending needs no copy of the payload.
//
// Commands from the parent (process.send): see the `handlers` table at the bottom.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';

const now = () => performance.timeOrigin + performance.now(); // ms since epoch, comparable across processes

const clients = [];
// One read buffer for every socket of this process (net's `onread`): no Buffer and no 'data'
// event per read. Safe because each read is handled before the next one starts; what a read
// leaves unparsed is copied out (Client.data).
const readBuffer = Buffer.allocUnsafe(256 * 1024);
let port = 0;

// Phase state (one phase at a time).
let expect = 0;          // broadcast messages each client must receive
let doneClients = 0;
let bcastPayload = null; // what the broadcast packets must carry
let checkedBcast = false;
let lastDoneAt = 0;
let sender = null;       // { client, event, room, left, window }

function frame(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  let hdr;
  if (n < 126) {
    hdr = Buffer.from([0x81, 0x80 | n, 0, 0, 0, 0]);
  } else if (n < 65536) {
    hdr = Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255, 0, 0, 0, 0]);
  } else {
    hdr = Buffer.alloc(14);
    hdr[0] = 0x81; hdr[1] = 0x80 | 127;
    hdr.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([hdr, payload]);
}

function fail(msg) {
  process.send({ ev: 'error', msg });
  setTimeout(() => process.exit(1), 50);
}

class Client {
  constructor(index) {
    this.index = index;
    this.rest = null;
    this.headerDone = false;
    this.onConnected = null;
    this.count = 0;         // broadcast packets received in this phase
    this.ackId = 0;
    this.pendingAck = null; // { id, resolve }
    this.sock = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const sock = net.connect({
        host: '127.0.0.1', port, noDelay: true,
        onread: { buffer: readBuffer, callback: (n, buf) => { this.data(buf.subarray(0, n)); } },
      });
      this.sock = sock;
      this.onConnected = resolve;
      sock.on('connect', () => {
        sock.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n' +
          `Host: 127.0.0.1:${port}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      });
      sock.on('error', (e) => reject(e));
      sock.on('close', () => { if (!this.closing) fail(`client ${this.index}: connection closed by server`); });
    });
  }

  send(text) { this.sock.write(frame(text)); }

  data(chunk) {
    let buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let off = 0;
    if (!this.headerDone) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) { this.rest = Buffer.from(buf); return; }
      const head = buf.toString('latin1', 0, end);
      if (!head.startsWith('HTTP/1.1 101')) return fail(`client ${this.index}: upgrade refused: ${head.split('\r\n')[0]}`);
      this.headerDone = true;
      off = end + 4;
    }
    const len = buf.length;
    while (len - off >= 2) {
      let n = buf[off + 1] & 127;
      let h = 2;
      if (n === 126) {
        if (len - off < 4) break;
        n = buf.readUInt16BE(off + 2); h = 4;
      } else if (n === 127) {
        if (len - off < 10) break;
        n = Number(buf.readBigUInt64BE(off + 2)); h = 10;
      }
      if (len - off < h + n) break;
      this.frame(buf[off] & 15, buf, off + h, n);
      off += h + n;
    }
    this.rest = off < len ? Buffer.from(buf.subarray(off)) : null; // (buf may be the shared read buffer)
  }

  frame(op, buf, s, n) {
    if (op === 8) { this.closing = true; return fail(`client ${this.index}: websocket close from server`); }
    if (op === 9) { // ws ping: pong with the same payload
      const p = buf.subarray(s, s + n);
      this.sock.write(Buffer.concat([Buffer.from([0x8a, 0x80 | n, 0, 0, 0, 0]), p]));
      return;
    }
    if (op !== 1) return;
    const c0 = buf[s];
    if (c0 === 0x34 /* 4 */) {
      const c1 = buf[s + 1];
      if (c1 === 0x32 /* 2: EVENT */) return this.bcast(buf, s, n);
      if (c1 === 0x33 /* 3: ACK */) return this.ack(buf, s, n);
      if (c1 === 0x30 /* 0: CONNECT */) { const r = this.onConnected; this.onConnected = null; if (r) r(); return; }
      return fail(`client ${this.index}: unexpected packet ${buf.toString('utf8', s, s + Math.min(n, 200))}`);
    }
    if (c0 === 0x30 /* EIO open */) { this.send('40'); return; }
    if (c0 === 0x32 /* EIO ping */) { this.send('3'); return; }
    // EIO noop/others: ignore
  }

  bcast(buf, s, n) {
    const c = ++this.count;
    if (!checkedBcast) {
      checkedBcast = true;
      let got;
      try { got = JSON.parse(buf.toString('utf8', s + 2, s + n)); } catch { got = null; }
      if (!isDeepStrictEqual(got, ['bcast', bcastPayload])) {
        return fail(`broadcast packet differs: ${buf.toString('utf8', s, s + Math.min(n, 200))}`);
      }
    }
    if (sender && sender.client === this && sender.left > 0) { sender.left--; sender.sendOne(); }
    if (c === expect) {
      if (++doneClients === clients.length) {
        lastDoneAt = now();
        process.send({ ev: 'bdone', at: lastDoneAt });
      }
    } else if (c > expect) {
      fail(`client ${this.index}: got ${c} broadcasts, expected ${expect}`);
    }
  }

  ack(buf, s, n) {
    let i = s + 2;
    const end = s + n;
    let id = 0;
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) { id = id * 10 + (buf[i] - 0x30); i++; }
    const p = this.pendingAck;
    if (!p || p.id !== id) return fail(`client ${this.index}: unexpected ack ${id}`);
    this.pendingAck = null;
    p.resolve(buf, i, end);
  }

  // Emits [event, ...args] with an ack; resolves with the ack's JSON text when check is set.
  emitWithAck(argsJson, check) {
    const id = this.ackId++;
    return new Promise((resolve) => {
      this.pendingAck = {
        id,
        resolve: check ? (buf, i, end) => resolve(buf.toString('utf8', i, end)) : resolve,
      };
      this.send(`42${id}${argsJson}`);
    });
  }
}

async function connectAll(count, parallel) {
  for (let i = 0; i < count; i++) clients.push(new Client(i));
  let next = 0;
  async function lane() {
    while (next < clients.length) {
      const c = clients[next++];
      await c.connect();
      const text = await c.emitWithAck('["join","bench"]', true);
      if (text !== '[true]') return fail(`join ack was ${text}`);
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
}

async function echo(count, k) {
  const lat = new Float64Array(count * k);
  const start = now();
  await Promise.all(clients.slice(0, count).map(async (c, ci) => {
    for (let j = 0; j < k; j++) {
      const seq = ci * k + j;
      const payload = { seq, s: 'ping' };
      const t0 = performance.now();
      const check = j === 0;
      const res = await c.emitWithAck(`["echo-ack",${JSON.stringify(payload)}]`, check);
      lat[seq] = performance.now() - t0;
      if (check) {
        let got;
        try { got = JSON.parse(res); } catch { got = null; }
        if (!isDeepStrictEqual(got, [payload])) return fail(`echo ack differs: ${res}`);
      }
    }
  }));
  const end = now();
  return { start, end, lat: Array.from(lat) };
}

const handlers = {
  async connect(m) {
    port = m.port;
    await connectAll(m.count, m.parallel || 50);
    process.send({ ev: 'connected', n: clients.length });
  },
  arm(m) {
    expect = m.expect;
    bcastPayload = m.payload;
    checkedBcast = false;
    doneClients = 0;
    for (const c of clients) c.count = 0;
    sender = null;
    process.send({ ev: 'armed' });
  },
  // Only the worker holding the sender: emit m.m packets, at most m.window not yet seen back
  // by the sender itself (a bound on what piles up in the server, for both servers alike).
  send(m) {
    const c = clients[0];
    const text = m.event === 'bcastRoom'
      ? JSON.stringify(['bcastRoom', 'bench', m.payload])
      : JSON.stringify(['bcast', m.payload]);
    const f = frame(`42${text}`);
    sender = {
      client: c,
      left: m.m,
      sendOne() { c.sock.write(f); },
    };
    const start = now();
    const first = Math.min(m.window, m.m);
    sender.left -= first;
    for (let i = 0; i < first; i++) sender.sendOne();
    process.send({ ev: 'sent', start });
  },
  async echo(m) {
    const r = await echo(m.count, m.k);
    process.send({ ev: 'edone', ...r });
  },
  close() {
    for (const c of clients) { c.closing = true; c.sock.destroy(); }
    process.exit(0);
  },
};

process.on('message', (m) => {
  Promise.resolve(handlers[m.cmd](m)).catch((e) => fail(String(e && e.stack || e)));
});
process.on('disconnect', () => process.exit(0));
