/**
 * Short uses of the server's exports (`src/ws/index.ts`), one region each, for the guide's API
 * reference. Compiled by `npm run typecheck`; run by `test/guide/examples.test.ts`.
 */
import { Hono, type ErrorHandler, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { pino } from 'pino';
import { z } from 'zod';
import {
  buildCtx,
  closeRedis,
  connectRedis,
  correlationId,
  createSessions,
  DEFAULT_LIMITS,
  EMPTY_HEAD,
  GUEST_USERNAME,
  httpErrorResponse,
  initialsOf,
  newCorrelationId,
  resolveLimits,
  rolesOf,
  silentLogger,
  openRedis,
  whenReady,
  whileReady,
  withCorrelation,
  type LogFn,
  type Logger,
  SYSTEM_USERNAME,
  MemoryBroker,
  MemoryHub,
  MemoryPresence,
  MemoryPresenceStore,
  publicCtx,
  Realtime,
  RedisBroker,
  RedisPresence,
  RefusalReason,
  systemCtx,
  validate,
  WsRefusal,
  type AccessOptions,
  type AppEnv,
  type BroadcastOptions,
  type Broker,
  type BrokerState,
  type Dependency,
  type History,
  type HistoryEntry,
  type HistoryQuery,
  type LogEntry,
  type LogPage,
  type LogPolicy,
  type LogRead,
  type MemoryHubOptions,
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
  type MemoryPresenceOptions,
  type Presence,
  type PresenceAddOptions,
  type PresenceEntry,
  type PresenceResult,
  type PresenceState,
  type RealtimeEvents,
  type RealtimeEventMap,
  type RealtimeOptions,
  type RealtimeStats,
  type RedisBrokerOptions,
  type RedisPresenceOptions,
  type RedisTarget,
  type NodeAddress,
  type RestError,
  type RestIssue,
  type ReplayHead,
  type SessionOptions,
  type Sessions,
  type SessionUser,
} from 'hono-namespaces';

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
  await ns.broadcast('count', { here: ns.size }, { except: clientId }); // everyone else, on every instance: true once out
  const typing: BroadcastOptions = { except: clientId, volatile: true }; // no seq, not logged, may be dropped
  void ns.broadcast('typing', { clientId }, typing);
  const members = ns.members(); // this instance's clients: { clientId, username, connectedAt }
  const ctx = ns.ctxOf(clientId); // a local client's ctx
  if (ctx && ns.size === 0) ns.removeIfEmpty();
  return { members, stats: ns.getStats() }; // { path, pattern, clients, messagesIn, messagesOut, createdAt }
}
// #endregion

// #region realtime
export function realtimeTour(rt: Realtime, path: string): RealtimeStats {
  void rt.broadcast(path, 'notice', { text: 'maintenance at 22:00' }); // every instance; false if the broker could not take it
  rt.removeNamespace(path); // only if empty here: returns whether it was removed
  rt.removeNamespace(path, { removeIfEmpty: false }); // closes its clients here with 4410
  void rt.removeNamespaceEverywhere(path); // the same on every instance hosting it
  const registry: NamespaceRegistry = rt.registry; // this instance's namespaces by literal path
  for (const ns of registry.list()) rt.log.info({ path: ns.path, clients: ns.size }, 'hosted');
  registry.on('delete', (ns) => rt.log.info({ path: ns.path }, 'namespace removed'));
  rt.onClose(async () => {}); // closes an app resource (a database pool) with rt.close()
  const pool: Dependency = { name: 'orders database', state: () => 'ok' };
  rt.dependsOn(pool); // /ready is 503 naming it while its state is not 'ok'
  return rt.stats(); // { instanceId, broker, presence, namespaces, clients, list }
}
// #endregion

// #region options
export function tunedRealtime(app: Hono<AppEnv>): Realtime {
  // Each limit left out keeps its default (DEFAULT_LIMITS); docs/limits.md explains them.
  const limits: Partial<Limits> = { messageRate: DEFAULT_LIMITS.messageRate / 4, maxPayload: 16 * 1024 };
  const options: RealtimeOptions = { logger, limits, unsubscribeDelayMs: 2000 };
  return new Realtime(app, options);
}

/** All the limits, the missing ones defaulted and the derived ones (the TCP caps) derived, as the server does. */
export const publicLimits: Limits = resolveLimits({ maxConnectionsPerIp: 20, trustProxy: 1 });
// #endregion

// #region in-process
/** Two instances in one process (tests, a local cluster): one hub and one presence store stand for Redis. */
export function twoInstances(): [Realtime, Realtime] {
  // The logs outlive namespaces: bounded by count and bytes (least recently written forgotten first).
  const bounds: MemoryHubOptions = { maxLogs: 10_000, maxBytes: 64 * 1024 * 1024 };
  const hub = new MemoryHub(bounds);
  const presence = new MemoryPresenceStore();
  const make = () => new Realtime(new Hono<AppEnv>(), { logger, broker: new MemoryBroker(hub), presence: new MemoryPresence(presence) });
  return [make(), make()];
}
// #endregion

