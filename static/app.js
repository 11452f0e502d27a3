'use strict';
// chatd web client: one WebSocket per (room, name), events rendered as text, automatic reconnect.
// Classic script (not a module) so it still runs if the server sends a generic MIME type.

const DEFAULT_ROOM = 'general';
const ROOM_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_NAME_CHARS = 64;
const STORAGE_KEY = 'chatd.join';
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30000;
const STABLE_AFTER_MS = 10000; // a connection this old counts as healthy: back-off starts over
const BOTTOM_SLACK_PX = 8;
const MAX_ROWS = 2000; // keeps a long-open tab from growing without bound
const MAX_UNCONFIRMED = 20;
// The server's default limits.max_message_size: assumed until `recovered` tells the real one, or a 1009
// shows the limit is smaller (a server that does not announce it).
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
// The server closed us because of something we sent.
const CLIENT_FAULT_CODES = new Set([1003, 1007, 1009]);
const MESSAGE_TOO_BIG = 1009;
// Reconnecting after these would just repeat them. Not 1009: the page then knows the size to refuse.
const NO_RECONNECT_CODES = new Set([1003, 1007]);
const CLOSE_MEANINGS = {
  1000: 'normal closure', 1001: 'server going away', 1002: 'protocol error', 1003: 'unsupported data',
  1005: 'no status', 1006: 'connection lost', 1007: 'invalid UTF-8', 1008: 'policy violation',
  1009: 'message too big', 1011: 'internal server error', 1015: 'TLS failure',
};

const $ = (id) => document.getElementById(id);
const ui = {
  joinForm: $('join-form'), name: $('name'), room: $('room'), joinError: $('join-error'),
  statusBar: document.querySelector('.status-bar'), status: $('status'), countdown: $('countdown'),
  retry: $('retry'), log: $('log'), jump: $('jump'), sendForm: $('send-form'), message: $('message'),
  send: $('send'), sendError: $('send-error'),
};

const conn = {
  socket: null, room: '', name: '', attempt: 0, openedAt: 0, retryTimer: 0, countdownTimer: 0, retryAt: 0,
  unconfirmed: [], // texts sent on this socket whose echo has not arrived yet
  outbox: [], // texts typed while not connected, sent in order once the socket opens
};
const roomStates = new Map(); // room -> { lastId, epoch }
const utf8 = new TextEncoder();
let maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
let serverEchoes = false; // our own message came back, so a missing echo really means "maybe lost"
let stuckToBottom = true;

// ---- join form, URL hash and remembered choice ----

// "#ops" is the short, shareable form; "#room=ops&name=alice" is accepted too.
function readHash() {
  const raw = location.hash.slice(1);
  const params = new URLSearchParams(raw.includes('=') ? raw : `room=${raw}`);
  return { room: params.get('room') || undefined, name: params.get('name') || undefined };
}

function loadChoice() {
  try { return JSON.parse(localStorage.getItem(STORAGE_KEY)) || {}; } catch { return {}; }
}

function saveChoice(name, room) {
  // Storage can be disabled (private mode, policies); the page must work without it.
  try { localStorage.setItem(STORAGE_KEY, JSON.stringify({ name, room })); } catch { /* ignore */ }
}

function validateChoice(name, room) {
  if (!name) return { field: ui.name, message: 'Please enter a display name.' };
  if ([...name].length > MAX_NAME_CHARS) return { field: ui.name, message: 'Name: at most 64 characters.' };
  if (/[\u0000-\u001f\u007f]/.test(name)) return { field: ui.name, message: 'Name: no control characters.' };
  if (!ROOM_PATTERN.test(room)) return { field: ui.room, message: 'Room: 1–64 of A–Z a–z 0–9 . _ -' };
  return null;
}

function showJoinError(problem) {
  for (const input of [ui.name, ui.room]) input.removeAttribute('aria-invalid');
  ui.joinError.hidden = !problem;
  ui.joinError.textContent = problem ? problem.message : '';
  if (problem) {
    problem.field.setAttribute('aria-invalid', 'true');
    problem.field.focus();
  }
}

