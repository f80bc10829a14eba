/**
 * What travels on the pub/sub bus: a one-line JSON header (origin instance and sequence, except, to) followed
 * by the frame bytes exactly as clients receive them, so a receiving instance slices the frame
 * out and hands it to its sockets without parsing or re-serializing it.
 */

export interface EnvelopeHeader {
  /** Instance that published. */
  o: string;
  /** The origin's sequence number of this message (lets the origin drop a copy it delivered itself). */
  n?: number;
  /** Client id that must not receive it (broadcast except the sender). */
  x?: string;
  /** Client id that alone receives it (send to one). */
  t?: string;
  /** Correlation id of the work that caused it, so the delivering instance logs the same id. */
  c?: string;
  /** When the broker logged it (ms): set on logged broadcasts only, by the broker. */
  a?: number;
  /** A control message for the instances hosting the namespace instead of a frame: `remove` it (clients get 4410). */
  k?: 'remove';
}

const NEWLINE = 0x0a;

export function wrapEnvelope(header: EnvelopeHeader, frame: Buffer): Buffer {
  // JSON.stringify escapes newlines inside strings, so the first raw newline ends the header.
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), frame]);
}

/** Splits a payload; null for a malformed one (logged and dropped by the caller). */
export function unwrapEnvelope(payload: Buffer): { header: EnvelopeHeader; frame: Buffer } | null {
  const end = payload.indexOf(NEWLINE);
  if (end < 0) return null;
  try {
    const header = JSON.parse(payload.subarray(0, end).toString()) as EnvelopeHeader;
    if (typeof header !== 'object' || header === null || typeof header.o !== 'string') return null;
    return { header, frame: payload.subarray(end + 1) };
  } catch {
    return null;
  }
}

/**
 * `{"o":…}` becomes `{"a":now,"o":…}`: the time the log took the broadcast, first, where a reader
 * of the log finds it without parsing (the Redis broker's script writes the same bytes).
 */
export function stampHeader(header: string, now: number): string {
  return header === '{}' ? `{"a":${now}}` : `{"a":${now},${header.slice(1)}`;
}

/** The `a` (logged at) of an envelope stamped by `stampHeader`; undefined for any other. */
export function loggedAt(envelope: Buffer): number | undefined {
  const m = /^\{"a":(\d+)/.exec(envelope.subarray(0, 24).toString('latin1'));
  return m ? Number(m[1]) : undefined;
}
