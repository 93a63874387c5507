// yolk vs Node socket.io benchmark. `make bench` builds the release binary and runs this.
//
//   node bench/run.mjs [--phases echo8,echo1,ack,bcast,churn,idle,idlemax,polling,connect,cluster]
//                      [--servers yolk,node[,sio-c,eio-c]] [--yolk PATH] [--out FILE] [--pin 1] [--repeat N]
//                      [--profile MEASUREMENT] [--luaprof FILE] [--mallocs 1]
//                      [phase options: see `defaults` below, e.g. --echoK 200 --clients 500]
//
// Every phase runs on a fresh server, for yolk and then for Node (so a phase can be rerun alone
// and gets the same server state as in a full run, and both servers see the same machine load):
// the server is started on a free 127.0.0.1 port with the same app (bench/app for yolk,
// bench/node_server.mjs for socket.io 4), pinned to one core (taskset, --serverCpus, default 0),
// and the load comes from client processes (bench/client.mjs) pinned to the other (--clientCpus,
// default 1); this script pins itself there too. Phases (what each does: bench/README.md):
//   echo8    `echo` (the controller emits `echo` back), 100 clients x 8 in flight
//   echo1    the same with 1 in flight: latency
//   ack      `echo-ack` (the controller acks), 100 clients x 1 in flight
//   bcast    1000 clients; `bcast` to all (16 in flight), `bcastRoom`, one at a time; RSS
//   churn    connect + CONNECT + DISCONNECT + close on '/' with the demo-style middleware
//   idle     RSS per idle connection at 10,000 connections, '/' without and with the middleware
//   idlemax  19,800 connections in one server (the descriptor limit here is 20,000)
//   polling  HTTP long-polling echo vs WebSocket echo, same server, 1 in flight
//   connect  socket.io-client v4: io() .. 'connect', 200 sequential, websocket / polling / default
//   cluster  two servers sharing a private redis-server (yolk's Redis adapter; Node:
//            @socket.io/redis-adapter), 1000 clients half on each; `bcast` from a client of
//            server 1 (16 in flight until seen on both servers) reaches all of them
// Two more servers show where yolk's time goes (--servers yolk,node,sio-c,eio-c; phases echo8,
// echo1, ack, churn and polling, the others are skipped for them): bench-floor (bench/floor.c,
// built next to the yolk binary) answers the same events in C, `sio-c` through libyolk's
// Socket.IO layer, `eio-c` through its Engine.IO layer alone (the clients' few packets recognised
// by their first bytes).
// Server CPU is read from /proc/<pid>/stat (utime and stime, all threads) before and after each
// measurement and reported per operation, user and system apart. Client CPU is read too, so a
// saturated load generator would show. Every process started here is killed on exit.
// Results: one markdown table on stdout, JSON in bench/results/latest.json.
//
// Diagnosis (yolk only): --profile MEASUREMENT records a perf profile of that measurement (names:
// echo8 echo1 ack bcast room single churn pollws polling connect-ws connect-polling
// connect-default cluster (server 1) cluster-node2; BENCH_CALLGRAPH=dwarf for C call stacks, BENCH_PERF_EVENT=... to sample another
// event); --luaprof FILE runs LuaJIT's profiler in the server (FILE.<phase> when several servers
// run); --mallocs 1 counts libc allocations per measurement (BENCH_COUNT_EVENTS=... counts other
// perf events instead, e.g. syscalls:sys_enter_writev); YOLK_BENCH_GCPAUSE=N sets the Lua GC
// pause. None of these is on in a normal run.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

// The C servers below the Lua layer (bench/floor.c) and the phases they can serve.
const FLOOR_LEVELS = { 'sio-c': 'sio', 'eio-c': 'eio' };
const FLOOR_PHASES = ['echo8', 'echo1', 'ack', 'churn', 'polling'];
const ALL_PHASES = ['echo8', 'echo1', 'ack', 'bcast', 'churn', 'idle', 'idlemax', 'polling', 'connect', 'cluster'];
const DEFAULT_PHASES = ALL_PHASES.join(',');

const defaults = {
  phases: DEFAULT_PHASES,
  servers: 'yolk,node', yolk: '', out: path.join(here, 'results', 'latest.json'), timeout: 60,
  pin: 1, serverCpus: '0', clientCpus: '1',
  repeat: 1,         // runs of each phase (fresh servers each time); the table shows medians
  procs: 0,          // client processes for every phase but idlemax and connect; 0: one per
                     // client CPU (more than that time-share a core: their scheduling, not the
                     // server, then makes the latency tail)
  // echo8 / echo1 / ack
  echoClients: 100, echoWindow: 8, echoK: 500, echo1K: 300, ackK: 300,
  // bcast: clients, broadcast packets per measurement, packets in flight
  clients: 1000, messages: 1000, window: 16,
  // churn: cycles, connections in progress per client process
  churnCycles: 3000, churnParallel: 32,
  // idle / idlemax
  idleClients: 10000, maxClients: 19800, maxProcs: 4, maxMode: 'mw',
  // polling: clients (each also has a WebSocket twin), sequential echoes per client
  pollClients: 100, pollK: 200,
  // connect: sequential socket.io-client connections per transport setting
  connectN: 200,
  // cluster: clients (half on each server), broadcast packets, packets in flight (not yet seen
  // back on both servers)
  clusterClients: 1000, clusterMessages: 1000, clusterWindow: 16,
  profile: '', // a measurement name: record yolk with perf during it
  luaprof: '', // a file: yolk runs LuaJIT's profiler (bench/app/app.lua) and writes its report there
  mallocs: 0,  // 1: count yolk's malloc/calloc/realloc calls per measurement with perf uprobes
};

function args() {
  const o = { ...defaults };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i].replace(/^--/, '');
    if (!(k in o) || i + 1 >= a.length) { console.error(`unknown option or missing value: ${a[i]} (options: ${Object.keys(o).join(' ')})`); process.exit(2); }
    o[k] = typeof o[k] === 'number' ? Number(a[++i]) : a[++i];
  }
  if (!o.yolk) {
    o.yolk = ['build-release/yolk', 'build/yolk'].map((p) => path.join(root, p)).find((p) => existsSync(p));
  }
  o.phaseList = o.phases.split(',').filter(Boolean);
  for (const p of o.phaseList) {
    if (!ALL_PHASES.includes(p)) { console.error(`unknown phase ${p} (phases: ${ALL_PHASES.join(',')})`); process.exit(2); }
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
  return { rssKB: kb('VmRSS'), hwmKB: kb('VmHWM'), threads: Number((s.match(/^Threads:\s+(\d+)/m) || [])[1] || 0) };
}

function fdCount(pid) {
  try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return -1; }
}

