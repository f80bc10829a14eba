// Dynamic Rooms: sign in by name, pick a room, chat. ONE multiplexed socket carries the lobby
// (every room's live member count) and the open room; switching rooms unsubscribes the old one and
// subscribes the new one on the same socket. Same client as the Node tests use (public/client.js
// is built from src/client by `npm run build:client`). User text only ever goes into the page as
// textContent, never as HTML.
import { connectMany } from './client.js';
import { $, el, api, setStatus, show, startSession, statusText } from './ui.js';

const DEFAULT_ROOMS = ['Amsterdam', 'Berlin', 'Cairo'];

/** The signed-in user, or null. */
let me = null;
/** The multiplexed socket, opened at sign-in (it carries the session), closed at sign-out. */
let mux = null;
/** Member counts by room name, from the lobby subscription. */
let counts = new Map();
/**
 * The open room: { name, client (its subscription on `mux`), messages: Map<id, message>,
 * members: Map<clientId, member>, connected: whether it ever was (a room refused at once was never opened) }.
 */
let current = null;

// --- session --------------------------------------------------------------------------------

function signedIn(user) {
  me = user;
  if (!user) {
    closeRoom();
    mux?.close();
    mux = null;
    show('pick', false);
    setStatus('idle', 'Not connected');
    $('login-name').focus();
    return;
  }
  openSocket();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) openRoom(fromHash);
  else show('pick', true);
}

// --- rooms ----------------------------------------------------------------------------------

/**
 * Opens the page's one socket and subscribes it to the lobby: a snapshot of the rooms with their
 * counts at every (re)subscribe, then a `count` at every join and leave of any room, live.
 */
function openSocket() {
  if (mux) return;
  mux = connectMany('/api/1/ws');
  mux.onStatusChange((status, _old, detail) => {
    if (!current) showStatus(status, detail);
  });
  const lobby = mux.subscribe('/api/1/ws/hello-rooms');
  lobby.on('rooms', ({ rooms }) => {
    counts = new Map(rooms.map((room) => [room.name, room.members]));
    renderRooms();
  });
  lobby.on('count', ({ room, count }) => {
    counts.set(room, count);
    renderRooms();
  });
  renderRooms();
}

/** The room picker: the default rooms and every room with members, each with its live count. */
function renderRooms() {
  const names = [...new Set([...DEFAULT_ROOMS, ...[...counts].filter(([, n]) => n > 0).map(([name]) => name)])];
  $('rooms').replaceChildren(
    ...names.map((name) => {
      const members = counts.get(name) ?? 0;
      const button = el('button', '', members ? `${name} · ${members}` : name);
      button.type = 'button';
      button.dataset.room = name;
      button.dataset.count = String(members);
      button.setAttribute('aria-current', String(current?.name === name));
      button.addEventListener('click', () => openRoom(name));
      return button;
    }),
  );
}

$('room-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('room-name').value.trim();
  if (!name) return;
  $('room-name').value = '';
  openRoom(name);
});

/** Leaves the open room: its subscription ends (the socket stays, with the lobby on it). */
function closeRoom() {
  if (!current) return;
  current.client.unsubscribe();
  current = null;
  show('room', false);
}

