/**
 * The life of one accepted socket: join the namespace, welcome, messages in order, leave.
 * Every handler call is contained: a throw is logged and answered with an `error` frame, and
 * never reaches the process or another connection.
 */
import { randomUUID } from 'node:crypto';
import type { WSEvents } from 'hono/ws';
import type { WebSocket } from 'ws';
import type { Logger } from '../log.ts';
import { CloseCode, ErrorCode } from './codes.ts';
import { publicCtx, type Conn, type Ctx } from './ctx.ts';
import type { MessageSchemas, NamespaceDefinition } from './definition.ts';
import { MessageError } from './message-error.ts';
import type { Client, Namespace } from './namespace.ts';
import { encodeError, encodeFrame, parseClientFrame, type ClientMessage } from './protocol.ts';
import { inboundGate } from './safety/inbound.ts';
import type { Limits } from './safety/limits.ts';

/** What a connection needs from the realtime server. */
export interface ConnectionHost {
  /** Gets or creates the namespace, adds the client; `ready` resolves once it receives broadcasts and counts in presence. */
  join(path: string, create: () => Namespace, client: Client): { ns: Namespace; ready: Promise<void> };
  /** Removes the client from the namespace; resolves once presence forgot it. */
  leave(ns: Namespace, clientId: string): Promise<void>;
  /** Called after the client left; drops the namespace if the definition says so. */
  left(ns: Namespace, dropWhenEmpty: boolean): void;
  log: Logger;
  limits: Limits;
}

export function connectionEvents(
  host: ConnectionHost,
  def: NamespaceDefinition<MessageSchemas>,
  path: string,
  create: () => Namespace,
  ctx: Ctx,
): WSEvents<unknown> {
  const clientId = randomUUID();
  const conn: Conn = { clientId, ctx };
  const log = host.log.child({ clientId, path, username: ctx.username });
  let ns: Namespace | undefined;
  // Messages of one connection are handled one after the other, after the welcome.
  let chain: Promise<void> = Promise.resolve();
  const admitMessage = inboundGate(host.limits);
  let pending = 0;
  let welcomed = false;

  const reply = (frame: Buffer) => ns?.deliver(frame, undefined, clientId);

  /** Runs a user handler; `failed` when it threw (the client was answered with an error). */
  async function contained(what: string, fn: () => unknown, id?: string): Promise<{ value: unknown } | 'failed'> {
    try {
      return { value: await fn() };
    } catch (err) {
      if (err instanceof MessageError) {
        reply(encodeError(err.code, err.message, id));
      } else {
        log.error({ err }, `${what} handler threw`);
        reply(encodeError(ErrorCode.HANDLER_ERROR, `the ${what} handler failed`, id));
      }
      return 'failed';
    }
  }

  async function handle(data: unknown, current: Namespace): Promise<void> {
    current.countIn();
    if (typeof data !== 'string') {
      reply(encodeError(ErrorCode.BINARY_NOT_SUPPORTED, 'binary frames are not accepted; send JSON text'));
      return;
    }
    const parsed = parseClientFrame(data, host.limits.maxDepth);
    if (!parsed.ok) {
      reply(encodeError(parsed.code, parsed.error, parsed.id));
      return;
    }
    const message = validate(parsed.message);
    if (!message) return;
    const result = await contained(
      'onMessage',
      () => def.onMessage?.({ clientId, ctx, message: message as never }, current),
      message.id,
    );
    if (message.id !== undefined && result !== 'failed') reply(encodeFrame('ack', result.value, { id: message.id }));
  }

  function validate(message: ClientMessage): ClientMessage | undefined {
    if (!def.messages) return message;
    const schema = Object.hasOwn(def.messages, message.type) ? def.messages[message.type] : undefined;
    if (!schema) {
      reply(encodeError(ErrorCode.UNKNOWN_TYPE, `unknown message type "${message.type}"`, message.id));
      return undefined;
    }
    const result = schema.safeParse(message.data);
    if (!result.success) {
      const issues = result.error.issues.map((i) => `${i.path.join('.') || 'data'}: ${i.message}`).join('; ');
      reply(encodeError(ErrorCode.INVALID_DATA, `invalid data for "${message.type}": ${issues}`, message.id));
      return undefined;
    }
    return { ...message, data: result.data };
  }

  return {
    onOpen(_event, ws) {
      const client: Client = { clientId, ctx, socket: ws.raw as WebSocket, connectedAt: Date.now() };
      const joined = host.join(path, create, client);
      const current = (ns = joined.ns);
      log.debug('connected');
      chain = joined.ready.then(async () => {
        reply(encodeFrame('welcome', { clientId, path, ctx: publicCtx(ctx) }));
        welcomed = true;
        await contained('onConnect', () => def.onConnect?.(conn, current));
      });
    },
    onMessage(event, ws) {
      const current = ns;
      if (!current) return;
      // Judged on arrival, before parsing or queueing, so a flood costs as little as possible.
      const verdict = admitMessage(pending);
      if (verdict === 'abusive') {
        ws.close(CloseCode.POLICY_VIOLATION, 'message rate limit exceeded');
        return;
      }
      if (verdict === 'limited') {
        // Answered at once, not queued behind a slow handler; only `welcome` must come first.
        const limited = () => reply(encodeError(ErrorCode.RATE_LIMITED, 'too many messages; slow down'));
        if (welcomed) limited();
        else chain = chain.then(limited);
        return;
      }
      pending++;
      chain = chain.then(() => handle(event.data, current)).finally(() => pending--);
    },
    onClose(event) {
      const current = ns;
      if (!current) return;
      const gone = host.leave(current, clientId);
      log.debug({ code: event.code }, 'disconnected');
      chain = chain.then(async () => {
        await gone;
        await contained('onDisconnect', () => def.onDisconnect?.({ ...conn, code: event.code, reason: event.reason }, current));
        host.left(current, def.dropWhenEmpty !== false);
      });
    },
    onError(event) {
      log.debug({ err: (event as ErrorEvent).error }, 'socket error');
    },
  };
}
