// Metrics (issue 12, part 5): config.metrics serves Prometheus' text format (0.0.4). The
// endpoint is scraped with a real HTTP client (Node's fetch) and its text parsed by a strict
// parser (below) after real socket.io-client traffic: connects over both transports,
// emits with acks, broadcasts, a volatile broadcast that a stalled polling session misses, a
// slow client cut, a Lua error and a refusal, disconnects for three reasons, a reload, a
// loop kept busy. Then the same in a cluster: two workers behind one endpoint of the master
// (--sticky), a worker that does not answer, restarts; and the relay of the shared-socket
// mode. The fixture is spec/metrics_app.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { io } from 'socket.io-client';
import {
  sanitizerReport, sleep, startCluster, startRedis, startYolk, stopYolk, waitForOutput,
} from './lib.mjs';

const APP = 'spec/metrics_app';
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// ---- a strict parser of the text format -------------------------------------------------------

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const VALUE = /^(NaN|[+-]Inf|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$/;

// A label set {a="x",b="y"} from text at i (just after the '{'); returns [labels, index after '}'].
function parseLabels(line, i) {
  const labels = {};
  if (line[i] === '}') return [labels, i + 1];
  for (;;) {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (!m) throw new Error(`bad label name at ${i}: ${line}`);
    const name = m[0];
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`expected ="...": ${line}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) throw new Error(`unterminated label value: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = line[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`bad escape \\${e} in a label value: ${line}`);
        i += 2;
      } else {
        value += c;
        i += 1;
      }
    }
    i += 1;
    if (name in labels) throw new Error(`label ${name} twice: ${line}`);
    labels[name] = value;
    if (line[i] === ',') { i += 1; continue; }
    if (line[i] === '}') return [labels, i + 1];
    throw new Error(`expected , or } at ${i}: ${line}`);
  }
}

// Every line is "# HELP name text", "# TYPE name type" (right after its HELP), or a sample
// "name{labels} value" of the family declared last (histograms: name_bucket with le, name_sum,
// name_count); each family once, its samples together, no series twice, counters end in
// _total, a histogram's buckets cumulative with +Inf = _count. Returns Map name -> family.
function parseMetrics(text) {
  assert.ok(text.endsWith('\n'), 'the text ends with a line feed');
  const families = new Map();
  const series = new Set();
  let cur = null;
  let expect = 'help';
  for (const line of text.slice(0, -1).split('\n')) {
    let m;
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) {
      assert.ok(expect !== 'type', `TYPE expected before: ${line}`);
      assert.match(m[1], NAME);
      assert.ok(!families.has(m[1]), `family ${m[1]} declared twice`);
      assert.doesNotMatch(m[2].replace(/\\[\\n]/g, ''), /\\/, `HELP escapes: ${line}`);
      cur = { name: m[1], help: m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c)), type: null, samples: [] };
      families.set(m[1], cur);
      expect = 'type';
    } else if ((m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      assert.equal(expect, 'type', `TYPE right after HELP: ${line}`);
      assert.equal(m[1], cur.name, `TYPE of the family just declared: ${line}`);
      cur.type = m[2];
      if (cur.type === 'counter') assert.match(cur.name, /_total$/, 'a counter is named *_total');
      expect = 'sample';
    } else if (line.startsWith('#')) {
      throw new Error(`unexpected comment: ${line}`);
    } else {
      assert.equal(expect, 'sample', `a sample before its family's HELP and TYPE: ${line}`);
      const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
      assert.ok(nm, `sample name: ${line}`);
      const name = nm[0];
      let i = name.length;
      let labels = {};
      if (line[i] === '{') [labels, i] = parseLabels(line, i + 1);
      assert.equal(line[i], ' ', `one space before the value: ${line}`);
      const v = line.slice(i + 1);
      assert.match(v, VALUE, `value: ${line}`);
      const allowed = cur.type === 'histogram'
        ? [`${cur.name}_bucket`, `${cur.name}_sum`, `${cur.name}_count`] : [cur.name];
      assert.ok(allowed.includes(name), `sample ${name} outside its family ${cur.name}`);
      if (name.endsWith('_bucket') && cur.type === 'histogram') assert.ok('le' in labels, `le: ${line}`);
      const key = name + JSON.stringify(Object.entries(labels).sort());
      assert.ok(!series.has(key), `series twice: ${line}`);
      series.add(key);
      cur.samples.push({ name, labels, value: Number(v.replace('Inf', 'Infinity')) });
    }
  }
  assert.notEqual(expect, 'type', 'the last family has its TYPE');
  for (const f of families.values()) {
    if (f.type !== 'histogram') continue;
    const groups = new Map();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort());
      if (!groups.has(k)) groups.set(k, { buckets: [], count: null });
      const g = groups.get(k);
      if (s.name.endsWith('_bucket')) g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
      if (s.name.endsWith('_count')) g.count = s.value;
    }
    for (const g of groups.values()) {
      for (let i = 1; i < g.buckets.length; i++) {
        assert.ok(g.buckets[i][0] > g.buckets[i - 1][0], `${f.name}: le ascending`);
        assert.ok(g.buckets[i][1] >= g.buckets[i - 1][1], `${f.name}: buckets cumulative`);
      }
      assert.equal(g.buckets.at(-1)[0], Infinity, `${f.name}: a +Inf bucket`);
      assert.equal(g.buckets.at(-1)[1], g.count, `${f.name}: +Inf = _count`);
    }
  }
  return families;
}

