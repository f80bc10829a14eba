// Dynamic Rooms: sign in by name, pick a room, chat. One socket per open room, through the same
// client the Node tests use (public/client.js is built from src/client by `npm run build:client`).
// User text only ever goes into the page as textContent, never as HTML.
import { connect } from './client.js';
import { $, api, el, setStatus, show, startSession, statusText } from './ui.js';

/** The signed-in user, or null. */
let me = null;
/** The open room: { name, client, messages: Map<id, message>, members: Map<clientId, member> }. */
let current = null;

// --- session --------------------------------------------------------------------------------

function signedIn(user) {
  me = user;
  if (!user) {
    closeRoom();
    show('pick', false);
    setStatus('idle', 'Not connected');
    $('login-name').focus();
    return;
  }
  void loadRooms();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) openRoom(fromHash);
  else show('pick', true);
}

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
  // The rooms replay: after a short drop the client gets what it missed over the socket, and
  // calls `resync` (the REST state of the room) only when that cannot be done, and once at the start.
  const room = { name, client: null, messages: new Map(), members: new Map() };
  const client = connect(`/api/1/ws/hello-rooms/${encodeURIComponent(name)}`, { resync: () => resync(room) });
  room.client = client;
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
  client.on('chat', mine((message) => addMessage(room, message)));
  for (const type of ['joined', 'left']) {
    client.on(type, mine((member) => {
      applyPresence(room, { type, member });
      renderMembers(room);
      void loadRooms();
    }));
  }
  // Joins and leaves are volatile (never replayed): after a reconnect the members are read again.
  client.onReconnect(mine(() => void refreshMembers(room)));
  showStatus(client.status, {});
}

/**
 * Loads the room's REST state into the page: messages merged by id (no duplicates), members
 * replaced. Resolves with the room's seq, from which the client continues (broadcasts the state
 * already has are dropped, later ones follow); a failure makes the client reconnect and retry.
 */
async function resync(room) {
  try {
    const state = await api('GET', `/api/1/rooms/${encodeURIComponent(room.name)}`);
    if (current === room) {
      for (const message of state.messages) addMessage(room, message);
      room.members = new Map(state.members.map((m) => [m.clientId, m]));
      renderMembers(room);
      void loadRooms();
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
    const state = await api('GET', `/api/1/rooms/${encodeURIComponent(room.name)}`);
    if (current !== room) return;
    room.members = new Map(state.members.map((m) => [m.clientId, m]));
    renderMembers(room);
  } catch {
    // The next reconnect or join corrects it.
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

function showStatus(status, detail) {
  setStatus(status, statusText(status, detail));
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

startSession(signedIn);
