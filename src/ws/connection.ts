/**
 * The life of one accepted socket: join the namespace, welcome, messages in order, leave.
 * Every handler call is contained: a throw is logged and answered with an `error` frame, and
 * never reaches the process or another connection.
 *
 * A connection is one object, which is also its namespace's `Client` and the `WSEvents` handed
 * to `upgradeWebSocket` (it calls them as methods): thousands of idle sockets must cost little, so
 * there are no closures per connection, its rate limit is built at its first message and its
 * logger only for a line that is written.
 */
import { randomUUID } from 'node:crypto';
import type { WSContext } from 'hono/ws';
import type { WebSocket } from 'ws';
import { newCorrelationId, withCorrelation } from './observe/correlation.ts';
import type { Logger } from './observe/logger.ts';
import { CloseCode, ErrorCode } from '../protocol/codes.ts';
import { publicCtx, type Ctx } from './ctx.ts';
import type { MessageSchemas, NamespaceDefinition } from './definition.ts';
import type { RealtimeEvents } from './events.ts';
import { MessageError } from './message-error.ts';
import { BroadcastScope } from './live/broadcast-scope.ts';
import type { Broker, LogPolicy } from './broker/types.ts';
import type { Client, LiveNamespace } from './live/live-namespace.ts';
import { encodeError, encodeFrame, parseClientFrame, type ClientMessage } from './wire/messages.ts';
import { serveSync, welcomeHead } from './replay/serve.ts';
import { InboundGate } from './safety/inbound.ts';
import type { Limits } from './safety/limits.ts';

/** What a connection needs from the hub it joins. */
export interface ConnectionHost {
  /** Gets or creates the namespace, adds the client; `ready` resolves once it receives broadcasts and counts in presence. */
  join(conn: Connection): { ns: LiveNamespace; ready: Promise<void> };
  /** Removes the client from the namespace; resolves once presence forgot it. */
  leave(ns: LiveNamespace, clientId: string): Promise<void>;
  /** Called after the client left; drops the namespace if the definition says so. */
  left(ns: LiveNamespace, dropWhenEmpty: boolean): void;
  /** Where the welcome's head and a sync's frames are read. */
  broker: Broker;
  log: Logger;
  events: RealtimeEvents;
  limits: Limits;
}

/** What the connections of one `rt.namespace(...)` route share: made once per route, not per socket. */
export interface ConnectionRoute {
  def: NamespaceDefinition<MessageSchemas>;
  /** Set when the namespace keeps a log (and replays). */
  log: LogPolicy | undefined;
}

/** Something to let go of once the socket is open (the upgrade's stand-in context). */
export interface Detachable {
  detach(): void;
}

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const settled: Promise<void> = Promise.resolve();

/** What a handled message still owes its sender: an ack (or an error) once its broadcasts settled. */
interface Answer {
  /** Resolves true when every broadcast the handler began was sequenced and published. */
  accepted: Promise<boolean>;
  send(accepted: boolean): void;
}

/** One accepted socket. */
export class Connection implements Client {
  readonly clientId = randomUUID();
  /** Set when the socket opens. */
  socket!: WebSocket;
  connectedAt = 0;
  #ns: LiveNamespace | undefined;
  // Messages of one connection are handled one after the other, after the welcome.
  #chain = settled;
  // Their acks go out in the same order, each once its broadcasts are out; the next message's
  // handler need not wait for that (a connection's broadcasts are pipelined, not one round trip each).
  #answers = settled;
  /** Answers chained and not sent yet: while any is, the replies of later messages queue behind them. */
  #owed = 0;
  #gate: InboundGate | undefined;
  #pending = 0;
  #welcomed = false;
  #upgrade: Detachable | undefined;
  readonly #host: ConnectionHost;
  readonly #route: ConnectionRoute;

  constructor(
    host: ConnectionHost,
    route: ConnectionRoute,
    /** The literal path. */
    readonly path: string,
    /** The route pattern the namespace is created from. */
    readonly pattern: string,
    /** Validated params of the pattern. */
    readonly params: Record<string, string>,
    readonly ctx: Ctx,
    upgrade?: Detachable,
  ) {
    this.#host = host;
    this.#route = route;
    this.#upgrade = upgrade;
  }

  /** The definition of the namespace route this connection came through. */
  get definition(): NamespaceDefinition<MessageSchemas> {
    return this.#route.def;
  }

  /** The namespace's log policy, if it keeps a log. */
  get log(): LogPolicy | undefined {
    return this.#route.log;
  }

