// The chat page (static/) in a real browser: Debian's Chromium, driven by playwright-core, against the real
// chatd binary. Every check reads the page's DOM or the WebSockets the browser opened; waits end on what the
// page shows, never on a fixed delay (one check of an absence aside).
// The same page against chatd in open mode, then in auth.mode password (a login form, its HttpOnly cookie,
// logout, expiry, the failed-login limit) and jwt (a token from the URL fragment, HS256 minted here), then
// on Redis (cluster.engine redis, a real redis-server this file starts): the `reset` after Redis lost data.
// The page's features (issue 13: who is online, load older, links, days and authors, the room in the
// address) are tested at 375x700 and from the keyboard, each saving a screenshot in BROWSER_SCREENSHOTS
// (meson: build/browser-screenshots; else ./browser-screenshots).
//
// Usage: (cd test/browser && npm ci) once, then CHATD_BIN=/path/to/chatd node test/browser/page_test.mjs
// (`./dev test` does both). CHROMIUM overrides /usr/bin/chromium; BROWSER_TEST_WAIT_MS the 15 s wait;
// REDIS_SERVER /usr/bin/redis-server (when it is absent, the Redis tests print "skip NAME: why").
// Prints one line per test ("ok NAME", "FAIL NAME: why" or "skip NAME: why"), then "browser: N passed,
// M failed, K skipped"; exits 1 if any test failed.

import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// playwright-core only drives the browser; it never downloads one (Chromium comes from Debian).
const { chromium } = await import('playwright-core').catch((error) => {
  console.log(`FAIL browser: cannot load playwright-core (run "npm ci" in test/browser): ${error.message}`);
  process.exit(1);
});

const STATIC_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../static');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Runs as root on CI (hence --no-sandbox); the rest keeps Chromium from calling home or using a GPU.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SERVER_MESSAGE_LIMIT = 1024; // limits.max_message_size of the server under test
const PAGE_DEFAULT_LIMIT = 65536; // what the page assumes without word from the server (the server's default)
const WAIT_MS = Number(process.env.BROWSER_TEST_WAIT_MS) || 15000; // per awaited condition; ASan is slow
const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';
// One PNG per test of the page's features, kept by CI as artefacts (meson sets it to build/browser-screenshots).
const SCREENSHOTS = process.env.BROWSER_SCREENSHOTS || path.join(process.cwd(), 'browser-screenshots');
const PHONE = { width: 375, height: 700 }; // the narrow screen every feature must work on

// ---- the server: the real binary, restartable on the same port and database ----

class Chatd {
  // auth: the lines of an `auth:` section (none: open mode); files: name -> contents, written beside the
  // config (key files are read relative to it); memory: history.store memory (sessions die with the process);
  // extra: more lines of config (a cluster section).
  constructor(binary, { auth = [], files = {}, memory = false, extra = [] } = {}) {
    this.binary = binary;
    this.auth = auth;
    this.extra = extra;
    this.memory = memory;
    this.files = files;
    this.dir = mkdtempSync(path.join(tmpdir(), 'chatd-browser-'));
    this.port = 0; // the first start lets the system pick; restarts reuse the port the pages know
    this.database = path.join(this.dir, 'chat.db');
    this.process = null;
  }

  async start() {
    const config = path.join(this.dir, 'chat.yaml');
    writeFileSync(config, [
      `listen: { address: 127.0.0.1, port: ${this.port} }`,
      'admin: { listen: "127.0.0.1:0" }', // its default port would be shared with any other chatd running
      'server: { threads: 2 }',
      'publish: { rate: 100000, burst: 100000 }',
      `limits: { max_message_size: ${SERVER_MESSAGE_LIMIT} }`,
      `static: { root: ${JSON.stringify(STATIC_ROOT)} }`,
      this.memory ? 'history: { store: memory }' : `history: { store: sqlite, path: ${JSON.stringify(this.database)} }`,
      ...this.auth,
      ...this.extra,
      '',
    ].join('\n'));
    for (const [name, contents] of Object.entries(this.files)) writeFileSync(path.join(this.dir, name), contents);
    const child = spawn(this.binary, ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    this.log = '';
    const listening = new Promise((resolve, reject) => {
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk) => {
        this.log += chunk;
        // The public port's line comes first; the admin listener's ("admin listening on") after it.
        const found = /listening on [^\s]+:(\d+)/.exec(this.log);
        const admin = /admin listening on [^\s]+:(\d+)/.exec(this.log);
        if (found && admin) {
          this.adminPort = Number(admin[1]);
          resolve(Number(found[1]));
        }
      });
      child.on('exit', (code) => reject(new Error(`chatd exited (${code}) before listening:\n${this.log}`)));
    });
    this.port = await withTimeout(listening, WAIT_MS, 'chatd did not log "listening on"');
  }

  async crash() {
    const exited = once(this.process, 'exit');
    process.kill(this.process.pid, 'SIGKILL');
    await exited;
  }

  // SIGTERM is a clean shutdown: any exit but status 0 (a crash, a sanitizer's report) is a failure.
  async stop() {
    if (!this.process || this.process.exitCode !== null || this.process.signalCode) return;
    const exited = once(this.process, 'exit');
    this.process.kill('SIGTERM');
    const [code, signal] = await exited;
    if (code !== 0) throw new Error(`chatd exited with ${code ?? signal} after SIGTERM:\n${this.log.slice(-2000)}`);
  }

  // Only while stopped: the next start makes a new database, so a new epoch, and ids begin again at 1.
  forgetHistory() {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${this.database}${suffix}`, { force: true });
  }

  url(pathAndQuery = '/') {
    return `http://127.0.0.1:${this.port}${pathAndQuery}`;
  }

  async history(room, headers = {}) {
    return (await this.historyPage(room, headers)).events;
  }

  // The whole answer: { epoch, events, ... }.
  async historyPage(room, headers = {}) {
    const response = await fetch(this.url(`/history?room=${room}&limit=1000`), { headers });
    if (!response.ok) throw new Error(`/history answered ${response.status}`);
    return response.json();
  }

  async healthz() {
    const response = await fetch(this.url('/healthz'));
    return `${response.status} ${await response.text()}`;
  }

  // POST /publish as `name`; the status (202: accepted).
  async publish(room, name, text) {
    const response = await fetch(this.url(`/publish?room=${room}&name=${name}`), {
      method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: text,
    });
    await response.arrayBuffer();
    return response.status;
  }
}

// A real redis-server on a free loopback port, persisting nothing (`--save "" --appendonly no`): restarted,
// it comes back empty with a new run_id, as a failover to an empty replica would. chatd then starts each
// room's history again in a new epoch (docs/cluster.md) and sends its live subscribers `reset`.
class Redis {
  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'chatd-browser-redis-'));
    this.port = 0;
    this.process = null;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', this.dir,
      '--logfile', path.join(this.dir, 'redis.log'), '--daemonize', 'no'], { stdio: 'ignore' });
    this.process = child;
    const deadline = Date.now() + WAIT_MS;
    while (!(await redisPing(this.port))) {
      if (child.exitCode !== null || child.signalCode) throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode})`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer PING`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  // SIGKILL: every key is gone, and every connection is reset by the kernel.
  async kill() {
    if (!this.process || this.process.exitCode !== null || this.process.signalCode) return;
    const exited = once(this.process, 'exit');
    this.process.kill('SIGKILL');
    await exited;
  }

  async restart() {
    await this.kill();
    await this.start(); // the same port: chatd reconnects to it by itself
  }

  async close() {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// A port nobody listens on now (the system picks it; redis-server cannot be asked to).
async function freePort() {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address();
  await new Promise((resolve) => listener.close(resolve));
  return port;
}

// True once Redis answers PING with +PONG (an inline command: RESP needs no client library for this).
function redisPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk;
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

// A TCP relay between one page and chatd that can cut the line like a lost network: open connections
// are reset and new ones are refused until it is restored. (Chromium's offline emulation does not close
// a WebSocket that is already open, so it cannot model this.)
class Relay {
  constructor(server) {
    this.server = server;
    this.sockets = new Set();
    this.cut = false;
    this.listener = net.createServer((client) => this.accept(client));
  }

  async start() {
    this.listener.listen(0, '127.0.0.1');
    await once(this.listener, 'listening');
    this.port = this.listener.address().port;
  }

  accept(client) {
    if (this.cut) return client.resetAndDestroy();
    const upstream = net.connect(this.server.port, '127.0.0.1');
    for (const [from, to] of [[client, upstream], [upstream, client]]) {
      this.sockets.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => { this.sockets.delete(from); to.destroy(); });
    }
  }

  disconnect() {
    this.cut = true;
    for (const socket of this.sockets) socket.resetAndDestroy();
  }

  reconnect() {
    this.cut = false;
  }

  url(hash) {
    return `http://127.0.0.1:${this.port}/${hash}`;
  }

  close() {
    this.disconnect();
    this.listener.close();
  }
}