function onJoinSubmit(event) {
  event.preventDefault();
  const name = ui.name.value.trim();
  const room = ui.room.value.trim();
  const problem = validateChoice(name, room);
  showJoinError(problem);
  if (!problem) join(name, room);
}

function onHashChange() {
  const { room } = readHash();
  if (!room || room === conn.room) return;
  ui.room.value = room;
  // Only switch automatically once the visitor has joined; before that, just prefill.
  if (conn.name) ui.joinForm.requestSubmit();
}

function join(name, room) {
  saveChoice(name, room);
  // replaceState: keeps the link shareable without firing hashchange or piling up history entries.
  history.replaceState(null, '', '#' + room);
  document.title = `#${room} · chatd`;
  if (room !== conn.room) {
    const left = conn.room;
    clearLog();
    roomStates.delete(room); // the list is empty again, so replay from scratch is wanted
    // What was typed for the room left behind must not go to this one.
    returnToDraft(conn.outbox.splice(0), `Not sent to #${left}: your messages are back in the message box.`);
  }
  conn.room = room;
  conn.name = name;
  conn.attempt = 0;
  setComposerEnabled(true); // from now on, also while (re)connecting: what is typed waits in the outbox
  if (roomStates.has(room)) return connect();
  enterRoom();
}

// Shows the room's recent history first, then subscribes from where it ends.
function enterRoom() {
  const { room, name } = conn;
  stopRetryTimers();
  dropSocket();
  loadHistory(room).finally(() => {
    if (conn.room === room && conn.name === name && !conn.socket) connect();
  });
}

// Our list can no longer be trusted (the server said so): start it over from the server's history.
function reloadRoom(notice) {
  clearLog();
  roomStates.delete(conn.room);
  addSystemRow(notice);
  enterRoom();
}

function clearLog() {
  ui.log.replaceChildren();
  ui.jump.hidden = true;
}

async function loadHistory(room) {
  try {
    const response = await fetch(`/history?room=${encodeURIComponent(room)}&limit=100`, { cache: 'no-store' });
    // 404: nobody has used this room yet, so there is nothing to show; the subscription learns the epoch.
    if (!response.ok) return;
    const body = await response.json();
    if (room !== conn.room) return;
    roomState().epoch = String(body.epoch);
    for (const event of body.events) handleEvent(event);
  } catch (error) {
    console.warn('chatd: no history', error); // live events still work
  }
}

// ---- connection lifecycle ----

function subscribeUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // presence: join and leave events too. since, always: the server then starts with `recovered`, which
  // tells the room's epoch and whether our list is complete, and replays what we have not seen. With no id
  // seen yet that is since=0: everything the room retains, e.g. what came between a 404 from /history and
  // this subscription (what /history did show is dropped again by id).
  const state = roomStates.get(conn.room);
  const params = { room: conn.room, name: conn.name, presence: 'true', since: state?.lastId ?? 0 };
  if (state?.epoch != null) params.epoch = state.epoch;
  // encodeURIComponent rather than URLSearchParams: "%20" is understood by every query decoder, "+" is not.
  const query = Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return `${scheme}//${location.host}/subscribe?${query}`;
}

function connect() {
  stopRetryTimers();
  dropSocket();
  const socket = new WebSocket(subscribeUrl());
  conn.socket = socket;
  conn.openedAt = 0;
  conn.unconfirmed = [];
  setStatus('busy', conn.attempt > 0 ? 'Reconnecting…' : 'Connecting…');
  // Handlers close over their own socket so a late event from a replaced socket is ignored.
  socket.onopen = () => socket === conn.socket && onOpen();
  socket.onmessage = (event) => socket === conn.socket && onFrame(event);
  socket.onclose = (event) => socket === conn.socket && onClose(event);
}

// Intentional close (room or name change): detach first so it is not treated as a failure.
function dropSocket() {
  const socket = conn.socket;
  if (!socket) return;
  conn.socket = null;
  socket.onopen = socket.onmessage = socket.onclose = null;
  socket.close(1000, 'leaving');
}

