/**
 * The bubble map example's data: maps, their bubbles, and a version per map that every change
 * increments (a client that reloads the map ignores broadcasts its snapshot already contains).
 * Two implementations: in memory (one instance) and in Redis (every instance sees one map).
 */
import { z } from 'zod';

/** Size of the board in board units; bubble coordinates lie within it. */
export const BOARD = { width: 1600, height: 1000 } as const;

/** Map ids: what `POST /api/1/bubblemap` generates, and what a path may name. */
export const MapId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{4,40}$/, 'map ids are 4-40 letters, digits, _ or -');

/** A bubble's own colour; the page draws each one differently. */
export const BubbleColor = z.enum(['yellow', 'blue', 'green', 'pink']);

export interface Bubble {
  id: string;
  x: number;
  y: number;
  text: string;
  color: z.infer<typeof BubbleColor>;
  /** Username of its creator (may edit it, like an editor). */
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** What a bubble update may change. */
export type BubblePatch = Partial<Pick<Bubble, 'x' | 'y' | 'text' | 'color'>>;

export interface MapInfo {
  id: string;
  title: string;
  /** A user needs at least one of these roles to open the map; empty: any signed-in user. */
  requiredRoles: string[];
  createdBy: string;
  createdAt: string;
}

/** The full state of a map, as `GET /api/1/bubblemap/:mapId` returns it. */
export interface MapState {
  map: MapInfo;
  bubbles: Bubble[];
  /** Number of changes so far; broadcasts carry the version they produced. */
  version: number;
}

/** Outcome of a bubble change: the bubble as it is now (or was, when deleted), or why not. */
export type BubbleChange =
  | { ok: true; bubble: Bubble; version: number }
  | { ok: false; reason: 'no_map' | 'not_found' | 'forbidden' | 'full' };

/**
 * Decides, given the bubble as stored, whether the acting user may change it. It may judge only
 * what no update changes (`id`, `createdBy`, `createdAt`): stores rely on that to keep the verdict
 * valid until their write, without locking the bubble.
 */
export type MayChange = (bubble: Bubble) => boolean;

export interface MapStore {
  /** `memory` or `redis`. */
  readonly kind: string;
  /** Whether the store's connection is up (`/ready` depends on it). */
  health(): 'ok' | 'degraded';
  /** Most bubbles a map holds; creating one more answers `full`. */
  readonly maxBubbles: number;
  /**
   * Creates a map; false when the id is taken. Rejects when the store is full (`StoreFullError`),
   * when its creator already holds `maxPerUser` maps (`QuotaError`) or when it is down.
   */
  createMap(info: MapInfo, maxPerUser?: number): Promise<boolean>;
  getMap(mapId: string): Promise<MapInfo | null>;
  /** Maps, newest first, at most `limit`. */
  listMaps(limit: number): Promise<MapInfo[]>;
  /** The map with every bubble and the version, read at one instant; null when there is no such map. */
  state(mapId: string): Promise<MapState | null>;
  /** Deletes a map and its bubbles; false when there was none. */
  deleteMap(mapId: string): Promise<boolean>;
  createBubble(mapId: string, bubble: Bubble): Promise<BubbleChange>;
  /**
   * Applies `patch` if `may` accepts the bubble. The patch is merged into the bubble as it is at
   * the write, so concurrent updates of different fields all survive; the last write of a field wins.
   */
  updateBubble(mapId: string, id: string, patch: BubblePatch, updatedAt: string, may: MayChange): Promise<BubbleChange>;
  /** Deletes the bubble if `may` accepts it. */
  deleteBubble(mapId: string, id: string, may: MayChange): Promise<BubbleChange>;
  close(): Promise<void>;
}

/** Thrown by a store that holds its maximum of maps. */
export class StoreFullError extends Error {
  override readonly name = 'StoreFullError';
}

/** Thrown when a map's creator already holds their maximum of maps. */
export class QuotaError extends Error {
  override readonly name = 'QuotaError';
}