// The value of the sample name{labels} (exactly those labels), or undefined.
function get(fams, name, labels = {}) {
  const fname = name.replace(/_(bucket|sum|count)$/, '');
  const f = fams.get(name) || fams.get(fname);
  if (!f) return undefined;
  const want = JSON.stringify(Object.entries(labels).sort());
  const s = f.samples.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
  return s?.value;
}

// The sum over the samples of name whose labels include labels.
function sum(fams, name, labels = {}) {
  const f = fams.get(name);
  assert.ok(f, `family ${name}`);
  return f.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

// Counters (and histograms) never go down between two scrapes of one process.
function assertMonotonic(a, b) {
  for (const f of a.values()) {
    if (f.type !== 'counter' && f.type !== 'histogram') continue;
    for (const s of f.samples) {
      const later = get(b, s.name, s.labels);
      assert.ok(later !== undefined, `${s.name}${JSON.stringify(s.labels)} is still there`);
      assert.ok(later >= s.value, `${s.name}${JSON.stringify(s.labels)} went from ${s.value} to ${later}`);
    }
  }
}

const REQUIRED = {
  yolk_connected_clients: 'gauge',
  yolk_engine_connections: 'gauge',
  yolk_handshakes_total: 'counter',
  yolk_handshakes_refused_total: 'counter',
  yolk_packets_received_total: 'counter',
  yolk_packets_sent_total: 'counter',
  yolk_bytes_received_total: 'counter',
  yolk_bytes_sent_total: 'counter',
  yolk_disconnects_total: 'counter',
  yolk_lua_errors_total: 'counter',
  yolk_reloads_total: 'counter',
  yolk_event_loop_lag_seconds: 'histogram',
  yolk_lua_memory_bytes: 'gauge',
  yolk_buffered_bytes: 'gauge',
  yolk_dropped_volatile_total: 'counter',
  yolk_slow_clients_total: 'counter',
};

async function scrape(url, path = '/metrics') {
  const r = await fetch(url + path);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), CONTENT_TYPE);
  const text = await r.text();
  return { text, fams: parseMetrics(text) };
}

// ---- clients ---------------------------------------------------------------------------------------

const clients = new Set();
function client(url, opts = {}) {
  const s = io(url, { forceNew: true, reconnection: false, ...opts });
  clients.add(s);
  return s;
}
const connected = (s) => (s.connected ? Promise.resolve() : new Promise((resolve, reject) => {
  s.once('connect', resolve);
  s.once('connect_error', reject);
}));
const ack = (s, ev, ...args) => s.timeout(10000).emitWithAck(ev, ...args);

