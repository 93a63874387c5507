// yolk vs Node socket.io benchmark. `make bench` builds the release binary and runs this.
//
//   node bench/run.mjs [--clients N] [--messages M] [--concurrency C] [--requests K]
//                      [--procs P] [--window W] [--servers yolk,node] [--yolk PATH] [--out FILE]
//                      [--profile bcast|room|single|echo] [--luaprof FILE] [--mallocs 1]
//
// Each server in turn is started on a free 127.0.0.1 port with the same app (bench/app for
// yolk, bench/node_server.mjs for socket.io 4), then P client processes (bench/client.mjs)
// open N WebSocket clients, each joins room "bench", and we measure:
//   1. broadcast: one client emits M `bcast` packets, the server emits each to all N sockets
//      of '/' (io.emit / app.io:of('/'):emit); deliveries/s = N*M / (first send .. last receipt).
//      Also `bcastRoom` (to the room "bench", which everyone joined), and `bcast` with one packet
//      in flight (M/4 packets): no batching across packets.
//   2. echo: C clients each do K sequential emits with ack; requests/s, p50/p99 latency.
//   3. memory: server RSS before clients, after N clients, and peak (VmHWM) at the end.
// Server CPU time (utime+stime from /proc) per phase is reported too: on a small shared machine
// the clients compete with the server for cores, and CPU per delivery/request is the figure
// least disturbed by that. Client CPU is printed so a saturated client side would be visible.
// Both servers get the same clients: bench/client.mjs speaks WebSocket/Engine.IO/Socket.IO v4
// over raw TCP (no socket.io-client), so a delivery costs the client little and the servers are
// what is measured; it still checks the first broadcast and echo ack of every phase.
// Every process started here is killed on exit. Results: table on stdout, JSON in bench/results/.
//
// Diagnosis (yolk only): --profile PHASE records a perf profile of that phase (BENCH_CALLGRAPH=dwarf
// for C call stacks, BENCH_PERF_EVENT=... to sample another event); --luaprof FILE runs LuaJIT's
// profiler in the server; --mallocs 1 counts libc allocations per phase (BENCH_COUNT_EVENTS=...
// counts other perf events instead, e.g. syscalls:sys_enter_writev); YOLK_BENCH_GCPAUSE=N sets
// the Lua GC pause. None of these is on in a normal run.
import { spawn, spawnSync, fork } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

function args() {
  const o = {
    clients: 1000, messages: 1000, concurrency: 50, requests: 400, procs: 2, window: 64,
    servers: 'yolk,node', yolk: '', out: path.join(here, 'results', 'latest.json'), timeout: 60,
    profile: '', // a phase name (bcast, room, single, echo): record yolk with perf during it
    luaprof: '', // a file: yolk runs LuaJIT's profiler (bench/app/app.lua) and writes its report there
    mallocs: 0, // 1: count yolk's malloc/calloc/realloc calls per phase with perf uprobes (slows it down)
  };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i].replace(/^--/, '');
    if (!(k in o)) { console.error(`unknown option ${a[i]}`); process.exit(2); }
    o[k] = typeof o[k] === 'number' ? Number(a[++i]) : a[++i];
  }
  if (!o.yolk) {
    o.yolk = ['build-release/yolk', 'build/yolk'].map((p) => path.join(root, p)).find((p) => existsSync(p));
  }
  return o;
}
const opt = args();