  onOpen(_event: Event, ws: WSContext<unknown>): void {
    this.#upgrade?.detach();
    this.#upgrade = undefined;
    this.connectedAt = Date.now();
    this.socket = ws.raw as WebSocket;
    const joined = this.#host.join(this);
    const current = (this.#ns = joined.ns);
    this.#line('info', { pattern: current.pattern }, 'connected');
    this.#host.events.emit('connect', { ns: current, clientId: this.clientId, ctx: this.ctx });
    // A replay namespace's welcome says where the sequence stands: broadcasts arriving before
    // it are held back and sent after it, less those the reported seq already counts.
    if (current.log) current.pause(this.clientId);
    this.#chain = joined.ready.then(() => this.#welcome(current));
  }

  onMessage(event: MessageEvent, ws: WSContext<unknown>): void {
    const current = this.#ns;
    if (!current) return;
    // Judged on arrival, before parsing or queueing, so a flood costs as little as possible.
    const verdict = (this.#gate ??= new InboundGate(this.#host.limits)).admit(this.#pending);
    if (verdict === 'abusive') {
      ws.close(CloseCode.POLICY_VIOLATION, 'message rate limit exceeded');
      return;
    }
    if (verdict === 'limited') {
      this.#host.events.emit('rateLimited', { ns: current });
      // Answered at once, not queued behind a slow handler; only `welcome` must come first.
      if (this.#welcomed) this.#rateLimited();
      else this.#chain = this.#chain.then(() => this.#rateLimited());
      return;
    }
    this.#pending++;
    // Each message gets its own correlation id, which follows it to the broadcasts it causes.
    // It counts as pending until it is answered, so a broker that does not answer bounds what one
    // connection can have in flight.
    this.#chain = this.#chain
      .then(() => withCorrelation(newCorrelationId(), () => this.#handle(event.data, current)))
      .then(
        (answer) => {
          if (!answer) {
            this.#pending--;
            return;
          }
          this.#owed++;
          this.#answers = this.#answers
            .then(() => answer.accepted)
            .then((accepted) => answer.send(accepted))
            .finally(() => {
              this.#owed--;
              this.#pending--;
            });
        },
        () => {
          this.#pending--;
        },
      );
  }

  onClose(event: CloseEvent): void {
    const current = this.#ns;
    if (!current) return;
    const gone = this.#host.leave(current, this.clientId);
    const durationMs = Date.now() - this.connectedAt;
    // The disconnect line and what onDisconnect broadcasts (`left`) share one correlation id.
    withCorrelation(newCorrelationId(), () => {
      this.#line('info', { code: event.code, reason: event.reason || undefined, durationMs }, 'disconnected');
      this.#host.events.emit('disconnect', { ns: current, clientId: this.clientId, ctx: this.ctx, code: event.code, durationMs });
      this.#chain = this.#chain.then(async () => {
        await gone;
        const conn = { clientId: this.clientId, ctx: this.ctx, code: event.code, reason: event.reason };
        await this.#contained('onDisconnect', () => this.#route.def.onDisconnect?.(conn, current));
        this.#host.left(current, this.#route.def.dropWhenEmpty !== false);
      });
    });
  }

  onError(event: Event): void {
    this.#line('debug', { err: (event as ErrorEvent).error }, 'socket error');
  }

  async #welcome(current: LiveNamespace): Promise<void> {
    const { clientId, path, ctx } = this;
    if (current.log) {
      const head = await welcomeHead(path, this.#host.broker, () => this.#logger());
      const held = current.resume(clientId, head);
      this.#reply(encodeFrame('welcome', { clientId, path, ctx: publicCtx(ctx), replay: head }));
      for (const frame of held) this.#reply(frame);
    } else {
      this.#reply(encodeFrame('welcome', { clientId, path, ctx: publicCtx(ctx) }));
    }
    this.#welcomed = true;
    await this.#contained('onConnect', () => this.#route.def.onConnect?.({ clientId, ctx }, current));
  }

  /** Handles one message; resolves once its handler returned, with the answer still to send after its broadcasts. */
  async #handle(data: unknown, current: LiveNamespace): Promise<Answer | undefined> {
    current.countMessageIn();
    this.#host.events.emit('message', { ns: current });
    if (typeof data !== 'string') {
      this.#answerError(ErrorCode.BINARY_NOT_SUPPORTED, 'binary frames are not accepted; send JSON text');
      return;
    }
    const parsed = parseClientFrame(data, this.#host.limits.maxDepth);
    if (!parsed.ok) {
      this.#answerError(parsed.code, parsed.error, parsed.id);
      return;
    }
    this.#line('debug', { type: parsed.message.type }, 'message received');
    if (parsed.message.type === 'sync') {
      // Earlier answers first: the replay is sent as it is read, in one go with the held frames.
      await this.#answers;
      const reply = (frame: Buffer) => this.#reply(frame);
      const result = await serveSync(this.#host.broker, current, this.clientId, parsed.message.data, parsed.message.id, reply, () => this.#logger());
      if (result) this.#host.events.emit('replay', { ns: current, result });
      return;
    }
    const message = this.#validate(parsed.message);
    if (!message) return;
    const { clientId, ctx } = this;
    // The ack promises that every broadcast the handler began is sequenced and published.
    const scope = new BroadcastScope();
    const result = await scope.run(() =>
      this.#contained('onMessage', () => this.#route.def.onMessage?.({ clientId, ctx, message: message as never }, current), message.id, true),
    );
    return {
      accepted: scope.settled(),
      send: (accepted) => {
        if (result === 'failed') return;
        if (!accepted) this.#replyError(ErrorCode.UNAVAILABLE, 'the namespace cannot take messages right now; try again', message.id);
        else if (message.id !== undefined) this.#reply(encodeFrame('ack', result.value, { id: message.id }));
      },
    };
  }

  #validate(message: ClientMessage): ClientMessage | undefined {
    const schemas = this.#route.def.messages;
    if (!schemas) return message;
    const schema = Object.hasOwn(schemas, message.type) ? schemas[message.type] : undefined;
    if (!schema) {
      this.#answerError(ErrorCode.UNKNOWN_TYPE, `unknown message type "${message.type}"`, message.id);
      return undefined;
    }
    const result = schema.safeParse(message.data);
    if (!result.success) {
      const issues = result.error.issues.map((i) => `${i.path.join('.') || 'data'}: ${i.message}`).join('; ');
      this.#answerError(ErrorCode.INVALID_DATA, `invalid data for "${message.type}": ${issues}`, message.id);
      return undefined;
    }
    return { ...message, data: result.data };
  }

  /**
   * Runs a user handler; `failed` when it threw (the client was answered with an error, `inOrder`
   * behind the answers still owed to earlier messages).
   */
  async #contained(what: string, fn: () => unknown, id?: string, inOrder = false): Promise<{ value: unknown } | 'failed'> {
    try {
      return { value: await fn() };
    } catch (err) {
      const answer = inOrder ? this.#answerError.bind(this) : this.#replyError.bind(this);
      if (err instanceof MessageError) {
        answer(err.code, err.message, id);
      } else {
        this.#line('error', { err, handler: what }, `${what} handler threw`);
        if (this.#ns) this.#host.events.emit('handlerError', { ns: this.#ns, handler: what });
        answer(ErrorCode.HANDLER_ERROR, `the ${what} handler failed`, id);
      }
      return 'failed';
    }
  }

  /** An error answering a message: sent now, or behind the answers still owed to earlier messages. */
  #answerError(code: string, error: string, id?: string): void {
    if (this.#owed === 0) {
      this.#replyError(code, error, id);
      return;
    }
    this.#owed++;
    this.#answers = this.#answers.then(() => {
      this.#owed--;
      this.#replyError(code, error, id);
    });
  }

  #rateLimited(): void {
    this.#replyError(ErrorCode.RATE_LIMITED, 'too many messages; slow down');
  }

  #reply(frame: Buffer): void {
    this.#ns?.reply(this.clientId, frame);
  }

  #replyError(code: string, error: string, id?: string): void {
    if (this.#ns) this.#host.events.emit('errorSent', { ns: this.#ns, code });
    this.#reply(encodeError(code, error, id));
  }

  /** Writes a line with the connection's bindings, building its logger only when the level is on. */
  #line(level: LogLevel, fields: object, msg: string): void {
    if (this.#host.log.isLevelEnabled(level)) this.#logger()[level](fields, msg);
  }

  /**
   * A logger carrying the connection's bindings. Made for each line, not kept: at `info` every
   * connection logs twice in its life, and a child kept per socket would cost memory for that.
   */
  #logger(): Logger {
    return this.#host.log.child({ clientId: this.clientId, path: this.path, username: this.ctx.username, ip: this.ctx.ip });
  }
}
