// Bubble Map: sign in, pick or create a map, then add, move, edit and delete bubbles together.
// One socket per open map (`/api/1/ws/bubblemap/:mapId`) through the same client as Dynamic Rooms.
// User text only ever goes into the page as textContent, never as HTML.
import { connect } from './client.js';
import { $, api, el, setStatus, show, startSession, statusText } from './ui.js';

/** Board size in board units, as the server validates them (src/bubblemap/store.ts). */
const BOARD = { width: 1600, height: 1000 };
const COLORS = ['yellow', 'blue', 'green', 'pink'];
/** Movement (px) past which a press on a bubble is a drag rather than a click. */
const DRAG_THRESHOLD = 4;

/** The signed-in user, or null. */
let me = null;
/**
 * The open map: { id, info, client, bubbles: Map<id, bubble>, versions: Map<id, version>, nodes:
 * Map<id, element> }. `versions` holds the map version of the last change applied to each bubble
 * (deleted ones included), so a change older than what is shown is ignored. Replay hands changes
 * over in seq order, but two instances can number their changes in one order and broadcast them
 * in the other; versions make every order come out the same.
 */
let current = null;

// --- session --------------------------------------------------------------------------------

function signedIn(user) {
  me = user;
  if (!user) {
    closeMap();
    setStatus('idle', 'Not connected');
    $('login-name').focus();
    return;
  }
  $('me-roles').textContent = user.roles.length ? `(${user.roles.join(', ')})` : '';
  void loadMaps();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) openMap(fromHash);
}

/** Whether this user may change a bubble (the server decides; this only spares a refused try). */
const mayChange = (bubble) => bubble.createdBy === me?.username || !!me?.roles.includes('editor');

// --- maps -----------------------------------------------------------------------------------

async function loadMaps() {
  let maps = [];
  try {
    ({ maps } = await api('GET', '/api/1/bubblemap'));
    $('lobby-error').textContent = '';
  } catch (err) {
    $('lobby-error').textContent = `Could not list the maps: ${err.message}`;
  }
  $('maps').replaceChildren(
    ...maps.map((map) => {
      const label = map.requiredRoles.length ? `${map.title} · ${map.requiredRoles.join(', ')} only` : map.title;
      const button = el('button', '', label);
      button.type = 'button';
      button.dataset.map = map.id;
      button.setAttribute('aria-current', String(current?.id === map.id));
      button.addEventListener('click', () => openMap(map.id));
      return button;
    }),
  );
  if (maps.length === 0) $('maps').append(el('span', 'hint', 'No maps yet: create the first one.'));
}

$('map-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('lobby-error').textContent = '';
  const role = $('map-role').value.trim();
  try {
    const { map } = await api('POST', '/api/1/bubblemap', { title: $('map-title').value.trim(), requiredRoles: role ? [role] : [] });
    $('map-title').value = '';
    $('map-role').value = '';
    openMap(map.id);
    void loadMaps();
  } catch (err) {
    $('lobby-error').textContent = err.message;
  }
});

$('delete-map').addEventListener('click', async () => {
  const map = current;
  if (!map || !confirm(`Delete the map "${map.info?.title ?? map.id}" for everyone?`)) return;
  try {
    await api('DELETE', `/api/1/bubblemap/${encodeURIComponent(map.id)}`);
    // Our own socket is closed with 4410 like everyone else's; the status handler says so.
  } catch (err) {
    $('notice').textContent = `Not deleted: ${err.message}`;
  }
});

function closeMap() {
  if (!current) return;
  current.client.close();
  current = null;
  closeEditor();
  show('map', false);
}

