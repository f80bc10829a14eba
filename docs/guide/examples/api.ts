/**
 * Short uses of the server's exports (`src/ws/index.ts`), one region each, for the guide's API
 * reference. Compiled by `npm run typecheck`; run by `test/guide/examples.test.ts`.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { pino } from 'pino';
import { z } from 'zod';
import {
  buildCtx,
  createSessions,
  DEFAULT_LIMITS,
  GUEST_USERNAME,
  SYSTEM_USERNAME,
  MemoryBus,
  MemoryPresence,
  MemoryPresenceStore,
  MemoryPubSub,
  MemoryReplayStore,
  publicCtx,
  Realtime,
  RedisPresence,
  RedisPubSub,
  RedisReplayStore,
  RefusalReason,
  systemCtx,
  WsRefusal,
  type AccessOptions,
  type AppEnv,
  type Conn,
  type Ctx,
  type DrainOptions,
  type IncomingMessage,
  type Limits,
  type Member,
  type MessageSchemas,
  type Namespace,
  type NamespaceRegistry,
  type NamespaceDefinition,
  type NamespaceStats,
  type OnCreateFn,
  type PublicCtx,
  type PayloadHandler,
  type Presence,
  type PresenceResult,
  type PresenceState,
  type PubSub,
  type PubSubState,
  type RealtimeEvents,
  type RealtimeEventMap,
  type RealtimeOptions,
  type RealtimeStats,
  type RedisPresenceOptions,
  type RedisPubSubOptions,
  type RedisReplayStoreOptions,
  type ReplayHead,
  type ReplayPolicy,
  type ReplayStore,
  type SessionOptions,
  type Sessions,
  type SessionUser,
} from '../../../src/ws/index.ts';

const logger = pino({ level: 'silent' });

// #region definition
const PollMessages = {
  vote: z.object({ option: z.number().int().min(0).max(9) }),
} satisfies MessageSchemas;

/** A typed handler outside the definition: `message.data` is `{ option: number }`. */
async function onVote({ ctx, message }: Conn & { message: IncomingMessage<typeof PollMessages> }, ns: Namespace) {
  await ns.broadcast('voted', { username: ctx.username, option: message.data.option });
}

export const poll: NamespaceDefinition<typeof PollMessages> = {
  params: z.object({ pollId: z.string().uuid() }),
  messages: PollMessages,
  onMessage: onVote,
  dropWhenEmpty: true, // the default: the namespace goes with its last client, and comes back with the next
};
// #endregion

// #region access
export const staffOnly: AccessOptions = { requireRoles: ['staff'] }; // guests: 4401, others without the role: 4403

/** onCreate can amend ctx: here a read-only flag for guests, kept as a role for the handlers to test. */
export const markReaders: OnCreateFn = (_c, ctx) => (ctx.username === GUEST_USERNAME ? { ...ctx, roles: [...ctx.roles, 'reader'] } : ctx);
// #endregion

// #region ctx
export function ctxExamples(): { alice: Ctx; guest: Ctx; system: Ctx; shown: PublicCtx } {
  const user: SessionUser = { username: 'alice', firstName: 'Alice', lastName: 'Liddell', roles: ['editor'] };
  const alice = buildCtx(user, '203.0.113.7', { listId: 'groceries' }); // initials 'AL'
  const guest = buildCtx(null, '203.0.113.8'); // username '(guest)', roles [], names '', params {}
  const system = systemCtx({ listId: 'groceries' }); // username '_system': the server acting on its own
  const shown = publicCtx(alice); // without the IP: what the welcome frame shows the client
  return { alice, guest, system, shown };
}

/** Who a line of an audit log names: `_system` is the server acting on its own (a job), never a request. */
export const actor = (ctx: Ctx) => (ctx.username === SYSTEM_USERNAME ? 'the server' : ctx.username);
// #endregion

// #region namespace-object
/** What a handler (or a REST route, through `rt.registry`) can do with a namespace. */
export async function tour(ns: Namespace, clientId: string): Promise<{ members: Member[]; stats: NamespaceStats }> {
  await ns.send(clientId, 'hello', { path: ns.path, pattern: ns.pattern, params: ns.params }); // one client, on any instance
  await ns.broadcast('count', { here: ns.size }, { except: clientId }); // everyone else, on every instance
  const members = ns.members(); // this instance's clients: { clientId, username, connectedAt }
  const ctx = ns.ctxOf(clientId); // a local client's ctx
  if (ctx && ns.size === 0) ns.removeIfEmpty();
  return { members, stats: ns.getStats() }; // { path, pattern, clients, messagesIn, messagesOut, createdAt }
}
// #endregion

// #region realtime
export function realtimeTour(rt: Realtime, path: string): RealtimeStats {
  void rt.broadcast(path, 'notice', { text: 'maintenance at 22:00' }); // every instance; false if unsequenced
  rt.removeNamespace(path); // only if empty here: returns whether it was removed
  rt.removeNamespace(path, { removeIfEmpty: false }); // closes its clients here with 4410
  void rt.removeNamespaceEverywhere(path); // the same on every instance hosting it
  const registry: NamespaceRegistry = rt.registry; // this instance's namespaces by literal path
  for (const ns of registry.list()) rt.log.info({ path: ns.path, clients: ns.size }, 'hosted');
  registry.on('delete', (ns) => rt.log.info({ path: ns.path }, 'namespace removed'));
  rt.onClose(async () => {}); // closes an app resource (a database pool) with rt.close()
  return rt.stats(); // { instanceId, pubsub, replay, presence, namespaces, clients, list }
}
// #endregion