// utime and stime of every thread of the process, in seconds (USER_HZ = 100 on Linux: 10 ms steps,
// hence measurements of a second or more of server CPU).
const TICK = 100;
function cpuOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / TICK, sys: Number(f[12]) / TICK };
  } catch { return { user: 0, sys: 0 }; }
}
function cpuSince(pid, c0) {
  const c = cpuOf(pid);
  const user = c.user - c0.user; const sys = c.sys - c0.sys;
  return { user, sys, total: user + sys };
}

// The scheduler's exact runtime of every thread of the process (the first field of
// /proc/<pid>/task/<tid>/schedstat, ns), in seconds: user+system without the 10 ms steps of
// /proc/<pid>/stat, for the `cluster` phase's small per-process figures (redis-server's CPU per
// broadcast is a few ms over a whole measurement). Threads that end meanwhile are lost (none
// of these servers ends threads while it is loaded). null without schedstat.
function runtimeOf(pid) {
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try { ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* gone */ }
    }
    return ns / 1e9;
  } catch { return null; }
}

// Time the server's cores spent running anything (user, nice, system, irq, softirq, steal), from
// /proc/stat, in seconds: minus the server's own CPU time, what other processes (and the kernel's
// interrupt work) took from the server's core during a measurement. A busy machine shows there.
function cpuList(spec) {
  const out = [];
  for (const part of String(spec).split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let i = a; i <= (Number.isNaN(b) || b === undefined ? a : b); i++) out.push(i);
  }
  return out;
}
function coreBusy(cpus) {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  let busy = 0;
  for (const c of cpus) {
    const l = lines.find((x) => x.startsWith(`cpu${c} `));
    if (!l) continue;
    const f = l.trim().split(/\s+/).slice(1).map(Number);
    busy += f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
  }
  return busy / TICK;
}

function shell(cmd) {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}
const nofile = { soft: Number(shell('ulimit -Sn')) || 0, hard: shell('ulimit -Hn') };
nofile.hardN = nofile.hard === 'unlimited' ? Infinity : Number(nofile.hard) || 0;

// The command line of a pinned process (taskset), with its descriptor limit raised to the hard
// limit when it needs more than the soft one (prlimit).
function pinned(cpus, cmd, argv, fds = 0) {
  let c = [cmd, argv];
  if (opt.pin) c = ['taskset', ['-c', cpus, c[0], ...c[1]]];
  if (fds > nofile.soft && nofile.hardN > nofile.soft) c = ['prlimit', [`--nofile=${nofile.hard}:${nofile.hard}`, c[0], ...c[1]]];
  return c;
}

