// The demo chat app (app/, config/, public/) driven by the real socket.io-client 4:
// the egg-socket.io tutorial's wire protocol plus the demo's own events.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { io } from 'socket.io-client';
import ioV2 from 'socket.io-client-v2';
import { assertNoSanitizerReport, startDemo } from './demo_server.mjs';

const GROUP = '群聊';
const QUIET_MS = 300; // how long we listen for messages that must NOT arrive

let server;
const open = new Set();

before(async () => { server = await startDemo(); });
after(async () => {
  await server?.stop();
  if (server) assertNoSanitizerReport(server.output());
});
afterEach(() => { for (const c of open) c.close(); open.clear(); });

// A client that records every event it receives, so tests can also assert on absences.
class Client {
  constructor(query, opts = {}) {
    this.events = [];
    this.waiters = [];
    this.socket = io(server.url, { query, forceNew: true, reconnection: false, ...opts });
    this.socket.onAny((event, ...args) => {
      this.events.push({ event, args });
      this.waiters = this.waiters.filter((w) => !w.check());
    });
    this.disconnectReason = new Promise((r) => this.socket.on('disconnect', r));
    // socket.id is cleared on disconnect: keep the one we had (a denied socket loses it fast).
    this.socket.on('connect', () => { this.sid = this.socket.id; });
    open.add(this);
  }

  get id() { return this.socket.id ?? this.sid; }

  connected() {
    if (this.socket.connected) return Promise.resolve(this);
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve(this));
      this.socket.once('connect_error', reject);
    });
  }

  // Resolves with the args of the first recorded event matching, waiting up to `ms`.
  waitFor(event, pred = () => true, ms = 3000) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const hit = this.events.find((e) => e.event === event && pred(...e.args));
          if (hit) { clearTimeout(w.timer); resolve(hit.args); return true; }
          return false;
        },
      };
      if (w.check()) return;
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no '${event}' within ${ms} ms; got: ${JSON.stringify(this.events.map((e) => e.event))}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  received(event) { return this.events.filter((e) => e.event === event); }

  emitAck(...args) {
    return this.socket.timeout(3000).emitWithAck(...args);
  }

  close() { this.socket.close(); }
}

