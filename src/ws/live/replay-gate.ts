/**
 * What keeps a client's frames in order around a replay: while its `welcome` head is read or its
 * `sync` is served, live frames are held back; once the replay went out they follow it, less the
 * sequenced ones the replay already carried. Copies of those may still be on their way (the bus
 * and the log are read over different connections), so they are dropped on arrival too, until a
 * newer one comes by.
 */
import type { ReplayHead } from '../../protocol/frames.ts';
import { headOf } from '../broker/sequence.ts';

/** Frames held back for one client during its replay or welcome, at most. */
export const MAX_HELD = 10_000;

/** What to do with one live frame for one client. */
export type GateVerdict = 'send' | 'held' | 'drop' | 'overflow';

interface Gate {
  /** Frames kept back while the replay is prepared; null once it went out. */
  held: Buffer[] | null;
  /** What the replay carried: sequenced frames at or below it are duplicates. */
  floor: ReplayHead | null;
}

/** The gates of one namespace's clients, by clientId. */
export class ReplayGates {
  readonly #gates = new Map<string, Gate>();

  /** Whether any client is gated (one size check is all an ungated namespace pays per frame). */
  get active(): boolean {
    return this.#gates.size > 0;
  }

  /** From now on, frames for `clientId` are held back until `open`. */
  close(clientId: string): void {
    this.#gates.set(clientId, { held: [], floor: null });
  }

  /**
   * The replay (or welcome) up to `floor` went out: returns the frames held back, in order, less
   * the sequenced ones at or below `floor`, and keeps dropping such copies until a newer one
   * comes by (`stillHere`: the client has not left meanwhile).
   */
  open(clientId: string, floor: ReplayHead | null, stillHere: boolean): Buffer[] {
    const held = this.#gates.get(clientId)?.held ?? [];
    this.#gates.delete(clientId);
    if (!floor) return held;
    const out: Buffer[] = [];
    let passed = false;
    for (const frame of held) {
      const verdict = belowFloor(frame, floor);
      if (verdict === 'below') continue;
      if (verdict === 'newer') passed = true;
      out.push(frame);
    }
    if (!passed && stillHere) this.#gates.set(clientId, { held: null, floor });
    return out;
  }

  /** Judges one live frame for `clientId`; a held one is kept here. */
  admit(clientId: string, payload: Buffer): GateVerdict {
    const gate = this.#gates.get(clientId);
    if (!gate) return 'send';
    if (gate.held) {
      // A log that does not answer must not make the hold grow without end: the client
      // reconnects (1013) and syncs again.
      if (gate.held.length >= MAX_HELD) return 'overflow';
      gate.held.push(payload);
      return 'held';
    }
    const verdict = gate.floor ? belowFloor(payload, gate.floor) : 'other';
    if (verdict === 'below') return 'drop';
    if (verdict === 'newer') this.#gates.delete(clientId);
    return 'send';
  }

  /** The client left. */
  forget(clientId: string): void {
    this.#gates.delete(clientId);
  }
}

/** Whether a frame is sequenced at or below `floor` (same epoch), above it, or not sequenced (or another epoch). */
function belowFloor(frame: Buffer, floor: ReplayHead): 'below' | 'newer' | 'other' {
  const head = headOf(frame);
  if (!head || head.epoch !== floor.epoch) return 'other';
  return head.seq <= floor.seq ? 'below' : 'newer';
}
