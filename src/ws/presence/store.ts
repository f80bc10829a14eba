/**
 * The seam under presence: what one instance asks of the store that all instances share (Redis,
 * or one in-process store). The instance side (`instance.ts`) keeps its own members, refreshes
 * and repairs; a store only keeps, per path, each instance's members and liveness deadline.
 */
import { GUEST_USERNAME } from '../ctx.ts';
import type { Member, PresenceEntry } from './types.ts';

/** Default `ttlMs`: a dead instance's members are gone (and reported) within 10 s. */
export const DEFAULT_PRESENCE_TTL_MS = 10_000;

/** A reaped instance is remembered this long, so that it can tell, if it comes back, that it was taken for dead. */
export const REAPED_KEEP_MS = 60 * 60 * 1000;

/** The durations that follow from the TTL. */
export interface PresenceTiming {
  ttlMs: number;
  /** How often an instance proves, per path, that it is alive (a quarter of the TTL). */
  beatMs: number;
  /** How long after its last beat an instance counts as dead (three quarters of the TTL: two beats may be missed). */
  deadlineMs: number;
  /** How long a path's data outlives the last beat of any instance in it. */
  expireMs: number;
}

/** The timing of a TTL; throws on a TTL that is no whole number of at least 100 ms. */
export function timingOf(ttlMs: number): PresenceTiming {
  if (!Number.isInteger(ttlMs) || ttlMs < 100) throw new TypeError(`ttlMs must be a whole number of at least 100 (got ${ttlMs})`);
  const beatMs = Math.floor(ttlMs / 4);
  return { ttlMs, beatMs, deadlineMs: ttlMs - beatMs, expireMs: 10 * ttlMs };
}

/**
 * Who a member is, for counting users: signed-in users by username (however many connections),
 * each guest connection on its own (guests have nothing that tells two of them apart).
 */
export function userKeyOf(member: Member): string {
  return member.username === GUEST_USERNAME ? `c:${member.clientId}` : `u:${member.username}`;
}

/** How many users `members` are (see `userKeyOf`). */
export function countUsers(members: Iterable<Member>): number {
  const users = new Set<string>();
  for (const member of members) users.add(userKeyOf(member));
  return users.size;
}

/**
 * This instance's standing in a path, as a store finds it: `ok`; `absent`, its members are not
 * there (lost, expired, or never written); `reaped`, another instance took it for dead and
 * reported its members as ghosts.
 */
export type PathStatus = 'ok' | 'absent' | 'reaped';

/** What a beat or a rewrite found besides doing its job. */
export interface RefreshReply {
  status: PathStatus;
  /** Members of dead instances that this call removed: this instance reports them, nobody else. */
  ghosts: PresenceEntry[];
  /** In how many ms the next other instance's deadline in the path passes; undefined if there is none. */
  nextDeadlineInMs: number | undefined;
}

/** One instance's handle on the shared store. Every method rejects when the store is unreachable. */
export interface PresenceStore {
  /**
   * Records `entry`, first forgetting `replaces` wherever it is, and pushes this instance's
   * deadline back. `first`: this instance had no member of the path; `expected`: it believes the
   * store holds its members of the path, so finding them absent is news (`absent`); else `ok`.
   */
  add(path: string, entry: PresenceEntry, options: { replaces: string | undefined; first: boolean; expected: boolean }): Promise<PathStatus>;
  /** Forgets a member; `last`: this instance has no member of the path left. Does nothing unless `ok`. */
  remove(path: string, clientId: string, last: boolean): Promise<PathStatus>;
  /** Pushes this instance's deadline in `path` back and reaps the dead; does nothing else unless `ok`. */
  beat(path: string): Promise<RefreshReply>;
  /** Replaces this instance's members of `path` by `entries` (at least one), and reaps the dead. Status `absent` is not reported. */
  rewrite(path: string, entries: readonly PresenceEntry[]): Promise<RefreshReply>;
  /** Forgets this instance's members of `path`. */
  leave(path: string): Promise<void>;
  /** Members of `path` on live instances. */
  members(path: string): Promise<Member[]>;
  /** Users of `path` on live instances (see `userKeyOf`). */
  count(path: string): Promise<number>;
  /** Paths with members on some live instance. */
  paths(): Promise<string[]>;
  /** Once per refresh round: every path this instance has members in stays listed by `paths()`. */
  listPaths(paths: readonly string[]): Promise<void>;
  /** Whether the store is reachable now (commands would be sent). */
  connected(): boolean;
  /** Calls `listener` when the store becomes reachable (`true`) or unreachable (`false`). */
  onConnection(listener: (up: boolean) => void): void;
  /** Releases the handle (its connection, if it owns one). */
  close(): Promise<void>;
}