const started = new Set(); // child processes to kill on exit
function killAll() {
  for (const c of started) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function waitListening(port, proc, log) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}):\n${log.join('')}`);
    const ok = await new Promise((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`server did not listen on ${port}:\n${log.join('')}`);
}

function procStatus(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1] || 0);
  return { rssKB: kb('VmRSS'), hwmKB: kb('VmHWM') };
}

const TICK = 100; // USER_HZ on Linux
function cpuSec(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime
  } catch { return 0; }
}

function startServer(name, port) {
  const cmd = name === 'yolk'
    ? [opt.yolk, ['start', '--baseDir', path.join(here, 'app'), '--port', String(port), '--env', 'prod']]
    : [process.execPath, [path.join(here, 'node_server.mjs'), String(port)]];
  const env = { ...process.env };
  if (name === 'yolk' && opt.luaprof) env.YOLK_BENCH_LUAPROF = path.resolve(opt.luaprof);
  const proc = spawn(cmd[0], cmd[1], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(proc);
  const log = [];
  proc.stdout.on('data', (d) => log.push(String(d)));
  proc.stderr.on('data', (d) => log.push(String(d)));
  proc.on('exit', () => started.delete(proc));
  return { proc, log };
}

async function stopServer(s) {
  if (s.proc.exitCode !== null) return;
  const gone = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

// A forked client process with request/response over IPC.
function startWorker() {
  const w = fork(path.join(here, 'client.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  started.add(w);
  w.on('exit', () => started.delete(w));
  w.waiters = [];
  w.on('message', (m) => {
    if (m.ev === 'error') {
      for (const x of w.waiters.splice(0)) x.reject(new Error(m.msg));
      w.failed = m.msg;
      return;
    }
    const i = w.waiters.findIndex((x) => x.ev === m.ev);
    if (i >= 0) w.waiters.splice(i, 1)[0].resolve(m);
  });
  w.wait = (ev) => new Promise((resolve, reject) => {
    if (w.failed) return reject(new Error(w.failed));
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), opt.timeout * 1000);
    w.waiters.push({ ev, resolve: (m) => { clearTimeout(timer); resolve(m); }, reject });
  });
  w.request = (msg, ev) => { const p = w.wait(ev); w.send(msg); return p; };
  return w;
}

function split(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

const payload = { from: 'bench', text: 'the quick brown fox jumps over the lazy dog', n: 42 };

// `perf record` attached to the yolk server while fn runs, when --profile names this phase.
// Report with: perf report -i bench/results/yolk-<phase>.perf.data --no-children
async function profiled(name, phase, srv, fn) {
  if (name !== 'yolk' || opt.profile !== phase) return fn();
  const out = path.join(here, 'results', `yolk-${phase}.perf.data`);
  mkdirSync(path.dirname(out), { recursive: true });
  const perf = spawn('perf', ['record', '-e', process.env.BENCH_PERF_EVENT || 'cpu-clock', ...(process.env.BENCH_PERF_EVENT ? [] : ['-F', '2000']), '--call-graph', process.env.BENCH_CALLGRAPH || 'fp', '-p', String(srv.proc.pid), '-o', out],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(perf);
  await sleep(300);
  try {
    return await fn();
  } finally {
    const gone = new Promise((r) => perf.once('exit', r));
    perf.kill('SIGINT');
    await gone;
    started.delete(perf);
    process.stderr.write(`  perf data: ${path.relative(process.cwd(), out)}\n`);
  }
}

// --mallocs 1: uprobes on libc's allocator (created here, deleted on exit) and `perf stat`
// attached to yolk during each measured phase. A check of "no per-recipient allocation on
// broadcast": the count per delivery must stay far below 1. Timings of such a run are not
// meaningful (every probed call traps), so it is a separate pass.
const ALLOC_FNS = ['malloc', 'calloc', 'realloc'];
const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib64/libc.so.6'].find((p) => existsSync(p));
function setupAllocProbes() {
  for (const f of ALLOC_FNS) {
    const r = spawnSync('perf', ['probe', '-q', '-x', libc, f], { encoding: 'utf8' });
    if (r.status !== 0 && !/already exists/.test(r.stderr)) throw new Error(`perf probe ${f}: ${r.stderr}`);
  }
  process.on('exit', () => {
    for (const f of ALLOC_FNS) spawnSync('perf', ['probe', '-q', '-d', `probe_libc:${f}`]);
  });
}
async function countAllocs(pid, fn) {
  // BENCH_COUNT_EVENTS: other perf events to count instead (printed raw), e.g. syscalls:sys_enter_writev
  const events = process.env.BENCH_COUNT_EVENTS || ALLOC_FNS.map((f) => `probe_libc:${f}`).join(',');
  const perf = spawn('perf', ['stat', '-x', ',', '-e', events, '-p', String(pid)],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(perf);
  let err = '';
  perf.stderr.on('data', (d) => { err += d; });
  await sleep(300);
  const r = await fn();
  const gone = new Promise((res) => perf.once('exit', res));
  perf.kill('SIGINT');
  await gone;
  started.delete(perf);
  if (process.env.BENCH_COUNT_EVENTS) process.stderr.write(err);
  r.allocs = err.split('\n').reduce((n, l) => n + (/probe_libc:/.test(l) ? Number(l.split(',')[0]) || 0 : 0), 0);
  return r;
}
async function measured(name, phase, srv, fn) {
  if (name === 'yolk' && opt.mallocs) {
    const r = await countAllocs(srv.proc.pid, () => profiled(name, phase, srv, fn));
    if (r.deliveries) { r.allocsPerDelivery = r.allocs / r.deliveries; r.allocsPerMessage = r.allocs * opt.clients / r.deliveries; }
    if (r.requests) r.allocsPerRequest = r.allocs / r.requests;
    return r;
  }
  return profiled(name, phase, srv, fn);
}

async function broadcast(srv, workers, event, m, window = opt.window) {
  await Promise.all(workers.map((w) => w.request({ cmd: 'arm', expect: m, payload }, 'armed')));
  const done = workers.map((w) => w.wait('bdone'));
  const cpu0 = cpuSec(srv.proc.pid);
  const wcpu0 = workers.map((w) => cpuSec(w.pid));
  const { start } = await workers[0].request({ cmd: 'send', event, m, window, payload }, 'sent');
  const ends = await Promise.all(done);
  const end = Math.max(...ends.map((e) => e.at));
  const cpu = cpuSec(srv.proc.pid) - cpu0;
  const sec = (end - start) / 1000;
  const deliveries = opt.clients * m;
  const clientCpuSec = workers.map((w, i) => cpuSec(w.pid) - wcpu0[i]);
  return {
    deliveries, seconds: sec, perSec: deliveries / sec,
    serverCpuSec: cpu, serverCpuNsPerDelivery: (cpu * 1e9) / deliveries,
    serverBusy: cpu / sec, clientCpuSec, clientBusyMax: Math.max(...clientCpuSec) / sec,
  };
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function echo(srv, workers, c, k) {
  const counts = split(c, workers.length);
  const cpu0 = cpuSec(srv.proc.pid);
  const wcpu0 = workers.map((w) => cpuSec(w.pid));
  const rs = await Promise.all(workers.map((w, i) => w.request({ cmd: 'echo', count: counts[i], k }, 'edone')));
  const cpu = cpuSec(srv.proc.pid) - cpu0;
  const clientCpuSec = workers.map((w, i) => cpuSec(w.pid) - wcpu0[i]);
  const start = Math.min(...rs.map((r) => r.start));
  const end = Math.max(...rs.map((r) => r.end));
  const lat = rs.flatMap((r) => r.lat).sort((a, b) => a - b);
  const n = c * k;
  const sec = (end - start) / 1000;
  return {
    requests: n, seconds: sec, perSec: n / sec,
    p50ms: pct(lat, 50), p99ms: pct(lat, 99), maxms: lat[lat.length - 1],
    serverCpuSec: cpu, serverCpuUsPerRequest: (cpu * 1e6) / n,
    serverBusy: cpu / sec, clientCpuSec, clientBusyMax: Math.max(...clientCpuSec) / sec,
  };
}

async function benchServer(name) {
  const port = await freePort();
  const srv = startServer(name, port);
  const workers = [];
  try {
    await waitListening(port, srv.proc, srv.log);
    await sleep(300);
    const idle = procStatus(srv.proc.pid);
    const t0 = Date.now();
    for (let i = 0; i < opt.procs; i++) workers.push(startWorker());
    const counts = split(opt.clients, opt.procs);
    await Promise.all(workers.map((w, i) => w.request({ cmd: 'connect', port, count: counts[i] }, 'connected')));
    const connectSec = (Date.now() - t0) / 1000;
    await sleep(500);
    const loaded = procStatus(srv.proc.pid);
    process.stderr.write(`  ${name}: ${opt.clients} clients connected in ${connectSec.toFixed(2)} s\n`);

    // warm-up (JITs, per-connection write queues grown to their working size), not measured
    await broadcast(srv, workers, 'bcast', Math.max(20, Math.round(opt.messages / 4)));
    await echo(srv, workers, Math.min(opt.concurrency, opt.clients), 20);

    const bcast = await measured(name, 'bcast', srv, () => broadcast(srv, workers, 'bcast', opt.messages));
    process.stderr.write(`  ${name}: broadcast ${fmt(bcast.perSec)} deliveries/s\n`);
    const room = await measured(name, 'room', srv, () => broadcast(srv, workers, 'bcastRoom', opt.messages));
    process.stderr.write(`  ${name}: room broadcast ${fmt(room.perSec)} deliveries/s\n`);
    // One packet at a time: the next is sent when the sender got the previous one back, so
    // nothing is batched across packets; each one is a full fan-out of its own.
    const single = await measured(name, 'single', srv, () => broadcast(srv, workers, 'bcast', Math.max(10, Math.round(opt.messages / 4)), 1));
    process.stderr.write(`  ${name}: broadcast one at a time ${fmt(single.perSec)} deliveries/s\n`);
    const ech = await measured(name, 'echo', srv, () => echo(srv, workers, Math.min(opt.concurrency, opt.clients), opt.requests));
    process.stderr.write(`  ${name}: echo ${fmt(ech.perSec)} req/s p50 ${ech.p50ms.toFixed(2)} ms p99 ${ech.p99ms.toFixed(2)} ms\n`);
    const end = procStatus(srv.proc.pid);
    return {
      connectSec, broadcast: bcast, roomBroadcast: room, singleBroadcast: single, echo: ech,
      memory: {
        idleRssKB: idle.rssKB, rssKB: loaded.rssKB, peakRssKB: end.hwmKB,
        perClientKB: (loaded.rssKB - idle.rssKB) / opt.clients,
      },
    };
  } catch (e) {
    e.message += `\n--- ${name} server output ---\n${srv.log.join('').slice(-3000)}`;
    throw e;
  } finally {
    for (const w of workers) { try { w.send({ cmd: 'close' }); } catch { /* gone */ } }
    await sleep(100);
    for (const w of workers) w.kill('SIGKILL');
    await stopServer(srv);
  }
}

function fmt(x) {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

const busy = (p) => `${Math.round(p.serverBusy * 100)} / ${Math.round(p.clientBusyMax * 100)}`;

function table(res) {
  const rows = [
    [`connect ${opt.clients} clients (s)`, (r) => r.connectSec, 'lower'],
    ['broadcast to all (deliveries/s)', (r) => r.broadcast.perSec, 'higher'],
    ['  server CPU per delivery (ns)', (r) => r.broadcast.serverCpuNsPerDelivery, 'lower'],
    ['  server / busiest client CPU (%)', (r) => busy(r.broadcast), null],
    ['broadcast to room (deliveries/s)', (r) => r.roomBroadcast.perSec, 'higher'],
    ['  server CPU per delivery (ns)', (r) => r.roomBroadcast.serverCpuNsPerDelivery, 'lower'],
    ['  server / busiest client CPU (%)', (r) => busy(r.roomBroadcast), null],
    ['broadcast, one packet at a time (deliveries/s)', (r) => r.singleBroadcast.perSec, 'higher'],
    ['  server CPU per delivery (ns)', (r) => r.singleBroadcast.serverCpuNsPerDelivery, 'lower'],
    ['  server / busiest client CPU (%)', (r) => busy(r.singleBroadcast), null],
    ['echo with ack (requests/s)', (r) => r.echo.perSec, 'higher'],
    ['  latency p50 (ms)', (r) => r.echo.p50ms, 'lower'],
    ['  latency p99 (ms)', (r) => r.echo.p99ms, 'lower'],
    ['  server CPU per request (us)', (r) => r.echo.serverCpuUsPerRequest, 'lower'],
    ['  server / busiest client CPU (%)', (r) => busy(r.echo), null],
    ...(opt.mallocs ? [
      ['yolk mallocs per broadcast message (to all)', (r) => r.broadcast.allocsPerMessage ?? 'n/a', null],
      ['  per delivery', (r) => r.broadcast.allocsPerDelivery ?? 'n/a', null],
      ['yolk mallocs per broadcast message (to room)', (r) => r.roomBroadcast.allocsPerMessage ?? 'n/a', null],
      ['  per delivery', (r) => r.roomBroadcast.allocsPerDelivery ?? 'n/a', null],
      ['yolk mallocs per broadcast message (one at a time)', (r) => r.singleBroadcast.allocsPerMessage ?? 'n/a', null],
      ['  per delivery', (r) => r.singleBroadcast.allocsPerDelivery ?? 'n/a', null],
      ['yolk mallocs per echo request', (r) => r.echo.allocsPerRequest ?? 'n/a', null],
    ] : []),
    ['RSS idle (MB)', (r) => r.memory.idleRssKB / 1024, 'lower'],
    [`RSS with ${opt.clients} clients (MB)`, (r) => r.memory.rssKB / 1024, 'lower'],
    ['  per client (KB)', (r) => r.memory.perClientKB, 'lower'],
    ['peak RSS (MB)', (r) => r.memory.peakRssKB / 1024, 'lower'],
  ];
  const names = Object.keys(res);
  const both = names.includes('yolk') && names.includes('node');
  const head = ['metric', ...names, ...(both ? ['yolk/node', 'yolk is'] : [])];
  const lines = rows.map(([label, get, better]) => {
    const vals = names.map((n) => get(res[n]));
    const cells = [label, ...vals.map((v) => (typeof v === 'string' ? v : fmt(v)))];
    if (both && !better) {
      cells.push('', '');
    } else if (both) {
      const y = get(res.yolk); const n = get(res.node);
      const ratio = y / n;
      const adv = better === 'higher' ? ratio : 1 / ratio;
      cells.push(`${ratio.toFixed(2)}`, adv >= 1 ? `${adv.toFixed(2)}x better` : `${(1 / adv).toFixed(2)}x worse`);
    }
    return cells;
  });
  const all = [head, ...lines];
  const w = head.map((_, i) => Math.max(...all.map((l) => String(l[i]).length)));
  const line = (l) => `| ${l.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join(' | ')} |`;
  return [line(head), `|${w.map((x, i) => (i === 0 ? ':' : '') + '-'.repeat(x + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...lines.map(line)].join('\n');
}

function gitHead() {
  const r = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

async function main() {
  const servers = opt.servers.split(',').filter(Boolean);
  if (opt.mallocs && !process.env.BENCH_COUNT_EVENTS) setupAllocProbes();
  if (servers.includes('yolk') && !opt.yolk) throw new Error('no yolk binary (build with `make bench`, or pass --yolk PATH)');
  const { version } = JSON.parse(readFileSync(path.join(root, 'node_modules/socket.io/package.json'), 'utf8'));
  const info = {
    date: new Date().toISOString(), host: os.hostname(), cpus: os.cpus().length, loadavg: os.loadavg(),
    cpuModel: os.cpus()[0] && os.cpus()[0].model, node: process.version, socketio: version,
    yolk: opt.yolk, yolkCommit: gitHead(), options: opt,
    bytes: {
      broadcastFrame: Buffer.byteLength(`42${JSON.stringify(['bcast', payload])}`) + 2,
      echoRequest: Buffer.byteLength(`42123${JSON.stringify(['echo', { seq: 12345, s: 'ping' }])}`) + 6,
    },
  };
  process.stderr.write(`bench: yolk ${info.yolkCommit}, socket.io ${version} on node ${process.version}; ` +
    `${info.cpus} CPUs (${info.cpuModel}), load average ${os.loadavg()[0].toFixed(2)}\n` +
    `  ${opt.clients} clients in ${opt.procs} processes; broadcast ${opt.messages} packets (${info.bytes.broadcastFrame}-byte frames, ` +
    `at most ${opt.window} in flight); echo: ${opt.concurrency} clients x ${opt.requests} sequential acks\n`);
  if (servers.includes('yolk')) {
    process.stderr.write(`  yolk binary: ${path.relative(process.cwd(), opt.yolk)}\n`);
    const cache = path.join(path.dirname(opt.yolk), 'CMakeCache.txt');
    if (existsSync(cache)) {
      const c = readFileSync(cache, 'utf8');
      const type = (c.match(/^CMAKE_BUILD_TYPE:\w+=(.*)$/m) || [])[1];
      info.yolkBuildType = type;
      if (type !== 'Release' && type !== 'RelWithDebInfo') process.stderr.write(`  WARNING: yolk build type is ${type || 'unset'}, not Release\n`);
      if (/^YOLK_SANITIZE:\w+=ON$/m.test(c)) process.stderr.write('  WARNING: yolk is built with sanitizers: numbers are meaningless\n');
    }
  }
  const res = {};
  for (const s of servers) res[s] = await benchServer(s);
  console.log(table(res));
  mkdirSync(path.dirname(opt.out), { recursive: true });
  writeFileSync(opt.out, JSON.stringify({ info, results: res }, null, 2) + '\n');
  process.stderr.write(`results written to ${path.relative(process.cwd(), opt.out)}\n`);
}

main().then(() => process.exit(0), (e) => { console.error(e.stack || e); process.exit(1); });