// #region options
export function tunedRealtime(app: Hono<AppEnv>): Realtime {
  // Each limit left out keeps its default (DEFAULT_LIMITS); docs/limits.md explains them.
  const limits: Partial<Limits> = { messageRate: DEFAULT_LIMITS.messageRate / 4, maxPayload: 16 * 1024 };
  const options: RealtimeOptions = { logger, limits, unsubscribeDelayMs: 2000, channelPrefix: 'myapp:' };
  return new Realtime(app, options);
}
// #endregion

// #region in-process
/** Two instances in one process (tests, a local cluster): one bus and one presence store stand for Redis. */
export function twoInstances(): [Realtime, Realtime] {
  const bus = new MemoryBus();
  const presence = new MemoryPresenceStore();
  const make = () =>
    new Realtime(new Hono<AppEnv>(), { logger, pubsub: new MemoryPubSub(bus), presence: new MemoryPresence(presence), replay: new MemoryReplayStore() });
  return [make(), make()];
}
// #endregion

// #region redis
/** One instance of several: the same Redis URL and prefix on every one. */
export function onRedis(app: Hono<AppEnv>, url: string, prefix = 'hns:'): Realtime {
  const instanceId = crypto.randomUUID();
  const pubsub: RedisPubSubOptions = { url, logger, connectionName: `${prefix}${instanceId}` }; // :pub and :sub
  const presence: RedisPresenceOptions = { url, prefix, instanceId, ttlMs: 15_000, logger };
  const replay: RedisReplayStoreOptions = { url, prefix, logger, connectionName: `${prefix}${instanceId}:replay` };
  return new Realtime(app, {
    logger,
    instanceId,
    channelPrefix: prefix,
    pubsub: new RedisPubSub(pubsub),
    presence: new RedisPresence(presence),
    replay: new RedisReplayStore(replay),
  });
}
// #endregion

// #region presence
/** Who is in a namespace on every instance (a REST "who is here"). */
export async function whoIsHere(presence: Presence, path: string) {
  const { members, partial }: PresenceResult = await presence.members(path); // partial: Redis down, this instance only
  const counts = await presence.counts([path]); // many paths in one call (a list of rooms)
  const state: PresenceState = presence.state(); // 'ok' | 'degraded'
  return { usernames: members.map((m) => m.username), partial, count: counts.get(path) ?? 0, state };
}
// #endregion

// #region pubsub
/** A PubSub is channels and bytes only: this one wraps another and counts what passes. */
export class CountingPubSub implements PubSub {
  published = 0;
  constructor(readonly inner: PubSub) {}
  get kind(): string {
    return `counting ${this.inner.kind}`;
  }
  subscribe(channel: string, handler: PayloadHandler): Promise<void> {
    return this.inner.subscribe(channel, handler);
  }
  unsubscribe(channel: string): Promise<void> {
    return this.inner.unsubscribe(channel);
  }
  publish(channel: string, payload: Buffer): Promise<void> {
    this.published++;
    return this.inner.publish(channel, payload);
  }
  state(): PubSubState {
    return this.inner.state();
  }
  onStateChange(listener: (state: PubSubState) => void): void {
    this.inner.onStateChange(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
// #endregion

// #region events
/** Audit lines from the events seam (metrics use the same events). */
export function audit(rt: Realtime, lines: string[]): void {
  const events: RealtimeEvents = rt.events;
  events.on('connect', ({ ns, ctx }) => lines.push(`${ctx.username} joined ${ns.path}`));
  events.on('refused', ({ reason, closeCode }) => lines.push(`refused: ${reason} (${closeCode})`));
  const onDisconnect = ({ ns, code }: RealtimeEventMap['disconnect'][0]) => lines.push(`left ${ns.pattern} with ${code}`);
  events.on('disconnect', onDisconnect);
  rt.channels.on('subscribed', (path) => lines.push(`subscribed ${path}`)); // NamespaceChannels
}
// #endregion

// #region refusal
/** Any middleware of a namespace route may refuse; the app's onError hands it to rt.refuse(). */
export function openUnless(state: { maintenance: boolean; archived(path: string): boolean }): MiddlewareHandler<AppEnv> {
  return async function openUnless(c, next) {
    if (state.maintenance) throw WsRefusal.unavailable('down for maintenance', 503, RefusalReason.UNAVAILABLE); // retried
    if (state.archived(c.req.path)) throw WsRefusal.forbidden('this list is archived'); // 4403, not retried
    await next();
  };
}
// #endregion

// #region sessions
export function sessionsFor(secret: string): Sessions {
  const options: SessionOptions = { secret, userRoles: { alice: ['editor'] }, cookieName: 'sid', ttlSeconds: 3600, secureCookie: true };
  return createSessions(options);
}

/** Who a token names, outside the middleware (a job holding a token, a test); a bad token is a guest. */
export async function whoIs(sessions: Sessions, token: string | undefined): Promise<string> {
  return (await sessions.read(token))?.username ?? GUEST_USERNAME;
}
// #endregion

// #region replay-store
/** Where a namespace's sequence stands, asked of a store directly (rt.replayHead(path) does it by the path's route). */
export function headIn(store: ReplayStore, path: string, policy: ReplayPolicy = { size: 200, maxAgeMs: 300_000 }): Promise<ReplayHead> {
  return store.head(path, policy); // { seq, epoch }: seq 0 in a new epoch if the path never broadcast
}
// #endregion

// #region shutdown
export async function stop(rt: Realtime): Promise<void> {
  const drain: DrainOptions = { spreadMs: 5000, timeoutMs: 10_000 };
  await rt.shutdown(drain); // 503 to new upgrades, 1012 to clients in batches, then the broker closes
}
// #endregion
