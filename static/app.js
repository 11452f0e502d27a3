'use strict';
// chatd web client: one WebSocket per (room, name), events rendered as text, automatic reconnect.
// With access control (auth.mode password or jwt) it first finds out who it is (GET /login): a login form,
// or a token from its URL fragment; the server then names every event this page sends.
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
const POLICY_VIOLATION = 1008;
// Close codes of access control (docs/api.md): the login or token reached its expiry; the login was ended
// (POST /logout, in this tab or another). Reconnecting with the same credentials would be refused.
const TOKEN_EXPIRED = 4001;
const LOGGED_OUT = 4003;
const NEEDS_TOKEN = 'This chat needs a token from the site that embeds it.';
const SESSION_EXPIRED = 'Your session expired, reload the embedding page.';
// Reconnecting after these would just repeat them. Not 1009: the page then knows the size to refuse.
// 4004: an operator removed this session (POST /admin/disconnect); reconnecting would undo it.
const REMOVED_BY_OPERATOR = 4004;
const NO_RECONNECT_CODES = new Set([1003, 1007, REMOVED_BY_OPERATOR]);
// After a `reset`, /history may come from a node behind the same load balancer that has not reset yet (its
// page still names the old epoch): asked again this many times, a little later each time.
const RESET_HISTORY_TRIES = 4;
const RESET_HISTORY_PAUSE_MS = 250;
const RESET_NOTICE = 'The server started this room’s history again (its shared store lost data); ' +
  'the list below is reloaded from what it has.';
const CLOSE_MEANINGS = {
  1000: 'normal closure', 1001: 'server going away', 1002: 'protocol error', 1003: 'unsupported data',
  1005: 'no status', 1006: 'connection lost', 1007: 'invalid UTF-8', 1008: 'policy violation',
  1009: 'message too big', 1011: 'internal server error', 1015: 'TLS failure', 4004: 'removed by an operator',
};

const $ = (id) => document.getElementById(id);
const ui = {
  joinForm: $('join-form'), name: $('name'), room: $('room'), joinError: $('join-error'),
  statusBar: document.querySelector('.status-bar'), status: $('status'), countdown: $('countdown'),
  retry: $('retry'), log: $('log'), jump: $('jump'), sendForm: $('send-form'), message: $('message'),
  send: $('send'), sendError: $('send-error'),
  nameField: $('name-field'), account: $('account'), signedIn: $('signed-in'), logout: $('logout'),
  loginView: $('login-view'), loginForm: $('login-form'), loginName: $('login-name'),
  loginPassword: $('login-password'), loginSubmit: $('login-submit'), loginNotice: $('login-notice'),
  loginError: $('login-error'), noticeView: $('notice-view'), notice: $('notice'),
  people: $('people'), peopleSummary: $('people-summary'), peopleList: $('people-list'),
  olderBar: $('older-bar'), older: $('older'), olderEnd: $('older-end'),
};
ui.chatParts = [ui.joinForm, ui.statusBar, ui.people, ui.log.parentElement, ui.sendForm];

// Who the server says we are. mode: the server's auth.mode (GET /login). token: only a JWT handed over in
// the URL fragment (jwt mode), sent as Authorization: Bearer and ?token=. A password login's token is never
// held here: it lives in the HttpOnly cookie, which the browser sends by itself (same origin).
const auth = { mode: 'open', name: '', token: '', mayPublish: true, startTimer: 0, startAttempt: 0 };

const conn = {
  socket: null, room: '', name: '', attempt: 0, openedAt: 0, retryTimer: 0, countdownTimer: 0, retryAt: 0,
  unconfirmed: [], // texts sent on this socket whose echo has not arrived yet
  outbox: [], // texts typed while not connected, sent in order once the socket opens
  // While the list is reloaded after a `reset`: { room, last, events }, the live events that arrived
  // meanwhile, shown after the reloaded page. null otherwise. A newer reset, a room change or a full
  // reload replaces it, and the older reload then shows nothing.
  reload: null,
};
const roomStates = new Map(); // room -> { lastId, epoch }
// Who is online in conn.room: GET /presence when a socket opens, then its join and leave events.
// inflight: while that answer is awaited, the join and leave events that came meanwhile, applied after it
// in order (the last one for a name is the newest word on it, whichever side of the answer it was).
// generation: a newer request (or a room change) makes an older answer count for nothing.
const presence = { online: new Set(), inflight: null, generation: 0 };
// Paging back through /history. before: the next older page's `before` (the server's next_before, or the
// oldest id the list still holds once it dropped its oldest rows), null when there is none or it is not known.
// reached: the server said nothing older is retained. loading: the request under way (a newer one, or a
// cleared list, makes its answer count for nothing).
const older = { before: null, reached: false, loading: null };
const HISTORY_PAGE = 100;
// Messages of one author this close together (and no other row between them) show the name once.
const GROUP_GAP_MS = 5 * 60 * 1000;
const utf8 = new TextEncoder();
let maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
let serverEchoes = false; // our own message came back, so a missing echo really means "maybe lost"
let stuckToBottom = true;

