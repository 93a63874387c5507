// client.mjs
import { io } from 'socket.io-client';

const url = `${process.env.URL || 'http://127.0.0.1:7001'}/auction`;
const ann = io(url, { auth: { name: 'Ann' } });
const bob = io(url, { auth: { name: 'Bob' } });
await Promise.all([ann, bob].map((s) => new Promise((ok) => s.on('connect', ok))));

const heard = new Promise((ok) => bob.once('outbid', ok));
let r = await ann.emitWithAck('bid', 10);
console.log('Ann bids 10:', r.ok ? 'accepted' : `refused, the best bid is ${r.best}`);
const news = await heard;
console.log(`Bob hears: ${news.by} bid ${news.amount}`);
r = await bob.emitWithAck('bid', 8);
console.log('Bob bids 8:', r.ok ? 'accepted' : `refused, the best bid is ${r.best}`);

const nameless = io(url);
const err = await new Promise((ok) => nameless.on('connect_error', ok));
console.log('no name:', err.message);
for (const s of [ann, bob, nameless]) s.close();
