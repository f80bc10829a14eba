/**
 * What happens in the realtime server, as typed events: the seam that metrics (and anything else
 * that watches: audit, tracing) subscribe to instead of being called from the framework's code.
 * Listeners run synchronously on the hot path: keep them cheap, and they must not throw.
 *
 * Labels taken from these events must stay bounded: use `ns.pattern`, never `ns.path` or a user.
 */
import { EventEmitter } from 'node:events';
import type { Ctx } from './ctx.ts';
import type { Namespace } from './namespace.ts';
import type { BrokerState } from './broker/types.ts';

/** Event name to listener arguments. */
export interface RealtimeEventMap {
  /** A socket was accepted into a namespace. */
  connect: [{ ns: Namespace; clientId: string; ctx: Ctx }];
  /** A socket of a namespace closed. `code` is the close code seen by the server. */
  disconnect: [{ ns: Namespace; clientId: string; ctx: Ctx; code: number; durationMs: number }];
  /** An upgrade was refused. `reason` is a short fixed code (`WsRefusal.reason`). */
  refused: [{ reason: string; closeCode: number; status: number; ip: string }];
  /** A frame was received from a client (before validation). */
  message: [{ ns: Namespace }];
  /** Frames of the app were handed to local sockets: a broadcast, or a message to one client (`ns.send`). */
  delivered: [{ ns: Namespace; recipients: number; broadcast: boolean }];
  /** The framework answered one client: its welcome, an ack, an error, a replayed frame. */
  replied: [{ ns: Namespace }];
  /** An `error` frame was sent to a client. */
  errorSent: [{ ns: Namespace; code: string }];
  /** A handler (onConnect, onMessage, onDisconnect) threw. */
  handlerError: [{ ns: Namespace; handler: string }];
  /** A client message was dropped by the rate limit (emitted by the limits module). */
  rateLimited: [{ ns: Namespace }];
  /** A client was disconnected for not reading fast enough (emitted by the limits module). */
  slowConsumer: [{ ns: Namespace }];
  /** A replay request was answered: `served` (missed messages sent) or `gap` (too old). */
  replay: [{ ns: Namespace; result: 'served' | 'gap' }];
  /** A payload was published through the broker. */
  published: [{ bytes: number }];
  /** A payload was received from the broker. */
  received: [{ bytes: number }];
  /** A broker operation failed (a broadcast it could not take, a subscribe), or a received payload was malformed. */
  brokerError: [{ op: 'publish' | 'subscribe' | 'malformed' }];
  /** The broker's connections changed state (see `Broker.onStateChange`). */
  brokerState: [{ state: BrokerState; previous: BrokerState }];
}

/** The realtime server's event emitter (`rt.events`). */
export class RealtimeEvents extends EventEmitter<RealtimeEventMap> {}