async function until(fn, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

// A raw Engine.IO v4 polling session that joins "/" and then never polls again: what is sent to
// it waits in its queue (volatile messages are dropped: nothing can take them now).
async function stalledPolling(url) {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const sid = JSON.parse(open.slice(1)).sid;
  await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40' });
  const answer = await (await fetch(`${base}&sid=${sid}`)).text();
  assert.match(answer, /^40\{"sid":/);
  return sid;
}

const servers = [];
after(async () => {
  for (const s of clients) s.close();
  for (const s of servers) {
    await stopYolk(s);
    assert.equal(sanitizerReport(s.out.text), null, s.out.text.slice(-3000));
  }
});

// ---- one process -------------------------------------------------------------------------------------

describe('one process', () => {
  let server;
  let s0;
  before(async () => {
    server = await startYolk(['--baseDir', APP], { env: { YOLK_TEST_MAX_BUFFERED: '1mb' } });
    servers.push(server);
    s0 = await scrape(server.url);
  });

  test('every metric has its HELP and TYPE; the app route on the path is shadowed (and said so), other methods are the app\'s', async () => {
    for (const [name, type] of Object.entries(REQUIRED)) {
      assert.ok(s0.fams.has(name), `${name} is there`);
      assert.equal(s0.fams.get(name).type, type, `${name} is a ${type}`);
      assert.ok(s0.fams.get(name).help.length > 10, `${name} says what it measures`);
    }
    assert.equal(get(s0.fams, 'yolk_engine_connections', { transport: 'polling' }), 0);
    assert.equal(get(s0.fams, 'yolk_engine_connections', { transport: 'websocket' }), 0);
    // namespaces are label values, escaped as the format says (this one is /we"ird\ns)
    assert.equal(get(s0.fams, 'yolk_connected_clients', { namespace: '/we"ird\\ns' }), 0);
    assert.ok(s0.text.includes('namespace="/we\\"ird\\\\ns"'));
    assert.ok(get(s0.fams, 'yolk_lua_memory_bytes') > 100000);
    // GET with a query is the endpoint's too; HEAD answers the headers; POST is the app's
    const q = await fetch(`${server.url}/metrics?x=1`);
    assert.equal(q.headers.get('content-type'), CONTENT_TYPE);
    assert.match(await q.text(), /^# HELP /);
    const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), CONTENT_TYPE);
    assert.equal(await head.text(), '');
    const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
    assert.equal(await post.text(), 'the app');
    assert.match(server.out.text, /WARN \[yolk\] app\/router\.lua: GET \/metrics is the metrics endpoint \(config\.metrics\.path\): this route is never reached/);
  });

  test('connections, handshakes, packets each way (a broadcast once per recipient), bytes, a Lua error but not a refusal', async () => {
    const a = client(server.url, { transports: ['websocket'] });
    const b = client(server.url); // polling, then the upgrade
    const c = client(`${server.url}/chat`, { transports: ['polling'] });
    await Promise.all([a, b, c].map(connected));
    await until(() => b.io.engine.transport.name === 'websocket', "b's upgrade");
    const news = { a: 0, b: 0 };
    a.on('news', () => news.a++);
    b.on('news', () => news.b++);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await ack(a, 'echo', i), i);
      assert.deepEqual(await ack(b, 'echo', i), i);
    }
    assert.equal(await ack(c, 'echo', 'x'), 'x');
    assert.equal(await ack(c, 'echo', 'y'), 'y');
    assert.equal(await ack(a, 'bcast', 'hello', 2), true);
    await until(() => news.a === 2 && news.b === 2, 'the news');
    assert.deepEqual(await ack(a, 'boom'), { ok: false, error: 'server error' });
    assert.deepEqual(await ack(b, 'refuse'), { ok: false, error: 'not now' });

    const { fams } = await scrape(server.url);
    assertMonotonic(s0.fams, fams);
    const d = (name, labels) => get(fams, name, labels) - get(s0.fams, name, labels);
    assert.equal(get(fams, 'yolk_connected_clients', { namespace: '/' }), 2);
    assert.equal(get(fams, 'yolk_connected_clients', { namespace: '/chat' }), 1);
    assert.equal(get(fams, 'yolk_engine_connections', { transport: 'websocket' }), 2);
    assert.equal(get(fams, 'yolk_engine_connections', { transport: 'polling' }), 1);
    assert.equal(d('yolk_handshakes_total'), 3);
    // from the clients: 6 + 2 echo, 1 bcast, 1 boom, 1 refuse
    assert.equal(d('yolk_packets_received_total', { namespace: '/' }), 9);
    assert.equal(d('yolk_packets_received_total', { namespace: '/chat' }), 2);
    // to them: 6 + 2 acks, 2 news to each of 2 sockets, the acks of bcast, boom and refuse
    assert.equal(d('yolk_packets_sent_total', { namespace: '/' }), 6 + 4 + 3);
    assert.equal(d('yolk_packets_sent_total', { namespace: '/chat' }), 2);
    assert.equal(d('yolk_lua_errors_total'), 1, 'the bug, not the refusal');
    assert.ok(d('yolk_bytes_received_total') > 500);
    assert.ok(d('yolk_bytes_sent_total') >= s0.text.length, 'the first scrape\'s response was sent');
    assert.ok(get(fams, 'yolk_http_connections') >= 3);
  });

  test('disconnects by reason; the gauges go back', async () => {
    const before = (await scrape(server.url)).fams;
    const [a, b, c] = [...clients].slice(-3);
    a.disconnect(); // the client leaves the namespace
    b.emit('kick'); // the server disconnects it
    c.io.engine.close(); // the whole connection goes
    const { fams } = await until(async () => {
      const s = await scrape(server.url);
      return get(s.fams, 'yolk_connected_clients', { namespace: '/' }) === 0 &&
        get(s.fams, 'yolk_connected_clients', { namespace: '/chat' }) === 0 && s;
    }, 'every socket gone');
    assertMonotonic(before, fams);
    const d = (reason) => (get(fams, 'yolk_disconnects_total', { reason }) ?? 0) -
      (get(before, 'yolk_disconnects_total', { reason }) ?? 0);
    assert.equal(d('client namespace disconnect'), 1);
    assert.equal(d('server namespace disconnect'), 1);
    assert.equal(d('transport close'), 1);
    await until(async () => get((await scrape(server.url)).fams, 'yolk_engine_connections', { transport: 'polling' }) === 0,
      'the polling session closed');
  });

  test('volatile broadcasts a stalled client misses are dropped; queued bytes show; the slow client is cut', async () => {
    const before = (await scrape(server.url)).fams;
    const sid = await stalledPolling(server.url);
    const g = client(server.url, { transports: ['websocket'] });
    await connected(g);
    let got = 0;
    g.on('news', () => got++);
    // 5 volatile: the stalled session has no GET to take them
    assert.equal(await ack(g, 'bcast', 'v', 5, true), true);
    await until(() => got === 5, 'the volatile news');
    let s = (await scrape(server.url)).fams;
    assert.ok(get(s, 'yolk_dropped_volatile_total') - get(before, 'yolk_dropped_volatile_total') >= 5);
    // 10 KB messages wait in its queue until maxBufferedBytes (1 MiB) cuts it
    const payload = 'x'.repeat(10240);
    assert.equal(await ack(g, 'bcast', payload, 10), true);
    await until(() => got === 15, 'the news');
    s = (await scrape(server.url)).fams;
    assert.ok(get(s, 'yolk_buffered_bytes') >= 10 * 10240, `queued: ${get(s, 'yolk_buffered_bytes')}`);
    for (let k = 0; k < 30 && get(s, 'yolk_slow_clients_total') === get(before, 'yolk_slow_clients_total'); k++) {
      assert.equal(await ack(g, 'bcast', payload, 10), true);
      s = (await scrape(server.url)).fams;
    }
    const after = await until(async () => {
      const x = (await scrape(server.url)).fams;
      return (get(x, 'yolk_disconnects_total', { reason: 'slow client' }) ?? 0) >= 1 && x;
    }, 'the slow client gone');
    assertMonotonic(before, after);
    assert.equal(get(after, 'yolk_slow_clients_total') - get(before, 'yolk_slow_clients_total'), 1);
    assert.equal(get(after, 'yolk_disconnects_total', { reason: 'slow client' }), 1);
    assert.ok(get(after, 'yolk_buffered_bytes') < 10240, 'its queue went with it');
    assert.match(server.out.text, new RegExp(`${sid} \\(127\\.0\\.0\\.1\\): slow client`));
    g.close();
  });

  test('a loop kept busy shows in the lag histogram; a reload is counted', async () => {
    const before = (await scrape(server.url)).fams;
    const g = client(server.url, { transports: ['websocket'] });
    await connected(g);
    assert.equal(await ack(g, 'spin', 400), true); // 400 ms in one Lua handler
    await sleep(250);
    const { fams } = await scrape(server.url);
    const slow = (f) => f && (get(f, 'yolk_event_loop_lag_seconds_count') - get(f, 'yolk_event_loop_lag_seconds_bucket', { le: '0.25' }));
    assert.equal(slow(fams) - slow(before), 1, 'one look came more than 250 ms late');
    assert.ok(get(fams, 'yolk_event_loop_lag_seconds_sum') - get(before, 'yolk_event_loop_lag_seconds_sum') >= 0.25);
    server.child.kill('SIGHUP');
    await waitForOutput(server, /reloaded \(SIGHUP\)/);
    const r = (await scrape(server.url)).fams;
    assert.equal(get(r, 'yolk_reloads_total') - get(before, 'yolk_reloads_total'), 1);
    assertMonotonic(fams, r);
    g.close();
  });
});