// ---- join form, URL hash and remembered choice ----

// "#room=ops" is what the page shows (a link to it opens that room); "#ops" and "#room=ops&name=alice" are
// accepted too, and "#token=JWT" (with or without room) from a site that embeds the page.
function readHash() {
  const raw = location.hash.slice(1);
  const params = new URLSearchParams(raw.includes('=') ? raw : `room=${raw}`);
  return {
    room: params.get('room') || undefined, name: params.get('name') || undefined,
    token: params.get('token') || undefined,
  };
}

// Takes a token out of the address bar at once: it would otherwise stay in the history, be copied with
// the link and be shown over the reader's shoulder. replaceState neither reloads nor fires hashchange.
function takeTokenFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (!token) return '';
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  return token;
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
  // Signed in, the name is the login's (the name field is hidden): only the room is chosen here.
  const name = auth.name || ui.name.value.trim();
  const room = ui.room.value.trim();
  const problem = validateChoice(name, room);
  showJoinError(problem);
  if (!problem) join(name, room);
}

function onHashChange() {
  // The embedding site handed over a fresh token (it set a new #token=): start over with it.
  const token = takeTokenFromHash();
  if (token) {
    auth.token = token;
    return start();
  }
  const { room } = readHash();
  if (!room || room === conn.room) return;
  ui.room.value = room;
  // Only switch automatically once the visitor has joined; before that, just prefill.
  if (conn.name) ui.joinForm.requestSubmit();
}

function join(name, room) {
  // A login's name is not a choice to remember: the open-mode name stays what it was.
  saveChoice(auth.name ? loadChoice().name : name, room);
  // The room in the address: a link to it opens this room. Changing rooms adds a history entry, so Back and
  // Forward move between rooms (they change the hash: onHashChange joins the room it names); the first join,
  // a join that came from the address itself and a rejoin replace the entry instead. Neither fires hashchange.
  const target = `#room=${room}`; // room names are made of URL-safe characters only
  if (location.hash !== target) {
    const changing = conn.room && room !== conn.room && readHash().room !== room;
    history[changing ? 'pushState' : 'replaceState'](null, '', target);
  }
  document.title = `#${room} · chatd`;
  if (room !== conn.room) {
    const left = conn.room;
    clearLog();
    clearPeople();
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
  conn.reload = null; // this load starts over from /history too
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
  ui.log.replaceChildren(ui.olderBar); // the bar stays first; rows come after it
  ui.jump.hidden = true;
  older.before = null;
  older.reached = false;
  older.loading = null;
  renderOlder();
}

async function loadHistory(room) {
  const body = await fetchHistory(room);
  if (!body || room !== conn.room) return;
  roomState().epoch = String(body.epoch);
  for (const event of body.events) handleEvent(event);
  learnOlder(body);
}

// A page of /history tells where the next older one starts (next_before), or that there is none (null).
function learnOlder(body) {
  older.before = Number.isSafeInteger(body.next_before) ? body.next_before : null;
  older.reached = body.next_before === null;
  renderOlder();
}

// The room's newest page of history (or the one below `before`): { epoch, events, next_before }, or null.
// 404: nobody has used this room yet, so there is nothing to show; the subscription learns the epoch. Other
// failures: live events still work.
async function fetchHistory(room, before = null) {
  try {
    const page = before == null ? '' : `&before=${before}`;
    const response = await fetch(`/history?room=${encodeURIComponent(room)}&limit=${HISTORY_PAGE}${page}`,
      { cache: 'no-store', headers: authHeaders() });
    if (!response.ok) return null;
    const body = await response.json();
    return body && Array.isArray(body.events) ? body : null;
  } catch (error) {
    console.warn('chatd: no history', error);
    return null;
  }
}

// The room's history started again on the server (`reset`, cluster.engine redis: Redis lost data and began
// a new epoch, or this node found a hole it could not fill). The ids may begin again below ours, and what
// the list shows may be gone from the server: it is dropped and reloaded from /history as on first load.
// The socket stays open (no leave and join for the others to see); its live events wait for the page.
function onReset(event) {
  const state = roomState();
  state.epoch = event.epoch != null ? String(event.epoch) : null;
  // The next event is last + 1: a reconnect meanwhile resumes from there, in the new epoch.
  const last = Number.isSafeInteger(event.last) ? event.last : null;
  state.lastId = last;
  const reload = { room: conn.room, last, events: [] };
  conn.reload = reload;
  clearLog();
  addSystemRow(RESET_NOTICE);
  reloadAfterReset(reload);
}

async function reloadAfterReset(reload) {
  const state = roomState();
  let body = null;
  for (let attempt = 1; ; attempt += 1) {
    body = await fetchHistory(reload.room);
    if (conn.reload !== reload) return; // superseded
    if (!body || String(body.epoch) === state.epoch) break;
    if (attempt >= RESET_HISTORY_TRIES) {
      body = null; // a page of another epoch: not this room's history as the reset announced it
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, RESET_HISTORY_PAUSE_MS * attempt));
    if (conn.reload !== reload) return;
  }
  conn.reload = null;
  clearLog();
  addSystemRow(RESET_NOTICE);
  if (body) {
    state.lastId = null; // the page's ids, whatever they are, are the new start
    for (const event of body.events) handleEvent(event);
    learnOlder(body);
  } else {
    state.lastId = reload.last;
    addSystemRow('The earlier events of this room could not be reloaded; new ones are shown below.');
  }
  // Live events that came meanwhile: those the page already held are dropped by id.
  for (const event of reload.events) handleEvent(event, true);
  if (state.lastId == null) state.lastId = reload.last;
  for (const text of conn.outbox) addPendingRow(text);
}

