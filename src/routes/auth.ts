/**
 * Demo sign-in by name: `POST /api/1/auth/login`, `POST /api/1/auth/logout`, `GET /api/1/auth/me`.
 * Roles come from configuration (USER_ROLES), never from the request.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { initialsOf, rolesOf, validate, type AppEnv, type Sessions, type SessionUser } from 'hono-namespaces';

/** Usernames cannot collide with the guest `(guest)` or the system `_system` names. */
export const Username = z
  .string({ error: 'a username is required' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/, '1-32 letters, digits, _ . or -, starting with a letter or digit');

const Login = z.object({
  username: Username,
  firstName: z.string().trim().max(40).default(''),
  lastName: z.string().trim().max(40).default(''),
});

function userView(user: SessionUser | null) {
  if (!user) return null;
  return { ...user, initials: initialsOf(user.username, user.firstName, user.lastName) };
}

export function authRoutes(sessions: Sessions, userRoles: Readonly<Record<string, readonly string[]>>) {
  return new Hono<AppEnv>()
    .post('/api/1/auth/login', validate('json', Login), async (c) => {
      const body = c.req.valid('json');
      const token = sessions.issue(c, body);
      return c.json({ user: userView({ ...body, roles: rolesOf(userRoles, body.username) }), token });
    })
    .post('/api/1/auth/logout', (c) => {
      sessions.clear(c);
      return c.json({ ok: true });
    })
    .get('/api/1/auth/me', (c) => c.json({ user: userView(c.get('session')) }));
}
