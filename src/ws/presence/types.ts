/**
 * Presence: who is in a namespace across all instances. Each instance records its own members
 * and proves every quarter of the TTL that it is alive; reads combine the live instances only. An
 * instance that dies without cleanup stops counting at once when its deadline passes, and one
 * surviving instance (exactly one) gets its members back as ghosts, to say goodbye for them.
 */
import type { Ctx } from '../ctx.ts';

/** A member as presence shows it: who, which connection, since when. */
export interface Member {
  clientId: string;
  username: string;
  connectedAt: number;
}

export type PresenceState = 'ok' | 'degraded';

/** Members of a namespace; `partial` when only this instance's could be read (broker down). */
export interface PresenceResult {
  members: Member[];
  partial: boolean;
}

/** A member with the ctx it connected with: what a ghost or a restored member is reported as. */
export interface PresenceEntry {
  member: Member;
  ctx: Ctx;
}

/** Options of `Presence.add`. */
export interface PresenceAddOptions {
  /**
   * The clientId of a connection this one takes over (a client back after losing its socket).
   * That member is forgotten in the same step, on whichever instance recorded it, and is never
   * reported as a ghost, so a reconnect wave neither counts a client twice nor says it left.
   * Pass it only once the client proved that the connection was its own.
   */
  replaces?: string;
}

/** Called with the members of `path` that a dead instance left behind (see `Presence.onGhosts`). */
export type GhostListener = (path: string, ghosts: PresenceEntry[]) => void;

/** Called with this instance's members of `path` that others had taken for ghosts (see `Presence.onRestored`). */
export type RestoredListener = (path: string, restored: PresenceEntry[]) => void;

export interface Presence {
  /** `memory` or `redis`. */
  readonly kind: string;
  /** Records a member of `path` on this instance, with its ctx. Resolves once recorded; never rejects. */
  add(path: string, member: Member, ctx: Ctx, options?: PresenceAddOptions): Promise<void>;
  /** Forgets a member of `path` on this instance. Never rejects. */
  remove(path: string, clientId: string): Promise<void>;
  /** Members of `path` on every live instance. Never rejects. */
  members(path: string): Promise<PresenceResult>;
  /** Paths with members on some live instance (may include a few that just emptied). Never rejects. */
  paths(): Promise<string[]>;
  /**
   * How many users each of `paths` has on the live instances: signed-in users count once however
   * many connections they have, each guest connection counts alone. Local counts when the broker
   * is down. Never rejects.
   */
  counts(paths: readonly string[]): Promise<Map<string, number>>;
  /**
   * Calls `listener` with the members of an instance that died without cleanup, once its deadline
   * passed: across all instances exactly one listener call reports each of them (the instance
   * that removed them), and only an instance with members in the path reports it.
   */
  onGhosts(listener: GhostListener): void;
  /**
   * Calls `listener` when this instance finds that others reaped its members of `path` (it was cut
   * off from the broker for longer than its deadline, so they were reported as ghosts), with
   * those still here; they are recorded again before the call.
   */
  onRestored(listener: RestoredListener): void;
  /** `degraded` while the broker is unreachable or this instance's last refresh failed. */
  state(): PresenceState;
  /** Calls `listener` on every change of `state()`. */
  onStateChange(listener: (state: PresenceState) => void): void;
  /** Forgets this instance's members everywhere and stops. */
  close(): Promise<void>;
}