// ---- connection lifecycle ----

function subscribeUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // presence: join and leave events too. since, always: the server then starts with `recovered`, which
  // tells the room's epoch and whether our list is complete, and replays what we have not seen. With no id
  // seen yet that is since=0: everything the room retains, e.g. what came between a 404 from /history and
  // this subscription (what /history did show is dropped again by id).
  const state = roomStates.get(conn.room);
  const params = { room: conn.room, presence: 'true', since: state?.lastId ?? 0 };
  // Signed in, the server takes the name from the login and ignores ?name=.
  if (!auth.name) params.name = conn.name;
  if (state?.epoch != null) params.epoch = state.epoch;
  // A page script cannot set headers on a WebSocket handshake: the query is the only way for a token
  // (the server keeps it out of its logs). A cookie goes by itself.
  if (auth.token) params.token = auth.token;
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
  loadPresence();
}

// ---- who is online ----

// Asked on every (re)join: while the page was away, people came and went without it seeing their events.
async function loadPresence() {
  const room = conn.room;
  const generation = ++presence.generation;
  presence.inflight = [];
  let users = null;
  try {
    const response = await fetch(`/presence?room=${encodeURIComponent(room)}`,
      { cache: 'no-store', headers: authHeaders() });
    const body = response.ok ? await response.json() : null;
    if (body && Array.isArray(body.users)) users = body.users;
  } catch (error) {
    console.warn('chatd: no presence', error);
  }
  if (generation !== presence.generation || room !== conn.room) return; // superseded
  const meanwhile = presence.inflight;
  presence.inflight = null;
  // Without an answer the list stays what the events made it.
  if (users) presence.online = new Set(users.map((user) => user?.name).filter((name) => typeof name === 'string'));
  if (isOpen()) presence.online.add(conn.name); // our socket is in the room
  for (const event of meanwhile) applyPresence(event);
  renderPeople();
}

function notePresence(event) {
  if (typeof event.name !== 'string') return;
  if (presence.inflight) return presence.inflight.push(event);
  applyPresence(event);
  renderPeople();
}

function applyPresence(event) {
  if (event.type === 'join') presence.online.add(event.name);
  else presence.online.delete(event.name);
}

function clearPeople() {
  presence.generation += 1;
  presence.inflight = null;
  presence.online = new Set();
  renderPeople();
}

function renderPeople() {
  const names = [...presence.online].sort((a, b) => a.localeCompare(b));
  ui.peopleSummary.textContent = names.length ? `${names.length} online: ${names.join(', ')}` : 'Online';
  ui.peopleList.replaceChildren(...names.map((name) => {
    const item = element('li', name === conn.name ? 'person own-name' : 'person', name);
    if (name === conn.name) item.append(' ', element('span', 'note', '(you)'));
    return item;
  }));
}

// "alice", "alice and bob", "alice, bob and carol", "alice, bob and 3 others".
function listNames(names) {
  if (names.length <= 1) return names.join('');
  if (names.length <= 3) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  const others = names.length - 2;
  return `${names.slice(0, 2).join(', ')} and ${others} others`;
}