// ---- a cluster ---------------------------------------------------------------------------------------

describe('cluster', () => {
  let redis;
  before(async () => { redis = await startRedis(); });
  after(async () => { await redis?.stop(); });

  // The master's endpoint over one keep-alive connection, as Prometheus scrapes.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  function scrapeAgent(url) {
    return new Promise((resolve, reject) => {
      http.get(`${url}/metrics`, { agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => {
          try {
            assert.equal(res.statusCode, 200);
            assert.equal(res.headers['content-type'], CONTENT_TYPE);
            resolve({ text, fams: parseMetrics(text) });
          } catch (e) { reject(e); }
        });
      }).on('error', reject);
    });
  }

  test('--sticky: one endpoint on the master, every worker\'s figures with its worker label', async () => {
    const server = await startCluster(['--baseDir', APP, '--workers', '2', '--sticky'],
      { env: { YOLK_TEST_REDIS_PORT: String(redis.port) } });
    servers.push(server);
    const s0 = await scrapeAgent(server.url);
    for (const [name, type] of Object.entries(REQUIRED)) {
      const f = s0.fams.get(name);
      assert.ok(f, `${name} is there`);
      assert.equal(f.type, type);
      if (name === 'yolk_disconnects_total') continue; // no sample until someone leaves
      for (const w of ['1', '2']) assert.ok(f.samples.some((s) => s.labels.worker === w), `${name} of worker ${w}`);
      assert.ok(f.samples.every((s) => Object.keys(s.labels)[0] === 'worker'), `${name}: worker first`);
    }
    assert.equal(get(s0.fams, 'yolk_cluster_worker_up', { worker: '1' }), 1);
    assert.equal(get(s0.fams, 'yolk_cluster_worker_up', { worker: '2' }), 1);

    // four clients through the master (spread over the workers), one broadcast through Redis
    const cs = [0, 1, 2, 3].map(() => client(server.url));
    await Promise.all(cs.map(connected));
    let news = 0;
    for (const c of cs) c.on('news', () => news++);
    for (const c of cs) assert.equal(await ack(c, 'echo', 1), 1);
    assert.equal(await ack(cs[0], 'bcast', 'all', 1), true);
    await until(() => news === 4, 'the news on both workers');
    const { fams } = await scrapeAgent(server.url);
    assertMonotonic(s0.fams, fams);
    assert.equal(sum(fams, 'yolk_connected_clients', { namespace: '/' }), 4);
    assert.ok(get(fams, 'yolk_connected_clients', { worker: '1', namespace: '/' }) >= 1, 'worker 1 has clients');
    assert.ok(get(fams, 'yolk_connected_clients', { worker: '2', namespace: '/' }) >= 1, 'worker 2 has clients');
    assert.equal(sum(fams, 'yolk_handshakes_total') - sum(s0.fams, 'yolk_handshakes_total'), 4);
    assert.equal(sum(fams, 'yolk_packets_received_total', { namespace: '/' }) -
      sum(s0.fams, 'yolk_packets_received_total', { namespace: '/' }), 5);
    // 4 echo acks, the news to 4 sockets (each worker counts its own), the bcast's ack
    assert.equal(sum(fams, 'yolk_packets_sent_total', { namespace: '/' }) -
      sum(s0.fams, 'yolk_packets_sent_total', { namespace: '/' }), 9);

    // a worker that does not answer (stopped): left out after 1 s, up 0; back when it is
    const pids = server.workers();
    process.kill(pids[2], 'SIGSTOP');
    try {
      const t0 = Date.now();
      const s = await scrapeAgent(server.url);
      assert.ok(Date.now() - t0 >= 900, 'the master waited for it');
      assert.equal(get(s.fams, 'yolk_cluster_worker_up', { worker: '2' }), 0);
      assert.equal(get(s.fams, 'yolk_cluster_worker_up', { worker: '1' }), 1);
      assert.ok(s.fams.get('yolk_handshakes_total').samples.every((x) => x.labels.worker === '1'));
      assert.match(server.out.text, /metrics: worker 2 did not answer within 1000 ms/);
    } finally {
      process.kill(pids[2], 'SIGCONT');
    }
    // SIGHUP: each worker reloads, and counts it
    server.child.kill('SIGHUP');
    await waitForOutput(server, /\[master\/cluster\] reload done/);
    let s = await scrapeAgent(server.url);
    assert.equal(get(s.fams, 'yolk_reloads_total', { worker: '1' }), 1);
    assert.equal(get(s.fams, 'yolk_reloads_total', { worker: '2' }), 1);
    // a worker that dies is restarted, and counted
    const since = server.out.text.length;
    process.kill(pids[1], 'SIGKILL');
    await until(() => /worker 1 \(pid \d+\) ready/.test(server.out.text.slice(since)), 'worker 1 again', 10000);
    s = await scrapeAgent(server.url);
    assert.equal(get(s.fams, 'yolk_cluster_worker_restarts_total', { worker: '1' }), 1);
    assert.equal(get(s.fams, 'yolk_cluster_worker_restarts_total', { worker: '2' }), 0);
    assert.equal(get(s.fams, 'yolk_cluster_worker_up', { worker: '1' }), 1);
    assert.equal(get(s.fams, 'yolk_handshakes_total', { worker: '1' }), 0, 'a new process starts from zero');
    for (const c of cs) c.close();
    agent.destroy();
  });

  test('the shared socket: whichever worker a scrape reaches answers for every worker', async () => {
    const server = await startCluster(['--baseDir', APP, '--workers', '2'], {
      env: { YOLK_TEST_REDIS_PORT: String(redis.port), YOLK_TEST_TRANSPORTS: 'websocket' },
    });
    servers.push(server);
    const cs = [0, 1, 2].map(() => client(server.url, { transports: ['websocket'] }));
    await Promise.all(cs.map(connected));
    // new connections each time, so that the kernel hands them to either worker
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${server.url}/metrics`, { headers: { connection: 'close' } });
      assert.equal(r.headers.get('content-type'), CONTENT_TYPE);
      const fams = parseMetrics(await r.text());
      assert.equal(get(fams, 'yolk_cluster_worker_up', { worker: '1' }), 1);
      assert.equal(get(fams, 'yolk_cluster_worker_up', { worker: '2' }), 1);
      assert.equal(sum(fams, 'yolk_connected_clients', { namespace: '/' }), 3);
      assert.equal(sum(fams, 'yolk_engine_connections', { transport: 'websocket' }), 3);
    }
    for (const c of cs) c.close();
  });
});