/** Closes the open map's socket and opens one to `id`; the server judges whether it may be opened. */
function openMap(id) {
  if (current?.id === id && current.client.status !== 'rejected') return;
  closeMap();
  // The map replays: after a short drop the client gets the missed changes over the socket, and
  // calls `resync` (the REST state) only when that cannot be done, and once at the start.
  const map = { id, info: null, client: null, bubbles: new Map(), versions: new Map(), nodes: new Map() };
  const client = connect(`/api/1/ws/bubblemap/${encodeURIComponent(id)}`, { resync: () => resync(map) });
  map.client = client;
  current = map;
  history.replaceState(null, '', `#${encodeURIComponent(id)}`);
  $('map-title-view').textContent = id;
  $('map-info').textContent = '';
  $('delete-map').hidden = true;
  $('board').replaceChildren();
  $('board').classList.remove('gone');
  $('notice').textContent = '';
  show('map', true);
  for (const button of $('maps').querySelectorAll('button')) button.setAttribute('aria-current', String(button.dataset.map === id));

  const mine = (fn) => (...args) => {
    if (current === map) fn(...args);
  };
  client.onStatusChange(mine((status, _old, detail) => {
    setStatus(status, status === 'rejected' && detail.code === 4410 ? 'Map deleted' : statusText(status), detail.reason);
    if (status === 'rejected' && detail.code === 4401) {
      // Signed in as far as the page knew, a guest to the server: the session is gone.
      void session.recheck('The server no longer knows your session (it restarted with another secret, or the session expired): sign in again.');
    }
    if (status === 'rejected') {
      $('notice').textContent = detail.code === 4410 ? 'This map was deleted: pick another one, or create one.' : `Cannot open this map: ${detail.reason}`;
      closeEditor();
      // Nothing on the board can be changed any more: a deleted map's bubbles are gone.
      $('board').classList.add('gone');
      if (detail.code === 4410) $('board').replaceChildren();
      void loadMaps();
    }
  }));
  setStatus(client.status, statusText(client.status));
  client.on('bubble-created', mine(({ bubble, version }) => apply(map, bubble.id, version, bubble)));
  client.on('bubble-updated', mine(({ bubble, version }) => apply(map, bubble.id, version, bubble)));
  client.on('bubble-deleted', mine(({ id: bubbleId, version }) => apply(map, bubbleId, version, null)));
}

// #region resync
/** Applies one change (a bubble, or null when deleted) unless a newer one is shown already. */
function apply(map, id, version, bubble) {
  if ((map.versions.get(id) ?? -1) >= version) return;
  map.versions.set(id, version);
  if (bubble) map.bubbles.set(id, bubble);
  else map.bubbles.delete(id);
  renderBubble(map, id);
}

/**
 * Merges the REST state: it is the truth for every bubble not changed since its version. Resolves
 * with the map's seq, from which the client continues; a failure makes the client reconnect and
 * try again.
 */
async function resync(map) {
  try {
    const state = await api('GET', `/api/1/bubblemap/${encodeURIComponent(map.id)}`);
    if (current === map) {
      map.info = state.map;
      renderHeader(map);
      const inState = new Set();
      for (const bubble of state.bubbles) {
        inState.add(bubble.id);
        apply(map, bubble.id, state.version, bubble);
      }
      for (const id of [...map.bubbles.keys()]) {
        if (!inState.has(id)) apply(map, id, state.version, null);
      }
    }
    return { seq: state.seq, epoch: state.epoch };
  } catch (err) {
    if (current === map) $('notice').textContent = `Could not load the map: ${err.message}`;
    throw err;
  }
}
// #endregion

// --- rendering ------------------------------------------------------------------------------

function renderHeader(map) {
  const { info } = map;
  $('map-title-view').textContent = info.title;
  const only = info.requiredRoles.length ? ` · ${info.requiredRoles.join(', ')} only` : '';
  $('map-info').textContent = `by ${info.createdBy}${only}`;
  $('delete-map').hidden = !(info.createdBy === me?.username || me?.roles.includes('admin'));
}

const place = (node, x, y) => {
  node.style.left = `${(x / BOARD.width) * 100}%`;
  node.style.top = `${(y / BOARD.height) * 100}%`;
};

function renderBubble(map, id) {
  const bubble = map.bubbles.get(id);
  let node = map.nodes.get(id);
  if (!bubble) {
    node?.remove();
    map.nodes.delete(id);
    if (editing?.id === id) closeEditor();
    return;
  }
  if (!node) {
    node = el('div', 'bubble');
    node.dataset.id = id;
    node.addEventListener('pointerdown', (event) => pressBubble(map, id, event));
    map.nodes.set(id, node);
    $('board').append(node);
  }
  node.dataset.color = bubble.color;
  node.classList.toggle('readonly', !mayChange(bubble));
  node.title = `by ${bubble.createdBy}`;
  node.replaceChildren(document.createTextNode(bubble.text), el('span', 'by', bubble.createdBy));
  if (!node.classList.contains('dragging')) place(node, bubble.x, bubble.y);
}

// --- editing --------------------------------------------------------------------------------

/** Board coordinates of a pointer event, clamped to the board. */
function boardPoint(event) {
  const rect = $('board').getBoundingClientRect();
  const clamp = (v, max) => Math.min(max, Math.max(0, Math.round(v * 10) / 10));
  return {
    x: clamp(((event.clientX - rect.left) / rect.width) * BOARD.width, BOARD.width),
    y: clamp(((event.clientY - rect.top) / rect.height) * BOARD.height, BOARD.height),
  };
}