// Comings and goings in a row (no message between them) share one line. Who left and came back in it (a
// reload) is in neither list; who came and went again, likewise. A line left with nobody goes away.
// container: the log (a live or newest event), or the fragment of an older page being put together.
function addPresenceRow(event, container = ui.log) {
  if (typeof event.name !== 'string') return;
  let row = container.lastElementChild;
  if (!row || !row.classList.contains('presence')) {
    row = newRow('row sys presence', event.ts);
    row.presenceRun = { joined: [], left: [] };
    if (Number.isSafeInteger(event.id)) row.dataset.id = String(event.id);
    row.append(element('div', 'body'));
    if (container === ui.log) appendRow(row);
    else placeRow(container, row);
  }
  const { joined, left } = row.presenceRun;
  const [same, other] = event.type === 'join' ? [joined, left] : [left, joined];
  const back = other.indexOf(event.name);
  if (back !== -1) other.splice(back, 1);
  else if (!same.includes(event.name)) same.push(event.name);
  if (!joined.length && !left.length) {
    row.remove();
    // A day's heading with no row left under it goes too.
    if (container.lastElementChild?.classList.contains('day')) container.lastElementChild.remove();
    return;
  }
  const parts = [];
  if (joined.length) parts.push(`${listNames(joined)} joined`);
  if (left.length) parts.push(`${listNames(left)} left`);
  row.lastElementChild.textContent = parts.join('; ');
  row.firstElementChild.replaceWith(timeElement(event.ts));
}

function onClose(event) {
  const wasOpen = conn.openedAt > 0;
  conn.socket = null;
  if (wasOpen && Date.now() - conn.openedAt >= STABLE_AFTER_MS) conn.attempt = 0;
  const text = describeClose(event, wasOpen);
  if (wasOpen) addSystemRow(`Disconnected: ${text}`);
  if (event.code === MESSAGE_TOO_BIG) learnSizeLimit();
  restoreUnconfirmed(event.code);
  if (auth.name && (event.code === TOKEN_EXPIRED || event.code === LOGGED_OUT)) return loginEnded(event.code);
  if (auth.name && event.code === POLICY_VIOLATION && /may not publish/.test(event.reason)) becomeReadOnly();
  if (NO_RECONNECT_CODES.has(event.code)) {
    setStatus('error', `Closed: ${text}. Not reconnecting; press Join or Retry to try again.`);
    ui.retry.hidden = false;
    return;
  }
  if (!wasOpen && auth.name) return recheckThenReconnect(text);
  scheduleReconnect(text);
}

// A refused handshake looks like a lost connection to a page script (1006, no status): the login may have
// ended meanwhile (expired, logged out elsewhere, a server restarted without its sessions). Asking first
// keeps the page from retrying forever with credentials the server no longer takes.
async function recheckThenReconnect(closeText) {
  const { room } = conn;
  const answer = await whoAmI();
  if (conn.socket || conn.room !== room || !auth.name) return; // something else took over meanwhile
  if (answer.status === 401) return loginRefused(answer.body.error);
  // Still signed in: maybe this room is outside the token's rooms (a 403 the socket cannot show).
  const refusal = answer.status === 200 ? await roomRefusal(room) : '';
  if (conn.socket || conn.room !== room || !auth.name) return;
  if (refusal) {
    setStatus('error', `Not connected: ${refusal}. Pick another room, or press Retry.`);
    ui.retry.hidden = false;
    return;
  }
  scheduleReconnect(closeText);
}

// The server's reason when our credentials may not use the room (403), else ''.
async function roomRefusal(room) {
  try {
    const response = await fetch(`/history?room=${encodeURIComponent(room)}&limit=1`,
      { cache: 'no-store', headers: authHeaders() });
    return response.status === 403 ? await errorText(response) : '';
  } catch {
    return '';
  }
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
  if (data && typeof data === 'object') handleLive(data);
}

// An event from the socket: while the list is reloaded after a reset, it waits for the reloaded page.
// `recovered` is answered at once: it only tells the epoch, or starts a full reload of its own.
function handleLive(event) {
  if (event.room != null && event.room !== conn.room) return;
  if (event.type === 'reset') return onReset(event);
  const reload = conn.reload;
  if (!reload || event.type === 'recovered') return handleEvent(event, true);
  reload.events.push(event);
  if (reload.events.length > MAX_ROWS) reload.events.shift(); // the list would drop them anyway
}

