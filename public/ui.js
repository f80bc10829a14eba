// Helpers shared by the demo pages (Dynamic Rooms, Bubble Map): REST calls that explain their
// failures, element building (user text always as textContent), and the status badge.

export const $ = (id) => document.getElementById(id);

const STATUS_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
  rejected: 'Refused',
};

/** Fetches JSON; throws an Error with the server's own explanation on a non-2xx answer. */
export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = res.status === 204 ? {} : await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(explain(json) ?? `request failed (HTTP ${res.status})`);
  return json;
}

/**
 * What to tell the user about an error body `{ error, issues? }` (every REST error has that
 * shape): the fields' own messages when the input was refused, else the sentence.
 */
function explain(json) {
  if (Array.isArray(json.issues) && json.issues.length) return json.issues.map((i) => i.message).join('; ');
  return typeof json.error === 'string' ? json.error : undefined;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function show(section, visible) {
  $(section).hidden = !visible;
}

/** Sets the badge: a word or two (the page says more where it has room); `title`, the detail on hover. */
export function setStatus(status, text, title = '') {
  const badge = $('status');
  badge.dataset.status = status;
  badge.textContent = text;
  badge.title = title;
}

/** What the badge says for a client status (and why, when offline). */
export function statusText(status) {
  if (status === 'reconnecting' && !navigator.onLine) return 'Offline: waiting for the network…';
  return STATUS_TEXT[status] ?? status;
}

/**
 * Wires the sign-in form (`#login-form`, `#login-name`, `#login-error`) and the `#logout` button,
 * and asks the server who is signed in. On each change it shows `#login` or `#lobby` and `#me`
 * (with `#me-name`), then calls `onChange(user)` with the user, or null. Returns
 * `{ recheck(message) }`: when a socket's welcome says the server does not know this user, the
 * page asks the server again and, if it has indeed forgotten the session, shows the sign-in
 * with `message`.
 */
export function startSession(onChange) {
  const signedIn = (user) => {
    show('login', !user);
    show('lobby', !!user);
    show('me', !!user);
    if (user) $('me-name').textContent = user.username;
    onChange(user);
  };
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
  api('GET', '/api/1/auth/me')
    .then(({ user }) => signedIn(user))
    .catch((err) => {
      signedIn(null);
      $('login-error').textContent = `Could not reach the server: ${err.message}`;
    });
  let checking = false;
  return {
    async recheck(message) {
      if (checking) return;
      checking = true;
      try {
        const { user } = await api('GET', '/api/1/auth/me');
        if (user) return;
        // Back to the sign-in, keeping the address: signing in again reopens what was open.
        signedIn(null);
        $('login-error').textContent = message;
      } catch {
        // Unreachable: the socket's own status says so, and the next welcome asks again.
      } finally {
        checking = false;
      }
    },
  };
}