/** The open editor: { id (absent for a new bubble), form }. */
let editing = null;

function closeEditor() {
  editing?.form.remove();
  for (const node of document.querySelectorAll('.bubble.selected')) node.classList.remove('selected');
  editing = null;
}

/** Opens the editor at a point: for a new bubble (no `bubble`), or to edit one. */
function openEditor(map, x, y, bubble) {
  closeEditor();
  const form = $('bubble-editor').content.firstElementChild.cloneNode(true);
  const text = form.elements.text;
  let color = bubble?.color ?? 'yellow';
  const swatches = COLORS.map((c) => {
    const swatch = el('button', 'swatch');
    swatch.type = 'button';
    swatch.dataset.color = c;
    swatch.title = c;
    swatch.setAttribute('aria-label', c);
    swatch.setAttribute('aria-pressed', String(c === color));
    swatch.addEventListener('click', () => {
      color = c;
      for (const s of swatches) s.setAttribute('aria-pressed', String(s === swatch));
    });
    return swatch;
  });
  form.querySelector('.colors').append(...swatches);
  const del = form.querySelector('[data-action="delete"]');
  del.hidden = !bubble;
  text.value = bubble?.text ?? '';
  place(form, x, y);
  form.addEventListener('pointerdown', (event) => event.stopPropagation());
  form.addEventListener('click', (event) => event.stopPropagation());
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeEditor();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    if (!bubble) send(map, 'bubble-create', { x, y, text: value, color });
    else {
      const updates = {};
      if (value !== bubble.text) updates.text = value;
      if (color !== bubble.color) updates.color = color;
      if (Object.keys(updates).length) send(map, 'bubble-update', { id: bubble.id, updates });
    }
    closeEditor();
  });
  del.addEventListener('click', () => {
    send(map, 'bubble-delete', { id: bubble.id });
    closeEditor();
  });
  editing = { id: bubble?.id, form };
  if (bubble) map.nodes.get(bubble.id)?.classList.add('selected');
  $('board').append(form);
  text.focus();
}

/**
 * Sends a change; the page shows it when its broadcast comes back, like everyone else's. Resolves
 * false (and says why) when the server refused it.
 */
async function send(map, type, data) {
  $('notice').textContent = '';
  try {
    await map.client.request(type, data);
    return true;
  } catch (err) {
    if (current === map) $('notice').textContent = `Not saved: ${err.message}`;
    return false;
  }
}

$('board').addEventListener('click', (event) => {
  const map = current;
  if (!map || event.target !== $('board')) return;
  if (editing) {
    closeEditor();
    return;
  }
  if (map.client.status !== 'connected') return;
  const { x, y } = boardPoint(event);
  openEditor(map, x, y);
});

/** A press on a bubble: a drag moves it, a click opens its editor. */
function pressBubble(map, id, event) {
  event.stopPropagation();
  const bubble = map.bubbles.get(id);
  const node = map.nodes.get(id);
  if (!bubble || !node) return;
  if (!mayChange(bubble)) {
    $('notice').textContent = `Only ${bubble.createdBy} or an editor may change this bubble.`;
    return;
  }
  const start = { x: event.clientX, y: event.clientY };
  let dragging = false;
  node.setPointerCapture(event.pointerId);
  const move = (e) => {
    if (!dragging && Math.hypot(e.clientX - start.x, e.clientY - start.y) < DRAG_THRESHOLD) return;
    dragging = true;
    node.classList.add('dragging');
    const p = boardPoint(e);
    place(node, p.x, p.y);
  };
  const up = (e) => {
    node.removeEventListener('pointermove', move);
    node.removeEventListener('pointerup', up);
    node.removeEventListener('pointercancel', up);
    node.classList.remove('dragging');
    const now = map.bubbles.get(id);
    if (!now) return;
    if (!dragging) {
      openEditor(map, now.x, now.y, now);
      return;
    }
    // Left where it was dropped; a move the server refuses (or a cancelled drag) snaps back.
    if (e.type !== 'pointerup') renderBubble(map, id);
    else void send(map, 'bubble-update', { id, updates: boardPoint(e) }).then((ok) => ok || renderBubble(map, id));
  };
  node.addEventListener('pointermove', move);
  node.addEventListener('pointerup', up);
  node.addEventListener('pointercancel', up);
}

// The client reacts to these itself; the badge only says why it waits.
for (const type of ['online', 'offline']) {
  window.addEventListener(type, () => {
    if (current) setStatus(current.client.status, statusText(current.client.status));
  });
}

// --- start ----------------------------------------------------------------------------------

const session = startSession(signedIn);
