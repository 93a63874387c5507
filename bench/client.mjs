// One benchmark client process, started by bench/run.mjs (pinned to the load generator's core):
// holds many Socket.IO v4 clients and drives one phase at a time on command (IPC).
//
// WebSocket clients (WsClient) speak just enough WebSocket / Engine.IO v4 / Socket.IO v5 over raw
// TCP. Why not socket.io-client: the client side must not be the bottleneck. A full client parses
// every packet into objects and runs an emitter per message; here a broadcast delivery costs a
// frame-header read and a few byte compares, so the server is what gets measured. Correctness is
// still checked: the first packet of every kind in each phase is decoded and compared, counts are
// exact, and anything unexpected fails the phase.
//
// Frames to the server are masked with the all-zero key (valid per RFC 6455 section 5.3; the
// server still runs its unmasking), so sending needs no copy of the payload.
//
// Long-polling clients (PollClient) speak HTTP/1.1 keep-alive over raw TCP: one connection for
// the pending GET, one for POSTs, as a browser does; Engine.IO v4 payloads (`\x1e` separators).
//
// The `connect` phase uses the real socket.io-client (loaded only for it): it measures what an
// application sees.
//
// Commands from the parent (process.send): see the `handlers` table at the bottom.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';

const now = () => performance.timeOrigin + performance.now(); // ms since epoch, comparable across processes

let port = 0;           // the server of the next clients (each WsClient keeps its own: in the
                        // `cluster` phase one process may hold clients of both servers)
const clients = [];     // WsClients held by `connect` (in connection order)
const pollClients = []; // PollClients held by `pconnect`

// One read buffer for every WebSocket of this process (net's `onread`): no Buffer and no 'data'
// event per read. Safe because each read is handled before the next one starts; what a read
// leaves unparsed is copied out (WsClient.data).
const readBuffer = Buffer.allocUnsafe(256 * 1024);

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
const CLOSE_FRAME = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]); // masked close, 1000

let failed = false;
function fail(msg) {
  if (failed) return;
  failed = true;
  process.send({ ev: 'error', msg });
  setTimeout(() => process.exit(1), 50);
}