// ---- pages ----

class ChatPage {
  static async open(browser, origin, room, name, { viewport } = {}) {
    const context = await browser.newContext(viewport ? { viewport } : {});
    const page = await context.newPage();
    const chat = new ChatPage(context, page, name);
    await page.goto(origin.url(`#room=${room}&name=${name}`));
    await chat.waitConnected(1);
    return chat;
  }

  constructor(context, page, name) {
    this.context = context;
    this.page = page;
    this.name = name;
    this.sockets = []; // every WebSocket the page opened: { url, closed, frames (received) }
    page.on('websocket', (ws) => {
      const socket = { url: ws.url(), closed: false, frames: [] };
      ws.on('framereceived', (frame) => socket.frames.push(frame.payload));
      ws.on('close', () => { socket.closed = true; });
      this.sockets.push(socket);
    });
  }

  // Connected on at least its `count`-th WebSocket, and that one still open.
  async waitConnected(count) {
    await this.until(`connected on socket ${count}`, () =>
      this.sockets.length >= count && !this.sockets.at(-1).closed && this.page.evaluate(
        () => document.querySelector('.status-bar').dataset.kind === 'ok'));
  }

  async waitDisconnected() {
    await this.until('disconnected', () => this.page.evaluate(
      () => document.querySelector('.status-bar').dataset.kind !== 'ok'));
  }

  // Polls `condition` (which may be async) until it holds; fails with `what` after WAIT_MS.
  // The first frame of the first socket, `recovered`, once it has arrived (status "ok" comes with the open,
  // which may be before it).
  async recovered() {
    await this.until('the recovered frame', async () => this.sockets.length > 0 && this.sockets[0].frames.length > 0);
    return JSON.parse(this.sockets[0].frames[0]);
  }

