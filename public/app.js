// Dynamic Rooms: sign in by name, pick a room, chat. One socket per open room, through the same
// client the Node tests use (public/client.js is built from src/client by `npm run build:client`).
// User text only ever goes into the page as textContent, never as HTML.
import { connect } from './client.js';

const $ = (id) => document.getElementById(id);

const STATUS_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
  rejected: 'Rejected',
};

/** The signed-in user, or null. */
let me = null;
/** The open room: { name, client, messages: Map<id, message>, members: Map<clientId, member>, syncs }. */
let current = null;

/** Fetches JSON; throws an Error with the server's own explanation on a non-2xx answer. */
async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(explain(json) ?? `request failed (HTTP ${res.status})`);
  return json;
}

/** The message of an error body: `{ error: "..." }`, or a zod failure `{ error: { message: "[issues]" } }`. */
function explain(json) {
  if (typeof json.error === 'string') return json.error;
  try {
    return JSON.parse(json.error.message)[0].message;
  } catch {
    return undefined;
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function show(section, visible) {
  $(section).hidden = !visible;
}

// --- session --------------------------------------------------------------------------------

function signedIn(user) {
  me = user;
  show('login', !user);
  show('lobby', !!user);
  show('me', !!user);
  if (!user) {
    closeRoom();
    show('pick', false);
    setStatus('idle', 'Not connected');
    $('login-name').focus();
    return;
  }
  $('me-name').textContent = user.username;
  void loadRooms();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) openRoom(fromHash);
  else show('pick', true);
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('login-error').textContent = '';
  try {
    const { user } = await api('POST', '/api/1/auth/login', { username: $('login-name').value.trim() });
    signedIn(user);
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/api/1/auth/logout').catch(() => {});
  history.replaceState(null, '', location.pathname);
  signedIn(null);
});

// --- rooms ----------------------------------------------------------------------------------

/** Renders the room picker from the server's list (the default rooms, with member counts). */
async function loadRooms() {
  let rooms = [];
  try {
    ({ rooms } = await api('GET', '/api/1/rooms'));
  } catch {
    // The picker still works through the free-text field.
  }
  const nav = $('rooms');
  nav.replaceChildren(
    ...rooms.map((room) => {
      const button = el('button', '', room.members ? `${room.name} · ${room.members}` : room.name);
      button.type = 'button';
      button.dataset.room = room.name;
      button.setAttribute('aria-current', String(current?.name === room.name));
      button.addEventListener('click', () => openRoom(room.name));
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

function closeRoom() {
  if (!current) return;
  current.client.close();
  current = null;
  show('room', false);
}

/** Closes the open room's socket and opens one to `name`; the server judges whether the name is valid. */
function openRoom(name) {
  if (current?.name === name && current.client.status !== 'rejected') return;
  closeRoom();
  const client = connect(`/api/1/ws/hello-rooms/${encodeURIComponent(name)}`);
  const room = { name, client, messages: new Map(), members: new Map(), syncs: 0, resyncing: 0, presence: [] };
  current = room;
  history.replaceState(null, '', `#${encodeURIComponent(name)}`);
  $('room-title').textContent = name;
  $('log').replaceChildren();
  $('notice').textContent = '';
  renderMembers(room);
  show('pick', false);
  show('room', true);
  for (const button of $('rooms').querySelectorAll('button')) {
    button.setAttribute('aria-current', String(button.dataset.room === name));
  }

  const mine = (fn) => (...args) => {
    if (current === room) fn(...args);
  };
  client.onStatusChange(mine((status, _old, detail) => showStatus(status, detail)));
  // Load the room once the socket is in, then again after every reconnect: broadcasts sent while
  // the socket was down reach this page only through the REST resync.
  const offFirst = client.on('welcome', () => {
    offFirst();
    void resync(room);
  });
  client.onReconnect(() => void resync(room));
  client.on('chat', mine((message) => addMessage(room, message)));
  for (const type of ['joined', 'left']) {
    client.on(type, mine((member) => {
      const event = { type, member };
      if (room.resyncing) room.presence.push(event);
      applyPresence(room, event);
      renderMembers(room);
      void loadRooms();
    }));
  }
  showStatus(client.status, {});
}

/**
 * Merges the room's REST state into the page: messages by id (no duplicates), members replaced by
 * the snapshot and then by the joins and leaves seen while it was on its way (the snapshot may
 * predate them).
 */
async function resync(room) {
  const mark = ++room.syncs;
  const from = room.presence.length;
  room.resyncing++;
  try {
    const state = await api('GET', `/api/1/rooms/${encodeURIComponent(room.name)}`);
    if (current !== room || mark !== room.syncs) return;
    for (const message of state.messages) addMessage(room, message);
    room.members = new Map(state.members.map((m) => [m.clientId, m]));
    for (const event of room.presence.slice(from)) applyPresence(room, event);
    renderMembers(room);
    void loadRooms();
  } catch (err) {
    if (current === room) $('notice').textContent = `Could not load the room: ${err.message}`;
  } finally {
    if (--room.resyncing === 0) room.presence = [];
  }
}

function applyPresence(room, { type, member }) {
  if (type === 'joined') room.members.set(member.clientId, member);
  else room.members.delete(member.clientId);
}

// --- rendering ------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Adds a message once, in time order. */
function addMessage(room, message) {
  if (room.messages.has(message.id)) return;
  room.messages.set(message.id, message);
  const log = $('log');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;

  const item = el('li', message.username === me?.username ? 'mine' : '');
  item.dataset.id = message.id;
  item.dataset.at = message.at;
  const time = el('time', '', timeFormat.format(new Date(message.at)));
  time.dateTime = message.at;
  item.append(el('span', 'who', message.username), time, el('p', 'text', message.text));

  // Messages nearly always arrive in order; a resync may bring older ones, placed by their time.
  let after = log.lastElementChild;
  while (after && after.dataset.at > message.at) after = after.previousElementSibling;
  if (after) after.after(item);
  else log.prepend(item);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function renderMembers(room) {
  const self = room.client.welcome?.clientId;
  const items = [...room.members.values()].map((m) => el('li', m.clientId === self ? 'self' : '', m.username));
  $('members').replaceChildren(...items);
  $('member-count').textContent = String(room.members.size);
}

function setStatus(status, text) {
  const badge = $('status');
  badge.dataset.status = status;
  badge.textContent = text;
}

function showStatus(status, detail) {
  let text = STATUS_TEXT[status] ?? status;
  if (status === 'rejected') text = `Rejected: ${detail.reason || `close code ${detail.code}`}`;
  if (status === 'reconnecting' && !navigator.onLine) text = 'Offline: waiting for the network…';
  setStatus(status, text);
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
  });
}

// --- start ----------------------------------------------------------------------------------

api('GET', '/api/1/auth/me')
  .then(({ user }) => signedIn(user))
  .catch((err) => {
    signedIn(null);
    $('login-error').textContent = `Could not reach the server: ${err.message}`;
  });