// live: from the socket (the online list follows it), not from /history (who came and went long ago).
function handleEvent(event, live = false) {
  if (event.room != null && event.room !== conn.room) return;
  if (event.type === 'recovered') return onRecovered(event);
  if (!acceptSequence(event)) return;
  if (event.type === 'message') {
    confirmEcho(event);
    addMessageRow(event);
  } else if (event.type === 'join' || event.type === 'leave') {
    if (live) notePresence(event);
    addPresenceRow(event);
  }
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
  appendRow(eventMessageRow(event));
}

function eventMessageRow(event) {
  const row = messageRow(event.name ?? '?', event.text ?? '', event.ts);
  if (Number.isSafeInteger(event.id)) row.dataset.id = String(event.id);
  return row;
}

// A message typed while disconnected, shown until it is sent (the server's echo then shows it for real).
function addPendingRow(text) {
  const row = messageRow(conn.name, text);
  row.classList.add('pending');
  row.lastElementChild.append(' ', element('span', 'note', '(sent when connected)'));
  appendRow(row);
}

function messageRow(name, text, ts) {
  const row = newRow(name === conn.name ? 'row msg own' : 'row msg', ts);
  row.dataset.author = name;
  const body = element('div', 'body');
  const who = element('span', 'who', name);
  // CSSOM, not a style attribute: the page's CSP (style-src 'self') allows it.
  who.style.setProperty('--hue', String(nameHue(name)));
  const textNode = element('span', 'text');
  appendLinkified(textNode, String(text));
  body.append(who, ' ', textNode);
  row.append(body);
  return row;
}

// A row with its time, and the day it belongs to (local time) for the day headings.
function newRow(className, ts) {
  const when = Number(ts) || Date.now();
  const row = element('div', className);
  row.dataset.ts = String(when);
  row.dataset.day = dayKey(when);
  row.append(timeElement(when));
  return row;
}

function dayKey(ms) {
  const date = new Date(ms);
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

// "Thursday, 3 December 2026", in the reader's language.
function dayHeading(ms) {
  const node = element('h2', 'day', new Date(ms).toLocaleDateString(undefined,
    { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }));
  node.dataset.day = dayKey(ms);
  return node;
}

// The same hue for a name on every page and every visit (FNV-1a of its UTF-16 units); the lightness is set
// in style.css so that every hue is readable on the page's background, light or dark.
function nameHue(name) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i += 1) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % 360;
}

// Whether `row` goes on under the name of `prev`, the row just above it.
function continues(prev, row) {
  return Boolean(prev) && prev.classList.contains('msg') && row.classList.contains('msg') &&
    prev.dataset.author === row.dataset.author && prev.dataset.day === row.dataset.day &&
    Number(row.dataset.ts) - Number(prev.dataset.ts) < GROUP_GAP_MS;
}

// Puts `row` at the end of `container` (the log, or an older page being put together): under a new day's
// heading when the day changes, without the name when it goes on from the same author.
function placeRow(container, row) {
  const last = container.lastElementChild;
  if (last?.dataset.day !== row.dataset.day) container.append(dayHeading(Number(row.dataset.ts)));
  else if (last.classList.contains('row') && continues(last, row)) row.classList.add('cont');
  container.append(row);
}

// Appends `text` to `parent` as text nodes, with every http: or https: URL in it as a link that opens in a
// new tab and tells the target nothing (no opener, no referrer). Nothing is ever parsed as HTML; other schemes
// (javascript:, data:, file:) are never links.
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'"’”)\]}>]+$/;

function appendLinkified(parent, text) {
  let from = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    let candidate = match[0];
    // Punctuation that ends a sentence is not part of the URL; a closing bracket is, when it has its opener.
    const trail = TRAILING.exec(candidate);
    if (trail) {
      let keep = candidate.length - trail[0].length;
      const tail = trail[0];
      for (let i = 0; i < tail.length; i += 1) {
        const closer = tail[i];
        const opener = { ')': '(', ']': '[', '}': '{' }[closer];
        const head = candidate.slice(0, keep);
        if (opener && count(head, opener) > count(head, closer)) keep += 1;
        else break;
      }
      candidate = candidate.slice(0, keep);
    }
    const url = safeUrl(candidate);
    if (!url) continue;
    if (match.index > from) parent.append(text.slice(from, match.index));
    const link = document.createElement('a');
    link.href = url;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    link.textContent = candidate;
    parent.append(link);
    from = match.index + candidate.length;
  }
  if (from < text.length) parent.append(text.slice(from));
}

function count(text, char) {
  let n = 0;
  for (const c of text) if (c === char) n += 1;
  return n;
}