function onOpen() {
  conn.openedAt = Date.now();
  setStatus('ok', `Connected to #${conn.room} as ${conn.name}`);
  flushOutbox();
}

function onClose(event) {
  const wasOpen = conn.openedAt > 0;
  conn.socket = null;
  if (wasOpen && Date.now() - conn.openedAt >= STABLE_AFTER_MS) conn.attempt = 0;
  const text = describeClose(event, wasOpen);
  if (wasOpen) addSystemRow(`Disconnected: ${text}`);
  if (event.code === MESSAGE_TOO_BIG) learnSizeLimit();
  restoreUnconfirmed(event.code);
  if (NO_RECONNECT_CODES.has(event.code)) {
    setStatus('error', `Closed: ${text}. Not reconnecting; press Join or Retry to try again.`);
    ui.retry.hidden = false;
    return;
  }
  scheduleReconnect(text);
}

function describeClose(event, wasOpen) {
  // Page scripts cannot see the HTTP status of a refused handshake: it looks like an unreachable server.
  if (!wasOpen && event.code === 1006) return 'could not connect: server unreachable, or it refused (bad room/name, unknown room, origin not allowed)';
  const meaning = CLOSE_MEANINGS[event.code] || 'closed';
  return event.reason ? `${event.code} ${meaning}: “${event.reason}”` : `${event.code} ${meaning}`;
}

function scheduleReconnect(closeText) {
  // Exponential back-off with jitter, so a restarted server is not hit by every tab at once.
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** conn.attempt);
  const delay = ceiling / 2 + Math.random() * (ceiling / 2);
  conn.attempt = Math.min(conn.attempt + 1, 30);
  conn.retryAt = Date.now() + delay;
  conn.retryTimer = setTimeout(connect, delay);
  conn.countdownTimer = setInterval(renderCountdown, 1000);
  setStatus('busy', `Disconnected: ${closeText}. Reconnecting…`);
  ui.retry.hidden = false;
  renderCountdown();
}

function renderCountdown() {
  const seconds = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
  ui.countdown.textContent = `reconnecting in ${seconds}s`;
}

function stopRetryTimers() {
  clearTimeout(conn.retryTimer);
  clearInterval(conn.countdownTimer);
  conn.retryTimer = conn.countdownTimer = 0;
  ui.countdown.textContent = '';
  ui.retry.hidden = true;
}

function retryNow() {
  if (conn.room && conn.name) connect();
}

function setStatus(kind, text) {
  ui.statusBar.dataset.kind = kind;
  ui.status.textContent = text;
}

// ---- incoming events ----

function onFrame(event) {
  if (typeof event.data !== 'string') return; // the server only sends text frames
  let data = null;
  try { data = JSON.parse(event.data); } catch { console.warn('chatd: frame is not JSON', event.data); }
  if (data && typeof data === 'object') handleEvent(data);
}

function handleEvent(event) {
  if (event.room != null && event.room !== conn.room) return;
  if (event.type === 'recovered') return onRecovered(event);
  if (!acceptSequence(event)) return;
  if (event.type === 'message') {
    confirmEcho(event);
    addMessageRow(event);
  } else if (event.type === 'join') addSystemRow(`${event.name} joined`, event.ts);
  else if (event.type === 'leave') addSystemRow(`${event.name} left`, event.ts);
  // Other types come from newer servers; skipping them keeps this page working.
}

function roomState() {
  if (!roomStates.has(conn.room)) roomStates.set(conn.room, { lastId: null, epoch: null });
  return roomStates.get(conn.room);
}

// Drops events already shown (a replay repeats what /history gave). Returns false for a duplicate.
// Ids only grow within an epoch, but they may skip: a gap in them is no loss (after a crash the server
// skips ahead on purpose). Only `recovered` can tell that something was lost.
function acceptSequence(event) {
  if (!Number.isSafeInteger(event.id)) return true;
  const state = roomState();
  if (state.lastId != null && event.id <= state.lastId) return false;
  state.lastId = event.id;
  return true;
}