  async until(what, condition) {
    const deadline = Date.now() + WAIT_MS;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`${this.name}: not ${what} within ${WAIT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  // Types into the message box and presses Enter, as a user would.
  async type(text) {
    await this.page.fill('#message', text, { timeout: 3000 });
    await this.page.press('#message', 'Enter');
  }

  // Texts of the message rows the server delivered (not those still waiting to be sent).
  messages() {
    return this.page.$$eval('#log .row.msg:not(.pending) .text', (nodes) => nodes.map((n) => n.textContent));
  }

  async waitMessages(expected, filter) {
    await this.until(`showing ${JSON.stringify(expected.at(-1))}`,
      async () => (await this.messages()).filter(filter).length >= expected.length);
    return (await this.messages()).filter(filter);
  }

  notices() {
    return this.page.$$eval('#log .row.sys .body', (nodes) => nodes.map((n) => n.textContent));
  }

  // [name, text] of the message rows the server delivered.
  rows() {
    return this.page.$$eval('#log .row.msg:not(.pending) .body',
      (nodes) => nodes.map((n) => [n.querySelector('.who').textContent, n.querySelector('.text').textContent]));
  }

  async waitRow(name, text) {
    await this.until(`showing ${name}: ${text}`,
      async () => (await this.rows()).some(([who, what]) => who === name && what === text));
  }

  // The text of an element, '' when it is hidden or absent.
  shown(selector) {
    return this.page.evaluate((s) => {
      const node = document.querySelector(s);
      return node && node.checkVisibility() ? node.textContent : '';
    }, selector);
  }

  async waitShown(selector, pattern) {
    await this.until(`showing ${pattern} in ${selector}`, async () => pattern.test(await this.shown(selector)));
  }

  async gapNotices() {
    return (await this.notices()).filter((text) => /gap|missed|not be recovered/i.test(text));
  }

  draft() {
    return this.page.inputValue('#message');
  }

  composerEnabled() {
    return this.page.isEnabled('#message');
  }

  sendError() {
    return this.page.evaluate(() => {
      const node = document.getElementById('send-error');
      return node && !node.hidden ? node.textContent : '';
    });
  }

  // Names in the online list.
  online() {
    return this.page.$$eval('#people-list .person', (nodes) => nodes.map((n) => n.firstChild.textContent));
  }

  async waitOnline(expected) {
    await this.until(`listing ${JSON.stringify(expected)} online`,
      async () => JSON.stringify(await this.online()) === JSON.stringify(expected));
  }

  // Nothing wider than the screen (a 375 px phone): no sideways scrolling.
  async expectNoSidewaysScroll() {
    const [scroll, client] = await this.page.evaluate(
      () => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    expect(scroll <= client, `${this.name}: the page is ${scroll} px wide on a ${client} px screen`);
  }

  async screenshot(name) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await this.page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
  }

  close() {
    return this.context.close();
  }
}

// ---- the tests ----

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

function expectEqual(actual, expected, what) {
  expect(JSON.stringify(actual) === JSON.stringify(expected),
    `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function freshRoom(label) {
  return `${label}-${Math.random().toString(36).slice(2, 10)}`;
}

const prefixed = (prefix) => (text) => text.startsWith(prefix);

// Shared by the reconnect test and the crash test that follows it: two pages in one brand-new room,
// B behind a relay.
const pair = {};

async function testReconnectRecoversNewRoom({ browser, server }) {
  const room = freshRoom('new-room');
  pair.relay = new Relay(server);
  await pair.relay.start();
  // Bob opens the room first, so his /history is a 404: the room does not exist yet.
  pair.b = await ChatPage.open(browser, pair.relay, room, 'bob');
  pair.a = await ChatPage.open(browser, server, room, 'alice');
  const { a, b, relay } = pair;

  relay.disconnect();
  await b.waitDisconnected();
  const sent = ['one', 'two', 'three', 'four', 'five'].map((word) => `while bob was away: ${word}`);
  for (const text of sent) await a.type(text);
  await a.waitMessages(sent, prefixed('while bob'));
  relay.reconnect();
  await b.waitConnected(2);

  expectEqual(await b.waitMessages(sent, prefixed('while bob')), sent, "bob's list after the reconnect");
  const resumed = new URL(b.sockets.at(-1).url).searchParams;
  expect(/^\d+$/.test(resumed.get('since') ?? '') && Number(resumed.get('since')) > 0,
    `the reconnect did not carry since=<id>: ${b.sockets.at(-1).url}`);
  expect(/^[0-9a-f]+$/.test(resumed.get('epoch') ?? ''),
    `the reconnect did not carry the room's epoch: ${b.sockets.at(-1).url}`);
  expectEqual(await b.gapNotices(), [], "bob's gap notices");
}

async function testCrashRestartIsNoGap({ server }) {
  const { a, b } = pair;
  expect(a && b, 'needs the pages of the reconnect test');
  try {
    await crashAndCheck(server, a, b);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

async function crashAndCheck(server, a, b) {
  const before = await b.messages();
  const socketsBefore = [a.sockets.length, b.sockets.length];

  await server.crash();
  await server.start(); // same port, same database: ids now skip ahead by the crash skip
  await a.waitConnected(socketsBefore[0] + 1);
  await b.waitConnected(socketsBefore[1] + 1);

  await a.type('after the crash');
  for (const page of [a, b]) {
    const after = await page.waitMessages(['after the crash'], (text) => text === 'after the crash');
    expectEqual(after, ['after the crash'], `${page.name}'s copies of the message after the crash`);
    expectEqual(await page.gapNotices(), [], `${page.name}'s gap notices after the crash restart`);
  }
  expectEqual(await b.messages(), [...before, 'after the crash'], "bob's whole list after the crash");
}

async function testOversizedMessageRefusedBeforeSending({ browser, server }) {
  const page = await ChatPage.open(browser, server, freshRoom('size'), 'carol');
  try {
    // The limit the page goes by: the server's, once `recovered` has announced it.
    const recovered = await page.recovered();
    const limit = recovered.max_message_size ?? PAGE_DEFAULT_LIMIT;
    // 'é' is 2 bytes in UTF-8: under the limit in characters, over it in bytes.
    const big = 'é'.repeat(limit / 2 + 1);
    await page.type(big);
    await page.until('saying the message is too long', async () => (await page.sendError()) !== '');
    expect(/byte/i.test(await page.sendError()), `the reason does not mention bytes: ${await page.sendError()}`);
    expect((await page.draft()) === big, 'the box lost the text');
    expect(await page.composerEnabled(), 'the box is disabled');

    // Still the same open socket: had the text gone out, chatd would have closed it (1009) before this.
    await page.type('small enough');
    await page.waitMessages(['small enough'], (text) => text === 'small enough');
    expectEqual([page.sockets.length, page.sockets[0].closed], [1, false], '[sockets opened, first closed]');
  } finally {
    await page.close();
  }
}

async function testServerRefusalIsNotALoop({ browser, server }) {
  const page = await ChatPage.open(browser, server, freshRoom('refused'), 'dave');
  try {
    // Under the page's assumed limit, over this server's.
    const big = 'x'.repeat(SERVER_MESSAGE_LIMIT * 2);
    const recovered = await page.recovered();
    if (recovered.max_message_size != null) return await expectRefusedByPage(page, big, recovered);
    // A server that does not announce its limit closes with 1009.
    await page.type(big);
    await page.until('saying the server refused the message', async () => (await page.sendError()) !== '');
    await page.waitConnected(2); // one reconnect; the text is kept, editable
    expect((await page.draft()) === big, 'the box lost the text');
    expect(await page.composerEnabled(), 'the box is disabled');

    // Enter again: now refused by the page itself, so the new socket stays open.
    const firstReason = await page.sendError();
    await page.page.press('#message', 'Enter');
    await page.until('refusing the message itself', async () => (await page.sendError()) !== firstReason);
    await page.type('fits');
    await page.waitMessages(['fits'], (text) => text === 'fits');
    expectEqual([page.sockets.length, page.sockets[1].closed], [2, false], '[sockets opened, second closed]');
  } finally {
    await page.close();
  }
}

// A server that announces its limit in `recovered`: the page refuses the text itself, on the first socket.
async function expectRefusedByPage(page, big, recovered) {
  expectEqual(recovered.max_message_size, SERVER_MESSAGE_LIMIT, 'the limit chatd announced');
  await page.type(big);
  await page.until('refusing the message itself', async () => (await page.sendError()) !== '');
  expect((await page.sendError()).includes(String(SERVER_MESSAGE_LIMIT)), 'the reason does not give the limit');
  expect((await page.draft()) === big, 'the box lost the text');
  await page.type('fits');
  await page.waitMessages(['fits'], (text) => text === 'fits');
  expectEqual([page.sockets.length, page.sockets[0].closed], [1, false], '[sockets opened, first closed]');
}

// An operator's POST /admin/disconnect closes the page's socket with 4004: it says so and does not reconnect,
// which would undo the removal.
async function testRemovedByAnOperatorDoesNotReconnect({ browser, server }) {
  const page = await ChatPage.open(browser, server, freshRoom('removed'), 'erin');
  try {
    await page.waitConnected(1);
    const response = await fetch(`http://127.0.0.1:${server.adminPort}/admin/disconnect?name=erin`, { method: 'POST' });
    expectEqual(await response.json(), { disconnected: 1 }, 'the admin listener\'s answer');
    await page.waitShown('.status-bar', /4004 removed by an operator.*Not reconnecting/);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // longer than the first reconnect delay
    expectEqual([page.sockets.length, page.sockets[0].closed], [1, true], '[sockets opened, first closed]');
  } finally {
    await page.close();
  }
}

// GET /events (Server-Sent Events) from a page: an EventSource receives what is published once, in order,
// its lastEventId "<epoch>:<id>". An operator's POST /admin/disconnect of that stream, while publishing goes
// on, ends it with a `close` event (4004, no id); the page then opens a new EventSource resuming with
// ?since=&epoch= from the last lastEventId (a new EventSource cannot set Last-Event-ID), which begins with
// `recovered` complete:true. Together the two streams hold every message once, in order.
async function testEventSourceOnceInOrderAcrossADisconnect({ browser, server }) {
  const room = freshRoom('sse');
  const context = await browser.newContext();
  const page = await context.newPage();
  const until = async (what, condition) => {
    const deadline = Date.now() + WAIT_MS;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`not ${what} within ${WAIT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const state = () => page.evaluate(() => window.sse);
  const publish = async (text) => {
    const response = await fetch(server.url(`/publish?room=${room}&name=pub`), {
      method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: text,
    });
    const answer = await response.json();
    expect(response.status === 202 && answer.room === room, `POST /publish: ${response.status} ${JSON.stringify(answer)}`);
    return { id: answer.id, text };
  };
  const sseSessions = async () => {
    const response = await fetch(`http://127.0.0.1:${server.adminPort}/admin/sessions?room=${room}`);
    expect(response.status === 200, `/admin/sessions answered ${response.status}`);
    return (await response.json()).sessions.filter((session) => session.transport === 'sse');
  };
  try {
    // Any page of the server's origin (not the chat page, whose own WebSocket would be one more session).
    await page.goto(server.url('/healthz'));
    await page.evaluate((room) => {
      const sse = { messages: [], recovered: [], closes: [], opens: 0, errors: 0, sources: 0 };
      window.sse = sse;
      window.openStream = (query) => {
        const source = new EventSource(`/events?room=${room}&name=page${query}`);
        sse.sources += 1;
        source.onopen = () => { sse.opens += 1; };
        source.onerror = () => { sse.errors += 1; };
        source.onmessage = (event) => sse.messages.push({ lastEventId: event.lastEventId, data: JSON.parse(event.data) });
        source.addEventListener('recovered', (event) =>
          sse.recovered.push({ lastEventId: event.lastEventId, data: JSON.parse(event.data) }));
        source.addEventListener('close', (event) => {
          sse.closes.push({ lastEventId: event.lastEventId, data: JSON.parse(event.data) });
          source.close(); // 4004: no automatic reconnect (it would come back with Last-Event-ID by itself)
        });
        window.source = source;
      };
      window.openStream('');
    }, room);
    await until('open', async () => (await state()).opens === 1); // in the room before its 200

    const acked = [];
    for (let i = 0; i < 30; i += 1) acked.push(await publish(`sse before ${i}`));
    await until('receiving the first 30', async () => (await state()).messages.length >= acked.length);
    const { epoch } = await server.historyPage(room);
    const expected = (list) => list.map(({ id, text }) => ({
      lastEventId: `${epoch}:${id}`, id, room, type: 'message', name: 'pub', text,
    }));
    const got = (messages) => messages.map(({ lastEventId, data }) => ({
      lastEventId, id: data.id, room: data.room, type: data.type, name: data.name, text: data.text,
    }));
    expectEqual(got((await state()).messages), expected(acked), 'the first stream\'s messages');

    const [first] = await sseSessions();
    expectEqual((await sseSessions()).map((session) => session.name), ['page'], 'the sse sessions');
    // Publishing goes on while the operator removes the stream, and while the page reconnects.
    let removed = null;
    const publishing = (async () => {
      for (let i = 0; i < 60; i += 1) {
        acked.push(await publish(`sse during ${i}`));
        if (i === 10) {
          const response = await fetch(`http://127.0.0.1:${server.adminPort}/admin/disconnect?session=${first.session}`,
            { method: 'POST' });
          removed = await response.json();
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await until('the close event', async () => (await state()).closes.length === 1);
    const closed = await state();
    const lastSeen = closed.messages.at(-1).lastEventId;
    expectEqual(closed.closes, [{ lastEventId: lastSeen, data: { type: 'close', code: 4004, reason: 'removed by an operator' } }],
      'the close event (no id: lastEventId stays the last message\'s)');
    const [lastEpoch, lastId] = lastSeen.split(':');
    await page.evaluate(({ since, epoch }) => window.openStream(`&since=${since}&epoch=${epoch}`),
      { since: lastId, epoch: lastEpoch });
    await publishing;
    expectEqual(removed, { disconnected: 1 }, 'the admin listener\'s answer');
    await until(`receiving all ${acked.length}`, async () => (await state()).messages.length >= acked.length);
    await new Promise((resolve) => setTimeout(resolve, 200)); // nothing more may come (a duplicate)
    const final = await state();
    expect(closed.messages.length < acked.length, 'the stream was removed only after the last message: the resume had nothing to recover');
    expectEqual(got(final.messages), expected(acked), 'every message once, in order, across the two streams');
    // A new EventSource's last event id is "" until an event with an id: `recovered` has none.
    expectEqual(final.recovered.map((event) => [event.lastEventId, event.data]),
      [['', { type: 'recovered', room, epoch, complete: true, max_message_size: SERVER_MESSAGE_LIMIT }]],
      'the second stream\'s recovered event');
    expectEqual([final.sources, final.opens, final.closes.length], [2, 2, 1], '[EventSources, opens, close events]');
    const now = await sseSessions();
    expect(now.length === 1 && now[0].session !== first.session, `sse sessions after the resume: ${JSON.stringify(now)}`);
  } finally {
    await page.evaluate(() => window.source?.close()).catch(() => {});
    await context.close();
  }
}

async function testTypedWhileDisconnectedIsSentOnce({ browser, server }) {
  const room = freshRoom('queue');
  const relay = new Relay(server);
  await relay.start();
  const page = await ChatPage.open(browser, relay, room, 'erin');
  try {
    relay.disconnect();
    await page.waitDisconnected();
    expect(await page.composerEnabled(), 'the box is disabled while disconnected');
    const queued = ['typed offline 1', 'typed offline 2'];
    for (const text of queued) await page.type(text);
    expectEqual(await page.draft(), '', 'the box after queueing');

    relay.reconnect();
    await page.waitConnected(2);
    expectEqual(await page.waitMessages(queued, prefixed('typed offline')), queued, 'the page after the reconnect');
    const stored = (await server.history(room)).filter((event) => event.type === 'message');
    expectEqual(stored.map((event) => event.text), queued, 'what chatd received');
  } finally {
    await page.close();
    relay.close();
  }
}

async function testLostHistoryReloadsTheList({ browser, server }) {
  const page = await ChatPage.open(browser, server, freshRoom('lost'), 'frank');
  try {
    const before = ['before the loss 1', 'before the loss 2'];
    for (const text of before) await page.type(text);
    await page.waitMessages(before, prefixed('before the loss'));

    await server.stop();
    server.forgetHistory(); // recovered then says complete:false: the page's list is not the server's
    await server.start();
    await page.waitConnected(2);
    await page.until('saying the history has a gap', async () => (await page.gapNotices()).length > 0);
    await page.type('after the loss'); // sent at once, or queued while the page reloads
    await page.waitMessages(['after the loss'], (text) => text === 'after the loss');
    expectEqual(await page.messages(), ['after the loss'], 'the list after the history was lost');
  } finally {
    await page.close();
  }
}

// ---- the page's features (issue 13): on a 375 px wide screen ----

// The online list comes from /presence and follows join and leave; a reload is no new row for the others.
async function testOnlineListFollowsPeople({ browser, server }) {
  const room = freshRoom('online');
  const alice = await ChatPage.open(browser, server, room, 'alice', { viewport: PHONE });
  let bob = null;
  try {
    await alice.waitOnline(['alice']);
    bob = await ChatPage.open(browser, server, room, 'bob', { viewport: PHONE });
    await bob.waitOnline(['alice', 'bob']); // bob's from /presence: alice joined before him
    await alice.waitOnline(['alice', 'bob']); // alice's from bob's join event
    await bob.type('hello from bob');
    await alice.waitRow('bob', 'hello from bob');
    const noticesBefore = await alice.notices();

    // A reload is a leave and a join (or neither, when the new socket comes first): no line for alice.
    await bob.page.reload();
    await bob.waitConnected(2);
    await bob.waitOnline(['alice', 'bob']);
    await bob.type('bob after the reload');
    await alice.waitRow('bob', 'bob after the reload');
    expectEqual(await alice.notices(), noticesBefore, "alice's join and leave lines after bob's reload");
    expectEqual(await alice.online(), ['alice', 'bob'], "alice's online list after bob's reload");

    // The list opens from the keyboard alone.
    await alice.page.focus('#people summary');
    await alice.page.keyboard.press('Enter');
    expect(await alice.page.evaluate(() => document.getElementById('people').open), 'Enter did not open the list');
    await alice.expectNoSidewaysScroll();

    await bob.close();
    bob = null;
    await alice.waitOnline(['alice']);
    await alice.until('saying bob left', async () => (await alice.notices()).at(-1) === 'bob left');
    await alice.screenshot('online-list-follows-people');
  } finally {
    await bob?.close();
    await alice.close();
  }
}

// "Load older" pages back through /history (before=, next_before) to the first of 300 messages, from the
// keyboard, and the row that was at the top stays where it was on screen.
async function testLoadOlderReachesTheFirstMessage({ browser, server }) {
  const room = freshRoom('older');
  const sent = Array.from({ length: 300 }, (_, i) => `old message ${i + 1}`);
  for (const text of sent) expectEqual(await server.publish(room, 'poster', text), 202, 'POST /publish');
  const page = await ChatPage.open(browser, server, room, 'gina', { viewport: PHONE });
  try {
    await page.waitMessages(sent.slice(-100), prefixed('old message'));
    expectEqual(await page.messages(), sent.slice(-100), 'the first page');
    const topOf = (text) => page.page.evaluate((t) => {
      const row = [...document.querySelectorAll('#log .row.msg')].find((r) => r.querySelector('.text').textContent === t);
      return row.getBoundingClientRect().top;
    }, text);
    for (let pages = 1; await page.page.isVisible('#older'); pages += 1) {
      expect(pages <= 3, 'still a "Load older" button after 3 pages of 100');
      const shown = (await page.messages()).length;
      const first = (await page.messages())[0];
      await page.page.focus('#older'); // scrolls it into view, as Tab would
      const before = await topOf(first);
      await page.page.keyboard.press('Enter');
      await page.until(`showing more than ${shown} messages`, async () => (await page.messages()).length > shown);
      const after = await topOf(first);
      expect(Math.abs(after - before) <= 1, `the row "${first}" moved from ${before} to ${after} px`);
    }
    expectEqual(await page.messages(), sent, 'the whole list after paging back');
    // Where the pages meet: still one heading for the day, and poster's name once for the whole run.
    expectEqual(await page.page.$$eval('#log > .day', (nodes) => nodes.length), 1, 'day headings');
    expectEqual(await page.page.$$eval('#log .row.msg:not(.cont)', (nodes) => nodes.length), 1, 'names shown');
    // The button is gone, and the focus is on the list: Home scrolls it to its start.
    expectEqual(await page.page.evaluate(() => document.activeElement.id), 'log', 'the focus after the last page');
    await page.page.keyboard.press('Home');
    await page.until('scrolled to the start', () => page.page.evaluate(() => document.getElementById('log').scrollTop === 0));
    await page.waitShown('#older-end', /beginning/);
    await page.expectNoSidewaysScroll();
    await page.screenshot('load-older-reaches-the-first-message');
  } finally {
    await page.close();
  }
}

// http: and https: URLs in a message are links (new tab, no opener, no referrer); anything else, markup
// included, is the text it was.
async function testLinksAreSafe({ browser, server }) {
  const page = await ChatPage.open(browser, server, freshRoom('links'), 'hank', { viewport: PHONE });
  try {
    const target = server.url('/healthz');
    const texts = [
      `the health page: ${target}.`,
      'javascript:alert(document.domain)',
      'data:text/html,<script>alert(1)</script>',
      '<a href="javascript:alert(1)">click</a> <img src=x onerror="window.injected=1"> <b>bold</b>',
      'see (https://en.wikipedia.org/wiki/Foo_(bar)), then JAVASCRIPT://x%0aalert(1)',
    ];
    for (const text of texts) await page.type(text);
    await page.waitMessages(texts, () => true);
    expectEqual(await page.messages(), texts, 'the texts, character for character');
    const links = await page.page.$$eval('#log .row.msg .text', (nodes) => nodes.map((n) =>
      [...n.querySelectorAll('*')].map((e) => ({ tag: e.tagName, href: e.getAttribute('href'), rel: e.rel, target: e.target, text: e.textContent }))));
    const link = (href, text = href) => ({ tag: 'A', href, rel: 'noopener noreferrer', target: '_blank', text });
    expectEqual(links, [
      [link(target)], // the full stop is the sentence's
      [], [], [],
      [link('https://en.wikipedia.org/wiki/Foo_(bar)')], // its own parentheses in, the sentence's out
    ], 'the elements inside each message');
    expect(!(await page.page.evaluate(() => 'injected' in window)), 'markup in a message ran');

    // From the keyboard: Enter on the focused link opens it in a new tab that cannot reach back.
    const opened = page.context.waitForEvent('page');
    await page.page.focus(`#log a[href="${target}"]`);
    await page.page.keyboard.press('Enter');
    const tab = await opened;
    await tab.waitForLoadState();
    expectEqual(await tab.evaluate(() => [document.body.textContent.trim(), window.opener, document.referrer]),
      ['ok', null, ''], '[the new tab\'s text, its opener, its referrer]');
    await tab.close();
    await page.expectNoSidewaysScroll();
    await page.screenshot('links-are-safe');
  } finally {
    await page.close();
  }
}

// Moves a room's stored events back in time, while chatd is stopped (python3's sqlite3: no client library
// here). Only the `ts` changes: the page then has messages from another day to put under their own heading.
function backdate(server, room, ms) {
  const run = spawnSync('python3', ['-c', [
    'import sqlite3, sys',
    'db = sqlite3.connect(sys.argv[1])',
    'db.execute("UPDATE events SET ts = ts - ? WHERE room = ?", (int(sys.argv[3]), sys.argv[2]))',
    'db.commit()',
  ].join('\n'), server.database, room, String(ms)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`backdating the history failed (${run.status}): ${run.stderr}`);
}

// A heading per day; one author's consecutive messages under one name; a hue per name, the same on each of
// its rows and readable (at least 4.5:1) on the row's background.
async function testDaysAndAuthorsGrouped({ browser, server }) {
  const room = freshRoom('days');
  const publish = async (name, text) => expectEqual(await server.publish(room, name, text), 202, 'POST /publish');
  await publish('ivy', 'day one 1');
  await publish('ivy', 'day one 2');
  await publish('jack', 'day one 3');
  await server.stop();
  backdate(server, room, 2 * 24 * 3600 * 1000); // two days: a different day whatever the clock change
  await server.start();
  for (const [name, text] of [['ivy', 'day two 1'], ['ivy', 'day two 2'], ['ivy', 'day two 3'],
    ['jack', 'day two 4'], ['ivy', 'day two 5']]) await publish(name, text);

  const page = await ChatPage.open(browser, server, room, 'kim', { viewport: PHONE });
  try {
    await page.waitMessages(['day two 5'], prefixed('day'));
    const layout = await page.page.$$eval('#log > .day, #log > .row.msg', (nodes) => nodes.map((n) =>
      n.classList.contains('day') ? `day ${n.textContent}`
        : `${n.querySelector('.who').getBoundingClientRect().width > 1 ? n.dataset.author : '…'}: ${n.querySelector('.text').textContent}`));
    const days = await page.page.evaluate(() => [2, 0].map((ago) => new Date(Date.now() - ago * 864e5)
      .toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })));
    expectEqual(layout, [
      `day ${days[0]}`, 'ivy: day one 1', '…: day one 2', 'jack: day one 3',
      `day ${days[1]}`, 'ivy: day two 1', '…: day two 2', '…: day two 3', 'jack: day two 4', 'ivy: day two 5',
    ], 'the headings and names shown');

    // Colours as the screen shows them (a canvas turns any CSS colour into sRGB), and their contrast, in the
    // light and the dark scheme.
    for (const colorScheme of ['light', 'dark']) {
      await page.page.emulateMedia({ colorScheme });
      const colours = await page.page.$$eval('#log .row.msg', (rows) => {
        const canvas = document.createElement('canvas');
        canvas.width = canvas.height = 1;
        const paint = canvas.getContext('2d', { willReadFrequently: true });
        const rgb = (css) => {
          paint.clearRect(0, 0, 1, 1);
          paint.fillStyle = css;
          paint.fillRect(0, 0, 1, 1);
          return [...paint.getImageData(0, 0, 1, 1).data.slice(0, 3)];
        };
        const luminance = (c) => {
          const [r, g, b] = c.map((v) => { const s = v / 255; return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const background = (node) => {
          for (let n = node; n; n = n.parentElement) {
            const css = getComputedStyle(n).backgroundColor;
            if (css !== 'rgba(0, 0, 0, 0)' && css !== 'transparent') return css;
          }
          return 'white';
        };
        return rows.map((row) => {
          const who = row.querySelector('.who');
          const [fg, bg] = [luminance(rgb(getComputedStyle(who).color)), luminance(rgb(background(row)))];
          return { name: row.dataset.author, colour: getComputedStyle(who).color,
            contrast: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05) };
        });
      });
      const byName = (name) => [...new Set(colours.filter((c) => c.name === name).map((c) => c.colour))];
      expectEqual(byName('ivy').length, 1, "ivy's colours");
      expectEqual(byName('jack').length, 1, "jack's colours");
      expect(byName('ivy')[0] !== byName('jack')[0], `ivy and jack share a colour: ${byName('ivy')[0]}`);
      for (const { name, contrast } of colours) {
        expect(contrast >= 4.5, `${colorScheme}: ${name}'s name has a contrast of ${contrast.toFixed(2)}`);
      }
    }
    await page.page.emulateMedia({ colorScheme: 'light' });
    await page.expectNoSidewaysScroll();
    await page.screenshot('days-and-authors-grouped');
  } finally {
    await page.close();
  }
}

// The room is in the address (#room=R): a link opens it, and Back and Forward move between the rooms joined.
async function testBackReturnsToTheLastRoom({ browser, server }) {
  const [first, second] = [freshRoom('back-a'), freshRoom('back-b')];
  const page = await ChatPage.open(browser, server, first, 'lee', { viewport: PHONE });
  const where = () => page.page.evaluate(() => [location.hash, document.getElementById('room').value, document.title]);
  const waitIn = async (room, sockets) => {
    await page.waitConnected(sockets);
    await page.waitShown('#status', new RegExp(`Connected to #${room} as lee`));
    expectEqual(new URL(page.sockets.at(-1).url).searchParams.get('room'), room, 'the room subscribed to');
    expectEqual(await where(), [`#room=${room}`, room, `#${room} · chatd`], '[address, room field, title]');
  };
  let visitor = null;
  try {
    await waitIn(first, 1);
    await page.type(`said in ${first}`);
    await page.waitRow('lee', `said in ${first}`);

    // Another room, from the keyboard: the room field, then Enter. One more history entry.
    const entries = await page.page.evaluate(() => history.length);
    await page.page.focus('#room');
    await page.page.keyboard.press('Control+A');
    await page.page.keyboard.type(second);
    await page.page.keyboard.press('Enter');
    await waitIn(second, 2);
    expectEqual(await page.messages(), [], `the list in ${second}`);
    expectEqual(await page.page.evaluate(() => history.length), entries + 1, 'history entries');

    await page.page.goBack();
    await waitIn(first, 3);
    await page.waitRow('lee', `said in ${first}`);
    await page.page.goForward();
    await waitIn(second, 4);
    await page.page.goBack();
    await waitIn(first, 5);
    await page.expectNoSidewaysScroll();
    await page.screenshot('back-returns-to-the-last-room');

    // A link with the room: a first-time visitor finds it filled in, picks a name and is in.
    const context = await browser.newContext({ viewport: PHONE });
    visitor = new ChatPage(context, await context.newPage(), 'mia');
    await visitor.page.goto(server.url(`/#room=${second}`));
    await visitor.until('the room field filled in', async () => (await visitor.page.inputValue('#room')) === second);
    expect(await visitor.page.evaluate(() => document.activeElement.id === 'name'), 'the name field has no focus');
    await visitor.page.keyboard.press('Control+A');
    await visitor.page.keyboard.type('mia');
    await visitor.page.keyboard.press('Enter');
    await visitor.waitConnected(1);
    await visitor.waitShown('#status', new RegExp(`Connected to #${second} as mia`));
  } finally {
    await visitor?.close();
    await page.close();
  }
}

const TESTS = [
  ['reconnect-recovers-new-room', testReconnectRecoversNewRoom],
  ['crash-restart-is-no-gap', testCrashRestartIsNoGap],
  ['oversized-message-refused-before-sending', testOversizedMessageRefusedBeforeSending],
  ['server-refusal-is-not-a-loop', testServerRefusalIsNotALoop],
  ['typed-while-disconnected-is-sent-once', testTypedWhileDisconnectedIsSentOnce],
  ['removed-by-an-operator-does-not-reconnect', testRemovedByAnOperatorDoesNotReconnect],
  ['event-source-once-in-order-across-a-disconnect', testEventSourceOnceInOrderAcrossADisconnect],
  ['online-list-follows-people', testOnlineListFollowsPeople],
  ['load-older-reaches-the-first-message', testLoadOlderReachesTheFirstMessage],
  ['links-are-safe', testLinksAreSafe],
  ['days-and-authors-grouped', testDaysAndAuthorsGrouped],
  ['back-returns-to-the-last-room', testBackReturnsToTheLastRoom],
  ['lost-history-reloads-the-list', testLostHistoryReloadsTheList], // last: it replaces the database
];

// ---- access control (issue 11): the page against chatd in auth.mode password and jwt ----

const PASSWORD = 'correct horse battery staple';
const JWT_SECRET = 'a test secret of more than 32 bytes, for HS256 only';

// The server's own hash of PASSWORD, as an admin would paste it into the config.
function hashPassword(binary) {
  const run = spawnSync(binary, ['--hash-password'], { input: `${PASSWORD}\n`, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`chatd --hash-password failed (${run.status}): ${run.stderr}`);
  return run.stdout.trim();
}

// An HS256 JWT (RFC 7519), minted here independently of chatd's code.
function mintJwt(claims) {
  const part = (object) => Buffer.from(JSON.stringify(object)).toString('base64url');
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${input}.${createHmac('sha256', JWT_SECRET).update(input).digest('base64url')}`;
}

const inSeconds = (seconds) => Math.floor(Date.now() / 1000) + seconds;

// Another user logs in by HTTP, as a script would: the session token from the JSON answer.
async function logInByFetch(server, name) {
  const response = await fetch(server.url('/login'), {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, password: PASSWORD }),
  });
  expectEqual(response.status, 200, `POST /login for ${name}`);
  return (await response.json()).token;
}

async function publishAs(server, token, room, text) {
  const response = await fetch(server.url(`/publish?room=${room}`), {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain' }, body: text,
  });
  expectEqual(response.status, 202, `POST /publish of ${JSON.stringify(text)}`);
}

async function loginStatusWithCookie(server, value) {
  const response = await fetch(server.url('/login'), { headers: { Cookie: `chatd_session=${value}` } });
  return response.status;
}

// A page in a context of its own (its own cookies and storage), its WebSockets recorded. `watch(page)`
// runs before the page loads, to see its first requests.
async function openPage(browser, server, hash, name, watch = () => {}) {
  const context = await browser.newContext();
  const chat = new ChatPage(context, await context.newPage(), name);
  watch(chat.page);
  await chat.page.goto(server.url(`/${hash}`));
  return chat;
}

async function signInWithForm(chat, name, password) {
  await chat.page.fill('#login-name', name, { timeout: 3000 });
  await chat.page.fill('#login-password', password, { timeout: 3000 });
  await chat.page.click('#login-submit', { timeout: 3000 });
}

async function sessionCookie(chat) {
  return (await chat.context.cookies()).find((cookie) => cookie.name === 'chatd_session');
}

async function testPasswordLoginAndLogout({ browser, server }) {
  const room = freshRoom('login');
  const chat = await openPage(browser, server, `#${room}`, 'alice');
  try {
    await chat.waitShown('#login-title', /sign in/i);
    for (const hidden of ['#log', '#message', '#name', '#room'])
      expectEqual(await chat.page.isVisible(hidden), false, `${hidden} visible beside the login form`);

    await signInWithForm(chat, 'alice', 'not the password');
    await chat.waitShown('#login-error', /wrong name or password/i);
    expectEqual(chat.sockets.length, 0, 'WebSockets opened before signing in');
    expectEqual(await sessionCookie(chat), undefined, 'the session cookie after a wrong password');

    await signInWithForm(chat, 'alice', PASSWORD);
    await chat.waitShown('#signed-in', /^signed in as alice$/i);
    await chat.waitConnected(1);
    expectEqual(await chat.page.isVisible('#name'), false, 'the name field visible in password mode');
    const query = new URL(chat.sockets[0].url).searchParams;
    expectEqual([query.get('token'), query.get('name'), query.get('room')], [null, null, room],
      '[token, name, room] in the WebSocket URL (the cookie is the credential)');

    // HttpOnly: the cookie exists, and no script of the page can read it, nor did the page keep the token.
    const cookie = await sessionCookie(chat);
    expect(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', `the session cookie: ${JSON.stringify(cookie)}`);
    const seen = await chat.page.evaluate(() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]);
    for (const place of seen) expect(!place.includes(cookie.value), `the token is readable by the page: ${place}`);

    await chat.type('hello from alice');
    await chat.waitRow('alice', 'hello from alice');
    const bob = await logInByFetch(server, 'bob');
    await publishAs(server, bob, room, 'hello from bob');
    await chat.waitRow('bob', 'hello from bob');

    await chat.page.reload();
    await chat.waitShown('#signed-in', /^signed in as alice$/i);
    await chat.waitConnected(2);
    expectEqual(await chat.page.isVisible('#login-form'), false, 'the login form after a reload');
    await chat.waitRow('bob', 'hello from bob'); // the history, read with the cookie

    await chat.page.click('#logout');
    await chat.waitShown('#login-title', /sign in/i);
    expectEqual(await chat.page.isVisible('#log'), false, 'the chat visible after logging out');
    expectEqual(await sessionCookie(chat), undefined, 'the session cookie after logging out');
    expectEqual(await loginStatusWithCookie(server, cookie.value), 401, 'GET /login with the old cookie');
    await chat.until('its WebSocket closed', () => chat.sockets.every((socket) => socket.closed));
    expectEqual(chat.sockets.length, 2, 'WebSockets opened (none after logging out)');
  } finally {
    await chat.close();
  }
}

// Two tabs of one browser share the cookie: logging out in one closes the other's socket with 4003, and
// that tab goes back to the login form instead of reconnecting.
async function testLogoutInAnotherTab({ browser, server }) {
  const room = freshRoom('tabs');
  const first = await openPage(browser, server, `#${room}`, 'alice');
  try {
    await first.waitShown('#login-title', /sign in/i);
    await signInWithForm(first, 'alice', PASSWORD);
    await first.waitConnected(1);
    const second = new ChatPage(first.context, await first.context.newPage(), 'alice (second tab)');
    await second.page.goto(server.url(`/#${room}`));
    await second.waitShown('#signed-in', /^signed in as alice$/i);
    await second.waitConnected(1);

    await second.page.click('#logout');
    await first.waitShown('#login-notice', /logged out/i);
    expectEqual(await first.page.isVisible('#log'), false, 'the chat visible in the first tab after the logout');
    expectEqual(first.sockets.length, 1, 'WebSockets the first tab opened (no reconnect after 4003)');
  } finally {
    await first.close();
  }
}

// login_burst 1, token_ttl 3s (time to load the page and connect, also under ASan): a login that expires
// while connected (4001), then the failed-login limit.
async function testExpiryAndLoginLimit({ browser, server }) {
  const chat = await openPage(browser, server, `#${freshRoom('expiry')}`, 'alice');
  const waits = [];
  chat.page.on('response', (response) => {
    if (response.status() === 429) waits.push(response.headers()['retry-after']);
  });
  try {
    await chat.waitShown('#login-title', /sign in/i);
    await signInWithForm(chat, 'alice', PASSWORD);
    await chat.waitConnected(1);
    await chat.waitShown('#login-notice', /expired/i);
    expectEqual(chat.sockets.length, 1, 'WebSockets opened (no reconnect after 4001)');

    await signInWithForm(chat, 'alice', 'wrong');
    await chat.waitShown('#login-error', /wrong name or password/i);
    await signInWithForm(chat, 'alice', PASSWORD); // refused too: the address has no tries left
    await chat.waitShown('#login-error', /too many failed logins/i);
    expect(/^\d+$/.test(waits[0] ?? ''), `Retry-After of the 429: ${waits[0]}`);
    const shown = await chat.shown('#login-error');
    const seconds = Number(waits[0]);
    const expected = seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
    expect(shown.includes(expected), `the wait (Retry-After ${seconds}) is not in "${shown}"`);
  } finally {
    await chat.close();
  }
}

// history.store memory: a restart forgets every login. The page's reconnect is then refused (a 1006 to the
// page); it asks GET /login, hears 401, and shows the form instead of retrying forever.
async function testLoginForgottenByARestart({ browser, server }) {
  const chat = await openPage(browser, server, `#${freshRoom('restart')}`, 'alice');
  try {
    await chat.waitShown('#login-title', /sign in/i);
    await signInWithForm(chat, 'alice', PASSWORD);
    await chat.waitConnected(1);
    await server.stop();
    await server.start();
    await chat.waitShown('#login-notice', /no longer valid/i);
    const opened = chat.sockets.length;
    expect(opened >= 2, `WebSockets opened: ${opened} (no reconnect was tried)`);
    // The one fixed wait, for an absence: a page that kept retrying would, after one refusal, try again
    // within 1 s (its second back-off).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expectEqual(chat.sockets.length, opened, 'WebSockets opened after the form came back');
  } finally {
    await chat.close();
  }
}

async function testJwtFromFragment({ browser, server }) {
  const room = freshRoom('embed');
  const token = mintJwt({ sub: 'jill', exp: inSeconds(600) });
  // Before the page opens: its /history, sent with the Bearer token, must show this.
  await publishAs(server, token, room, 'before the page opened');
  const historyHeaders = [];
  const chat = await openPage(browser, server, `#token=${token}&room=${room}`, 'jill', (page) => {
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/history') historyHeaders.push(request.allHeaders());
    });
  });
  try {
    await chat.waitShown('#signed-in', /^signed in as jill$/i);
    await chat.waitConnected(1);
    const href = await chat.page.evaluate(() => location.href);
    expect(!href.includes('token') && !href.includes(token.slice(-20)), `the token is still in the address: ${href}`);
    expectEqual(new URL(chat.sockets[0].url).searchParams.get('token'), token, '?token= of the WebSocket');
    await chat.waitRow('jill', 'before the page opened');

    await chat.type('hello from jill');
    await chat.waitRow('jill', 'hello from jill');
    const stored = await server.history(room, { Authorization: `Bearer ${token}` });
    expectEqual(stored.filter((event) => event.type === 'message').map((event) => [event.name, event.text]),
      [['jill', 'before the page opened'], ['jill', 'hello from jill']], 'what chatd stored');
    const historyAuth = (await Promise.all(historyHeaders)).map((headers) => headers.authorization);
    expect(historyAuth.length > 0 && historyAuth.every((value) => value === `Bearer ${token}`),
      `Authorization of the page's /history requests: ${JSON.stringify(historyAuth)}`);
    expectEqual(await chat.page.isVisible('#logout'), false, 'a Log out button for a JWT');
  } finally {
    await chat.close();
  }
}

async function testJwtWithoutToken({ browser, server }) {
  const chat = await openPage(browser, server, '', 'nobody');
  try {
    await chat.waitShown('#notice', /needs a token from the site that embeds it/i);
    expectEqual(await chat.page.isVisible('#login-form'), false, 'the login form in jwt mode');
    expectEqual(chat.sockets.length, 0, 'WebSockets opened without a token');
  } finally {
    await chat.close();
  }
}

// A token chatd refuses (here: signed with another secret): the reason, and the token out of the address
// bar all the same.
async function testJwtRefused({ browser, server }) {
  const good = mintJwt({ sub: 'mallory', exp: inSeconds(600) });
  const forged = `${good.slice(0, good.lastIndexOf('.'))}.${createHmac('sha256', 'another secret of at least 32 bytes!')
    .update(good.slice(0, good.lastIndexOf('.'))).digest('base64url')}`;
  const chat = await openPage(browser, server, `#token=${forged}`, 'mallory');
  try {
    await chat.waitShown('#notice', /refused \(bad signature\)/i);
    const href = await chat.page.evaluate(() => location.href);
    expect(!href.includes('token'), `the token is still in the address: ${href}`);
    expectEqual(chat.sockets.length, 0, 'WebSockets opened with a refused token');
  } finally {
    await chat.close();
  }
}

async function testJwtExpiresWhileConnected({ browser, server }) {
  const token = mintJwt({ sub: 'jack', exp: inSeconds(4) }); // 3 to 4 s: time to connect, also under ASan
  const chat = await openPage(browser, server, `#token=${token}&room=${freshRoom('expiring')}`, 'jack');
  try {
    await chat.waitConnected(1);
    await chat.waitShown('#status', /your session expired, reload the embedding page/i);
    expectEqual(await chat.composerEnabled(), false, 'the message box enabled after the expiry');
    expectEqual(chat.sockets.length, 1, 'WebSockets opened (no reconnect after 4001)');
    // Join again by hand: refused (no token left), and the page says the same, not a password form.
    await chat.page.click('#join-form button[type=submit]');
    await chat.waitShown('#notice', /your session expired, reload the embedding page/i);
    expectEqual(await chat.page.isVisible('#login-form'), false, 'a password form in jwt mode');

    // The embedding site hands over a fresh token by setting the fragment again (no reload).
    const fresh = mintJwt({ sub: 'jack', exp: inSeconds(600) });
    const opened = chat.sockets.length;
    await chat.page.evaluate((token) => { location.hash = `#token=${token}`; }, fresh);
    await chat.waitConnected(opened + 1);
    expectEqual(new URL(chat.sockets.at(-1).url).searchParams.get('token'), fresh, '?token= after the new fragment');
    expect(!(await chat.page.evaluate(() => location.href)).includes('token'), 'the new token stayed in the address');
    await chat.type('back with a fresh token');
    await chat.waitRow('jack', 'back with a fresh token');
  } finally {
    await chat.close();
  }
}

// publish: false: the page may read; its first message closes it (1008), and it then says so and reads on.
async function testJwtReadOnly({ browser, server }) {
  const room = freshRoom('readonly');
  const token = mintJwt({ sub: 'reader', exp: inSeconds(600), publish: false });
  const chat = await openPage(browser, server, `#token=${token}&room=${room}`, 'reader');
  try {
    await chat.waitConnected(1);
    await chat.type('may I?');
    await chat.until('saying the token only reads', async () => /reading only/.test(await chat.sendError()));
    expectEqual(await chat.composerEnabled(), false, 'the message box enabled for a read-only token');
    await chat.waitConnected(2);
    const writer = mintJwt({ sub: 'writer', exp: inSeconds(600) });
    await publishAs(server, writer, room, 'still reading');
    await chat.waitRow('writer', 'still reading');
  } finally {
    await chat.close();
  }
}

// A token for other rooms: the socket's 403 is invisible to the page, so it asks and shows the reason.
async function testJwtRoomOutsideTheToken({ browser, server }) {
  const token = mintJwt({ sub: 'roomy', exp: inSeconds(600), rooms: ['allowed-*'] });
  const chat = await openPage(browser, server, `#token=${token}&room=elsewhere`, 'roomy');
  try {
    await chat.waitShown('#status', /may not use room "elsewhere"/);
    const opened = chat.sockets.length;
    await chat.page.fill('#room', 'allowed-1');
    await chat.page.click('#join-form button[type=submit]');
    await chat.waitConnected(opened + 1);
    await chat.type('in my room');
    await chat.waitRow('roomy', 'in my room');
  } finally {
    await chat.close();
  }
}

const AUTH_GROUPS = [
  {
    name: 'password',
    auth: (hash) => [`auth: { mode: password, password_hash: ${JSON.stringify(hash)} }`],
    tests: [
      ['password-login-and-logout', testPasswordLoginAndLogout],
      ['password-logout-in-another-tab', testLogoutInAnotherTab],
    ],
  },
  {
    name: 'password-short',
    auth: (hash) => [`auth: { mode: password, password_hash: ${JSON.stringify(hash)}, token_ttl: 3s,`,
      '        login_burst: 1, login_rate: 0.01 }'],
    tests: [['password-expiry-and-login-limit', testExpiryAndLoginLimit]],
  },
  {
    name: 'password-memory',
    auth: (hash) => [`auth: { mode: password, password_hash: ${JSON.stringify(hash)} }`],
    memory: true,
    tests: [['password-login-forgotten-by-a-restart', testLoginForgottenByARestart]],
  },
  {
    name: 'jwt',
    auth: () => ['auth: { mode: jwt, jwt: { secret_file: jwt.secret, leeway: 0s } }'],
    files: { 'jwt.secret': JWT_SECRET },
    tests: [
      ['jwt-from-fragment', testJwtFromFragment],
      ['jwt-without-token', testJwtWithoutToken],
      ['jwt-refused', testJwtRefused],
      ['jwt-read-only', testJwtReadOnly],
      ['jwt-room-outside-the-token', testJwtRoomOutsideTheToken],
      ['jwt-expires-while-connected', testJwtExpiresWhileConnected],
    ],
  },
];

// ---- several nodes on Redis (issue 12): the page after a `reset` ----

const CLUSTER_PREFIX = 'browser';

// The cluster section of a node on the Redis at `port` (docs/config.md).
function clusterConfig(port) {
  return ['cluster:', '  engine: redis', `  redis: { address: "127.0.0.1:${port}", prefix: ${CLUSTER_PREFIX} }`,
    '  node_ttl: 3s', '  unavailable_wait: 1s'];
}

// Every `reset` frame the page's sockets received.
function resetsOf(chat) {
  return chat.sockets.flatMap((socket) => socket.frames).map((frame) => {
    try { return JSON.parse(frame); } catch { return null; }
  }).filter((event) => event?.type === 'reset');
}

// POST /publish until chatd takes it: 503 only (Redis not back yet: never applied, docs/api.md); anything
// else, a 504 (maybe applied) included, fails the test, so every text is in the room at most once.
async function publishWhenAccepted(server, room, name, text) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const status = await server.publish(room, name, text);
    if (status === 202) return;
    expect(status === 503 && Date.now() < deadline, `POST /publish of ${JSON.stringify(text)}: ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const messageTexts = (events) => events.filter((event) => event.type === 'message').map((event) => event.text);

// The page's message rows are exactly the messages of /history: same texts, same order, none twice.
async function expectShowsHistory(chat, server, room, what) {
  const shown = await chat.messages();
  const page = await server.historyPage(room);
  expectEqual(shown, messageTexts(page.events), `${what}: the page against /history`);
  expectEqual(shown.length, new Set(shown).size, `${what}: rows shown twice`);
  return page;
}

// Redis restarted empty (a new run_id): the node begins a new epoch and sends `reset`; the ids start again
// below those the page holds. The page must drop its list, show /history of the new epoch, keep the socket,
// go on showing live events, and resume a later reconnect with the new epoch and its last id.
async function testClusterResetReloadsTheList({ browser, server, redis }) {
  const room = freshRoom('reset');
  const relay = new Relay(server);
  await relay.start();
  const chat = await ChatPage.open(browser, relay, room, 'gina');
  try {
    const before = ['before the reset 1', 'before the reset 2', 'before the reset 3', 'before the reset 4'];
    await chat.type(before[0]);
    await chat.type(before[1]);
    // Shown, so numbered, before the HTTP publishes: otherwise either may reach the room first.
    await chat.waitMessages(before.slice(0, 2), prefixed('before'));
    await publishWhenAccepted(server, room, 'zoe', before[2]);
    await publishWhenAccepted(server, room, 'zoe', before[3]);
    expectEqual(await chat.waitMessages(before, prefixed('before')), before, 'the page before the reset');
    const old = await expectShowsHistory(chat, server, room, 'before the reset');
    expect(old.events.at(-1).id > 4, `ids before the reset: ${old.events.map((event) => event.id)}`);

    await redis.restart();
    // The node reconnects (back-off up to 2 s), reconciles the room and tells its subscribers.
    await chat.until('receiving a reset to a new epoch',
      async () => resetsOf(chat).some((reset) => reset.epoch !== old.epoch));
    const after = ['after the reset 1', 'after the reset 2', 'after the reset 3'];
    await publishWhenAccepted(server, room, 'zoe', after[0]);
    await chat.type(after[1]);
    await chat.waitMessages(after.slice(0, 2), prefixed('after'));
    await publishWhenAccepted(server, room, 'zoe', after[2]);
    expectEqual(await chat.waitMessages(after, prefixed('after')), after, 'the new messages on the page');

    const page = await expectShowsHistory(chat, server, room, 'after the reset');
    expect(page.epoch !== old.epoch, `/history still names the old epoch ${old.epoch}`);
    expectEqual(messageTexts(page.events), after, '/history after the reset (Redis lost the rest)');
    expect(page.events[0].id <= old.events.at(-1).id,
      `the new epoch's ids do not begin again below the old ones: ${page.events.map((event) => event.id)}`);
    const resets = resetsOf(chat);
    expectEqual(resets.at(-1).epoch, page.epoch, 'the epoch of the last reset');
    expect((await chat.notices()).some((text) => /history again/.test(text)), 'no notice of the reset');
    expectEqual([chat.sockets.length, chat.sockets[0].closed], [1, false],
      '[sockets opened, first closed] (a reset keeps the socket)');

    // Still live, for others' messages and its own.
    await publishWhenAccepted(server, room, 'zoe', 'live after the reset');
    await chat.type('own after the reset');
    await chat.waitMessages(['live after the reset', 'own after the reset'],
      (text) => text === 'live after the reset' || text === 'own after the reset');
    const live = await expectShowsHistory(chat, server, room, 'live after the reset');

    // A reconnect resumes in the new epoch, from the last id the page holds: nothing lost, nothing twice.
    const lastId = live.events.at(-1).id;
    relay.disconnect();
    await chat.waitDisconnected();
    await publishWhenAccepted(server, room, 'zoe', 'while away after the reset');
    relay.reconnect();
    await chat.waitConnected(2);
    const resumed = new URL(chat.sockets[1].url).searchParams;
    expectEqual([resumed.get('since'), resumed.get('epoch')], [String(lastId), live.epoch],
      'the resume after the reset [since, epoch]');
    await chat.until('the recovered frame of the second socket', async () => chat.sockets[1].frames.length > 0);
    const recovered = JSON.parse(chat.sockets[1].frames[0]);
    expectEqual([recovered.type, recovered.epoch, recovered.complete], ['recovered', live.epoch, true],
      'the second socket\'s recovered [type, epoch, complete]');
    await chat.waitMessages(['while away after the reset'], (text) => text === 'while away after the reset');
    await expectShowsHistory(chat, server, room, 'after the reconnect');
    expectEqual(await chat.gapNotices(), [], 'gap notices');
  } finally {
    await chat.close();
    relay.close();
  }
}

const CLUSTER_TESTS = [['cluster-reset-reloads-the-list', testClusterResetReloadsTheList]];

async function main() {
  const binary = process.env.CHATD_BIN || process.argv[2];
  if (!binary) throw new Error('set CHATD_BIN to the chatd binary');
  const started = Date.now();
  const server = new Chatd(binary);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  let [passed, failed, skipped] = [0, 0, 0];
  const check = async (name, run) => {
    const started = Date.now();
    try {
      await run();
      passed += 1;
      console.log(`ok ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${name}: ${error.message}`);
    }
  };
  try {
    await server.start();
    for (const [name, test] of TESTS) await check(name, () => test({ browser, server }));
    pair.relay?.close();
    pair.relay = null;
    await check('clean-shutdown', () => server.stop());
    rmSync(server.dir, { recursive: true, force: true });

    const hash = hashPassword(binary);
    for (const group of AUTH_GROUPS) {
      const authServer = new Chatd(binary, { auth: group.auth(hash), files: group.files, memory: group.memory });
      try {
        await authServer.start();
        for (const [name, test] of group.tests) await check(name, () => test({ browser, server: authServer }));
      } finally {
        await check(`clean-shutdown-${group.name}`, () => authServer.stop());
        rmSync(authServer.dir, { recursive: true, force: true });
      }
    }

    // A real redis-server, or nothing: without one these tests say so, and the others still count.
    if (existsSync(REDIS_SERVER)) {
      const redis = new Redis();
      let node = null;
      try {
        await redis.start();
        node = new Chatd(binary, { memory: true, extra: clusterConfig(redis.port) });
        await node.start();
        for (const [name, test] of CLUSTER_TESTS) await check(name, () => test({ browser, server: node, redis }));
      } finally {
        // The node first: SIGTERM runs its leave script on Redis.
        if (node) {
          await check('clean-shutdown-cluster', () => node.stop());
          rmSync(node.dir, { recursive: true, force: true });
        }
        await redis.close();
      }
    } else {
      for (const [name] of CLUSTER_TESTS) {
        skipped += 1;
        console.log(`skip ${name}: ${REDIS_SERVER} not found (Debian's redis-server package); not run`);
      }
    }
  } finally {
    await browser.close();
    pair.relay?.close();
    await server.stop().catch(() => {});
    rmSync(server.dir, { recursive: true, force: true });
  }
  console.log(`browser: ${passed} passed, ${failed} failed, ${skipped} skipped (${Date.now() - started} ms)`);
  process.exitCode = failed ? 1 : 0;
}

await main();