function parseJson(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

// ---- broadcast phase state (one phase at a time) ----
let expect = 0;          // broadcast packets each client must receive
let doneClients = 0;
let bcastPayload = null; // what the broadcast packets must carry
const checkedBcast = new Set(); // server ports whose first broadcast packet was checked
let sender = null;       // { client, left, sendOne }, or { client, witness, pump } (`cluster`)

// ---- WebSocket client ----
class WsClient {
  constructor(index, welcome) {
    this.index = index;
    this.port = port;
    this.welcome = welcome; // the server runs the "mw" mode: a `welcome` emit follows CONNECT
    this.rest = null;
    this.headerDone = false;
    this.sid = null;
    this.onConnected = null;
    this.count = 0;         // broadcast packets received in this phase
    this.ackId = 0;
    this.pendingAck = null; // { id, resolve } for join / left
    this.e = null;          // echo phase state
    this.closing = false;
    this.onClosed = null;
    this.sock = null;
  }

  // Resolves once the Socket.IO CONNECT (and, in "mw" mode, the welcome) has arrived.
  connect() {
    return new Promise((resolve, reject) => {
      const sock = net.connect({
        host: '127.0.0.1', port: this.port, noDelay: true,
        onread: { buffer: readBuffer, callback: (n, buf) => { this.data(buf.subarray(0, n)); } },
      });
      this.sock = sock;
      // A server out of descriptors may leave a connection in its listen backlog forever.
      const timer = setTimeout(() => {
        if (!this.onConnected) return;
        this.onConnected = null;
        this.destroy();
        reject(new Error(`client ${this.index}: no CONNECT within 10 s`));
      }, 10000);
      this.onConnected = () => { clearTimeout(timer); resolve(); };
      sock.on('connect', () => {
        sock.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n' +
          `Host: 127.0.0.1:${this.port}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      });
      sock.on('error', (e) => {
        if (this.onConnected) { clearTimeout(timer); this.onConnected = null; reject(e); return; }
        if (!this.closing) fail(`client ${this.index}: ${e.message}`);
      });
      sock.on('close', () => {
        if (this.onClosed) { const r = this.onClosed; this.onClosed = null; r(); return; }
        if (this.onConnected) { clearTimeout(timer); this.onConnected = null; reject(new Error(`client ${this.index}: connection closed before CONNECT`)); return; }
        if (!this.closing) fail(`client ${this.index}: connection closed by server`);
      });
    });
  }

  // Leaves as socket.io-client's disconnect() does (DISCONNECT packet, then the WebSocket closing
  // handshake) and resolves when the server has closed the TCP connection.
  leave() {
    return new Promise((resolve) => {
      this.closing = true;
      const timer = setTimeout(() => fail(`client ${this.index}: server did not close the connection within 5 s of the close frame`), 5000);
      this.onClosed = () => { clearTimeout(timer); resolve(); };
      this.sock.write(frame('41'));
      this.sock.write(CLOSE_FRAME);
    });
  }

  destroy() { this.closing = true; if (this.sock) this.sock.destroy(); }

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

  text(buf, s, n) { return buf.toString('utf8', s, s + Math.min(n, 300)); }

  frame(op, buf, s, n) {
    if (op === 8) { // close
      if (!this.closing) fail(`client ${this.index}: websocket close from server`);
      return;
    }
    if (op === 9) { // ws ping: pong with the same payload
      const p = buf.subarray(s, s + n);
      this.sock.write(Buffer.concat([Buffer.from([0x8a, 0x80 | n, 0, 0, 0, 0]), p]));
      return;
    }
    if (op !== 1) return;
    const c0 = buf[s];
    if (c0 === 0x34 /* 4: message */) {
      const c1 = buf[s + 1];
      if (c1 === 0x32 /* 2: EVENT */) {
        // 42["<name>",...: dispatch on the event name's first letter, check it in full once.
        const c4 = buf[s + 4];
        if (c4 === 0x62 /* b */) return this.bcast(buf, s, n);
        if (c4 === 0x65 /* e */) return this.echoed(buf, s, n, -1);
        if (c4 === 0x77 /* w */) return this.welcomed(buf, s, n);
        return fail(`client ${this.index}: unexpected event ${this.text(buf, s, n)}`);
      }
      if (c1 === 0x33 /* 3: ACK */) return this.ack(buf, s, n);
      if (c1 === 0x30 /* 0: CONNECT */) {
        const p = parseJson(buf.toString('utf8', s + 2, s + n));
        if (!p || typeof p.sid !== 'string') return fail(`client ${this.index}: bad CONNECT ${this.text(buf, s, n)}`);
        this.sid = p.sid;
        if (!this.welcome) this.connected();
        return;
      }
      if (this.closing && c1 === 0x31 /* 1: DISCONNECT */) return;
      return fail(`client ${this.index}: unexpected packet ${this.text(buf, s, n)}`);
    }
    if (c0 === 0x30 /* EIO open */) { this.send('40'); return; }
    if (c0 === 0x32 /* EIO ping */) { this.send('3'); return; }
    if (c0 === 0x31 /* EIO close */ && !this.closing) fail(`client ${this.index}: Engine.IO close from server`);
    // EIO noop/others: ignore
  }

  connected() {
    const r = this.onConnected;
    this.onConnected = null;
    if (r) r();
  }

  welcomed(buf, s, n) {
    const got = parseJson(buf.toString('utf8', s + 2, s + n));
    if (!this.welcome || this.sid === null || !isDeepStrictEqual(got, ['welcome', this.sid])) {
      return fail(`client ${this.index}: unexpected welcome ${this.text(buf, s, n)} (sid ${this.sid})`);
    }
    this.connected();
  }

  bcast(buf, s, n) {
    const c = ++this.count;
    if (!checkedBcast.has(this.port)) { // the first of each server
      checkedBcast.add(this.port);
      const got = parseJson(buf.toString('utf8', s + 2, s + n));
      if (!isDeepStrictEqual(got, ['bcast', bcastPayload])) {
        return fail(`broadcast packet differs: ${this.text(buf, s, n)}`);
      }
    }
    if (sender) {
      if (sender.witness) {
        if (sender.client === this || sender.witness === this) sender.pump();
      } else if (sender.client === this && sender.left > 0) { sender.left--; sender.sendOne(); }
    }
    if (c === expect) {
      if (++doneClients === clients.length) process.send({ ev: 'bdone', at: now() });
    } else if (c > expect) {
      fail(`client ${this.index}: got ${c} broadcasts, expected ${expect}`);
    }
  }

  ack(buf, s, n) {
    let i = s + 2;
    const end = s + n;
    let id = 0;
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) { id = id * 10 + (buf[i] - 0x30); i++; }
    if (this.e && this.e.ack) return this.echoed(buf, i, end - i, id);
    const p = this.pendingAck;
    if (!p || p.id !== id) return fail(`client ${this.index}: unexpected ack ${id}`);
    this.pendingAck = null;
    p.resolve(buf.toString('utf8', i, end));
  }

  // Emits [event, ...args] with an ack and resolves with the ack's JSON text.
  emitWithAck(argsJson) {
    const id = this.ackId++;
    return new Promise((resolve) => {
      this.pendingAck = { id, resolve };
      this.send(`42${id}${argsJson}`);
    });
  }

  // ---- echo: k messages, at most `window` in flight; replies come back in order (FIFO) ----
  startEcho(k, window, ack, lat, base) {
    return new Promise((resolve) => {
      this.e = { k, ack, lat, base, sent: 0, recv: 0, t: [], ids: [], resolve };
      for (let i = 0; i < Math.min(window, k); i++) this.sendEcho();
    });
  }

  sendEcho() {
    const e = this.e;
    const json = `{"seq":${e.sent},"s":"ping"}`;
    e.sent++;
    e.t.push(performance.now());
    if (e.ack) {
      const id = this.ackId++;
      e.ids.push(id);
      this.send(`42${id}["echo-ack",${json}]`);
    } else {
      this.send(`42["echo",${json}]`);
    }
  }

  // An `echo` event (id = -1; s, n: the whole packet) or an echo-ack ACK (s, n: its JSON).
  echoed(buf, s, n, id) {
    const e = this.e;
    if (!e || (id < 0) === e.ack || e.recv >= e.k) return fail(`client ${this.index}: unexpected echo ${this.text(buf, s, n)}`);
    const t = performance.now() - e.t.shift();
    if (e.ack) {
      const want = e.ids.shift();
      if (id !== want) return fail(`client ${this.index}: ack ${id}, expected ${want}`);
    }
    if (e.recv === 0) { // the first reply of each client: decode and compare
      const got = parseJson(buf.toString('utf8', e.ack ? s : s + 2, s + n));
      const p = { seq: 0, s: 'ping' };
      if (!isDeepStrictEqual(got, e.ack ? [p] : ['echo', p])) {
        return fail(`client ${this.index}: echo reply differs: ${this.text(buf, s, n)}`);
      }
    }
    e.lat[e.base + e.recv] = t;
    e.recv++;
    if (e.sent < e.k) this.sendEcho();
    if (e.recv === e.k) { this.e = null; e.resolve(); }
  }
}

async function lanes(n, parallel, fn) {
  let next = 0;
  async function lane() {
    while (next < n) await fn(next++);
  }
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, lane));
}

// ---- HTTP long-polling client ----
// A keep-alive HTTP/1.1 connection with one request at a time.
class HttpConn {
  constructor(owner) {
    this.owner = owner;
    this.sock = null;
    this.buf = null;
    this.pending = null; // { resolve, reject }
    this.head = null;    // { status, length, chunked } of the response being read
  }

  request(method, path, body) {
    if (!this.sock) this.open();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      let req = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
      if (body !== undefined) {
        req += `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      } else {
        req += '\r\n';
      }
      this.sock.write(req);
    });
  }

  open() {
    const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
    this.sock = sock;
    this.buf = null;
    this.head = null;
    sock.on('data', (d) => this.data(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      if (this.sock === sock) this.sock = null;
      const p = this.pending;
      this.pending = null;
      if (p && !this.owner.closing) p.reject(new Error(`polling client ${this.owner.index}: connection closed with a request pending`));
    });
  }

  data(chunk) {
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const buf = this.buf;
      if (!this.head) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.toString('latin1', 0, end).split('\r\n');
        const status = Number(lines[0].split(' ')[1]);
        let length = -1; let chunked = false; let close = false;
        for (const l of lines.slice(1)) {
          const c = l.indexOf(':');
          const k = l.slice(0, c).trim().toLowerCase();
          const v = l.slice(c + 1).trim().toLowerCase();
          if (k === 'content-length') length = Number(v);
          else if (k === 'transfer-encoding' && v.includes('chunked')) chunked = true;
          else if (k === 'connection' && v === 'close') close = true;
        }
        this.head = { status, length, chunked, close, body: [] };
        this.buf = buf.subarray(end + 4);
        continue;
      }
      const h = this.head;
      let body;
      if (h.chunked) {
        // size CRLF data CRLF ... 0 CRLF CRLF
        let off = 0; const parts = []; let complete = false;
        for (;;) {
          const eol = buf.indexOf('\r\n', off);
          if (eol < 0) break;
          const size = parseInt(buf.toString('latin1', off, eol), 16);
          if (size === 0) {
            if (buf.length < eol + 4) break;
            off = eol + 4; complete = true; break;
          }
          if (buf.length < eol + 2 + size + 2) break;
          parts.push(buf.subarray(eol + 2, eol + 2 + size));
          off = eol + 2 + size + 2;
        }
        if (!complete) return;
        body = Buffer.concat(parts);
        this.buf = buf.subarray(off);
      } else {
        const length = Math.max(h.length, 0);
        if (buf.length < length) return;
        body = buf.subarray(0, length);
        this.buf = buf.subarray(length);
      }
      this.head = null;
      const p = this.pending;
      this.pending = null;
      if (h.close && this.sock) { const s = this.sock; this.sock = null; s.destroy(); }
      if (!p) return fail(`polling client ${this.owner.index}: response without a request`);
      p.resolve({ status: h.status, body: body.toString('utf8') });
      if (!this.buf.length) { this.buf = null; return; }
    }
  }

  destroy() { if (this.sock) this.sock.destroy(); this.sock = null; }
}