// The first frame of every subscription: the room's epoch, and whether everything after our last id is
// still there (`complete`: the same epoch, an id the server gave, nothing after it trimmed away).
function onRecovered(event) {
  const state = roomState();
  if (event.epoch != null) state.epoch = String(event.epoch);
  // Sent by servers that announce their limits.max_message_size; without it the page keeps what it has.
  if (Number.isSafeInteger(event.max_message_size)) maxMessageBytes = event.max_message_size;
  // With no event shown there is no list to be wrong about: the replay is simply what the room retains.
  if (event.complete !== false || state.lastId == null) return;
  reloadRoom('History gap: some events from while you were away are no longer kept by the server; ' +
    'the list below is reloaded from what it has.');
}

// ---- rendering (always textContent: chat text is never HTML) ----

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text != null) node.textContent = String(text);
  return node;
}

function timeElement(ts) {
  const date = new Date(Number(ts) || Date.now());
  const hms = [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, '0'));
  const node = element('time', 'when', hms.join(':'));
  node.dateTime = date.toISOString();
  node.title = date.toLocaleString();
  return node;
}

function addMessageRow(event) {
  appendRow(messageRow(event.name ?? '?', event.text ?? '', event.ts));
}

// A message typed while disconnected, shown until it is sent (the server's echo then shows it for real).
function addPendingRow(text) {
  const row = messageRow(conn.name, text);
  row.classList.add('pending');
  row.lastElementChild.append(' ', element('span', 'note', '(sent when connected)'));
  appendRow(row);
}

function messageRow(name, text, ts) {
  const row = element('div', name === conn.name ? 'row msg own' : 'row msg');
  const body = element('div', 'body');
  body.append(element('span', 'who', name), ' ', element('span', 'text', text));
  row.append(timeElement(ts), body);
  return row;
}

function addSystemRow(text, ts) {
  const row = element('div', 'row sys');
  row.append(timeElement(ts), element('div', 'body', text));
  appendRow(row);
}

function appendRow(row) {
  const follow = isNearBottom();
  ui.log.append(row);
  while (ui.log.childElementCount > MAX_ROWS) ui.log.firstElementChild.remove();
  if (follow) scrollToBottom();
  else ui.jump.hidden = false;
}

// ---- scrolling: follow new events only if the reader is already at the end ----

function isNearBottom() {
  const { scrollHeight, scrollTop, clientHeight } = ui.log;
  return scrollHeight - scrollTop - clientHeight <= BOTTOM_SLACK_PX;
}

function scrollToBottom() {
  ui.log.scrollTop = ui.log.scrollHeight;
  stuckToBottom = true;
  ui.jump.hidden = true;
}

function onLogScroll() {
  stuckToBottom = isNearBottom();
  if (stuckToBottom) ui.jump.hidden = true;
}

function onJumpClick() {
  scrollToBottom();
  // The button hides itself; put focus somewhere useful instead of losing it to <body>.
  (ui.message.disabled ? ui.log : ui.message).focus();
}

// A phone keyboard opening shrinks the list; stay pinned to the end if we were there.
function onLogResize() {
  if (stuckToBottom) scrollToBottom();
}

// ---- sending ----

// Disabled only until the first Join: there is no room to send to before it.
function setComposerEnabled(enabled) {
  ui.message.disabled = !enabled;
  ui.send.disabled = !enabled;
}

function onMessageKeydown(event) {
  // isComposing: Enter also confirms IME input (CJK etc.) and must not send half-typed text.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendDraft();
  }
}

function sendDraft() {
  const text = ui.message.value;
  if (!text.trim()) return;
  // The server counts UTF-8 bytes, not characters, and closes the connection (1009) over its limit.
  const bytes = utf8Bytes(text);
  if (bytes > maxMessageBytes) {
    showSendError(`Not sent: this message is ${bytes} bytes (UTF-8) and the server accepts at most ` +
      `${maxMessageBytes}. Shorten it or split it.`);
    return;
  }
  showSendError('');
  ui.message.value = '';
  if (isOpen()) return transmit(text);
  // send() on a socket that is not open drops data silently: keep the text until there is one.
  conn.outbox.push(text);
  addPendingRow(text);
}

