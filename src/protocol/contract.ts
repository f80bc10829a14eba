/**
 * The contract of a namespace as the client sees it: plain TypeScript types, computed on the
 * server side from the definition's zod schemas, so the client needs no zod types. It travels
 * in the namespace handler's declared response type (Hono's `TypedResponse<C, 101, 'ws'>`),
 * which is also how Hono's own route schema records it: `typeof handler` and `typeof app`
 * both carry it, as `hc<typeof app>` reads its REST routes.
 *
 * Types only: the browser client bundles nothing of it.
 */
import type { TypedResponse } from 'hono';
import type { ExtractSchema } from 'hono/types';
import type { JSONParsed } from 'hono/utils/types';

/** What one namespace accepts and sends. */
export interface NamespaceContract {
  /** Message type -> data the client sends (the schema's input: before defaults and transforms). */
  messages: Record<string, unknown>;
  /** Broadcast type -> data the client receives. */
  broadcasts: Record<string, unknown>;
  /** What `onMessage` returns: the `ack`'s data, as JSON (one union for all message types). */
  ack: unknown;
  /** The validated route params. */
  params: Record<string, string>;
}

/** The contract of a namespace that declared nothing: every type a string, every payload unknown. */
export interface UntypedContract extends NamespaceContract {
  messages: Record<string, unknown>;
  broadcasts: Record<string, any>;
  ack: any;
  params: Record<string, string>;
}

/** The declared response type of a namespace handler: carries the contract, and tells Hono's schema it is a ws route. */
export type NamespaceResponse<C extends NamespaceContract> = TypedResponse<C, 101, 'ws'>;

/**
 * The contract a value's type carries: a namespace handler (`typeof roomNs`), a function
 * returning one (`typeof roomNamespace`), or a contract itself.
 */
export type ContractOf<T> = T extends NamespaceContract
  ? T
  : T extends (c: any, next: any) => Promise<infer R>
    ? Exclude<R, void> extends TypedResponse<infer C, any, any>
      ? C extends NamespaceContract
        ? C
        : never
      : never
    : T extends (...args: any[]) => infer H
      ? ContractOf<H>
      : never;

/** The ack's data as the client gets it: through JSON (a Date is a string, undefined is null). */
export type AckData<C extends NamespaceContract> = C['ack'] extends undefined | void ? null : JSONParsed<C['ack']>;

/** Whether a record type has a string index (an untyped side of a contract) rather than known keys. */
type Open<R> = string extends keyof R ? true : false;

/** The message types a client may send (any string when the namespace declared none). */
export type MessageType<C extends NamespaceContract> = keyof C['messages'] & string;

/** The `data` of message `K`: its schema's input type. */
export type MessageData<C extends NamespaceContract, K extends string> = K extends keyof C['messages'] ? C['messages'][K] : never;

/** The rest parameters of `send(type, ...)` for message `K`: `data` may be left out only where the schema accepts undefined. */
export type MessageArgs<C extends NamespaceContract, K extends string> = undefined extends MessageData<C, K> ? [data?: MessageData<C, K>] : [data: MessageData<C, K>];

/** The broadcast types a client can listen to (any string when the namespace declared none). */
export type BroadcastType<C extends NamespaceContract> = (keyof C['broadcasts'] & string) | ReservedFrameType;

/** The `data` of a frame of type `K` as the client gets it: a declared broadcast's, or a protocol frame's. */
export type BroadcastData<C extends NamespaceContract, K extends string> = K extends keyof C['broadcasts']
  ? C['broadcasts'][K]
  : K extends 'error'
    ? { code: string; error: string }
    : unknown;

/** Types the framework sends on its own (a handler of them sees protocol data, not a broadcast). */
type ReservedFrameType = 'welcome' | 'error' | 'ack' | 'synced' | 'gap' | 'head';

/** Whether the namespace declared its messages (then `send` and `request` accept those only). */
export type DeclaresMessages<C extends NamespaceContract> = Open<C['messages']> extends true ? false : true;

/** Whether the namespace declared its broadcasts (then `on` knows each type's data). */
export type DeclaresBroadcasts<C extends NamespaceContract> = Open<C['broadcasts']> extends true ? false : true;

/**
 * The contract of the namespace route at `pattern` in an app's type (`typeof app` of a chained
 * Hono app, or the type of a route module): Hono's route schema records it as that route's output.
 * @example
 * type Room = ContractAt<ReturnType<typeof roomsRoutes>, '/api/1/ws/hello-rooms/:roomName'>;
 */
export type ContractAt<App, Pattern extends string> = ExtractSchema<App> extends Record<Pattern, { $get: infer R }>
  ? Extract<R, { outputFormat: 'ws' }> extends { output: infer C }
    ? C extends NamespaceContract
      ? C
      : never
    : never
  : never;
