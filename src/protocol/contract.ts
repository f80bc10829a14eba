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
