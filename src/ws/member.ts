/**
 * The life of one member of a namespace, whatever socket it came on: join, welcome, messages in
 * order, acks, sync, leave. Every handler call is contained: a throw is logged and answered with
 * an `error` frame, and never reaches the process or another member.
 *
 * A member is the namespace's `Client`. Its socket side is a subclass: a direct connection
 * (`connection.ts`, one socket, one member) or a subscription of a multiplexed socket
 * (`mux/subscription.ts`, many members on one socket, each frame tagged with its path). Thousands
 * of idle direct sockets must cost little, so a member holds no closures, and its logger is built
 * only for a line that is written.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { newCorrelationId, withCorrelation } from './observe/correlation.ts';
import type { Logger } from './observe/logger.ts';
import { ErrorCode } from '../protocol/codes.ts';
import { publicCtx, type Ctx } from './ctx.ts';
import type { MessageSchemas, NamespaceDefinition } from './definition.ts';
import type { RealtimeEvents } from './events.ts';
import { MessageError } from './message-error.ts';
import { BroadcastScope } from './live/broadcast-scope.ts';
import type { Broker, LogPolicy } from './broker/types.ts';
import type { Client, LiveNamespace } from './live/live-namespace.ts';
import { encodeError, encodeFrame, parseClientFrame, type ClientMessage } from './wire/messages.ts';
import { serveSync, welcomeHead } from './replay/serve.ts';
import type { Limits } from './safety/limits.ts';

/** What a member needs from the hub it joins. */
export interface MemberHost {
  /** Gets or creates the namespace, adds the client; `ready` resolves once it receives broadcasts and counts in presence. */
  join(member: NamespaceMember): { ns: LiveNamespace; ready: Promise<void> };
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

/** What the members of one `rt.namespace(...)` route share: made once per route, not per socket. */
export interface MemberRoute {
  def: NamespaceDefinition<MessageSchemas>;
  /** Set when the namespace keeps a log (and replays). */
  log: LogPolicy | undefined;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const settled: Promise<void> = Promise.resolve();

/** What a handled message still owes its sender: an ack (or an error) once its broadcasts settled. */
interface Answer {
  /** Resolves true when every broadcast the handler began was sequenced and published. */
  accepted: Promise<boolean>;
  send(accepted: boolean): void;
}

/** One member of a namespace; its subclass says which socket it lives on and how it ends. */
export abstract class NamespaceMember implements Client {
  readonly clientId = randomUUID();
  /** Set when the member joins: the socket its frames go on. */
  socket!: WebSocket;
  connectedAt = 0;
  #ns: LiveNamespace | undefined;
  // Messages of one member are handled one after the other, after the welcome.
  #chain = settled;
  // Their acks go out in the same order, each once its broadcasts are out; the next message's
  // handler need not wait for that (a member's broadcasts are pipelined, not one round trip each).
  #answers = settled;
  /** Answers chained and not sent yet: while any is, the replies of later messages queue behind them. */
  #owed = 0;
  #pending = 0;
  #welcomed = false;
  readonly #host: MemberHost;
  readonly #route: MemberRoute;

  constructor(
    host: MemberHost,
    route: MemberRoute,
    /** The literal path. */
    readonly path: string,
    /** The route pattern the namespace is created from. */
    readonly pattern: string,
    /** Validated params of the pattern. */
    readonly params: Record<string, string>,
    readonly ctx: Ctx,
  ) {
    this.#host = host;
    this.#route = route;
  }

  /** Whether its frames carry its path (a subscription of a multiplexed socket). */
  abstract get tagged(): boolean;

  /**
   * Ends the member as the namespace asks (removed: 4410, shutdown, a replay hold that
   * overflowed: 1013): a direct connection closes its socket, a subscription ends alone.
   */
  abstract end(code: number, reason: string): void;

  /** The definition of the namespace route this member came through. */
  get definition(): NamespaceDefinition<MessageSchemas> {
    return this.#route.def;
  }

  /** The namespace's log policy, if it keeps a log. */
  get log(): LogPolicy | undefined {
    return this.#route.log;
  }

  /** The namespace it joined (undefined before). */
  get namespace(): LiveNamespace | undefined {
    return this.#ns;
  }

  /** The limits of the realtime server (its socket side judges frames by them). */
  protected get limits(): Limits {
    return this.#host.limits;
  }

  /** Its messages waiting for their handler or their answer. */
  get pending(): number {
    return this.#pending;
  }

