// The reference server for bench/run.mjs: socket.io 4 with the same events and settings as
// bench/app (yolk). Usage: node bench/node_server.mjs PORT [MODE]
//
// Events on '/' (bench/app/app/io/controller/bench.lua does the same):
//   echo(...args)            emits `echo` with the same args back to the sender (no ack)
//   echo-ack(...args, ack)   acks the same args back
//   bcast(payload)           emits `bcast` payload to every socket of '/'
//   bcastRoom(room, payload) emits `bcast` payload to every socket in room
//   join(room, ack)          joins room, acks true
//   left(ack)                acks how many sockets the "mw" mode saw leave (its after-next() part)
// MODE "mw": the demo-style connection middleware on '/' (bench/app/app/io/middleware/member.lua):
// the socket joins the room "members" and gets a `welcome` emit right after its CONNECT; when it
// disconnects, a counter goes up. io.use() cannot run code after the socket has left, so the
// after-next() part is a 'disconnect' listener; and socket.io sends emits made inside io.use()
// before the CONNECT packet, so the emit is in the connection handler, where the client sees it
// in the same place as yolk's (right after CONNECT).
// YOLK_BENCH_REDIS_URL=redis://127.0.0.1:PORT (the `cluster` phase; bench/app reads the same
// variable): @socket.io/redis-adapter 8 over two node-redis 4 clients (publisher, subscriber),
// default key 'socket.io', as yolk's config.io.redis. Unset: the default in-memory adapter.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] || 3000);
const mode = process.argv[3] || process.env.YOLK_BENCH_MODE || '';
const redisUrl = process.env.YOLK_BENCH_REDIS_URL || '';

let adapter;
if (redisUrl) {
  const { createClient } = await import('redis');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on('error', (e) => process.stderr.write(`redis: ${e.message}\n`));
  await Promise.all([pub.connect(), sub.connect()]);
  adapter = createAdapter(pub, sub);
}

const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: 60000,
  pingTimeout: 60000,
  maxHttpBufferSize: 1e6,
  serveClient: false,
  ...(adapter ? { adapter } : {}),
});

let left = 0;
if (mode === 'mw') {
  io.use((socket, next) => {
    socket.join('members');
    next();
  });
}

io.on('connection', (socket) => {
  if (mode === 'mw') {
    socket.emit('welcome', socket.id);
    socket.on('disconnect', () => { left++; });
  }
  socket.on('echo', (...args) => { socket.emit('echo', ...args); });
  socket.on('echo-ack', (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on('bcast', (payload) => { io.emit('bcast', payload); });
  socket.on('bcastRoom', (room, payload) => { io.to(room).emit('bcast', payload); });
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack(true);
  });
  socket.on('left', (ack) => { if (typeof ack === 'function') ack(left); });
});

httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${port}${mode ? ` (mode ${mode})` : ''}${redisUrl ? ` (redis ${redisUrl})` : ''}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
