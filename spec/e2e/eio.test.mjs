// eio.test.mjs - the Engine.IO layer end to end: build/eio-echo driven by the
// real clients (engine.io-client 6 for protocol v4, engine.io-client 3.5 for
// v3) over polling, WebSocket and the upgrade, plus raw HTTP checks of the
// error answers, CORS and the v3 payload encodings.
//
// The binary comes from $YOLK_BUILD_DIR (default ./build).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { Socket as SocketV4 } from "engine.io-client";

const require = createRequire(import.meta.url);
const eioV3 = require("engine.io-client-v3");
const WebSocket = require("ws");

const BUILD = path.resolve(process.env.YOLK_BUILD_DIR || "build");
const ECHO = path.join(BUILD, "eio-echo");

const servers = [];

// Starts eio-echo on a free port (--port 0); resolves with its base URL.
function startEcho(args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(ECHO, ["--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    servers.push(child);
    let out = "";
    let log = "";
    child.stderr.on("data", (d) => (log += d));
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on ([\d.]+):(\d+)/);
      if (m) resolve({ url: `http://${m[1]}:${m[2]}`, child, log: () => log });
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`eio-echo exited with ${code}: ${log}`)));
  });
}

// Stops every server and checks each exited cleanly (0: no crash, and under
// an ASan build no leak report, which changes the exit code).
async function stopAll() {
  const exits = servers.map((child) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve([child.exitCode, child.signalCode])
      : new Promise((r) => child.on("exit", (code, sig) => r([code, sig]))));
  for (const child of servers) if (child.exitCode === null) child.kill("SIGTERM");
  for (const [code, sig] of await Promise.all(exits)) assert.deepEqual([code, sig], [0, null]);
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))),
  ]).finally(() => clearTimeout(t));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Normalises what the clients hand out for binary data.
function bytes(data) {
  if (typeof data === "string") return null;
  if (data instanceof ArrayBuffer) return Buffer.from(new Uint8Array(data));
  return Buffer.from(data.buffer ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data);
}

// Opens a client, sends every message in `outgoing` once open (after the
// upgrade when waitUpgrade), and resolves with what came back.
function roundTrip(makeSocket, outgoing, { waitUpgrade = false } = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = makeSocket();
      const received = [];
      let transportAtEnd;
      const sendAll = () => outgoing.forEach((m) => socket.send(m));
      socket.on("open", () => {
        if (!waitUpgrade) sendAll();
      });
      socket.on("upgrade", () => {
        if (waitUpgrade) sendAll();
      });
      socket.on("message", (data) => {
        received.push(data);
        if (received.length === outgoing.length) {
          transportAtEnd = socket.transport.name;
          socket.close();
          resolve({ received, transport: transportAtEnd });
        }
      });
      socket.on("error", reject);
    }),
    8000,
    "round trip",
  );
}

function checkEcho(outgoing, received) {
  assert.equal(received.length, outgoing.length);
  outgoing.forEach((m, i) => {
    // an empty message is "4" on the wire: the clients hand it out as undefined
    if (m === "") assert.ok(received[i] === "" || received[i] === undefined, `message ${i}`);
    else if (typeof m === "string") assert.equal(received[i], m, `message ${i}`);
    else assert.deepEqual(bytes(received[i]), Buffer.from(m), `binary message ${i}`);
  });
}

const TEXT_AND_BINARY = ["hello", "caf\u00e9 \u20ac \ud83d\ude00", Uint8Array.from([1, 2, 3, 255]), "", "last"];
const MANY = Array.from({ length: 50 }, (_, i) => `msg ${i}`);