class PollClient {
  constructor(index) {
    this.index = index;
    this.get = new HttpConn(this);
    this.post = new HttpConn(this);
    this.sid = null;
    this.closing = false;
    this.waiting = null; // resolves with the next `echo` packet's text
    this.connectedResolve = null;
  }

  path() { return `/socket.io/?EIO=4&transport=polling${this.sid ? `&sid=${this.sid}` : ''}`; }

  async connect() {
    const r = await this.get.request('GET', this.path());
    if (r.status !== 200 || r.body[0] !== '0') throw new Error(`polling handshake: ${r.status} ${r.body.slice(0, 200)}`);
    const open = parseJson(r.body.slice(1));
    if (!open || !open.sid) throw new Error(`polling handshake: ${r.body.slice(0, 200)}`);
    this.sid = open.sid;
    const connected = new Promise((resolve) => { this.connectedResolve = resolve; });
    this.loop();
    await this.postText('40');
    await connected;
  }

  async postText(text) {
    const r = await this.post.request('POST', this.path(), text);
    if (r.status !== 200 || r.body !== 'ok') fail(`polling client ${this.index}: POST answered ${r.status} ${r.body.slice(0, 200)}`);
  }

  // The long-polling loop: one GET pending at all times.
  async loop() {
    while (!this.closing) {
      let r;
      try { r = await this.get.request('GET', this.path()); } catch (e) { if (!this.closing) fail(String(e.message)); return; }
      if (this.closing) return;
      if (r.status !== 200) return fail(`polling client ${this.index}: GET answered ${r.status} ${r.body.slice(0, 200)}`);
      for (const p of r.body.split('\x1e')) this.packet(p);
    }
  }