async function join(nickname, extra = {}, opts = {}) {
  const c = new Client({ room: 'demo', ...(nickname ? { nickname } : {}), ...extra }, opts);
  await c.connected();
  // Joined once the room's `users` list includes us.
  await c.waitFor('users', (m) => m.users.some((u) => u.id === c.id));
  return c;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Events other than presence ones (online/users) that reached a client.
const chatEvents = (c) => c.events.filter((e) => e.event !== 'online' && e.event !== 'users');

test('GET / serves the chat page, its assets and the Socket.IO client from the app itself', async () => {
  const page = await fetch(`${server.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  const html = await page.text();
  assert.match(html, /<script src="\/socket\.io\/socket\.io\.js">/);
  assert.doesNotMatch(html, /https?:\/\//, 'no CDN: the demo works offline');
  for (const asset of ['/socket.io/socket.io.js', '/public/js/chat.js', '/public/css/chat.css']) {
    const r = await fetch(server.url + asset);
    assert.equal(r.status, 200, asset);
    assert.ok((await r.text()).length > 100, asset);
  }
});

test('join: the room gets `online` (the tutorial\'s event) and `users` with nicknames', async () => {
  const a = await join('alice');
  const [online] = await a.waitFor('online', (m) => m.action === 'join' && m.clients.includes(a.id));
  assert.equal(online.target, 'participant');
  assert.match(online.message, /alice joined/);
  const b = await join('bob');
  const [seen] = await a.waitFor('online', (m) => m.action === 'join' && m.client === b.id);
  assert.deepEqual([...seen.clients].sort(), [a.id, b.id].sort());
  const [users] = await a.waitFor('users', (m) => m.users.length === 2);
  assert.equal(users.room, 'demo');
  assert.deepEqual(users.users, [{ id: a.id, nickname: 'alice' }, { id: b.id, nickname: 'bob' }]);
});

test('the tutorial\'s own client options (websocket only, no nickname) join fine', async () => {
  const c = await join(null, {}, { transports: ['websocket'] });
  const [users] = await c.waitFor('users', (m) => m.users.some((u) => u.id === c.id));
  assert.equal(users.users.find((u) => u.id === c.id).nickname, null);
});

for (const [label, query] of [['a room that does not exist', { room: 'nope' }], ['no room at all', {}]]) {
  test(`deny for ${label}: parseMsg('deny') on the socket's own id, then disconnect`, async () => {
    const c = new Client(query);
    await c.connected();
    const id = c.id;
    const [msg] = await c.waitFor(id);
    assert.equal(msg.data.action, 'deny');
    assert.equal(msg.data.payload.type, 'deleted');
    assert.equal(typeof msg.data.payload.message, 'string');
    assert.equal(typeof msg.meta.timestamp, 'number');
    assert.ok(Math.abs(msg.meta.timestamp - Date.now()) < 60000, 'timestamp is epoch milliseconds');
    assert.equal(await c.disconnectReason, 'io server disconnect');
    assert.equal(c.received('online').length, 0, 'a denied socket never joins');
  });
}

test('leave: the others get `online` with action leave and the remaining clients', async () => {
  const a = await join('ann');
  const b = await join('ben');
  const bid = b.id;
  b.close();
  const [left] = await a.waitFor('online', (m) => m.action === 'leave' && m.client === bid);
  assert.deepEqual(left.clients, [a.id]);
  assert.match(left.message, /ben left/);
  await a.waitFor('users', (m) => m.users.length === 1 && m.users[0].id === a.id);
});

test('group message reaches the rest of the room, not the sender, not other rooms', async () => {
  const a = await join('gina');
  const b = await join('gus');
  const c = await join('gil', {}, { transports: ['polling'] });
  const other = await join('otto', { room: 'lobby' });
  const text = 'hi 你好 😀 <b>not html</b>';
  const ack = await a.emitAck('exchange', { target: GROUP, payload: { msg: text } });
  assert.equal(ack.ok, true);
  for (const r of [b, c]) {
    const [msg] = await r.waitFor(GROUP);
    assert.equal(msg.data.action, 'exchange');
    assert.deepEqual(msg.data.payload, { msg: text });
    assert.equal(msg.meta.client, a.id);
    assert.equal(msg.meta.target, GROUP);
    assert.equal(msg.meta.nickname, 'gina');
  }
  await sleep(QUIET_MS);
  assert.equal(a.received(GROUP).length, 0, 'the sender does not get its own message back');
  assert.deepEqual(chatEvents(other), [], 'another room hears nothing');
});

test('private message reaches only the target (a third client receives nothing)', async () => {
  const a = await join('pia');
  const b = await join('pat');
  const c = await join('pam');
  const ack = await a.emitAck('exchange', { target: b.id, payload: { msg: 'psst' } });
  assert.equal(ack.ok, true);
  const [msg] = await b.waitFor(b.id);
  assert.equal(msg.data.action, 'exchange');
  assert.deepEqual(msg.data.payload, { msg: 'psst' });
  assert.equal(msg.meta.client, a.id);
  assert.equal(msg.meta.target, b.id);
  await sleep(QUIET_MS);
  assert.deepEqual(chatEvents(c), [], 'third client');
  assert.deepEqual(chatEvents(a), [], 'sender');
  assert.equal(chatEvents(b).length, 1, 'target gets it once');
});

test('private message to a socket outside the sender\'s room is refused', async () => {
  const a = await join('rita');
  const other = await join('rex', { room: 'lobby' });
  const ack = await a.emitAck('exchange', { target: other.id, payload: { msg: 'hey' } });
  assert.equal(ack.ok, false);
  const ack2 = await a.emitAck('exchange', { target: 'lobby', payload: { msg: 'into a room name' } });
  assert.equal(ack2.ok, false);
  await sleep(QUIET_MS);
  assert.deepEqual(chatEvents(other), []);
});

test('the tutorial\'s client shape (emit without ack) still works', async () => {
  const a = await join('tia');
  const b = await join('tom');
  a.socket.emit('exchange', { target: b.id, payload: { msg: 'no ack' } });
  const [msg] = await b.waitFor(b.id);
  assert.equal(msg.data.payload.msg, 'no ack');
});

test('nicknames are unique in a room (case-insensitively), free again after leaving', async () => {
  const a = await join('Neo');
  // Taken at join: deny with type 'nickname', then disconnect.
  const dup = new Client({ room: 'demo', nickname: 'neo' });
  await dup.connected();
  const [deny] = await dup.waitFor(dup.id);
  assert.equal(deny.data.action, 'deny');
  assert.equal(deny.data.payload.type, 'nickname');
  assert.equal(await dup.disconnectReason, 'io server disconnect');
  // Taken when changing it.
  const b = await join(null);
  assert.deepEqual(await b.emitAck('nickname', 'NEO'), { ok: false, error: 'taken' });
  assert.deepEqual(await b.emitAck('nickname', '   '), { ok: false, error: 'invalid' });
  assert.deepEqual(await b.emitAck('nickname', 'x'.repeat(21)), { ok: false, error: 'invalid' });
  assert.deepEqual(await b.emitAck('nickname', '  Trinity '), { ok: true, nickname: 'Trinity' });
  await a.waitFor('users', (m) => m.users.some((u) => u.id === b.id && u.nickname === 'Trinity'));
  // The same name in another room is fine.
  await join('Neo', { room: 'lobby' });
  // Free again once its owner leaves.
  a.close();
  await b.waitFor('users', (m) => !m.users.some((u) => u.nickname === 'Neo'));
  assert.deepEqual(await b.emitAck('nickname', 'neo'), { ok: true, nickname: 'neo' });
});

test('typing: shown to the others in the group, to the target only in private', async () => {
  const a = await join('tara');
  const b = await join('theo');
  const c = await join('tess');
  a.socket.emit('typing', { target: GROUP, typing: true });
  for (const r of [b, c]) {
    const [t] = await r.waitFor('typing', (m) => m.typing === true);
    assert.deepEqual({ ...t }, { client: a.id, nickname: 'tara', target: GROUP, typing: true });
  }
  a.socket.emit('typing', { target: GROUP, typing: false });
  await b.waitFor('typing', (m) => m.typing === false && m.client === a.id);
  await sleep(QUIET_MS);
  assert.equal(a.received('typing').length, 0, 'not echoed to the sender');

  c.socket.emit('typing', { target: b.id, typing: true });
  const [t] = await b.waitFor('typing', (m) => m.client === c.id);
  assert.equal(t.target, b.id);
  await sleep(QUIET_MS);
  assert.equal(a.received('typing').filter((e) => e.args[0].client === c.id).length, 0);
});

test('voice: a binary message arrives intact, privately and in the group', async () => {
  const a = await join('vic');
  const b = await join('val');
  const c = await join('vera');
  const audio = crypto.randomBytes(200 * 1024); // ~200 KB, every byte value
  const ack = await a.emitAck('voice', { target: b.id, mime: 'audio/webm;codecs=opus', duration: 4321, audio });
  assert.equal(ack.ok, true);
  const [msg] = await b.waitFor('voice');
  assert.equal(msg.data.action, 'voice');
  assert.ok(Buffer.isBuffer(msg.data.payload.audio), 'still binary, not base64 or JSON');
  assert.ok(msg.data.payload.audio.equals(audio), 'same bytes');
  assert.equal(msg.data.payload.mime, 'audio/webm;codecs=opus');
  assert.equal(msg.data.payload.duration, 4321);
  assert.equal(msg.meta.client, a.id);
  assert.equal(msg.meta.target, b.id);
  await sleep(QUIET_MS);
  assert.equal(c.received('voice').length, 0, 'private voice does not reach a third client');

  const small = Buffer.from([0, 1, 2, 255, 254, 0]);
  await a.emitAck('voice', { target: GROUP, mime: 'audio/ogg', duration: 10, audio: small });
  for (const r of [b, c]) {
    const [g] = await r.waitFor('voice', (m) => m.meta.target === GROUP);
    assert.ok(g.data.payload.audio.equals(small));
  }
  assert.deepEqual(await a.emitAck('voice', { target: GROUP, audio: 'not binary' }), { ok: false, error: 'no audio' });
});

// The tutorial's page loads socket.io 2.x (Engine.IO v3) and talks exactly like this.
function tutorialClient(room) {
  const socket = ioV2(server.url, { query: { room }, transports: ['websocket'], forceNew: true, reconnection: false });
  const got = [];
  const connected = new Promise((resolve, reject) => {
    socket.on('connect', () => {
      const id = socket.id;
      socket.on(id, (msg) => got.push({ event: 'self', msg }));
      resolve(id);
    });
    socket.on('connect_error', reject);
  });
  socket.on('online', (msg) => got.push({ event: 'online', msg }));
  socket.on(GROUP, (msg) => got.push({ event: GROUP, msg }));
  open.add({ close: () => socket.close() });
  const waitFor = async (event, pred = () => true) => {
    const deadline = Date.now() + 3000;
    for (;;) {
      const hit = got.find((g) => g.event === event && pred(g.msg));
      if (hit) return hit.msg;
      if (Date.now() > deadline) throw new Error(`v2 client: no ${event}; got ${JSON.stringify(got)}`);
      await sleep(20);
    }
  };
  return { socket, got, connected, waitFor };
}

test('the tutorial\'s original client (socket.io 2.x over websocket) works unchanged', async () => {
  const t = tutorialClient('demo');
  const id = await t.connected;
  const online = await t.waitFor('online', (m) => m.action === 'join' && m.clients.includes(id));
  assert.equal(online.target, 'participant');
  const b = await join('modern');
  // private to the v2 client, on its own id (its id is the Engine.IO sid, as it believes)
  await b.emitAck('exchange', { target: id, payload: { msg: 'to v2' } });
  const priv = await t.waitFor('self');
  assert.equal(priv.data.payload.msg, 'to v2');
  assert.equal(priv.meta.client, b.id);
  // group and private from the v2 client, as its page sends them
  t.socket.emit('exchange', { target: GROUP, payload: { msg: 'from v2 群' } });
  const [g] = await b.waitFor(GROUP);
  assert.equal(g.data.payload.msg, 'from v2 群');
  assert.equal(g.meta.client, id);
  t.socket.emit('exchange', { target: b.id, payload: { msg: 'v2 private' } });
  const [p] = await b.waitFor(b.id);
  assert.equal(p.data.payload.msg, 'v2 private');
  await sleep(QUIET_MS);
  assert.equal(t.got.filter((x) => x.event === GROUP).length, 0, 'no echo to the sender');
});

test('the tutorial\'s original client is denied a missing room the same way', async () => {
  const t = tutorialClient('gone');
  const id = await t.connected;
  const deny = await t.waitFor('self');
  assert.equal(deny.data.action, 'deny');
  assert.equal(deny.data.payload.type, 'deleted');
  assert.ok(id);
});