describe("Engine.IO end to end (eio-echo)", () => {
  let srv;
  before(async () => {
    srv = await startEcho(["--ping-interval", "300", "--ping-timeout", "200", "--max-payload", "10000",
      "--cors-origin", "http://allowed.example,http://other.example", "--forbid-param", "deny"]);
  });
  after(stopAll);

  describe("engine.io-client 6 (protocol v4)", () => {
    for (const [name, opts, waitUpgrade, expect] of [
      ["polling only", { transports: ["polling"] }, false, "polling"],
      ["websocket only", { transports: ["websocket"] }, false, "websocket"],
      ["upgrade from polling", {}, true, "websocket"],
    ]) {
      test(`${name}: text and binary echo`, async () => {
        const out = TEXT_AND_BINARY;
        const { received, transport } = await roundTrip(() => new SocketV4(srv.url, opts), out, { waitUpgrade });
        checkEcho(out, received);
        assert.equal(transport, expect);
      });
      test(`${name}: many messages keep their order`, async () => {
        const { received } = await roundTrip(() => new SocketV4(srv.url, opts), MANY, { waitUpgrade });
        assert.deepEqual(received, MANY);
      });
    }

    test("messages sent while the upgrade runs arrive in order", async () => {
      const socket = new SocketV4(srv.url, {});
      const got = [];
      await withTimeout(
        new Promise((resolve, reject) => {
          let i = 0;
          let timer;
          socket.on("open", () => {
            timer = setInterval(() => {
              if (i < 40) socket.send(`m${i++}`);
            }, 5);
          });
          socket.on("message", (d) => {
            got.push(d);
            if (got.length === 40) {
              clearInterval(timer);
              resolve();
            }
          });
          socket.on("error", reject);
        }),
        8000,
        "messages across upgrade",
      );
      assert.equal(socket.transport.name, "websocket");
      socket.close();
      assert.deepEqual(got, Array.from({ length: 40 }, (_, k) => `m${k}`));
    });

    test("the session survives several heartbeats", async () => {
      const socket = new SocketV4(srv.url, { transports: ["websocket"] });
      let closed = false;
      socket.on("close", () => (closed = true));
      await withTimeout(new Promise((r) => socket.on("open", r)), 3000, "open");
      await sleep(1200); // four ping intervals of 300 ms
      assert.equal(closed, false);
      const echo = new Promise((r) => socket.on("message", r));
      socket.send("still here");
      assert.equal(await withTimeout(echo, 3000, "echo"), "still here");
      socket.close();
    });
  });

  describe("engine.io-client 3.5 (protocol v3)", () => {
    for (const [name, opts, waitUpgrade, expect] of [
      ["polling only", { transports: ["polling"] }, false, "polling"],
      ["polling only, base64", { transports: ["polling"], forceBase64: true }, false, "polling"],
      ["websocket only", { transports: ["websocket"] }, false, "websocket"],
      ["upgrade from polling", {}, true, "websocket"],
    ]) {
      test(`${name}: text and binary echo`, async () => {
        const out = TEXT_AND_BINARY.map((m) => (typeof m === "string" ? m : Buffer.from(m)));
        const { received, transport } = await roundTrip(() => eioV3(srv.url, opts), out, { waitUpgrade });
        checkEcho(out, received);
        assert.equal(transport, expect);
      });
      test(`${name}: many messages keep their order`, async () => {
        const { received } = await roundTrip(() => eioV3(srv.url, opts), MANY, { waitUpgrade });
        assert.deepEqual(received, MANY);
      });
    }
  });

  describe("raw HTTP", () => {
    const get = (q, init) => fetch(`${srv.url}/engine.io/?${q}`, init);
    async function openV4() {
      const res = await get("EIO=4&transport=polling");
      const text = await res.text();
      assert.equal(res.status, 200);
      return JSON.parse(text.slice(1)).sid;
    }
    async function expectError(res, status, code, message) {
      assert.equal(res.status, status);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.deepEqual(await res.json(), { code, message });
    }

    test("handshake: sid of 20 url-safe characters and the announced settings", async () => {
      const res = await get("EIO=4&transport=polling");
      assert.match(res.headers.get("content-type"), /^text\/plain; charset=UTF-8/);
      const body = await res.text();
      assert.equal(body[0], "0");
      const open = JSON.parse(body.slice(1));
      assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
      assert.deepEqual(open.upgrades, ["websocket"]);
      assert.equal(open.pingInterval, 300);
      assert.equal(open.pingTimeout, 200);
      assert.equal(open.maxPayload, 10000);
      const v3 = await (await get("EIO=3&transport=polling")).text();
      const m = v3.match(/^(\d+):0(.*)$/);
      assert.ok(m, v3);
      const open3 = JSON.parse(m[2]);
      assert.equal(Number(m[1]), m[2].length + 1);
      assert.equal(open3.maxPayload, undefined);
    });

    test("error codes and messages", async () => {
      await expectError(await get("EIO=4&transport=carrier-pigeon"), 400, 0, "Transport unknown");
      await expectError(await get("EIO=4"), 400, 0, "Transport unknown");
      await expectError(await get("EIO=4&transport=polling&sid=nope"), 400, 1, "Session ID unknown");
      await expectError(await get("EIO=4&transport=polling", { method: "POST", body: "4x" }), 400, 2,
        "Bad handshake method");
      await expectError(await get("EIO=4&transport=websocket"), 400, 3, "Bad request");
      await expectError(await get("EIO=5&transport=polling"), 400, 5, "Unsupported protocol version");
      await expectError(await get("transport=polling"), 400, 5, "Unsupported protocol version");
      await expectError(await get("EIO=4&transport=polling&deny=1"), 403, 4, "Forbidden");
      // not under the Engine.IO path
      assert.equal((await fetch(`${srv.url}/elsewhere`)).status, 404);
    });

    test("a POST larger than maxHttpBufferSize gets 413 and the session stays", async () => {
      const sid = await openV4();
      const res = await get(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "4" + "x".repeat(20000) });
      assert.equal(res.status, 413);
      await res.arrayBuffer();
      const post = await get(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "4small" });
      assert.equal(await post.text(), "ok");
      assert.equal(await (await get(`EIO=4&transport=polling&sid=${sid}`)).text(), "4small");
    });

    test("an invalid packet closes the session", async () => {
      const sid = await openV4();
      const res = await get(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "4ok\x1e9bad" });
      await expectError(res, 400, 3, "Bad request");
      await expectError(await get(`EIO=4&transport=polling&sid=${sid}`), 400, 1, "Session ID unknown");
    });

    test("a duplicate GET gets 400 and the pending one the close packet", async () => {
      const sid = await openV4();
      const first = get(`EIO=4&transport=polling&sid=${sid}`);
      await sleep(50);
      const second = await get(`EIO=4&transport=polling&sid=${sid}&t=dup`);
      assert.equal(second.status, 400);
      assert.equal(await (await first).text(), "1");
      assert.equal((await get(`EIO=4&transport=polling&sid=${sid}`)).status, 400);
    });

    test("a POSTed close packet ends the session; the pending GET gets a noop", async () => {
      const sid = await openV4();
      const poll = get(`EIO=4&transport=polling&sid=${sid}`);
      await sleep(50);
      const post = await get(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "1" });
      assert.equal(await post.text(), "ok");
      assert.equal(await (await poll).text(), "6");
      assert.equal((await get(`EIO=4&transport=polling&sid=${sid}`)).status, 400);
    });

    test("a v4 session without pongs is closed after pingInterval + pingTimeout", async () => {
      const sid = await openV4();
      await sleep(700);
      assert.equal((await get(`EIO=4&transport=polling&sid=${sid}`)).status, 400);
    });

    test("polling after the upgrade is refused, a second WebSocket is closed", async () => {
      const sid = await openV4();
      const ws = new WebSocket(`${srv.url.replace("http", "ws")}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
      const messages = [];
      ws.on("message", (d) => messages.push(d.toString()));
      await new Promise((r) => ws.on("open", r));
      ws.send("2probe");
      while (!messages.includes("3probe")) await sleep(5);
      ws.send("5");
      await sleep(50);
      await expectError(await get(`EIO=4&transport=polling&sid=${sid}`), 400, 3, "Bad request");
      const ws2 = new WebSocket(`${srv.url.replace("http", "ws")}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
      ws2.on("error", () => {});
      await withTimeout(new Promise((r) => ws2.on("close", r)), 3000, "second websocket closed");
      ws.send("4after");
      while (!messages.includes("4after")) await sleep(5);
      ws.close();
    });

    test("v3 binary payloads: octet-stream without b64, b4<base64> with it", async () => {
      const open = await (await get("EIO=3&transport=polling")).text();
      const sid = JSON.parse(open.slice(open.indexOf(":") + 2)).sid;
      // text payload with a base64 binary packet, lengths in UTF-16 units
      const post = await get(`EIO=3&transport=polling&sid=${sid}`, { method: "POST", body: "2:4\u20ac10:b4AQIDBA==" });
      assert.equal(await post.text(), "ok");
      const res = await get(`EIO=3&transport=polling&sid=${sid}`);
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      const buf = Buffer.from(await res.arrayBuffer());
      assert.deepEqual([...buf], [0, 4, 255, 52, 0xe2, 0x82, 0xac, 1, 5, 255, 4, 1, 2, 3, 4]);
      // the same framing from the client (octet-stream POST)
      const bin = Buffer.from([1, 3, 255, 4, 9, 8, 0, 2, 255, 52, 65]);
      const post2 = await get(`EIO=3&transport=polling&sid=${sid}`, {
        method: "POST", body: bin, headers: { "content-type": "application/octet-stream" } });
      assert.equal(await post2.text(), "ok");
      const buf2 = Buffer.from(await (await get(`EIO=3&transport=polling&sid=${sid}`)).arrayBuffer());
      assert.deepEqual([...buf2], [1, 3, 255, 4, 9, 8, 0, 2, 255, 52, 65]);

      const open64 = await (await get("EIO=3&transport=polling&b64=1")).text();
      const sid64 = JSON.parse(open64.slice(open64.indexOf(":") + 2)).sid;
      await (await get(`EIO=3&transport=polling&sid=${sid64}`, { method: "POST", body: "2:4\u20ac10:b4AQIDBA==" })).text();
      const text = await (await get(`EIO=3&transport=polling&sid=${sid64}`)).text();
      assert.equal(text, "2:4\u20ac10:b4AQIDBA==");
    });

    test("v4 refuses an octet-stream POST and closes the session", async () => {
      const sid = await openV4();
      const res = await get(`EIO=4&transport=polling&sid=${sid}`, {
        method: "POST", body: Buffer.from([4, 1]), headers: { "content-type": "application/octet-stream" } });
      assert.equal(res.status, 400);
      await res.arrayBuffer();
      assert.equal((await get(`EIO=4&transport=polling&sid=${sid}`)).status, 400);
    });

    test("JSONP (v3, j=N): wrapped answers and form-encoded posts", async () => {
      const res = await get("EIO=3&transport=polling&j=7");
      assert.match(res.headers.get("content-type"), /^text\/javascript/);
      const js = await res.text();
      const m = js.match(/^___eio\[7\]\((".*")\);$/s);
      assert.ok(m, js);
      const payload = JSON.parse(m[1]);
      const sid = JSON.parse(payload.slice(payload.indexOf(":") + 2)).sid;
      const body = "d=" + encodeURIComponent("13:4line1\\nline2\u2028");
      const post = await get(`EIO=3&transport=polling&j=7&sid=${sid}`, {
        method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
      assert.equal(await post.text(), "ok");
      const js2 = await (await get(`EIO=3&transport=polling&j=7&sid=${sid}`)).text();
      assert.ok(js2.includes("\\u2028"), js2);
      assert.equal(js2, '___eio[7]("13:4line1\\nline2\\u2028");');
    });

    test("CORS: listed origins are reflected, others not; preflight answered", async () => {
      const ok = await get("EIO=4&transport=polling", { headers: { origin: "http://allowed.example" } });
      assert.equal(ok.headers.get("access-control-allow-origin"), "http://allowed.example");
      assert.match(ok.headers.get("vary") || "", /Origin/);
      await ok.text();
      const no = await get("EIO=4&transport=polling", { headers: { origin: "http://evil.example" } });
      assert.equal(no.headers.get("access-control-allow-origin"), null);
      await no.text();
      const pre = await get("EIO=4&transport=polling", {
        method: "OPTIONS",
        headers: { origin: "http://other.example", "access-control-request-headers": "content-type" },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), "http://other.example");
      assert.match(pre.headers.get("access-control-allow-methods"), /POST/);
      assert.equal(pre.headers.get("access-control-allow-headers"), "content-type");
      // errors carry the CORS headers too, so browsers can read them
      const err = await get("EIO=4&transport=nope", { headers: { origin: "http://allowed.example" } });
      assert.equal(err.headers.get("access-control-allow-origin"), "http://allowed.example");
      await err.text();
    });
  });

  describe("CORS with credentials", () => {
    let s2;
    before(async () => {
      s2 = await startEcho(["--cors-origin", "*", "--cors-credentials"]);
    });
    test("'*' with credentials reflects the Origin", async () => {
      const res = await fetch(`${s2.url}/engine.io/?EIO=3&transport=polling`, { headers: { origin: "http://app.example" } });
      assert.equal(res.headers.get("access-control-allow-origin"), "http://app.example");
      assert.equal(res.headers.get("access-control-allow-credentials"), "true");
      await res.text();
    });
  });

  describe("without CORS", () => {
    let s3;
    before(async () => {
      s3 = await startEcho([]);
    });
    test("no CORS headers, and a server shutdown closes open sessions", async () => {
      const res = await fetch(`${s3.url}/engine.io/?EIO=4&transport=polling`, { headers: { origin: "http://app.example" } });
      assert.equal(res.headers.get("access-control-allow-origin"), null);
      const sid = JSON.parse((await res.text()).slice(1)).sid;
      const pending = fetch(`${s3.url}/engine.io/?EIO=4&transport=polling&sid=${sid}`);
      const socket = new SocketV4(s3.url, { transports: ["websocket"] });
      await withTimeout(new Promise((r) => socket.on("open", r)), 3000, "open");
      const closed = new Promise((r) => socket.on("close", (reason) => r(reason)));
      await sleep(50);
      s3.child.kill("SIGTERM");
      assert.equal(await (await pending).text(), "1"); // the pending GET gets the close packet
      await withTimeout(closed, 3000, "client sees the close");
      const code = await new Promise((r) => (s3.child.exitCode !== null ? r(s3.child.exitCode) : s3.child.on("exit", r)));
      assert.equal(code, 0);
    });
  });
});