function startServer(name, port, mode, label, extraEnv = {}) {
  const [cmd, argv] = name === 'yolk'
    ? pinned(opt.serverCpus, opt.yolk, ['start', '--baseDir', path.join(here, 'app'), '--port', String(port), '--env', 'prod'])
    : FLOOR_LEVELS[name]
      ? pinned(opt.serverCpus, path.join(path.dirname(opt.yolk), 'bench-floor'), [String(port), mode, FLOOR_LEVELS[name]])
      : pinned(opt.serverCpus, process.execPath, [path.join(here, 'node_server.mjs'), String(port), mode]);
  const env = { ...process.env, YOLK_BENCH_MODE: mode, ...extraEnv };
  if (!extraEnv.YOLK_BENCH_REDIS_URL) delete env.YOLK_BENCH_REDIS_URL; // Redis: `cluster` only
  if (name === 'yolk' && opt.luaprof) {
    const one = opt.phaseList.length === 1 && !['idle', 'cluster'].includes(opt.phaseList[0]);
    env.YOLK_BENCH_LUAPROF = path.resolve(one ? opt.luaprof : `${opt.luaprof}.${label}`);
  }
  const proc = spawn(cmd, argv, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(proc);
  const log = [];
  proc.stdout.on('data', (d) => log.push(String(d)));
  proc.stderr.on('data', (d) => log.push(String(d)));
  proc.on('exit', () => started.delete(proc));
  return { proc, log, pid: proc.pid };
}

async function stopServer(s) {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const gone = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

// A client process (pinned to the load generator's cores) with request/response over IPC.
function startWorker(fds = 0) {
  const [cmd, argv] = pinned(opt.clientCpus, process.execPath, [path.join(here, 'client.mjs')], fds);
  const w = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
  w.wait = (ev, timeoutSec = opt.timeout) => new Promise((resolve, reject) => {
    if (w.failed) return reject(new Error(w.failed));
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${ev} from a client process`)), timeoutSec * 1000);
    w.waiters.push({ ev, resolve: (m) => { clearTimeout(timer); resolve(m); }, reject: (e) => { clearTimeout(timer); reject(e); } });
  });
  w.request = (msg, ev, timeoutSec) => { const p = w.wait(ev, timeoutSec); w.send(msg); return p; };
  return w;
}

function split(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
function latencies(arrays) {
  const lat = arrays.flat().sort((a, b) => a - b);
  if (!lat.length) return null;
  return { n: lat.length, p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] };
}

const payload = { from: 'bench', text: 'the quick brown fox jumps over the lazy dog', n: 42 };

// ---------------------------------------------------------------------------------------------
// Diagnostics around a measurement (yolk only)

// `perf record` attached to the yolk server while fn runs, when --profile names this measurement.
// Report with: perf report -i bench/results/yolk-<name>.perf.data --no-children
async function profiled(name, key, srv, fn) {
  if (name !== 'yolk' || opt.profile !== key) return fn();
  const out = path.join(here, 'results', `yolk-${key}.perf.data`);
  mkdirSync(path.dirname(out), { recursive: true });
  const perf = spawn('perf', ['record', '-e', process.env.BENCH_PERF_EVENT || 'cpu-clock', ...(process.env.BENCH_PERF_EVENT ? [] : ['-F', '2000']), '--call-graph', process.env.BENCH_CALLGRAPH || 'fp', '-p', String(srv.pid), '-o', out],
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
// attached to yolk during each measurement. A check of "no per-recipient allocation on
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
  r.allocsPerOp = r.allocs / r.ops;
  return r;
}

// One measurement: server and client CPU around run(), which resolves with
// { ops, start, end (ms since epoch, from the clients), lat: [arrays of ms] }.
async function measure(inst, key, run) {
  const { name, srv, workers } = inst;
  const body = async () => {
    const cores = opt.pin ? cpuList(opt.serverCpus) : [];
    const b0 = coreBusy(cores);
    const c0 = cpuOf(srv.pid);
    const w0 = workers.map((w) => cpuOf(w.pid));
    const r = await run();
    const cpu = cpuSince(srv.pid, c0);
    const others = Math.max(0, coreBusy(cores) - b0 - cpu.total);
    const clientCpu = workers.map((w, i) => cpuSince(w.pid, w0[i]).total);
    const seconds = (r.end - r.start) / 1000;
    const per = (x) => (x * 1e6) / r.ops;
    if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) throw new Error(`server died during ${key}`);
    return {
      ops: r.ops, seconds, perSec: r.ops / seconds,
      serverCpuSec: cpu,
      serverCpuUsPerOp: { user: per(cpu.user), sys: per(cpu.sys), total: per(cpu.total) },
      serverBusy: cpu.total / seconds, clientBusyMax: Math.max(...clientCpu) / seconds,
      othersOnServerCore: opt.pin ? others / seconds : undefined,
      lat: r.lat ? latencies(r.lat) : undefined,
      ...(r.extra || {}),
    };
  };
  const m = (name === 'yolk' && opt.mallocs)
    ? await countAllocs(srv.pid, () => profiled(name, key, srv, body))
    : await profiled(name, key, srv, body);
  const l = m.lat ? `, p50 ${m.lat.p50.toFixed(2)} ms, p99 ${m.lat.p99.toFixed(2)} ms` : '';
  process.stderr.write(`  ${name} ${key}: ${fmt(m.perSec)}/s, server CPU ${fmt(m.serverCpuUsPerOp.user)} + ${fmt(m.serverCpuUsPerOp.sys)} µs per op${l}` +
    ` (server ${Math.round(m.serverBusy * 100)}%, busiest client ${Math.round(m.clientBusyMax * 100)}%` +
    `${m.othersOnServerCore !== undefined ? `, others on the server's core ${Math.round(m.othersOnServerCore * 100)}%` : ''})\n`);
  return m;
}

// A fresh server in the given mode ('' or 'mw') with nworkers client processes; fn(inst).
async function withInstance(name, mode, label, nworkers, fn, fds = 0) {
  const port = await freePort();
  const srv = startServer(name, port, mode, label);
  const workers = [];
  try {
    await waitListening(port, srv.proc, srv.log);
    await sleep(300);
    for (let i = 0; i < nworkers; i++) workers.push(startWorker(fds));
    return await fn({ name, mode, port, srv, workers });
  } catch (e) {
    e.message += `\n--- ${name} server output (${label}) ---\n${srv.log.join('').slice(-3000)}`;
    throw e;
  } finally {
    for (const w of workers) { try { w.send({ cmd: 'close' }); } catch { /* gone */ } }
    await sleep(100);
    for (const w of workers) w.kill('SIGKILL');
    if (name === 'yolk' && opt.luaprof) await sleep(1200); // the profiler's report is rewritten every second
    await stopServer(srv);
  }
}

// Opens `total` WebSocket clients spread over the instance's client processes.
async function connectClients(inst, total, o = {}) {
  const counts = split(total, inst.workers.length);
  const t0 = Date.now();
  const timeoutSec = Math.max(opt.timeout, total / 100);
  const rs = await Promise.all(inst.workers.map((w, i) => w.request({
    cmd: 'connect', port: inst.port, count: counts[i], join: o.join, welcome: inst.mode === 'mw',
    parallel: o.parallel || 50, tolerate: !!o.tolerate,
  }, 'connected', timeoutSec)));
  inst.clientCounts = rs.map((r) => r.total);
  return {
    seconds: (Date.now() - t0) / 1000, n: rs.reduce((s, r) => s + r.n, 0),
    firstError: rs.map((r) => r.firstError).find(Boolean) || null,
    start: Math.min(...rs.map((r) => r.start)), end: Math.max(...rs.map((r) => r.end)),
  };
}

// Echo over WebSocket: `count` clients (the first ones of each process, spread evenly), k
// messages each, at most `window` in flight per client.
async function echoRun(inst, count, k, window, ack) {
  const counts = split(count, inst.workers.length);
  const rs = await Promise.all(inst.workers.map((w, i) => w.request({ cmd: 'echo', count: counts[i], k, window, ack }, 'edone')));
  return { ops: count * k, start: Math.min(...rs.map((r) => r.start)), end: Math.max(...rs.map((r) => r.end)), lat: rs.map((r) => r.lat) };
}

async function broadcastRun(inst, event, m, window) {
  const { workers } = inst;
  await Promise.all(workers.map((w) => w.request({ cmd: 'arm', expect: m, payload }, 'armed')));
  const done = workers.map((w) => w.wait('bdone'));
  const { start } = await workers[0].request({ cmd: 'send', event, m, window, payload }, 'sent');
  const ends = await Promise.all(done);
  return { ops: opt.clients * m, start, end: Math.max(...ends.map((e) => e.at)) };
}

async function churnRun(inst, cycles) {
  const counts = split(cycles, inst.workers.length);
  const rs = await Promise.all(inst.workers.map((w, i) => w.request({
    cmd: 'churn', port: inst.port, cycles: counts[i], parallel: opt.churnParallel, welcome: inst.mode === 'mw',
  }, 'churned')));
  return { ops: cycles, start: Math.min(...rs.map((r) => r.start)), end: Math.max(...rs.map((r) => r.end)), lat: rs.map((r) => r.lat) };
}

async function pollRun(inst, count, k) {
  const counts = split(count, inst.workers.length);
  const rs = await Promise.all(inst.workers.map((w, i) => w.request({ cmd: 'pecho', count: counts[i], k }, 'pdone')));
  return { ops: count * k, start: Math.min(...rs.map((r) => r.start)), end: Math.max(...rs.map((r) => r.end)), lat: rs.map((r) => r.lat) };
}

async function ioConnectRun(inst, n, transports) {
  const r = await inst.workers[0].request({ cmd: 'ioconnect', port: inst.port, n, transports }, 'ioconnected', Math.max(opt.timeout, n / 5));
  return { ops: n, start: r.start, end: r.end, lat: [r.lat] };
}

// ---------------------------------------------------------------------------------------------
// The `cluster` phase: a private redis-server and two servers sharing it

function redisCli(port, ...argv) {
  const r = spawnSync('redis-cli', ['-p', String(port), ...argv], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

// redis-server on a free port, no persistence, pinned with the servers (it is part of what
// serves a cross-node broadcast); resolves once it answers PING.
async function startRedis() {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('redis-server not found (the cluster phase needs it; Debian: apt-get install redis-server)');
  }
  const port = await freePort();
  const [cmd, argv] = pinned(opt.serverCpus, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no']);
  const proc = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(proc);
  const log = [];
  proc.stdout.on('data', (d) => log.push(String(d)));
  proc.stderr.on('data', (d) => log.push(String(d)));
  proc.on('exit', () => started.delete(proc));
  const r = { proc, log, pid: proc.pid, port, url: `redis://127.0.0.1:${port}` };
  const deadline = Date.now() + 10000;
  while (redisCli(port, 'PING') !== 'PONG') {
    if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}):\n${log.join('')}`);
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${port}:\n${log.join('')}`);
    await sleep(50);
  }
  return r;
}

// Until n servers are subscribed to the request channel of '/': both adapters (yolk's and
// @socket.io/redis-adapter) send PSUBSCRIBE of the broadcast pattern before SUBSCRIBE of that
// channel on the same connection, so the broadcasts reach every server from then on.
async function waitSubscribed(redis, n, srvs) {
  const deadline = Date.now() + 15000;
  let got = '';
  for (;;) {
    got = redisCli(redis.port, 'PUBSUB', 'NUMSUB', 'socket.io-request#/#');
    if (got && Number(got.split('\n')[1]) === n) return;
    for (const s of srvs) if (s.proc.exitCode !== null) throw new Error(`a server exited (${s.proc.exitCode}) before subscribing`);
    if (Date.now() > deadline) throw new Error(`servers not subscribed within 15 s (PUBSUB NUMSUB: ${JSON.stringify(got)})`);
    await sleep(50);
  }
}

// redis-server and two servers of one kind (yolk: bench/app with config.io.redis; Node:
// node_server.mjs with @socket.io/redis-adapter), all pinned to the server CPUs; client processes
// (at least 2) are each given one server, alternately. fn(inst).
async function withCluster(name, label, fn) {
  const redis = await startRedis();
  const srvs = [];
  const workers = [];
  try {
    const ports = [await freePort()];
    do ports[1] = await freePort(); while (ports[1] === ports[0]);
    for (let i = 0; i < 2; i++) srvs.push(startServer(name, ports[i], '', `${label}-${i + 1}`, { YOLK_BENCH_REDIS_URL: redis.url }));
    await Promise.all(srvs.map((s, i) => waitListening(ports[i], s.proc, s.log)));
    await waitSubscribed(redis, srvs.length, srvs);
    await sleep(300);
    for (let i = 0; i < Math.max(2, opt.procs); i++) workers.push(startWorker());
    return await fn({ name, mode: '', ports, srvs, redis, workers });
  } catch (e) {
    e.message += srvs.map((s, i) => `\n--- ${name} server ${i + 1} output (${label}) ---\n${s.log.join('').slice(-3000)}`).join('') +
      `\n--- redis-server output ---\n${redis.log.join('').slice(-2000)}`;
    throw e;
  } finally {
    for (const w of workers) { try { w.send({ cmd: 'close' }); } catch { /* gone */ } }
    await sleep(100);
    for (const w of workers) w.kill('SIGKILL');
    if (name === 'yolk' && opt.luaprof) await sleep(1200);
    await Promise.all(srvs.map(stopServer));
    await stopServer(redis);
  }
}

// Half of the clients on each server; worker i holds clients of server i % 2, except that the
// sender's process (worker 0, whose first client sends) also holds one client of server 2, the
// witness that bounds the window on that side too.
async function connectCluster(inst, total) {
  const { workers, ports } = inst;
  const perServer = split(total, 2);
  const counts = workers.map(() => 0);
  for (let srv = 0; srv < 2; srv++) {
    const mine = workers.map((_, i) => i).filter((i) => i % 2 === srv);
    split(perServer[srv] - (srv === 1 ? 1 : 0), mine.length).forEach((c, k) => { counts[mine[k]] = c; });
  }
  const t0 = Date.now();
  const timeoutSec = Math.max(opt.timeout, total / 100);
  const rs = await Promise.all(workers.map(async (w, i) => {
    const r = await w.request({ cmd: 'connect', port: ports[i % 2], count: counts[i], parallel: 50 }, 'connected', timeoutSec);
    if (i !== 0) return r.total;
    return (await w.request({ cmd: 'connect', port: ports[1], count: 1 }, 'connected', timeoutSec)).total;
  }));
  const n = rs.reduce((a, b) => a + b, 0);
  if (n !== total) throw new Error(`cluster: ${n} clients connected, wanted ${total}`);
  return { seconds: (Date.now() - t0) / 1000, perServer };
}

async function clusterBroadcastRun(inst, m) {
  const { workers } = inst;
  const total = opt.clusterClients;
  const timeoutSec = Math.max(opt.timeout, (total * m) / 10000);
  await Promise.all(workers.map((w) => w.request({ cmd: 'arm', expect: m, payload }, 'armed')));
  const done = workers.map((w) => w.wait('bdone', timeoutSec));
  const { start } = await workers[0].request({ cmd: 'send', event: 'bcast', m, window: opt.clusterWindow, payload, witnessPort: inst.ports[1] }, 'sent');
  const ends = await Promise.all(done);
  // nothing late or twice: every client has exactly m, a moment after the last one got its m-th
  await sleep(300);
  const counts = await Promise.all(workers.map((w) => w.request({ cmd: 'bcount' }, 'bcount')));
  for (const [i, c] of counts.entries()) {
    if (c.min !== m || c.max !== m) throw new Error(`cluster: the clients of client process ${i} got ${c.min}..${c.max} broadcasts, expected ${m}`);
  }
  return { ops: total * m, broadcasts: m, start, end: Math.max(...ends.map((e) => e.at)) };
}

// measure() for two servers and redis-server: server CPU is the sum of both servers (user and
// system apart, /proc/<pid>/stat like every other phase); each server's and redis-server's own
// CPU per broadcast packet from the scheduler's exact runtime (runtimeOf); "others on the server
// core" is the core's busy time minus all three.
async function measureCluster(inst, key, run) {
  const { name, srvs, redis, workers } = inst;
  const body = async () => {
    const cores = opt.pin ? cpuList(opt.serverCpus) : [];
    const b0 = coreBusy(cores);
    const c0 = srvs.map((s) => cpuOf(s.pid));
    const rc0 = cpuOf(redis.pid);
    const t0 = [...srvs, redis].map((s) => runtimeOf(s.pid));
    const w0 = workers.map((w) => cpuOf(w.pid));
    const r = await run();
    const t1 = [...srvs, redis].map((s) => runtimeOf(s.pid));
    const cs = srvs.map((s, i) => cpuSince(s.pid, c0[i]));
    const rc = cpuSince(redis.pid, rc0);
    const cpu = { user: cs[0].user + cs[1].user, sys: cs[0].sys + cs[1].sys, total: cs[0].total + cs[1].total };
    const others = Math.max(0, coreBusy(cores) - b0 - cpu.total - rc.total);
    const clientCpu = workers.map((w, i) => cpuSince(w.pid, w0[i]).total);
    for (const [i, s] of srvs.entries()) if (s.proc.exitCode !== null || s.proc.signalCode !== null) throw new Error(`server ${i + 1} died during ${key}`);
    if (redis.proc.exitCode !== null || redis.proc.signalCode !== null) throw new Error(`redis-server died during ${key}`);
    const seconds = (r.end - r.start) / 1000;
    const per = (x) => (x * 1e6) / r.ops;
    // seconds of CPU: exact runtime when schedstat is there, else /proc/<pid>/stat's
    const run1 = (i, c) => (t0[i] !== null && t1[i] !== null ? t1[i] - t0[i] : c.total);
    const rt = { node1: run1(0, cs[0]), node2: run1(1, cs[1]), redis: run1(2, rc) };
    const perB = (x) => (x * 1e6) / r.broadcasts;
    return {
      ops: r.ops, broadcasts: r.broadcasts, seconds, perSec: r.ops / seconds,
      serverCpuSec: cpu,
      serverCpuUsPerOp: { user: per(cpu.user), sys: per(cpu.sys), total: per(cpu.total) },
      statCpuSec: { node1: cs[0], node2: cs[1], redis: rc },
      runtimeSec: rt, exactRuntime: t0.every((x) => x !== null),
      cpuUsPerBroadcast: { node1: perB(rt.node1), node2: perB(rt.node2), redis: perB(rt.redis) },
      serverBusy: cpu.total / seconds,
      busy: { node1: cs[0].total / seconds, node2: cs[1].total / seconds, redis: rc.total / seconds },
      clientBusyMax: Math.max(...clientCpu) / seconds,
      othersOnServerCore: opt.pin ? others / seconds : undefined,
    };
  };
  let m;
  if (name === 'yolk' && opt.mallocs) {
    m = await countAllocs(srvs[0].pid, async () => {
      const r = await countAllocs(srvs[1].pid, body);
      r.allocsNode2 = r.allocs;
      return r;
    });
    m.allocsNode1 = m.allocs;
    m.allocs = m.allocsNode1 + m.allocsNode2;
    m.allocsPerOp = m.allocs / m.ops;
  } else {
    m = await profiled(name, key, srvs[0], () => profiled(name, `${key}-node2`, srvs[1], body));
  }
  const b = m.cpuUsPerBroadcast;
  process.stderr.write(`  ${name} ${key}: ${fmt(m.perSec)} deliveries/s, both servers' CPU ${fmt(m.serverCpuUsPerOp.user * 1000)} + ${fmt(m.serverCpuUsPerOp.sys * 1000)} ns per delivery;` +
    ` per broadcast: server 1 ${fmt(b.node1)} µs, server 2 ${fmt(b.node2)} µs, redis-server ${fmt(b.redis)} µs` +
    ` (server 1 ${Math.round(m.busy.node1 * 100)}%, server 2 ${Math.round(m.busy.node2 * 100)}%, redis ${Math.round(m.busy.redis * 100)}%, busiest client ${Math.round(m.clientBusyMax * 100)}%` +
    `${m.othersOnServerCore !== undefined ? `, others on the server's core ${Math.round(m.othersOnServerCore * 100)}%` : ''})\n`);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Phases: each returns a plain object of measurements for one server

const phases = {
  echo8: (name) => echoPhase(name, 'echo8', opt.echoWindow, opt.echoK, false),
  echo1: (name) => echoPhase(name, 'echo1', 1, opt.echo1K, false),
  ack: (name) => echoPhase(name, 'ack', 1, opt.ackK, true),

  bcast: (name) => withInstance(name, '', 'bcast', opt.procs, async (inst) => {
    const idle = procStatus(inst.srv.pid);
    const conn = await connectClients(inst, opt.clients, { join: 'bench' });
    await sleep(500);
    const loaded = procStatus(inst.srv.pid);
    process.stderr.write(`  ${name}: ${opt.clients} clients connected in ${conn.seconds.toFixed(2)} s\n`);
    // warm-up (JITs, per-connection write queues grown to their working size), not measured
    await broadcastRun(inst, 'bcast', Math.max(20, Math.round(opt.messages / 4)), opt.window);
    await echoRun(inst, Math.min(50, opt.clients), 20, 1, true);
    const bcast = await measure(inst, 'bcast', () => broadcastRun(inst, 'bcast', opt.messages, opt.window));
    const room = await measure(inst, 'room', () => broadcastRun(inst, 'bcastRoom', opt.messages, opt.window));
    // One packet at a time: the next is sent when the sender got the previous one back, so
    // nothing is batched across packets; each one is a full fan-out of its own.
    const single = await measure(inst, 'single', () => broadcastRun(inst, 'bcast', Math.max(10, Math.round(opt.messages / 4)), 1));
    const end = procStatus(inst.srv.pid);
    return {
      connectSec: conn.seconds, bcast, room, single,
      memory: {
        idleRssKB: idle.rssKB, rssKB: loaded.rssKB, peakRssKB: end.hwmKB,
        perClientKB: (loaded.rssKB - idle.rssKB) / opt.clients,
      },
    };
  }),

  churn: (name) => withInstance(name, 'mw', 'churn', opt.procs, async (inst) => {
    const warm = Math.max(50, Math.round(opt.churnCycles / 10));
    await churnRun(inst, warm);
    const churn = await measure(inst, 'churn', () => churnRun(inst, opt.churnCycles));
    // The middleware's after-next() part ran once per disconnect (it counts them; `left` asks).
    const expected = warm + opt.churnCycles;
    let got = -1;
    for (let i = 0; i < 10 && got !== expected + i; i++) { // each asking client leaves too: +1 per try
      if (i) await sleep(300);
      got = (await inst.workers[0].request({ cmd: 'left', port: inst.port, welcome: true }, 'left')).n;
      if (got === expected + i) { got -= i; break; }
      if (i === 9) got -= i;
    }
    churn.leftCount = { expected, got };
    if (got !== expected) throw new Error(`churn: the middleware's after-next() part ran ${got} times for ${expected} disconnects`);
    return { churn };
  }),

  idle: async (name) => {
    const out = {};
    for (const mode of ['', 'mw']) {
      const label = mode || 'plain';
      out[label] = await withInstance(name, mode, `idle-${label}`, opt.procs, (inst) => idleRun(inst, opt.idleClients, false),
        Math.ceil(opt.idleClients / opt.procs) + 100);
    }
    return out;
  },

  idlemax: async (name) => {
    const need = opt.maxClients + 64;
    if (need > nofile.soft) process.stderr.write(`  WARNING: ${opt.maxClients} connections need ~${need} descriptors in the server; its limit is ${nofile.soft}\n`);
    return withInstance(name, opt.maxMode, 'idlemax', opt.maxProcs, (inst) => idleRun(inst, opt.maxClients, true),
      Math.ceil(opt.maxClients / opt.maxProcs) + 100);
  },

  polling: (name) => withInstance(name, '', 'polling', opt.procs, async (inst) => {
    const n = opt.pollClients;
    await connectClients(inst, n);
    const counts = split(n, inst.workers.length);
    await Promise.all(inst.workers.map((w, i) => w.request({ cmd: 'pconnect', port: inst.port, count: counts[i] }, 'pconnected')));
    const warm = Math.max(5, Math.round(opt.pollK / 5));
    await echoRun(inst, n, warm, 1, false);
    await pollRun(inst, n, warm);
    const ws = await measure(inst, 'pollws', () => echoRun(inst, n, opt.pollK, 1, false));
    const polling = await measure(inst, 'polling', () => pollRun(inst, n, opt.pollK));
    return { ws, polling, ratio: polling.serverCpuUsPerOp.total / ws.serverCpuUsPerOp.total };
  }),

  // Cross-node broadcast: two servers of one kind sharing a redis-server; a client of server 1
  // sends `bcast` (the server emits to all of '/': its own clients directly, server 2's through
  // one PUBLISH per packet); every client of both servers must get every packet.
  cluster: (name) => withCluster(name, 'cluster', async (inst) => {
    if (opt.clusterClients < 4) throw new Error('--clusterClients must be at least 4');
    const conn = await connectCluster(inst, opt.clusterClients);
    process.stderr.write(`  ${name}: ${opt.clusterClients} clients connected (${conn.perServer.join(' + ')}) in ${conn.seconds.toFixed(2)} s\n`);
    await sleep(500);
    // warm-up (JITs, buffers, the Redis connections' buffers), not measured
    await clusterBroadcastRun(inst, Math.max(20, Math.round(opt.clusterMessages / 4)));
    const cluster = await measureCluster(inst, 'cluster', () => clusterBroadcastRun(inst, opt.clusterMessages));
    return {
      connectSec: conn.seconds, clientsPerServer: conn.perServer, cluster,
      rssKB: { node1: procStatus(inst.srvs[0].pid).rssKB, node2: procStatus(inst.srvs[1].pid).rssKB, redis: procStatus(inst.redis.pid).rssKB },
    };
  }),

  connect: (name) => withInstance(name, '', 'connect', 1, async (inst) => {
    const out = {};
    for (const [key, transports] of [['ws', ['websocket']], ['polling', ['polling']], ['default', undefined]]) {
      await ioConnectRun(inst, Math.max(10, Math.round(opt.connectN / 10)), transports);
      out[key] = await measure(inst, `connect-${key}`, () => ioConnectRun(inst, opt.connectN, transports));
    }
    return out;
  }),
};

function echoPhase(name, key, window, k, ack) {
  return withInstance(name, '', key, opt.procs, async (inst) => {
    const n = opt.echoClients;
    await connectClients(inst, n);
    await echoRun(inst, n, Math.max(10, Math.round(k / 10)), window, ack); // warm-up
    return { [key]: await measure(inst, key, () => echoRun(inst, n, k, window, ack)) };
  });
}

// Connects n idle clients and reads the server's RSS before and after (after a pause, so that
// what the connecting left behind has been collected where the runtime does that on its own).
async function idleRun(inst, n, tolerate) {
  const pid = inst.srv.pid;
  const before = procStatus(pid);
  const c0 = cpuOf(pid);
  const conn = await connectClients(inst, n, { tolerate, parallel: tolerate ? 25 : 50 });
  const cpu = cpuSince(pid, c0);
  await sleep(2000);
  const after = procStatus(pid);
  const fds = fdCount(pid);
  if (inst.srv.proc.exitCode !== null || inst.srv.proc.signalCode !== null) throw new Error(`server died with ${conn.n} clients`);
  // still serving: one echo with ack on a few of the held clients
  if (conn.n > 0) {
    const few = inst.clientCounts.map((c) => Math.min(c, 25));
    await Promise.all(inst.workers.map((w, i) => few[i] && w.request({ cmd: 'echo', count: few[i], k: 1, window: 1, ack: true }, 'edone')));
  }
  const r = {
    clients: conn.n, wanted: n, connectSec: conn.seconds, firstError: conn.firstError,
    serverCpuUsPerConnect: { user: (cpu.user * 1e6) / conn.n, sys: (cpu.sys * 1e6) / conn.n, total: (cpu.total * 1e6) / conn.n },
    rssBeforeKB: before.rssKB, rssKB: after.rssKB, peakRssKB: after.hwmKB, serverFds: fds, serverThreads: after.threads,
    perConnKB: (after.rssKB - before.rssKB) / conn.n,
  };
  process.stderr.write(`  ${inst.name} idle${inst.mode ? ` (${inst.mode})` : ''}: ${conn.n} of ${n} connected in ${conn.seconds.toFixed(1)} s` +
    ` (server CPU ${fmt(r.serverCpuUsPerConnect.user)} + ${fmt(r.serverCpuUsPerConnect.sys)} µs each)` +
    `${conn.firstError ? ` (first error: ${conn.firstError})` : ''}; RSS ${(after.rssKB / 1024).toFixed(1)} MB, ${r.perConnKB.toFixed(2)} KB per connection, ${fds} descriptors\n`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// The table

function fmt(x) {
  if (x === undefined || x === null || Number.isNaN(x)) return '—';
  if (typeof x === 'string') return x;
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

// Rows: [label, get(result of one server) -> number | string | undefined, 'lower' | 'higher' | null].
// A section row is [label] alone.
function cpuRows(get, what, unit = 'µs') {
  const k = unit === 'ns' ? 1000 : 1;
  return [
    [`  server CPU per ${what}, user (${unit})`, (r) => get(r)?.serverCpuUsPerOp.user * k, 'lower'],
    [`  server CPU per ${what}, system (${unit})`, (r) => get(r)?.serverCpuUsPerOp.sys * k, 'lower'],
    [`  server CPU per ${what}, user+system (${unit})`, (r) => get(r)?.serverCpuUsPerOp.total * k, 'lower'],
  ];
}
function latRows(get) {
  return [
    ['  latency p50 (ms)', (r) => get(r)?.lat?.p50, 'lower'],
    ['  latency p99 (ms)', (r) => get(r)?.lat?.p99, 'lower'],
  ];
}
const pc = (x) => (x === undefined ? '?' : Math.round(x * 100));
const busyRow = (get) => ['  CPU: server / busiest client / others on server core (%)',
  (r) => (get(r) ? `${pc(get(r).serverBusy)} / ${pc(get(r).clientBusyMax)} / ${pc(get(r).othersOnServerCore)}` : undefined), null];

function rowsFor(phase) {
  const g = (...keys) => (r) => keys.reduce((x, k) => x?.[k], r?.[phase]);
  switch (phase) {
    case 'echo8':
    case 'echo1':
    case 'ack': {
      const k = { echo8: opt.echoK, echo1: opt.echo1K, ack: opt.ackK }[phase];
      const w = phase === 'echo8' ? opt.echoWindow : 1;
      const what = phase === 'ack' ? '`echo-ack` (controller acks)' : '`echo` (controller emits back)';
      const m = g(phase);
      return [
        [`**${what}: ${opt.echoClients} clients × ${w} in flight, ${k} each**`],
        ['  messages/s', (r) => m(r)?.perSec, 'higher'],
        ...cpuRows(m, phase === 'ack' ? 'request' : 'message'),
        ...latRows(m),
        busyRow(m),
      ];
    }
    case 'bcast': {
      const rows = [[`**broadcast: ${opt.clients} clients, ${opt.messages} packets, ${opt.window} in flight**`],
        [`  connect ${opt.clients} clients (s)`, g('connectSec'), 'lower']];
      for (const [key, label] of [['bcast', 'to all'], ['room', 'to a room (all joined)'], ['single', 'to all, one packet at a time']]) {
        const m = g(key);
        rows.push([`  ${label}: deliveries/s`, (r) => m(r)?.perSec, 'higher'],
          ...cpuRows(m, 'delivery', 'ns').map(([l, f, b]) => [`  ${l}`, f, b]), ['  ' + busyRow(m)[0], busyRow(m)[1], null]);
      }
      rows.push([`  RSS with ${opt.clients} clients (MB)`, (r) => g('memory', 'rssKB')(r) / 1024, 'lower'],
        ['  per client (KB)', g('memory', 'perClientKB'), 'lower'],
        ['  peak RSS (MB)', (r) => g('memory', 'peakRssKB')(r) / 1024, 'lower']);
      return rows;
    }
    case 'churn': {
      const m = g('churn');
      return [
        [`**connect churn on '/' with the middleware: ${opt.churnCycles} cycles, ${opt.churnParallel * opt.procs} at a time**`],
        ['  cycles/s', (r) => m(r)?.perSec, 'higher'],
        ...cpuRows(m, 'cycle'),
        ['  connect latency p50 (ms)', (r) => m(r)?.lat?.p50, 'lower'],
        ['  connect latency p99 (ms)', (r) => m(r)?.lat?.p99, 'lower'],
        busyRow(m),
      ];
    }
    case 'idle': {
      const rows = [[`**idle WebSocket connections: ${opt.idleClients}**`]];
      for (const [key, label] of [['plain', "'/' without middleware"], ['mw', "'/' with the middleware in next()"]]) {
        rows.push([`  ${label}: RSS (MB)`, (r) => g(key, 'rssKB')(r) / 1024, 'lower'],
          ['    RSS per connection (KB)', g(key, 'perConnKB'), 'lower'],
          ['    server CPU per connect, user+system (µs)', g(key, 'serverCpuUsPerConnect', 'total'), 'lower'],
          ['    connect time (s)', g(key, 'connectSec'), 'lower']);
      }
      return rows;
    }
    case 'idlemax':
      return [
        [`**${opt.maxClients} WebSocket connections in one server ('/'${opt.maxMode === 'mw' ? ' with the middleware' : ''})**`],
        ['  connections held', (r) => (r?.idlemax ? `${r.idlemax.clients}${r.idlemax.clients < r.idlemax.wanted ? ' (failed)' : ''}` : undefined), null],
        ['  RSS (MB)', (r) => g('rssKB')(r) / 1024, 'lower'],
        ['  RSS per connection (KB)', g('perConnKB'), 'lower'],
        ['  server CPU per connect, user+system (µs)', g('serverCpuUsPerConnect', 'total'), 'lower'],
        ['  connect time (s)', g('connectSec'), 'lower'],
      ];
    case 'polling': {
      const p = g('polling'); const w = g('ws');
      return [
        [`**long-polling echo vs WebSocket echo: ${opt.pollClients} clients × 1 in flight, ${opt.pollK} each**`],
        ['  polling: messages/s', (r) => p(r)?.perSec, 'higher'],
        ...cpuRows(p, 'message').map(([l, f, b]) => [l.replace('server CPU', 'polling, server CPU'), f, b]),
        ...latRows(p),
        ['  WebSocket (same server): messages/s', (r) => w(r)?.perSec, 'higher'],
        ...cpuRows(w, 'message').map(([l, f, b]) => [l.replace('server CPU', 'WebSocket, server CPU'), f, b]),
        ['  polling ÷ WebSocket, server CPU per message', g('ratio'), 'lower'],
      ];
    }
    case 'connect': {
      const rows = [[`**socket.io-client connect (io() .. 'connect'), ${opt.connectN} sequential**`]];
      for (const [key, label] of [['ws', "transports: ['websocket']"], ['polling', "transports: ['polling']"], ['default', 'default transports']]) {
        const m = g(key);
        rows.push([`  ${label}: p50 (ms)`, (r) => m(r)?.lat?.p50, 'lower'],
          ['    p99 (ms)', (r) => m(r)?.lat?.p99, 'lower'],
          ['    server CPU per connection, user+system (µs)', (r) => m(r)?.serverCpuUsPerOp.total, 'lower']);
      }
      return rows;
    }
    case 'cluster': {
      const m = g('cluster');
      const b = (k) => (r) => m(r)?.cpuUsPerBroadcast[k];
      const half = split(opt.clusterClients, 2);
      return [
        [`**cross-node broadcast: 2 servers + Redis, ${opt.clusterClients} clients (${half.join(' + ')}), ${opt.clusterMessages} packets, ${opt.clusterWindow} in flight**`],
        ['  deliveries/s', (r) => m(r)?.perSec, 'higher'],
        ...cpuRows(m, 'delivery (both servers)', 'ns'),
        ['  server 1 (sender\'s) CPU per broadcast, user+system (µs)', b('node1'), 'lower'],
        ['  server 2 (through Redis) CPU per broadcast, user+system (µs)', b('node2'), 'lower'],
        ['  redis-server CPU per broadcast, user+system (µs)', b('redis'), 'lower'],
        ['  CPU: server 1 + server 2 + redis / busiest client / others on server core (%)',
          (r) => (m(r) ? `${pc(m(r).busy.node1)}+${pc(m(r).busy.node2)}+${pc(m(r).busy.redis)} / ${pc(m(r).clientBusyMax)} / ${pc(m(r).othersOnServerCore)}` : undefined), null],
      ];
    }
    default: return [];
  }
}

// The measurements of a server's results that have an `allocsPerOp` (--mallocs).
function mallocRows(res) {
  const y = res.yolk || {};
  const rows = [];
  for (const phase of opt.phaseList) {
    const walk = (obj, keys) => {
      if (!obj || typeof obj !== 'object') return;
      if ('allocsPerOp' in obj) {
        rows.push([`yolk mallocs per op: ${keys.filter((k, i) => k !== keys[i - 1]).join(' ')}`, (r) => keys.reduce((x, k) => x?.[k], r)?.allocsPerOp, null]);
        return;
      }
      for (const k of Object.keys(obj)) walk(obj[k], [...keys, k]);
    };
    walk(y[phase], [phase]);
  }
  return rows;
}

function table(res) {
  const names = Object.keys(res);
  const both = names.includes('yolk') && names.includes('node');
  // each row knows its phase: a phase that failed shows FAILED in its rows
  const rows = [...opt.phaseList.flatMap((p) => rowsFor(p).map((r) => [r[0], r[1], r[2] ?? null, p])),
    ...(opt.mallocs ? mallocRows(res) : [])];
  const head = ['metric', ...names, ...(both ? ['yolk/node', 'yolk is'] : [])];
  const lines = rows.map(([label, get, better, phase]) => {
    if (!get) return [label, ...names.map(() => ''), ...(both ? ['', ''] : [])];
    const val = (n) => {
      if (phase && res[n]?.[phase]?.error) return 'FAILED';
      try { return get(res[n]); } catch { return undefined; }
    };
    const cells = [label, ...names.map((n) => fmt(val(n)))];
    if (both) {
      const y = val('yolk'); const n = val('node');
      if (!better || typeof y !== 'number' || typeof n !== 'number' || !Number.isFinite(y / n) || n === 0) {
        cells.push('', '');
      } else {
        const ratio = y / n;
        const adv = better === 'higher' ? ratio : 1 / ratio;
        cells.push(ratio.toFixed(2), adv >= 1 ? `${adv.toFixed(2)}x better` : `${(1 / adv).toFixed(2)}x worse`);
      }
    }
    return cells;
  });
  const all = [head, ...lines];
  const w = head.map((_, i) => Math.max(...all.map((l) => String(l[i]).length)));
  const line = (l) => `| ${l.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join(' | ')} |`;
  return [line(head), `|${w.map((x, i) => (i === 0 ? ':' : '') + '-'.repeat(x + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...lines.map(line)].join('\n');
}

// The median of several results of one phase, number by number (--repeat): each figure of the
// table is then the median of its own runs.
function median(list) {
  if (list.length === 1) return list[0];
  const first = list[0];
  if (typeof first === 'number') {
    const v = list.filter((x) => typeof x === 'number').sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    const out = {};
    for (const k of Object.keys(first)) out[k] = median(list.map((x) => x?.[k]));
    return out;
  }
  return first;
}

function gitHead() {
  const r = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

async function main() {
  const servers = opt.servers.split(',').filter(Boolean);
  if (opt.mallocs && !process.env.BENCH_COUNT_EVENTS) setupAllocProbes();
  for (const s of servers) {
    if (s !== 'yolk' && s !== 'node' && !FLOOR_LEVELS[s]) throw new Error(`unknown server ${s} (servers: yolk, node, ${Object.keys(FLOOR_LEVELS).join(', ')})`);
  }
  if (servers.some((s) => s !== 'node') && !opt.yolk) throw new Error('no yolk binary (build with `make bench`, or pass --yolk PATH)');
  if (servers.some((s) => FLOOR_LEVELS[s]) && !existsSync(path.join(path.dirname(opt.yolk), 'bench-floor'))) {
    throw new Error(`no bench-floor next to ${opt.yolk} (it is built with yolk)`);
  }
  const ncpu = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  if (opt.pin && ncpu < 2) {
    process.stderr.write(`  WARNING: ${ncpu} CPU available: not pinning (server and clients share it)\n`);
    opt.pin = 0;
  }
  if (opt.pin) spawnSync('taskset', ['-a', '-p', '-c', opt.clientCpus, String(process.pid)], { stdio: 'ignore' });
  if (!opt.procs) opt.procs = opt.pin ? cpuList(opt.clientCpus).length : Math.max(1, ncpu - 1);
  const { version } = JSON.parse(readFileSync(path.join(root, 'node_modules/socket.io/package.json'), 'utf8'));
  const { version: clientVersion } = JSON.parse(readFileSync(path.join(root, 'node_modules/socket.io-client/package.json'), 'utf8'));
  const info = {
    date: new Date().toISOString(), host: os.hostname(), cpus: ncpu, loadavg: os.loadavg(),
    cpuModel: os.cpus()[0] && os.cpus()[0].model, node: process.version, socketio: version, socketioClient: clientVersion,
    yolk: opt.yolk, yolkCommit: gitHead(), options: opt, nofile,
    pinning: opt.pin ? { server: opt.serverCpus, clients: opt.clientCpus } : null,
  };
  process.stderr.write(`bench: yolk ${info.yolkCommit}, socket.io ${version} on node ${process.version}; ` +
    `${ncpu} CPUs (${info.cpuModel}), load average ${os.loadavg()[0].toFixed(2)}\n` +
    `  phases ${opt.phaseList.join(',')}; ${opt.pin ? `server on CPU ${opt.serverCpus}, clients on CPU ${opt.clientCpus}` : 'not pinned'}\n`);
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
  const res = Object.fromEntries(servers.map((s) => [s, {}]));
  const errors = [];
  const t0 = Date.now();
  const runs = Object.fromEntries(servers.map((s) => [s, {}])); // with --repeat: every run
  for (const phase of opt.phaseList) {
    for (let rep = 0; rep < opt.repeat; rep++) {
      for (const s of servers) {
        if (FLOOR_LEVELS[s] && !FLOOR_PHASES.includes(phase)) continue;
        const p0 = Date.now();
        process.stderr.write(`${phase} (${s}${opt.repeat > 1 ? `, run ${rep + 1} of ${opt.repeat}` : ''}):\n`);
        let r;
        try {
          r = await phases[phase](s);
          r.loadavg = os.loadavg()[0];
        } catch (e) {
          r = { error: String(e.message || e) };
          errors.push(`${phase} (${s}): ${e.stack || e}`);
          process.stderr.write(`  FAILED: ${String(e.message || e).split('\n')[0]}\n`);
        }
        (runs[s][phase] ||= []).push(r);
        process.stderr.write(`  (${((Date.now() - p0) / 1000).toFixed(1)} s)\n`);
      }
    }
    for (const s of servers) {
      if (!runs[s][phase]) continue;
      const ok = runs[s][phase].filter((r) => !r.error);
      res[s][phase] = ok.length ? median(ok) : runs[s][phase][0];
    }
  }
  info.seconds = (Date.now() - t0) / 1000;
  console.log(table(res));
  mkdirSync(path.dirname(opt.out), { recursive: true });
  writeFileSync(opt.out, JSON.stringify({ info, results: res, ...(opt.repeat > 1 ? { runs } : {}) }, null, 2) + '\n');
  process.stderr.write(`results written to ${path.relative(process.cwd(), opt.out)} (${info.seconds.toFixed(0)} s)\n`);
  if (errors.length) {
    process.stderr.write(`\n${errors.length} phase(s) failed:\n${errors.join('\n\n')}\n`);
    process.exitCode = 1;
  }
}

main().then(() => process.exit(process.exitCode || 0), (e) => { console.error(e.stack || e); process.exit(1); });