// The URL as the browser would resolve it, or null unless it is http: or https: with a host.
function safeUrl(candidate) {
  try {
    const url = new URL(candidate);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname ? url.href : null;
  } catch {
    return null;
  }
}

function addSystemRow(text, ts) {
  const row = newRow('row sys', ts);
  row.append(element('div', 'body', text));
  appendRow(row);
}

function appendRow(row) {
  const follow = isNearBottom();
  placeRow(ui.log, row);
  if (ui.log.childElementCount - 1 > MAX_ROWS) dropOldestRows();
  if (follow) scrollToBottom();
  else ui.jump.hidden = false;
}

// Keeps the list at MAX_ROWS. What is dropped can be paged back in: "Load older" then starts below the
// oldest id still shown.
function dropOldestRows() {
  while (ui.log.childElementCount - 1 > MAX_ROWS) ui.olderBar.nextElementSibling.remove();
  // The new first row: under its day's heading, and with its author's name.
  const first = ui.olderBar.nextElementSibling;
  if (first?.classList.contains('row')) {
    first.classList.remove('cont');
    first.before(dayHeading(Number(first.dataset.ts)));
  }
  const oldest = ui.log.querySelector('.row[data-id]');
  if (!oldest) return;
  older.before = Number(oldest.dataset.id);
  older.reached = false;
  renderOlder();
}

// ---- older history: "Load older messages" at the top of the list ----

function renderOlder() {
  ui.older.hidden = older.before == null;
  ui.olderEnd.hidden = older.before != null || !older.reached;
  ui.olderBar.hidden = ui.older.hidden && ui.olderEnd.hidden;
}

