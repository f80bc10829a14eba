/**
 * Identity of a connection: `ctx` is built once at upgrade and handed to every handler.
 */

/** Username of a connection without a session. */
export const GUEST_USERNAME = '(guest)';
/** Username of broadcasts made by the server itself (REST, jobs), with no connection. */
export const SYSTEM_USERNAME = '_system';

/** A signed-in user, as read from the session. */
export interface SessionUser {
  username: string;
  firstName: string;
  lastName: string;
  roles: readonly string[];
}

/** Flat identity of a connection. Every field is always present. */
export interface Ctx {
  username: string;
  ip: string;
  roles: readonly string[];
  firstName: string;
  lastName: string;
  initials: string;
  /** Params of the matched namespace pattern, e.g. `{ roomName: 'berlin' }`; `{}` on literal paths. */
  params: Readonly<Record<string, string>>;
}

/** What handlers receive: the connection's id and its identity. */
export interface Conn {
  clientId: string;
  ctx: Ctx;
}

/** The part of ctx a client is shown in `welcome` (its own IP is left out). */
export type PublicCtx = Omit<Ctx, 'ip'>;

/** Initials from first and last name, else from the username. */
export function initialsOf(username: string, firstName = '', lastName = ''): string {
  const fromNames = `${firstName.trim().charAt(0)}${lastName.trim().charAt(0)}`;
  if (fromNames) return fromNames.toUpperCase();
  const letters = username.replace(/[^\p{L}\p{N}]/gu, '');
  return letters.slice(0, 2).toUpperCase();
}

/** The roles of a connection that has none: one frozen array shared by all of them. */
const NO_ROLES: readonly string[] = Object.freeze([]);

/** Builds ctx from the session (or none: guest), the client IP and the route params. */
export function buildCtx(user: SessionUser | null, ip: string, params: Record<string, string> = {}): Ctx {
  if (!user) {
    return { username: GUEST_USERNAME, ip, roles: NO_ROLES, firstName: '', lastName: '', initials: '', params };
  }
  return {
    username: user.username,
    ip,
    roles: user.roles.length > 0 ? [...user.roles] : NO_ROLES,
    firstName: user.firstName,
    lastName: user.lastName,
    initials: initialsOf(user.username, user.firstName, user.lastName),
    params,
  };
}

/** ctx of the server acting on its own (a REST broadcast with no connection). */
export function systemCtx(params: Record<string, string> = {}): Ctx {
  return { username: SYSTEM_USERNAME, ip: '', roles: [], firstName: '', lastName: '', initials: '', params };
}

/** ctx without the IP, for the client's own eyes. */
export function publicCtx(ctx: Ctx): PublicCtx {
  const { ip: _ip, ...rest } = ctx;
  return rest;
}
