// The demo chat page in a real browser: Debian's chromium driven by playwright-core (which
// must not download a browser of its own). Two pages set nicknames and exchange a group
// message, a private message and a voice message recorded from Chromium's fake microphone.
// The screenshot is kept in spec/artifacts/demo.png; with YOLK_UPDATE_SCREENSHOT=1 it also
// replaces public/screenshot.png, the image the README shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { assertNoSanitizerReport, startDemo, repoRoot } from './demo_server.mjs';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];
const skip = process.env.YOLK_BROWSER_TESTS === '0' ? 'YOLK_BROWSER_TESTS=0'
  : !fs.existsSync(CHROMIUM) ? `${CHROMIUM} is missing (apt-get install chromium)` : false;

let server;
let context;
let profile;

before(async () => {
  if (skip) return;
  server = await startDemo();
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'yolk-demo-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 680 },
    deviceScaleFactor: 1,
    timeout: 30000,
  });
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (server) assertNoSanitizerReport(server.output());
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

async function openAs(nickname) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.errors = errors;
  await page.goto(`${server.url}/`);
  await page.locator('#nick-input').fill(nickname);
  await page.locator('#nick-ok').click();
  await page.locator('#status.ok').waitFor();
  await page.locator('#modal').waitFor({ state: 'hidden' });
  return page;
}

const contact = (page, name) => page.locator('.contact', { has: page.locator('.contact-name', { hasText: name }) });
const lastText = (page, text) => page.locator('#messages .msg .text', { hasText: text });

async function send(page, text) {
  await page.locator('#text').fill(text);
  await page.locator('#text').press('Enter');
}

test('two browser pages chat in the group, privately and by voice', { skip, timeout: 90000 }, async () => {
  const alice = await openAs('Alice');
  const bob = await openAs('Bob');
  await contact(alice, 'Bob').waitFor();
  await contact(bob, 'Alice').waitFor();

  // Group chat (the default conversation), with emoji from the picker.
  await alice.locator('#text').fill('Hello everyone ');
  await alice.locator('#emoji-btn').click();
  await alice.locator('#emoji-panel .emoji', { hasText: '👋' }).click();
  await alice.locator('#text').press('Enter');
  await lastText(bob, 'Hello everyone 👋').waitFor();
  assert.equal(await lastText(alice, 'Hello everyone 👋').count(), 1, 'the sender shows it once');

  // Typing indicator, then a reply that clears it. Markup in a message stays text.
  await bob.locator('#text').pressSequentially('Hi Alice');
  await alice.locator('#typing', { hasText: 'Bob is typing' }).waitFor();
  await bob.locator('#text').fill('Hi Alice! 😊 <b>not bold</b>');
  await bob.locator('#text').press('Enter');
  await lastText(alice, 'Hi Alice! 😊 <b>not bold</b>').waitFor();
  await alice.locator('#typing:empty').waitFor();
  assert.equal(await alice.locator('#messages b').count(), 0, 'messages are rendered as text');

  // Private chat: Bob sees an unread mark on Alice, then the message.
  await contact(alice, 'Bob').click();
  await send(alice, 'This one is just for you 🤫');
  await contact(bob, 'Alice').locator('.badge', { hasText: '1' }).waitFor();
  await contact(bob, 'Alice').click();
  await lastText(bob, 'This one is just for you 🤫').waitFor();
  await bob.locator('#chat-title', { hasText: 'Alice' }).waitFor();

  // Voice message from Chromium's fake microphone, to the group.
  await contact(alice, 'Group chat').click();
  await contact(bob, 'Group chat').click();
  await bob.locator('#mic').click();
  await bob.locator('#mic.recording').waitFor();
  await bob.waitForTimeout(1500);
  await bob.locator('#mic').click();
  const voice = alice.locator('#messages .msg:not(.mine) audio.voice');
  await voice.waitFor();
  const size = await voice.evaluate(async (a) => (await (await fetch(a.src)).blob()).size);
  assert.ok(size > 500, `the received recording has data (${size} bytes)`);
  const ready = await voice.evaluate((a) => new Promise((resolve) => {
    if (a.readyState >= 1) return resolve(true);
    a.addEventListener('loadedmetadata', () => resolve(true), { once: true });
    a.addEventListener('error', () => resolve(false), { once: true });
    a.load();
  }));
  assert.ok(ready, 'the <audio> element can decode the recording');
  assert.equal(await bob.locator('#messages .msg.mine audio.voice').count(), 1, 'the sender sees its own');

  // A last private message while Alice looks at the group leaves an unread mark.
  await send(bob, 'Voice messages work too 🎤');
  await lastText(alice, 'Voice messages work too 🎤').waitFor();
  await contact(bob, 'Alice').click();
  await send(bob, 'ping 🏓');
  await contact(alice, 'Bob').locator('.badge', { hasText: '1' }).waitFor();

  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);

  const artifacts = path.join(repoRoot, 'spec/artifacts');
  fs.mkdirSync(artifacts, { recursive: true });
  const shot = path.join(artifacts, 'demo.png');
  await alice.screenshot({ path: shot });
  if (process.env.YOLK_UPDATE_SCREENSHOT === '1') {
    fs.copyFileSync(shot, path.join(repoRoot, 'public/screenshot.png'));
  }
});
