// static.test.mjs - the one static-file responder (core/static.c) on the
// demo: public/ files, the Socket.IO browser client and the chat page (GET /,
// ctx:sendFile). HEAD answers exactly what GET would, without the body
// (issue 8, defect 2: it used to say Content-Length: 0); ETag and
// Last-Modified give 304s; a changed file is served changed; nothing else
// under the prefixes is served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { assertNoSanitizerReport, startDemo } from './demo_server.mjs';
import { repoRoot, sleep } from './lib.mjs';

let server;
before(async () => { server = await startDemo(); });
after(async () => {
  await server?.stop();
  if (server) assertNoSanitizerReport(server.output());
});

// One raw request on its own connection: { status, headers, body (Buffer) }.
// (fetch() cannot show what a HEAD answer carries.)
function raw(method, target, extra = '') {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), '127.0.0.1');
    const chunks = [];
    s.on('connect', () => s.write(`${method} ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`));
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('end', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, end).toString().split('\r\n');
      const headers = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(head[0].split(' ')[1]), headers, body: all.subarray(end + 4) });
    });
  });
}

const FILES = [
  ['/public/css/chat.css', 'public/css/chat.css', 'text/css; charset=utf-8'],
  ['/socket.io/socket.io.min.js', 'node_modules/socket.io-client/dist/socket.io.min.js',
    'application/javascript; charset=utf-8'],
  ['/', 'public/index.html', 'text/html; charset=utf-8'],
];

test('GET sends the file; HEAD answers the same head with no body', async () => {
  for (const [url, file, type] of FILES) {
    const bytes = fs.readFileSync(path.join(repoRoot, file));
    const get = await raw('GET', url);
    assert.equal(get.status, 200, url);
    assert.equal(get.headers['content-type'], type, url);
    assert.equal(Number(get.headers['content-length']), bytes.length, url);
    assert.ok(get.body.equals(bytes), `${url}: the file's bytes`);
    assert.match(get.headers.etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/, url);
    assert.ok(get.headers['last-modified'], url);
    const head = await raw('HEAD', url);
    assert.equal(head.status, 200, url);
    assert.equal(head.body.length, 0, `${url}: HEAD has no body`);
    for (const h of ['content-length', 'content-type', 'etag', 'last-modified', 'cache-control'])
      assert.equal(head.headers[h], get.headers[h], `${url}: HEAD ${h}`);
  }
});

test('If-None-Match and If-Modified-Since give 304 without a body', async () => {
  for (const [url] of FILES) {
    const get = await raw('GET', url);
    const inm = await raw('GET', url, `If-None-Match: ${get.headers.etag}\r\n`);
    assert.equal(inm.status, 304, url);
    assert.equal(inm.body.length, 0);
    assert.equal(inm.headers.etag, get.headers.etag);
    const ims = await raw('GET', url, `If-Modified-Since: ${get.headers['last-modified']}\r\n`);
    assert.equal(ims.status, 304, url);
    const stale = await raw('GET', url, 'If-None-Match: W/"0-0"\r\n');
    assert.equal(stale.status, 200, url);
  }
});

test('a file that changes is served changed (the cache checks size and mtime)', async () => {
  const dir = path.join(repoRoot, 'public');
  const name = `.static-test-${process.pid}.txt`; // hidden: never served
  const visible = `static-test-${process.pid}.txt`;
  try {
    fs.writeFileSync(path.join(dir, visible), 'one');
    let r = await raw('GET', `/public/${visible}`);
    assert.equal(r.body.toString(), 'one');
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    await sleep(20);
    fs.writeFileSync(path.join(dir, visible), 'two, longer');
    r = await raw('GET', `/public/${visible}`);
    assert.equal(r.body.toString(), 'two, longer');
    fs.writeFileSync(path.join(dir, name), 'secret');
    r = await raw('GET', `/public/${name}`);
    assert.equal(r.status, 404, 'dotfiles are not served');
    fs.unlinkSync(path.join(dir, visible));
    r = await raw('GET', `/public/${visible}`);
    assert.equal(r.status, 404, 'a removed file is gone');
  } finally {
    for (const f of [name, visible]) fs.rmSync(path.join(dir, f), { force: true });
  }
});

test('other files next to the client bundle are not served', async () => {
  for (const url of ['/socket.io/package.json', '/socket.io/../package.json', '/socket.io/socket.io.js.gz']) {
    const r = await raw('GET', url);
    assert.notEqual(r.status, 200, url);
  }
});