async function loadOlder() {
  const { room } = conn;
  const { before } = older;
  if (before == null || older.loading) return;
  const request = {};
  older.loading = request;
  // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
  ui.older.setAttribute('aria-disabled', 'true');
  ui.older.textContent = 'Loading older messages…';
  const body = await fetchHistory(room, before);
  if (older.loading !== request || room !== conn.room) return; // the list was cleared or replaced meanwhile
  older.loading = null;
  ui.older.removeAttribute('aria-disabled');
  ui.older.textContent = 'Load older messages';
  if (!body) {
    ui.older.textContent = 'Could not load older messages: try again';
    return;
  }
  if (String(body.epoch) !== roomState().epoch) {
    // Another epoch's page: not the history this list belongs to (a `reset` is on its way).
    older.before = null;
    older.reached = false;
    return renderOlder();
  }
  const hadFocus = document.activeElement === ui.older;
  // The row at the top stays where it is on screen: the older rows grow the list above it.
  const anchor = ui.log.querySelector('.row');
  const anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
  const head = ui.olderBar.nextElementSibling; // the first day's heading
  const page = document.createDocumentFragment();
  for (const event of body.events) {
    if (!Number.isSafeInteger(event.id) || event.id >= before) continue;
    if (event.type === 'message') placeRow(page, eventMessageRow(event));
    else if (event.type === 'join' || event.type === 'leave') addPresenceRow(event, page);
  }
  const joint = page.lastElementChild; // the page's newest row
  ui.olderBar.after(page);
  // Where the page meets what was shown: one heading for a day, one name for a run of one author.
  if (joint && head?.classList.contains('day') && head.dataset.day === joint.dataset.day) head.remove();
  if (joint && anchor && continues(joint, anchor)) anchor.classList.add('cont');
  learnOlder(body);
  if (anchor) ui.log.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
  if (hadFocus && ui.older.hidden) ui.log.focus(); // nothing older: the button is gone, the list keeps the focus
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
  ui.message.disabled = !enabled || !auth.mayPublish;
  ui.send.disabled = ui.message.disabled;
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

// ---- access control: who am I, the login form, logout, the end of a login ----

function authHeaders() {
  return auth.token ? { Authorization: `Bearer ${auth.token}` } : {};
}

// GET /login: { status, body }, status 0 when the server could not be reached. The cookie goes with it.
async function whoAmI() {
  try {
    const response = await fetch('/login', { cache: 'no-store', headers: authHeaders() });
    const body = await response.json().catch(() => ({}));
    return { status: response.status, body: body && typeof body === 'object' ? body : {} };
  } catch {
    return { status: 0, body: {} };
  }
}

// One of: 'chat', 'login' (the password form instead of the chat), 'notice' (a message instead of it).
function showView(view) {
  for (const part of ui.chatParts) part.hidden = view !== 'chat';
  ui.loginView.hidden = view !== 'login';
  ui.noticeView.hidden = view !== 'notice';
}

// Leaves the room for good (no reconnect) and forgets what it showed: the next person at this screen must
// not read the last one's chat.
function leaveChat() {
  conn.reload = null;
  stopRetryTimers();
  dropSocket();
  clearLog();
  clearPeople();
  roomStates.clear();
  conn.room = conn.name = '';
  conn.outbox = [];
  conn.unconfirmed = [];
  ui.message.value = '';
  showSendError('');
  setComposerEnabled(false);
  auth.name = '';
  auth.mayPublish = true;
  ui.account.hidden = true;
}

function showLogin(notice = '') {
  leaveChat();
  auth.mode = 'password';
  showView('login');
  document.title = 'Sign in · chatd';
  ui.loginNotice.textContent = notice;
  ui.loginNotice.hidden = !notice;
  showLoginError('');
  (ui.loginName.value ? ui.loginPassword : ui.loginName).focus();
}

function showNotice(text) {
  leaveChat();
  showView('notice');
  document.title = 'chatd';
  ui.notice.textContent = text;
}

function showLoginError(text) {
  ui.loginError.textContent = text;
  ui.loginError.hidden = !text;
  for (const input of [ui.loginName, ui.loginPassword]) {
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

// The server knows who we are (GET /login answered 200 in password or jwt mode): the chat, under that name.
function signIn(identity) {
  auth.mode = identity.mode;
  auth.name = identity.name;
  ui.signedIn.textContent = `Signed in as ${identity.name}`;
  ui.account.hidden = false;
  // Only a password login can be ended here; a JWT ends at its exp, decided by the site that minted it.
  ui.logout.hidden = auth.mode !== 'password' || Boolean(auth.token);
  ui.nameField.hidden = true;
  ui.name.value = identity.name;
  showView('chat');
  const room = (readHash().room || loadChoice().room || DEFAULT_ROOM).trim();
  ui.room.value = ROOM_PATTERN.test(room) ? room : DEFAULT_ROOM;
  join(identity.name, ui.room.value);
}

// The server refused our credentials (a 401 from GET /login).
function loginRefused(reason) {
  if (auth.mode !== 'jwt') return showLogin(auth.name ? 'Your login is no longer valid: sign in again.' : '');
  // No token left (it expired earlier: Join was pressed again), or one that has just expired.
  const expired = !auth.token || /expired/.test(reason ?? '');
  auth.token = '';
  showNotice(expired ? SESSION_EXPIRED
    : `The token from the embedding site was refused (${reason || 'no reason given'}): reload the embedding page.`);
}

// The server closed our socket with 4001 or 4003.
function loginEnded(code) {
  if (auth.mode === 'jwt') {
    // Keep what was read on screen; only posting and the connection are over.
    auth.token = '';
    stopRetryTimers();
    conn.socket = null;
    ui.message.disabled = ui.send.disabled = true;
    return setStatus('error', SESSION_EXPIRED);
  }
  showLogin(code === LOGGED_OUT ? 'You were logged out (here or in another tab).'
    : 'Your login has expired: sign in again.');
}

// A read-only JWT (publish: false): the server closed us (1008) for posting. Reading goes on.
function becomeReadOnly() {
  auth.mayPublish = false;
  setComposerEnabled(false);
  ui.message.placeholder = 'This token may read but not post';
  showSendError('Not sent: the token from the embedding site allows reading only.');
}

function retryAfterSeconds(response) {
  const value = response.headers.get('Retry-After') ?? '';
  // Delay-seconds or an HTTP-date (RFC 9110 10.2.3).
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(1, Math.ceil((date - Date.now()) / 1000));
}

function describeWait(seconds) {
  if (seconds < 120) return `${seconds} s`;
  return `${Math.ceil(seconds / 60)} min`;
}

async function errorText(response) {
  const body = await response.json().catch(() => null);
  return body && typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
}

async function onLoginSubmit(event) {
  event.preventDefault();
  const name = ui.loginName.value.trim();
  const password = ui.loginPassword.value;
  if (!name || !password) {
    showLoginError('Please enter your name and password.');
    (name ? ui.loginPassword : ui.loginName).focus();
    return;
  }
  showLoginError('');
  ui.loginSubmit.disabled = true;
  try {
    await logIn(name, password);
  } finally {
    ui.loginSubmit.disabled = false;
  }
}

async function logIn(name, password) {
  let response;
  try {
    response = await fetch('/login', {
      method: 'POST', cache: 'no-store', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name, password }),
    });
  } catch {
    return showLoginError('Cannot reach the server: try again.');
  }
  if (response.ok) {
    // The answer set the HttpOnly session cookie. Its body holds the token too: it is not read, so no
    // script of this page ever has it. GET /login, by the cookie, proves the browser kept it.
    ui.loginPassword.value = '';
    const answer = await whoAmI();
    if (answer.status === 200 && answer.body.name) {
      signIn(answer.body);
      ui.message.focus(); // the form that had the focus is gone
      return;
    }
    return showLoginError('Signed in, but this browser did not keep the login cookie: allow cookies for this site.');
  }
  if (response.status === 401) {
    ui.loginPassword.select();
    return showLoginError('Wrong name or password.');
  }
  if (response.status === 429) {
    const seconds = retryAfterSeconds(response);
    return showLoginError(`Too many failed logins: try again in ${describeWait(seconds || 1)}.`);
  }
  if (response.status === 404) return start(); // the server is no longer in password mode
  showLoginError(`Not signed in: ${await errorText(response)}`);
}

async function onLogoutClick() {
  ui.logout.disabled = true;
  // Our own socket first, so the server's 4003 for it is not taken for a logout from elsewhere.
  stopRetryTimers();
  dropSocket();
  let response = null;
  try {
    response = await fetch('/logout', { method: 'POST', cache: 'no-store' });
  } catch {
    // Still signed in: back to the room.
  } finally {
    ui.logout.disabled = false;
  }
  // 204: ended now; 401: it had ended already (expired, or logged out in another tab). Either way there is
  // no login left.
  if (response && (response.status === 204 || response.status === 401)) return showLogin('You have logged out.');
  connect();
  setStatus('error', `Not logged out: ${response ? await errorText(response) : 'cannot reach the server'}. Try again.`);
}

// ---- start ----

function guestName() {
  return `guest-${Math.floor(1000 + Math.random() * 9000)}`;
}

// Asks the server which mode it is in and who we are, then shows the chat, the login form or a notice.
async function start() {
  clearTimeout(auth.startTimer);
  const { status, body } = await whoAmI();
  if (status === 200 && (body.mode === 'password' || body.mode === 'jwt') && body.name) {
    auth.startAttempt = 0;
    return signIn(body);
  }
  if (status === 401) {
    auth.startAttempt = 0;
    if (auth.token) {
      auth.mode = 'jwt'; // a token in the fragment: the embedding case
      return loginRefused(body.error);
    }
    // The 401 of GET /login says the server's mode: a form for a password, a notice for a missing token.
    return body.mode === 'jwt' ? showNotice(NEEDS_TOKEN) : showLogin();
  }
  if (status === 0 || status >= 500) {
    // Which page to show depends on the server: wait for it, with the reconnect back-off.
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** auth.startAttempt);
    auth.startAttempt = Math.min(auth.startAttempt + 1, 30);
    auth.startTimer = setTimeout(start, delay);
    return setStatus('busy', `Cannot reach the server (${status || 'no answer'}); trying again…`);
  }
  if (status === 403) return showNotice(`The server refused this page: ${body.error ?? 'forbidden'}.`);
  // {"mode":"open"}, or a server without access control (404): the chat as it always was.
  auth.startAttempt = 0;
  startOpen();
}