function isOpen() {
  return conn.socket !== null && conn.socket.readyState === WebSocket.OPEN;
}

function transmit(text) {
  conn.socket.send(text);
  conn.unconfirmed.push(text);
  if (conn.unconfirmed.length > MAX_UNCONFIRMED) conn.unconfirmed.shift();
}

// Sends what was typed while disconnected, in order, once: the server's echo then shows each for real.
function flushOutbox() {
  for (const text of conn.outbox.splice(0)) transmit(text);
  for (const row of ui.log.querySelectorAll('.pending')) row.remove();
}

function utf8Bytes(text) {
  return utf8.encode(text).length;
}

function showSendError(text) {
  ui.sendError.textContent = text;
  ui.sendError.hidden = !text;
}

// The server refused one of the messages sent on this socket as too big. The limit is below the size of
// that message, so below the largest unconfirmed one: refusing that size from now on cannot refuse
// anything the server would take, and it stops Enter from repeating the disconnect.
function learnSizeLimit() {
  const largest = Math.max(0, ...conn.unconfirmed.map(utf8Bytes));
  if (largest > 0) maxMessageBytes = Math.min(maxMessageBytes, largest - 1);
  showSendError('The server closed the connection because your message was too big. ' +
    'It is back in the message box: shorten it or split it.');
}

function confirmEcho(event) {
  if (event.name !== conn.name) return;
  const index = conn.unconfirmed.indexOf(event.text);
  if (index === -1) return;
  // Frames are ordered, so everything sent before this one has reached the server too.
  conn.unconfirmed.splice(0, index + 1);
  serverEchoes = true;
}

// A connection that dies right after send() may have lost the message: hand it back for the user to decide.
function restoreUnconfirmed(code) {
  const sent = conn.unconfirmed;
  conn.unconfirmed = [];
  // Without echoes we only know that a client-fault close was most likely caused by the last message.
  const lost = serverEchoes ? sent : CLIENT_FAULT_CODES.has(code) ? sent.slice(-1) : [];
  returnToDraft(lost, 'Your last message may not have been delivered; it is back in the message box.');
}

// Puts texts the server did not (or may not) get back in the message box, ahead of what is being typed.
function returnToDraft(texts, notice) {
  if (!texts.length) return;
  const draft = ui.message.value;
  ui.message.value = texts.join('\n') + (draft ? `\n${draft}` : '');
  addSystemRow(notice);
}

// ---- start ----

function guestName() {
  return `guest-${Math.floor(1000 + Math.random() * 9000)}`;
}

function init() {
  const saved = loadChoice();
  const fromHash = readHash();
  const name = (fromHash.name || saved.name || '').trim();
  const room = (fromHash.room || saved.room || DEFAULT_ROOM).trim();
  ui.name.value = name || guestName();
  ui.room.value = room;

  ui.joinForm.addEventListener('submit', onJoinSubmit);
  ui.sendForm.addEventListener('submit', (event) => { event.preventDefault(); sendDraft(); });
  ui.message.addEventListener('keydown', onMessageKeydown);
  ui.message.addEventListener('input', () => showSendError(''));
  ui.log.addEventListener('scroll', onLogScroll, { passive: true });
  ui.jump.addEventListener('click', onJumpClick);
  ui.retry.addEventListener('click', retryNow);
  window.addEventListener('hashchange', onHashChange);
  // Waiting out the back-off is pointless once the network is back.
  window.addEventListener('online', () => conn.retryTimer && retryNow());
  if ('ResizeObserver' in window) new ResizeObserver(onLogResize).observe(ui.log);

  // Someone who chose a name before (or followed a link with one) goes straight in;
  // a first-time visitor gets to pick a name first.
  const problem = name ? validateChoice(name, room) : null;
  if (name && !problem) {
    join(name, room);
  } else {
    showJoinError(problem);
    setStatus('idle', 'Pick a name and a room, then press Join.');
    if (!problem) {
      ui.name.focus();
      ui.name.select();
    }
  }
}

init();
