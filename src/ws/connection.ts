/**
 * The life of one accepted socket: join the namespace, welcome, messages in order, leave.
 * Every handler call is contained: a throw is logged and answered with an `error` frame, and
 * never reaches the process or another connection.
 */
import { randomUUID } from 'node:crypto';
import type { WSEvents } from 'hono/ws';
import type { WebSocket } from 'ws';
import { newCorrelationId, withCorrelation } from '../correlation.ts';
import type { Logger } from '../log.ts';
import { CloseCode, ErrorCode } from './codes.ts';
import { publicCtx, type Conn, type Ctx } from './ctx.ts';
import type { MessageSchemas, NamespaceDefinition } from './definition.ts';
import type { RealtimeEvents } from './events.ts';
import { MessageError } from './message-error.ts';
import type { Client, Namespace } from './namespace.ts';
import { encodeError, encodeFrame, parseClientFrame, type ClientMessage } from './protocol.ts';
import { serveSync, welcomeHead } from './replay/serve.ts';
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
  events: RealtimeEvents;
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
  const log = host.log.child({ clientId, path, username: ctx.username, ip: ctx.ip });
  let ns: Namespace | undefined;
  let connectedAt = 0;
  // Messages of one connection are handled one after the other, after the welcome.
  let chain: Promise<void> = Promise.resolve();
  const admitMessage = inboundGate(host.limits);
  let pending = 0;
  let welcomed = false;

  const reply = (frame: Buffer) => ns?.deliver(frame, undefined, clientId);

  function replyError(code: string, error: string, id?: string): void {
    if (ns) host.events.emit('errorSent', { ns, code });
    reply(encodeError(code, error, id));
  }

  /** Runs a user handler; `failed` when it threw (the client was answered with an error). */
  async function contained(what: string, fn: () => unknown, id?: string): Promise<{ value: unknown } | 'failed'> {
    try {
      return { value: await fn() };
    } catch (err) {
      if (err instanceof MessageError) {
        replyError(err.code, err.message, id);
      } else {
        log.error({ err, handler: what }, `${what} handler threw`);
        if (ns) host.events.emit('handlerError', { ns, handler: what });
        replyError(ErrorCode.HANDLER_ERROR, `the ${what} handler failed`, id);
      }
      return 'failed';
    }
  }

  async function handle(data: unknown, current: Namespace): Promise<void> {
    current.countIn();
    host.events.emit('message', { ns: current });
    if (typeof data !== 'string') {
      replyError(ErrorCode.BINARY_NOT_SUPPORTED, 'binary frames are not accepted; send JSON text');
      return;
    }
    const parsed = parseClientFrame(data, host.limits.maxDepth);
    if (!parsed.ok) {
      replyError(parsed.code, parsed.error, parsed.id);
      return;
    }
    log.debug({ type: parsed.message.type }, 'message received');
    if (parsed.message.type === 'sync') {
      const result = await serveSync(current, clientId, parsed.message.data, parsed.message.id, reply, log);
      if (result) host.events.emit('replay', { ns: current, result });
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
      replyError(ErrorCode.UNKNOWN_TYPE, `unknown message type "${message.type}"`, message.id);
      return undefined;
    }
    const result = schema.safeParse(message.data);
    if (!result.success) {
      const issues = result.error.issues.map((i) => `${i.path.join('.') || 'data'}: ${i.message}`).join('; ');
      replyError(ErrorCode.INVALID_DATA, `invalid data for "${message.type}": ${issues}`, message.id);
      return undefined;
    }
    return { ...message, data: result.data };
  }

  return {
    onOpen(_event, ws) {
      connectedAt = Date.now();
      const client: Client = { clientId, ctx, socket: ws.raw as WebSocket, connectedAt };
      const joined = host.join(path, create, client);
      const current = (ns = joined.ns);
      log.info({ pattern: current.pattern }, 'connected');
      host.events.emit('connect', { ns: current, clientId, ctx });
      // A replay namespace's welcome says where the sequence stands: broadcasts arriving before
      // it are held back and sent after it, less those the reported seq already counts.
      if (current.replay) current.hold(clientId);
      chain = joined.ready.then(async () => {
        if (current.replay) {
          const head = await welcomeHead(path, current.replay, log);
          const held = current.release(clientId, head);
          reply(encodeFrame('welcome', { clientId, path, ctx: publicCtx(ctx), replay: head }));
          for (const frame of held) reply(frame);
        } else {
          reply(encodeFrame('welcome', { clientId, path, ctx: publicCtx(ctx) }));
        }
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
        host.events.emit('rateLimited', { ns: current });
        // Answered at once, not queued behind a slow handler; only `welcome` must come first.
        const limited = () => replyError(ErrorCode.RATE_LIMITED, 'too many messages; slow down');
        if (welcomed) limited();
        else chain = chain.then(limited);
        return;
      }
      pending++;
      // Each message gets its own correlation id, which follows it to the broadcasts it causes.
      chain = chain.then(() => withCorrelation(newCorrelationId(), () => handle(event.data, current))).finally(() => pending--);
    },
    onClose(event) {
      const current = ns;
      if (!current) return;
      const gone = host.leave(current, clientId);
      const durationMs = Date.now() - connectedAt;
      // The disconnect line and what onDisconnect broadcasts (`left`) share one correlation id.
      withCorrelation(newCorrelationId(), () => {
        log.info({ code: event.code, reason: event.reason || undefined, durationMs }, 'disconnected');
        host.events.emit('disconnect', { ns: current, clientId, ctx, code: event.code, durationMs });
        chain = chain.then(async () => {
          await gone;
          await contained('onDisconnect', () => def.onDisconnect?.({ ...conn, code: event.code, reason: event.reason }, current));
          host.left(current, def.dropWhenEmpty !== false);
        });
      });
    },
    onError(event) {
      log.debug({ err: (event as ErrorEvent).error }, 'socket error');
    },
  };
}