function startOpen() {
  auth.mode = 'open';
  auth.name = '';
  ui.nameField.hidden = false;
  ui.account.hidden = true;
  showView('chat');
  const saved = loadChoice();
  const fromHash = readHash();
  const name = (fromHash.name || saved.name || '').trim();
  const room = (fromHash.room || saved.room || DEFAULT_ROOM).trim();
  ui.name.value = name || guestName();
  ui.room.value = room;

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

function init() {
  // First, before anything can fail: a token in the address bar leaves it.
  auth.token = takeTokenFromHash();

  ui.joinForm.addEventListener('submit', onJoinSubmit);
  ui.loginForm.addEventListener('submit', onLoginSubmit);
  ui.logout.addEventListener('click', onLogoutClick);
  ui.sendForm.addEventListener('submit', (event) => { event.preventDefault(); sendDraft(); });
  ui.message.addEventListener('keydown', onMessageKeydown);
  ui.message.addEventListener('input', () => showSendError(''));
  ui.log.addEventListener('scroll', onLogScroll, { passive: true });
  ui.jump.addEventListener('click', onJumpClick);
  ui.older.addEventListener('click', loadOlder);
  ui.retry.addEventListener('click', retryNow);
  window.addEventListener('hashchange', onHashChange);
  // Waiting out the back-off is pointless once the network is back.
  window.addEventListener('online', () => conn.retryTimer && retryNow());
  if ('ResizeObserver' in window) new ResizeObserver(onLogResize).observe(ui.log);

  setStatus('busy', 'Connecting…');
  start();
}

init();