/** Leaves the open room and subscribes the same socket to `name`; the server judges whether the name is valid. */
function openRoom(name) {
  if (current?.name === name && current.client.status !== 'rejected') return;
  closeRoom();
  openSocket();
  // The rooms replay: after a short drop the subscription gets what it missed over the socket, and
  // calls `resync` (the REST state of the room) only when that cannot be done, and once at the start.
  const room = { name, client: null, messages: new Map(), members: new Map(), connected: false, reading: 0, seen: [] };
  let client;
  try {
    client = mux.subscribe(`/api/1/ws/hello-rooms/${encodeURIComponent(name)}`, { resync: () => resync(room) });
  } catch {
    // "." or ".." is no path segment: the client refuses such a path itself, as the server would.
    refused(room, { code: 4400, reason: 'not a room name' });
    return;
  }
  room.client = client;
  current = room;
  history.replaceState(null, '', `#${encodeURIComponent(name)}`);
  $('room-title').textContent = name;
  $('room-error').textContent = '';
  $('log').replaceChildren();
  $('notice').textContent = '';
  renderMembers(room);
  renderEmpty(room);
  show('pick', false);
  show('room', true);
  $('message').focus();
  for (const button of $('rooms').querySelectorAll('button')) {
    button.setAttribute('aria-current', String(button.dataset.room === name));
  }

  const mine = (fn) => (...args) => {
    if (current === room) fn(...args);
  };
  client.onStatusChange(mine((status, _old, detail) => {
    showStatus(status, detail);
    if (status === 'connected') connected(room);
    if (status === 'rejected') refused(room, detail);
  }));
  client.on('chat', mine((message) => addMessage(room, message)));
  for (const type of ['joined', 'left']) {
    client.on(type, mine((member, frame) => {
      applyPresence(room, { type, member });
      renderMembers(room);
      // A replayed one happened while this page was away, at a time it does not know.
      if (!frame.replayed) addEvent(member.username, type);
    }));
  }
  // Joins and leaves are volatile (never replayed): after a reconnect the members are read again.
  client.onReconnect(mine(() => void refreshMembers(room)));
  showStatus(client.status, {});
}

/** A welcome: the server says who this connection is; a guest where the page thought it signed in means the session is gone. */
function connected(room) {
  room.connected = true;
  renderMembers(room);
  if (me && room.client.welcome?.ctx.username !== me.username) {
    void session.recheck('The server no longer knows your session (it restarted with another secret, or the session expired): sign in again.');
  }
}

/** A permanent refusal: a room that never opened goes away, its reason beside the field that named it. */
function refused(room, detail) {
  if (room.connected) {
    $('notice').textContent = `This room closed: ${detail.reason || `close code ${detail.code}`}`;
    return;
  }
  // The subscription has ended by itself; unsubscribing would report `disconnected` over `rejected`.
  current = null;
  renderRooms();
  show('room', false);
  history.replaceState(null, '', location.pathname);
  show('pick', true);
  // A 4400's reason is "invalid params: roomName: <what a room name is>"; the last part is the news.
  const why = detail.code === 4400 ? detail.reason.replace(/^invalid params: \w+: /, '') : detail.reason || `close code ${detail.code}`;
  $('room-error').textContent = `Cannot open "${room.name}": ${why}`;
  $('room-name').value = room.name;
  $('room-name').focus();
}

/**
 * Loads the room's REST state into the page: messages merged by id (no duplicates), members
 * replaced. Resolves with the room's seq, from which the client continues (broadcasts the state
 * already has are dropped, later ones follow); a failure makes the client reconnect and retry.
 */
async function resync(room) {
  try {
    const state = await readState(room);
    if (current === room) {
      for (const message of state.messages) addMessage(room, message);
      renderMembers(room);
      renderEmpty(room);
    }
    return { seq: state.seq, epoch: state.epoch };
  } catch (err) {
    if (current === room) $('notice').textContent = `Could not load the room: ${err.message}`;
    throw err;
  }
}

/** Replaces the members from the REST state (what volatile joins and leaves missed meanwhile). */
async function refreshMembers(room) {
  try {
    await readState(room);
    if (current === room) renderMembers(room);
  } catch {
    // The next reconnect or join corrects it.
  }
}

/**
 * Reads the room's REST state and takes its members. A join or leave that arrives while the read
 * is on its way may be missing from it (read before) or in it already: the members become the
 * state's with those events applied again over it, in order, so neither kind is lost.
 */
async function readState(room) {
  if (room.reading++ === 0) room.seen = [];
  try {
    const state = await api('GET', `/api/1/rooms/${encodeURIComponent(room.name)}`);
    room.members = new Map((state.members ?? []).map((m) => [m.clientId, m]));
    for (const event of room.seen) applyMember(room, event);
    return state;
  } finally {
    if (--room.reading === 0) room.seen = [];
  }
}

function applyPresence(room, event) {
  if (room.reading > 0) room.seen.push(event);
  applyMember(room, event);
}