  packet(p) {
    if (p.startsWith('42')) {
      const w = this.waiting;
      this.waiting = null;
      if (!w) return fail(`polling client ${this.index}: unexpected event ${p.slice(0, 200)}`);
      w(p);
    } else if (p.startsWith('40')) {
      const r = this.connectedResolve;
      this.connectedResolve = null;
      if (r) r(); else fail(`polling client ${this.index}: unexpected ${p.slice(0, 200)}`);
    } else if (p === '2') {
      this.postText('3');
    } else if (p === '6') {
      // noop
    } else {
      fail(`polling client ${this.index}: unexpected packet ${p.slice(0, 200)}`);
    }
  }

  // k echoes, one at a time: POST the event, wait for its `ok` and for the echo on the GET.
  async echo(k, lat, base) {
    for (let j = 0; j < k; j++) {
      const json = `{"seq":${j},"s":"ping"}`;
      const got = new Promise((resolve) => { this.waiting = resolve; });
      const t0 = performance.now();
      await Promise.all([this.postText(`42["echo",${json}]`), got.then((p) => {
        lat[base + j] = performance.now() - t0;
        if (j === 0 && !isDeepStrictEqual(parseJson(p.slice(2)), ['echo', { seq: 0, s: 'ping' }])) {
          fail(`polling client ${this.index}: echo reply differs: ${p.slice(0, 200)}`);
        }
      })]);
    }
  }