// #region redis
/** One instance of several: the same Redis (or cluster) and prefix on every one. */
export function onRedis(app: Hono<AppEnv>, target: RedisTarget, prefix = 'hns:'): Realtime {
  // { url: 'redis://redis:6379' }, or { clusterNodes: [{ host: 'redis-1', port: 7000 }, ...] }
  const instanceId = crypto.randomUUID();
  const broker: RedisBrokerOptions = { ...target, prefix, logger, connectionName: `${prefix}${instanceId}` }; // :broker and :subscriber
  const presence: RedisPresenceOptions = { ...target, prefix, instanceId, ttlMs: 10_000, logger };
  return new Realtime(app, { logger, instanceId, broker: new RedisBroker(broker), presence: new RedisPresence(presence) });
}

/** `host:port,host:port` (as in `REDIS_CLUSTER_NODES`): some nodes of a cluster; the client finds the rest. */
export function clusterOf(spec: string): RedisTarget {
  const clusterNodes = spec.split(',').map((node): NodeAddress => ({ host: node.slice(0, node.lastIndexOf(':')), port: Number(node.slice(node.lastIndexOf(':') + 1)) }));
  return { clusterNodes };
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

// #region ghosts
/** Two instances' presence in one process; `store.cut(a)` stands for `a` losing Redis (a crash, if for good). */
export function presencePair(ttlMs = 10_000): { store: MemoryPresenceStore; a: MemoryPresence; b: MemoryPresence } {
  const store = new MemoryPresenceStore();
  const options: MemoryPresenceOptions = { ttlMs, logger };
  return { store, a: new MemoryPresence(store, options), b: new MemoryPresence(store, options) };
}

/** Members a dead instance left (each reported by one survivor only), and this instance's back after an outage. */
export function watchPresence(presence: Presence, lines: string[]): void {
  presence.onGhosts((path, ghosts: PresenceEntry[]) => {
    for (const { member, ctx } of ghosts) lines.push(`${ctx.username} (${member.clientId}) left ${path} with its instance`);
  });
  presence.onRestored((path, restored) => lines.push(`${restored.length} back in ${path}`));
  presence.onStateChange((state) => lines.push(`presence ${state}`));
}

/** A client back on a new connection takes its old entry over: counted once, never a ghost. */
export function rejoin(presence: Presence, path: string, member: Member, ctx: Ctx, previousClientId: string): Promise<void> {
  const options: PresenceAddOptions = { replaces: previousClientId };
  return presence.add(path, member, ctx, options);
}
// #endregion

// #region broker
/** A broker deals in namespace paths and bytes only: this one wraps another and counts what passes. */
export class CountingBroker implements Broker {
  published = 0;
  constructor(readonly inner: Broker) {}
  get kind(): string {
    return this.inner.kind;
  }
  subscribe(path: string, handler: PayloadHandler): Promise<void> {
    return this.inner.subscribe(path, handler);
  }
  unsubscribe(path: string): Promise<void> {
    return this.inner.unsubscribe(path);
  }
  publish(path: string, payload: Buffer): Promise<void> {
    this.published++;
    return this.inner.publish(path, payload);
  }
  append(path: string, header: string, body: Buffer, policy: LogPolicy): Promise<ReplayHead> {
    this.published++; // sequenced, logged and published in one step
    return this.inner.append(path, header, body, policy);
  }
  head(path: string): Promise<ReplayHead> {
    return this.inner.head(path); // EMPTY_HEAD ({ seq: 0, epoch: '' }) if it never broadcast: reads create nothing
  }
  since(path: string, since: number, epoch: string, policy: LogPolicy): Promise<LogRead> {
    return this.inner.since(path, since, epoch, policy); // all or nothing: { ok: false } is a gap
  }
  history(path: string, query: HistoryQuery, policy: LogPolicy): Promise<LogPage> {
    return this.inner.history(path, query, policy);
  }
  state(): BrokerState {
    return this.inner.state();
  }
  onStateChange(listener: (state: BrokerState) => void): void {
    this.inner.onStateChange(listener);
  }
  onSubscriptionsLost(listener: (paths: string[]) => void): void {
    this.inner.onSubscriptionsLost(listener); // a cluster node's subscriber died, or a slot moved
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

// #region rest-errors
/** A REST route: its input checked by validate(), its own refusal in the same shape. */
export function renameRoute(names: Map<string, string>): Hono<AppEnv> {
  const Rename = z.object({ name: z.string().trim().min(1, 'a list needs a name').max(80) });
  return new Hono<AppEnv>().put('/api/1/lists/:listId/name', validate('json', Rename), (c) => {
    const listId = c.req.param('listId');
    if (!names.has(listId)) return c.json({ error: `no list ${listId}` } satisfies RestError, 404);
    names.set(listId, c.req.valid('json').name);
    return c.json({ name: names.get(listId) });
  });
}

/** An app's own error handler that keeps the one shape (rt.errorHandler() does this and more). */
export const onErrorKeepingTheShape: ErrorHandler<AppEnv> = (err, c) => (err instanceof HTTPException ? httpErrorResponse(c, err) : c.json({ error: 'internal error' } satisfies RestError, 500));

/** What a script tells its user about a failed call: the fields' own messages, else the sentence. */
export async function explain(res: Response): Promise<string> {
  const { error, issues = [] } = (await res.json()) as RestError;
  return issues.length ? issues.map((i: RestIssue) => `${i.path || '(body)'}: ${i.message}`).join('; ') : error;
}
// #endregion

// #region sessions
export function sessionsFor(secret: string): Sessions {
  const options: SessionOptions = { secret, userRoles: { alice: ['editor'] }, cookieName: 'sid', ttlSeconds: 3600, secureCookie: true };
  return createSessions(options);
}

/** Who a token names, outside the middleware (a job holding a token, a test); a bad token is a guest. */
export function whoIs(sessions: Sessions, token: string | undefined): string {
  return sessions.read(token)?.username ?? GUEST_USERNAME;
}

/** What a session says of a user, as the middleware and ctx would: roles from configuration, initials from the names. */
export function describeUser(userRoles: Record<string, string[]>, username: string, firstName = '', lastName = '') {
  return { roles: rolesOf(userRoles, username), initials: initialsOf(username, firstName, lastName) }; // own keys only
}
// #endregion

// #region logging
/** The framework logs through any `Logger` (pino's fits as it is); `silentLogger` writes nothing. */
export function quietRealtime(app: Hono<AppEnv>): Realtime {
  const log: Logger = silentLogger;
  const line: LogFn = log.info; // (fields, message) or (message)
  line('never written');
  return new Realtime(app, { logger: log });
}

/** Work of an app's own, with a correlation id that its log lines and its broadcasts carry, as a message's do. */
export function traced<T>(work: () => T): { id: string; result: T } {
  const id = newCorrelationId();
  const result = withCorrelation(id, () => {
    logger.info({ correlationId: correlationId() }, 'working'); // the app's logger mixin adds it to every line by itself
    return work();
  });
  return { id, result };
}
// #endregion

// #region redis-connection
/** An app's store on Redis with the framework's kind of connection: fails fast while down, reconnects by itself, logs once per outage. */
export function auditLog(rt: Realtime, target: RedisTarget, key = 'myapp:audit') {
  const redis = openRedis(target, key, rt.log); // one Redis ({ url }) or a cluster ({ clusterNodes }); named in CLIENT LIST
  rt.dependsOn({ name: 'audit log', state: () => (redis.status === 'ready' ? 'ok' : 'degraded') }); // /ready waits for it
  rt.onClose(() => closeRedis(redis));
  return {
    ready: () => whenReady(redis),
    append: (line: string) => whileReady(redis).rpush(key, line), // refused at once while it is down: nothing queued
  };
}

/** One Redis only, by URL: the same kind of connection, as a `Redis`. */
export const jobsConnection = (url: string, log: Logger) => connectRedis(url, 'myapp:jobs', log);
// #endregion

// #region log
/** A namespace's log, read through the realtime server (which knows the path's policy by its route). */
export async function lastMessages(rt: Realtime, path: string): Promise<{ quiet: boolean; data: unknown[] }> {
  const head = await rt.replayHead(path); // { seq, epoch }; undefined if the namespace has no replay
  const quiet = head?.epoch === EMPTY_HEAD.epoch; // it never broadcast (or its log is gone): { seq: 0, epoch: '' }
  const page: History | undefined = await rt.history(path, { limit: 20 }); // the newest 20, oldest first, with their head
  const first = page?.entries[0];
  const older: HistoryQuery = { before: first?.seq ?? 1, limit: 20 }; // the 20 before those
  const previous = first ? await rt.history(path, older) : undefined;
  const data = (e: HistoryEntry) => e.data; // also e.seq, e.at (ms), e.type
  return { quiet, data: [...(previous?.entries ?? []), ...(page?.entries ?? [])].map(data) };
}

/** The broker's log directly: raw entries as published (an envelope line, then the frame). */
export async function rawLog(broker: Broker, path: string): Promise<number[]> {
  const policy: LogPolicy = { size: 200, maxAgeMs: 300_000 }; // the namespace's replay option, after defaults
  const read: LogRead = await broker.since(path, 0, '', policy);
  const entries: LogEntry[] = read.ok ? read.entries : [];
  return entries.map((e) => e.seq);
}
// #endregion

// #region shutdown
export async function stop(rt: Realtime): Promise<void> {
  const drain: DrainOptions = { spreadMs: 5000, timeoutMs: 10_000 };
  await rt.shutdown(drain); // 503 to new upgrades, 1012 to clients in batches, then the broker closes
}
// #endregion
