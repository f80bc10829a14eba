/**
 * Presence: who is in a namespace across all instances. Each instance records its own members;
 * reads combine every live instance. An instance that dies without cleanup stops counting once its
 * entries expire.
 */
import type { Member } from '../namespace.ts';

export type PresenceState = 'ok' | 'degraded';

/** Members of a namespace; `partial` when only this instance's could be read (broker down). */
export interface PresenceResult {
  members: Member[];
  partial: boolean;
}

export interface Presence {
  /** `memory` or `redis`. */
  readonly kind: string;
  /** Records a member of `path` on this instance. Resolves once recorded; never rejects. */
  add(path: string, member: Member): Promise<void>;
  /** Forgets a member of `path` on this instance. Never rejects. */
  remove(path: string, clientId: string): Promise<void>;
  /** Members of `path` on every live instance. Never rejects. */
  members(path: string): Promise<PresenceResult>;
  /** Paths with members on some live instance (may include a few that just emptied). Never rejects. */
  paths(): Promise<string[]>;
  /** Member counts of `paths` on every live instance (local counts when the broker is down). Never rejects. */
  counts(paths: readonly string[]): Promise<Map<string, number>>;
  state(): PresenceState;
  /** Forgets this instance's members everywhere and stops. */
  close(): Promise<void>;
}