  destroy() { this.closing = true; this.get.destroy(); this.post.destroy(); }
}

// ---- commands ----
const handlers = {
  // Opens m.count WebSocket clients (m.parallel at a time); each joins room m.join if set.
  // m.welcome: the server runs the "mw" mode. m.tolerate: stop at the first failure and report
  // how many got connected instead of failing (for the descriptor-limit run).
  async connect(m) {
    port = m.port;
    const start = now();
    let firstError = null;
    const first = clients.length;
    for (let i = 0; i < m.count; i++) clients.push(new WsClient(first + i, !!m.welcome));
    let ok = 0;
    await lanes(m.count, m.parallel || 50, async (i) => {
      if (firstError) return;
      const c = clients[first + i];
      try {
        await c.connect();
      } catch (e) {
        if (!m.tolerate) throw e;
        firstError = firstError || String(e.message || e);
        return;
      }
      if (m.join) {
        const text = await c.emitWithAck(`["join",${JSON.stringify(m.join)}]`);
        if (text !== '[true]') return fail(`join ack was ${text}`);
      }
      ok++;
    });
    if (firstError) { // keep only the connected ones
      const keep = clients.filter((c) => c.sid !== null && !c.onConnected);
      for (const c of clients) if (!keep.includes(c)) c.destroy();
      clients.length = 0;
      clients.push(...keep);
    }
    process.send({ ev: 'connected', n: ok, total: clients.length, firstError, start, end: now() });
  },
  arm(m) {
    expect = m.expect;
    bcastPayload = m.payload;
    checkedBcast.clear();
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
    if (m.witnessPort) {
      // `cluster`: at most m.window packets not yet seen back both by the sender (from its own
      // server) and by the witness, this process's client of the other server (through Redis).
      const w = clients.find((x) => x.port === m.witnessPort);
      if (!w) return fail(`no client of port ${m.witnessPort} in the sender's process`);
      let sent = 0;
      sender = {
        client: c, witness: w,
        pump() {
          const seen = Math.min(c.count, w.count);
          while (sent < m.m && sent - seen < m.window) { c.sock.write(f); sent++; }
        },
      };
      const start = now();
      sender.pump();
      process.send({ ev: 'sent', start });
      return;
    }
    sender = { client: c, left: m.m, sendOne() { c.sock.write(f); } };
    const start = now();
    const first = Math.min(m.window, m.m);
    sender.left -= first;
    for (let i = 0; i < first; i++) sender.sendOne();
    process.send({ ev: 'sent', start });
  },
  // How many broadcasts each client has received since `arm` (the `cluster` phase's final check:
  // none came late or twice).
  bcount() {
    let min = Infinity; let max = -Infinity;
    for (const c of clients) { min = Math.min(min, c.count); max = Math.max(max, c.count); }
    process.send({ ev: 'bcount', n: clients.length, min, max });
  },
  // The first m.count clients each send m.k `echo` (or `echo-ack` when m.ack) packets, at most
  // m.window in flight; latency of each, from send to reply.
  async echo(m) {
    const lat = new Float64Array(m.count * m.k);
    const start = now();
    await Promise.all(clients.slice(0, m.count).map((c, i) => c.startEcho(m.k, m.window, !!m.ack, lat, i * m.k)));
    process.send({ ev: 'edone', start, end: now(), lat: Array.from(lat) });
  },
  // Connect churn: m.cycles times (m.parallel at a time) a new WebSocket client connects to '/',
  // gets its CONNECT (and welcome, m.welcome), sends DISCONNECT and closes, and waits for the
  // server to close the TCP connection. Latency: TCP connect start .. CONNECT (and welcome).
  async churn(m) {
    port = m.port;
    const lat = new Float64Array(m.cycles);
    const start = now();
    await lanes(m.cycles, m.parallel, async (i) => {
      const c = new WsClient(`churn ${i}`, !!m.welcome);
      const t0 = performance.now();
      await c.connect();
      lat[i] = performance.now() - t0;
      await c.leave();
    });
    process.send({ ev: 'churned', start, end: now(), lat: Array.from(lat) });
  },
  // One more client asks the server how many times the middleware's after-next() part ran.
  async left(m) {
    port = m.port;
    const c = new WsClient('left', !!m.welcome);
    await c.connect();
    const text = await c.emitWithAck('["left"]');
    await c.leave();
    process.send({ ev: 'left', n: (parseJson(text) || [])[0] });
  },
  async pconnect(m) {
    port = m.port;
    const first = pollClients.length;
    for (let i = 0; i < m.count; i++) pollClients.push(new PollClient(first + i));
    await lanes(m.count, m.parallel || 20, (i) => pollClients[first + i].connect());
    process.send({ ev: 'pconnected', n: pollClients.length });
  },
  async pecho(m) {
    const lat = new Float64Array(m.count * m.k);
    const start = now();
    await Promise.all(pollClients.slice(0, m.count).map((c, i) => c.echo(m.k, lat, i * m.k)));
    process.send({ ev: 'pdone', start, end: now(), lat: Array.from(lat) });
  },
  // socket.io-client v4: m.n sequential connections with m.transports; latency from io() to
  // 'connect'; each is disconnected (and its engine closed) before the next.
  async ioconnect(m) {
    const { io } = await import('socket.io-client');
    const lat = new Float64Array(m.n);
    const opts = { forceNew: true, reconnection: false, timeout: 10000 };
    if (m.transports) opts.transports = m.transports;
    const start = now();
    for (let i = 0; i < m.n; i++) {
      const t0 = performance.now();
      const s = io(`http://127.0.0.1:${m.port}`, opts);
      await new Promise((resolve, reject) => {
        s.once('connect', resolve);
        s.once('connect_error', (e) => reject(new Error(`socket.io-client (${m.transports || 'default'}): ${e.message}`)));
      });
      lat[i] = performance.now() - t0;
      if (typeof s.id !== 'string' || !s.connected) throw new Error('socket.io-client: connected without an id');
      const engine = s.io.engine;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, 2000);
        engine.once('close', () => { clearTimeout(t); resolve(); });
        s.disconnect();
      });
    }
    process.send({ ev: 'ioconnected', start, end: now(), lat: Array.from(lat) });
  },
  close() {
    for (const c of clients) c.destroy();
    for (const c of pollClients) c.destroy();
    process.exit(0);
  },
};

process.on('message', (m) => {
  Promise.resolve(handlers[m.cmd](m)).catch((e) => fail(String(e && e.stack || e)));
});
process.on('disconnect', () => process.exit(0));
