import {
  QuotaError,
  StoreFullError,
  type Bubble,
  type BubbleChange,
  type BubblePatch,
  type MapInfo,
  type MapState,
  type MapStore,
  type MayChange,
} from './store.ts';

interface Entry {
  info: MapInfo;
  version: number;
  bubbles: Map<string, Bubble>;
}

/** Maps in this process's memory (one instance; lost on restart). Bounded in maps and bubbles per map. */
export class MemoryMapStore implements MapStore {
  readonly kind = 'memory';

  health(): 'ok' {
    return 'ok';
  }
  readonly #maps = new Map<string, Entry>();

  constructor(
    readonly maxBubbles = 500,
    readonly maxMaps = 1000,
  ) {
    if (!(maxBubbles >= 1) || !(maxMaps >= 1)) throw new RangeError('maxBubbles and maxMaps must be at least 1');
  }

  async createMap(info: MapInfo, maxPerUser = Infinity): Promise<boolean> {
    if (this.#maps.has(info.id)) return false;
    if (this.#maps.size >= this.maxMaps) throw new StoreFullError(`this server holds its maximum of ${this.maxMaps} maps`);
    let held = 0;
    for (const entry of this.#maps.values()) if (entry.info.createdBy === info.createdBy) held++;
    if (held >= maxPerUser) throw new QuotaError(`you hold your maximum of ${maxPerUser} maps; delete one first`);
    this.#maps.set(info.id, { info: structuredClone(info), version: 0, bubbles: new Map() });
    return true;
  }

  async getMap(mapId: string): Promise<MapInfo | null> {
    const entry = this.#maps.get(mapId);
    return entry ? structuredClone(entry.info) : null;
  }

  async listMaps(limit: number): Promise<MapInfo[]> {
    return [...this.#maps.values()].reverse().slice(0, limit).map((e) => structuredClone(e.info));
  }

  async state(mapId: string): Promise<MapState | null> {
    const entry = this.#maps.get(mapId);
    if (!entry) return null;
    return { map: structuredClone(entry.info), bubbles: [...entry.bubbles.values()].map((b) => ({ ...b })), version: entry.version };
  }

  async deleteMap(mapId: string): Promise<boolean> {
    return this.#maps.delete(mapId);
  }

  async createBubble(mapId: string, bubble: Bubble): Promise<BubbleChange> {
    const entry = this.#maps.get(mapId);
    if (!entry) return { ok: false, reason: 'no_map' };
    if (entry.bubbles.size >= this.maxBubbles) return { ok: false, reason: 'full' };
    entry.bubbles.set(bubble.id, { ...bubble });
    return { ok: true, bubble: { ...bubble }, version: ++entry.version };
  }

  async updateBubble(mapId: string, id: string, patch: BubblePatch, updatedAt: string, may: MayChange): Promise<BubbleChange> {
    return this.#change(mapId, id, may, (entry, bubble) => {
      const next = patched(bubble, patch, updatedAt);
      entry.bubbles.set(id, next);
      return next;
    });
  }

  async deleteBubble(mapId: string, id: string, may: MayChange): Promise<BubbleChange> {
    return this.#change(mapId, id, may, (entry, bubble) => {
      entry.bubbles.delete(id);
      return bubble;
    });
  }

  async close(): Promise<void> {}

  #change(mapId: string, id: string, may: MayChange, apply: (entry: Entry, bubble: Bubble) => Bubble): BubbleChange {
    const entry = this.#maps.get(mapId);
    if (!entry) return { ok: false, reason: 'no_map' };
    const bubble = entry.bubbles.get(id);
    if (!bubble) return { ok: false, reason: 'not_found' };
    if (!may({ ...bubble })) return { ok: false, reason: 'forbidden' };
    return { ok: true, bubble: { ...apply(entry, bubble) }, version: ++entry.version };
  }
}

/** Applies a patch; keys left undefined keep their value. */
function patched(bubble: Bubble, patch: BubblePatch, updatedAt: string): Bubble {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  return { ...bubble, ...defined, updatedAt };
}