function applyMember(room, { type, member }) {
  if (type === 'joined') room.members.set(member.clientId, member);
  else room.members.delete(member.clientId);
}

// --- rendering ------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Initials as the server makes them from a username alone (src/ws/ctx.ts): its first two letters or digits. */
const initialsOf = (username) => username.replace(/[^\p{L}\p{N}]/gu, '').slice(0, 2).toUpperCase();

/** A round badge with the user's initials, tinted by name so that the same person looks the same everywhere. */
function avatar(username, initials = initialsOf(username)) {
  const node = el('span', 'avatar', username === '(guest)' ? '?' : initials || '?');
  let hue = 0;
  for (const ch of username) hue = (hue * 31 + ch.codePointAt(0)) % 360;
  node.style.setProperty('--hue', String(hue));
  node.setAttribute('aria-hidden', 'true');
  return node;
}

/** Adds a message once, in time order. */
function addMessage(room, message) {
  if (room.messages.has(message.id)) return;
  room.messages.set(message.id, message);
  const item = el('li', message.username === me?.username ? 'mine' : '');
  item.dataset.id = message.id;
  const time = el('time', '', timeFormat.format(new Date(message.at)));
  time.dateTime = message.at;
  const mine = message.username === me?.username;
  item.append(avatar(message.username, mine ? me.initials : undefined), el('span', 'who', message.username), time, el('p', 'text', message.text));
  place(item, message.at);
  renderEmpty(room);
}

/** A line in the log for someone joining or leaving, at the time the page learns of it. */
function addEvent(username, type) {
  const at = new Date().toISOString();
  const time = el('time', '', timeFormat.format(new Date(at)));
  time.dateTime = at;
  const item = el('li', 'event', `${username} ${type === 'joined' ? 'joined' : 'left'} `);
  item.append(time);
  place(item, at);
}

/** Puts a log item in time order; messages nearly always arrive in order, a resync may bring older ones. */
function place(item, at) {
  const log = $('log');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  item.dataset.at = at;
  let after = log.lastElementChild;
  while (after && after.dataset.at > at) after = after.previousElementSibling;
  if (after) after.after(item);
  else log.prepend(item);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

/** The hint of a room with no messages yet. */
function renderEmpty(room) {
  const alone = room.members.size <= 1;
  $('empty-room').textContent = `No messages in ${room.name} yet: write the first one below.${alone ? ' Open this page in a second window to see it arrive live.' : ''}`;
  show('empty-room', room.messages.size === 0);
}

function renderMembers(room) {
  const self = room.client.welcome?.clientId;
  const items = [...room.members.values()].map((m) => {
    const isSelf = m.clientId === self;
    const item = el('li', isSelf ? 'self' : '');
    const name = el('span', 'name', m.username);
    name.title = m.username;
    item.append(avatar(m.username, isSelf ? room.client.welcome.ctx.initials : undefined), name);
    if (isSelf) item.append(el('span', 'you', '(you)'));
    return item;
  });
  $('members').replaceChildren(...items);
  $('member-count').textContent = String(room.members.size);
}

function showStatus(status, detail) {
  setStatus(status, statusText(status, detail), detail?.reason);
  $('send').disabled = status !== 'connected';
}

// --- sending --------------------------------------------------------------------------------

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('message');
  const text = input.value.trim();
  const room = current;
  if (!text || !room) return;
  $('notice').textContent = '';
  try {
    await room.client.request('chat', { text });
    // The message itself comes back as a `chat` broadcast, like everyone else's.
    if (input.value.trim() === text) input.value = '';
  } catch (err) {
    // The text stays in the field, so nothing typed is lost.
    if (current === room) $('notice').textContent = `Not sent: ${err.message}`;
  }
});

// The client reacts to these itself; the badge only says why it waits.
for (const type of ['online', 'offline']) {
  window.addEventListener(type, () => {
    if (current) showStatus(current.client.status, {});
    else if (mux) showStatus(mux.status, {});
  });
}

// --- start ----------------------------------------------------------------------------------

const session = startSession(signedIn);