  /** Joins the namespace on `socket`: welcome (with the replay head) first, then onConnect. */
  join(socket: WebSocket): void {
    this.connectedAt = Date.now();
    this.socket = socket;
    const joined = this.#host.join(this);
    const current = (this.#ns = joined.ns);
    this.line('info', { pattern: current.pattern }, 'connected');
    this.#host.events.emit('connect', { ns: current, clientId: this.clientId, ctx: this.ctx });
    // A replay namespace's welcome says where the sequence stands: broadcasts arriving before
    // it are held back and sent after it, less those the reported seq already counts.
    if (current.log) current.pause(this.clientId);
    this.#chain = joined.ready.then(() => this.#welcome(current));
  }

  /**
   * Queues one frame for its handler: `data` as it came off the socket, or `message` when the
   * socket side already parsed it (a multiplexed socket reads the path of every frame).
   */
  receive(data: unknown, message?: ClientMessage): void {
    const current = this.#ns;
    if (!current) return;
    this.#pending++;
    // Each message gets its own correlation id, which follows it to the broadcasts it causes.
    // It counts as pending until it is answered, so a broker that does not answer bounds what one
    // member can have in flight.
    this.#chain = this.#chain
      .then(() => withCorrelation(newCorrelationId(), () => this.#handle(data, message, current)))
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

  /** A frame refused by the rate limit: answered at once, not queued behind a slow handler; only `welcome` must come first. */
  rateLimited(): void {
    const current = this.#ns;
    if (!current) return;
    this.#host.events.emit('rateLimited', { ns: current });
    if (this.#welcomed) this.#rateLimited();
    else this.#chain = this.#chain.then(() => this.#rateLimited());
  }

  /** Leaves the namespace with the close code its socket (or its subscription) ended with; resolves once onDisconnect ran. */
  leave(code: number, reason: string): Promise<void> {
    const current = this.#ns;
    if (!current) return settled;
    const gone = this.#host.leave(current, this.clientId);
    const durationMs = Date.now() - this.connectedAt;
    // The disconnect line and what onDisconnect broadcasts (`left`) share one correlation id.
    withCorrelation(newCorrelationId(), () => {
      this.line('info', { code, reason: reason || undefined, durationMs }, 'disconnected');
      this.#host.events.emit('disconnect', { ns: current, clientId: this.clientId, ctx: this.ctx, code, durationMs });
      this.#chain = this.#chain.then(async () => {
        await gone;
        const conn = { clientId: this.clientId, ctx: this.ctx, code, reason };
        await this.#contained('onDisconnect', () => this.#route.def.onDisconnect?.(conn, current));
        this.#host.left(current, this.#route.def.dropWhenEmpty !== false);
      });
    });
    return this.#chain;
  }

  async #welcome(current: LiveNamespace): Promise<void> {
    const { clientId, path, ctx } = this;
    if (current.log) {
      const head = await welcomeHead(path, this.#host.broker, () => this.logger());
      const held = current.resume(clientId, head);
      this.#reply(encodeFrame('welcome', { clientId, path, ctx: publicCtx(ctx), replay: head }));
      for (const frame of held) this.#reply(frame);
    } else {
      this.#reply(encodeFrame('welcome', { clientId, path, ctx: publicCtx(ctx) }));
    }
    this.#welcomed = true;
    // A namespace without onConnect costs its connects no handler call and no promise.
    const { onConnect } = this.#route.def;
    if (onConnect) await this.#contained('onConnect', () => onConnect({ clientId, ctx }, current));
  }

  /** Handles one message; resolves once its handler returned, with the answer still to send after its broadcasts. */
  async #handle(data: unknown, given: ClientMessage | undefined, current: LiveNamespace): Promise<Answer | undefined> {
    current.countMessageIn();
    this.#host.events.emit('message', { ns: current });
    let parsedMessage = given;
    if (!parsedMessage) {
      if (typeof data !== 'string') {
        this.#answerError(ErrorCode.BINARY_NOT_SUPPORTED, 'binary frames are not accepted; send JSON text');
        return;
      }
      const parsed = parseClientFrame(data, this.#host.limits.maxDepth);
      if (!parsed.ok) {
        this.#answerError(parsed.code, parsed.error, parsed.id);
        return;
      }
      parsedMessage = parsed.message;
    }
    this.line('debug', { type: parsedMessage.type }, 'message received');
    if (parsedMessage.type === 'sync') {
      // Earlier answers first: the replay is sent as it is read, in one go with the held frames.
      await this.#answers;
      const reply = (frame: Buffer) => this.#reply(frame);
      const result = await serveSync(this.#host.broker, current, this.clientId, parsedMessage.data, parsedMessage.id, reply, () => this.logger());
      if (result) this.#host.events.emit('replay', { ns: current, result });
      return;
    }
    const message = this.#validate(parsedMessage);
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
        this.line('error', { err, handler: what }, `${what} handler threw`);
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

  /** Writes a line with the member's bindings, building its logger only when the level is on. */
  protected line(level: LogLevel, fields: object, msg: string): void {
    if (this.#host.log.isLevelEnabled(level)) this.logger()[level](fields, msg);
  }

  /**
   * A logger carrying the member's bindings. Made for each line, not kept: at `info` every
   * member logs twice in its life, and a child kept per socket would cost memory for that.
   */
  logger(): Logger {
    return this.#host.log.child({ clientId: this.clientId, path: this.path, username: this.ctx.username, ip: this.ctx.ip });
  }
}
