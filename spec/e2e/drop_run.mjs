// The drop test of connection state recovery (issue 11), as a function any server can be
// put through: `clients` socket.io-client 4.8 clients each lose their connection every
// `dropEveryMs` (their TCP socket destroyed under the WebSocket, as a network loss looks)
// for `seconds`, while a client that is never dropped has the server broadcast `rate`
// numbered messages per second to everyone. Every client must end with every message
// exactly once, in order. Returns the figures.
import { io } from 'socket.io-client';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function dropTest(url, { clients = 200, seconds = 60, dropEveryMs = 2000, rate = 20 } = {}) {
  const opts = { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 300 };
  const connectOne = () => new Promise((resolve, reject) => {
    const s = io(url, opts);
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
  const broadcaster = await connectOne();
  const sockets = [];
  for (let i = 0; i < clients; i += 20) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(20, clients - i) }, connectOne))));
  }
  const got = sockets.map(() => []);
  let recovered = 0;
  let fresh = 0;
  sockets.forEach((s, i) => {
    s.on('tick', (n) => got[i].push(n));
    s.on('connect', () => { if (s.recovered) recovered++; else fresh++; }); /* the first connect is past */
  });

  let seq = 0;
  const send = () => new Promise((resolve) => broadcaster.emit('broadcast', {}, 'tick', ++seq, resolve));
  // everyone holds an offset before the first drop
  await send();
  const t0 = Date.now();
  while (got.some((g) => g.length === 0)) {
    if (Date.now() - t0 > 10000) throw new Error('the first message did not reach every client');
    await sleep(20);
  }

  let drops = 0;
  const timers = sockets.map((s, i) => setTimeout(function drop() {
    const ws = s.io.engine?.transport?.ws;
    if (s.connected && ws?._socket) {
      ws._socket.destroy();
      drops++;
    }
    timers[i] = setTimeout(drop, dropEveryMs);
  }, Math.floor((i * dropEveryMs) / clients)));

  const end = Date.now() + seconds * 1000;
  const interval = 1000 / rate;
  let next = Date.now();
  while (Date.now() < end) {
    await send();
    next += interval;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  timers.forEach(clearTimeout);
  // let everyone come back, then one last message
  const settle = Date.now() + 15000;
  while (sockets.some((s) => !s.connected) && Date.now() < settle) await sleep(50);
  await send();
  const deadline = Date.now() + 5000;
  while (got.some((g) => g[g.length - 1] !== seq) && Date.now() < deadline) await sleep(50);

  let delivered = 0;
  let missing = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  for (const g of got) {
    const seen = new Set();
    let prev = 0;
    for (const n of g) {
      if (seen.has(n)) duplicates++;
      else seen.add(n);
      if (n < prev) outOfOrder++;
      prev = n;
    }
    for (let n = 1; n <= seq; n++) if (seen.has(n)) delivered++; else missing++;
  }
  broadcaster.close();
  for (const s of sockets) s.close();
  const expected = clients * seq;
  return {
    clients, seconds, messages: seq, drops, recovered, fresh, expected, delivered, missing, duplicates, outOfOrder,
    deliveredPct: (100 * delivered) / expected,
  };
}
