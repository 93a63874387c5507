// The reference server for bench/run.mjs: socket.io 4 with the same events and settings as
// bench/app (yolk). Usage: node bench/node_server.mjs PORT
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] || 3000);
const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: 60000,
  pingTimeout: 60000,
  maxHttpBufferSize: 1e6,
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.on('echo', (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on('bcast', (payload) => { io.emit('bcast', payload); });
  socket.on('bcastRoom', (room, payload) => { io.to(room).emit('bcast', payload); });
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack(true);
  });
});

httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
