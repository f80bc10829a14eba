import type { z } from 'zod';
import type { Conn } from './ctx.ts';
import type { Namespace } from './namespace.ts';
import { RESERVED_TYPES } from '../protocol/frames.ts';
import type { LogPolicy } from './broker/types.ts';
import type { JSONParsed } from 'hono/utils/types';

/** Message schemas of a namespace, by message type. */
export type MessageSchemas = Record<string, z.ZodType>;

/** Broadcast schemas of a namespace, by broadcast type: types for the client only, not checked when broadcasting. */
export type BroadcastSchemas = Record<string, z.ZodType>;

/** The schema of a namespace's route params. */
export type ParamsSchema = z.ZodType<Record<string, string>>;

/** A validated message of one of the declared types. */
export type IncomingMessage<M extends MessageSchemas> = {
  [K in keyof M & string]: { type: K; data: z.output<M[K]>; id?: string };
}[keyof M & string];

/** What a namespace pattern declares: its params, its messages and its handlers. */
export interface NamespaceDefinition<
  M extends MessageSchemas = MessageSchemas,
  B extends BroadcastSchemas = BroadcastSchemas,
  A = unknown,
  P extends ParamsSchema = ParamsSchema,
> {
  /** Validates the route params; an invalid path is refused with 4400 and creates nothing. */
  params?: P;
  /**
   * Accepted message types with the schema of their `data`. A type not listed is answered with
   * `unknown_type`, data that fails its schema with `invalid_data`. Without `messages`, every type
   * reaches `onMessage` unvalidated.
   */
  messages?: M;
  /**
   * The broadcasts the namespace sends, with the schema of their `data`: typing only, so that the
   * typed client (`connect<typeof handler>()`, `subscribe<typeof handler>()`) knows what `on(type)`
   * receives. Nothing checks a broadcast against it at run time.
   */
  broadcasts?: B;
  /**
   * After `welcome` was sent to the new client; again for a member other instances took for gone
   * (this instance was cut off from presence past its deadline), once it is back.
   */
  onConnect?: (conn: Conn, ns: Namespace) => unknown;
  /**
   * For each valid message. If the message has an `id`, the return value is sent back as
   * `{ type: 'ack', data, id }`. Throw `MessageError` to answer an `error` on purpose.
   */
  onMessage?: (msg: Conn & { message: IncomingMessage<M> }, ns: Namespace) => A;
  /**
   * After the client left (its socket is closed), with the close code and reason. Also run, on one
   * instance hosting the namespace, for each member of an instance that died without closing its
   * sockets (code 1006, reason `instance lost`), so that goodbyes are said once for them too.
   */
  onDisconnect?: (conn: Conn & { code: number; reason: string }, ns: Namespace) => unknown;
  /** Remove the namespace when its last local client leaves (the next connect resurrects it). Default true. */
  dropWhenEmpty?: boolean;
  /**
   * Replay of missed broadcasts (see docs/guide/reconnect-and-replay.md): every broadcast gets a seq, the last
   * `size` (default 200, at most 10000) are kept for `maxAgeMs` (default 300000, at most a week)
   * and a reconnecting client gets what it missed. Off by default.
   */
  replay?: { size?: number; maxAgeMs?: number };
}

/**
 * The contract a definition gives the client (`NamespaceContract`): messages as their schemas'
 * input, broadcasts as their schemas' output through JSON, the ack as what `onMessage` resolves
 * with, the params as validated. A side the definition leaves out stays untyped.
 */
export type DefinitionContract<M extends MessageSchemas, B extends BroadcastSchemas, A, P extends ParamsSchema> = {
  messages: string extends keyof M ? Record<string, unknown> : { [K in keyof M & string]: z.input<M[K]> };
  broadcasts: string extends keyof B ? Record<string, any> : { [K in keyof B & string]: JSONParsed<z.output<B[K]>> };
  ack: unknown extends A ? any : Awaited<A>;
  params: z.output<P>;
};

const MAX_REPLAY_SIZE = 10_000;
const MAX_REPLAY_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/** The replay policy of a definition, defaults applied; undefined without replay. */
export function replayPolicy(def: NamespaceDefinition<MessageSchemas>): LogPolicy | undefined {
  if (def.replay === undefined) return undefined;
  const { size = 200, maxAgeMs = 300_000 } = def.replay;
  if (!Number.isInteger(size) || size < 1 || size > MAX_REPLAY_SIZE) {
    throw new RangeError(`replay.size must be a whole number from 1 to ${MAX_REPLAY_SIZE} (got ${size})`);
  }
  if (!Number.isInteger(maxAgeMs) || maxAgeMs < 1000 || maxAgeMs > MAX_REPLAY_AGE_MS) {
    throw new RangeError(`replay.maxAgeMs must be a whole number of ms from 1000 to ${MAX_REPLAY_AGE_MS} (got ${maxAgeMs})`);
  }
  return { size, maxAgeMs };
}

/** Programmer errors throw at declaration time, never at connect time. */
export function checkDefinition(def: NamespaceDefinition<MessageSchemas>): void {
  for (const type of Object.keys(def.messages ?? {})) {
    if (RESERVED_TYPES.has(type)) throw new Error(`message type "${type}" is reserved by the protocol`);
  }
  replayPolicy(def);
}
