/** The framework: per-resource WebSocket namespaces on Hono. */
export { access, onCreate, type AccessOptions } from './access.ts';
export { CloseCode, ErrorCode, isPermanentClose } from './codes.ts';
export { buildCtx, GUEST_USERNAME, publicCtx, SYSTEM_USERNAME, systemCtx, type Conn, type Ctx, type PublicCtx, type SessionUser } from './ctx.ts';
export type { IncomingMessage, MessageSchemas, NamespaceDefinition } from './definition.ts';
export { MessageError } from './message-error.ts';
export { Namespace, type Member, type NamespaceStats } from './namespace.ts';
export { MemoryBus, MemoryPubSub } from './pubsub/memory.ts';
export type { PayloadHandler, PubSub, PubSubState } from './pubsub/types.ts';
export { RealtimeEvents, type RealtimeEventMap } from './events.ts';
export { Realtime, type RealtimeOptions, type RealtimeStats } from './realtime.ts';
export { RefusalReason, WsRefusal } from './refusal.ts';
export { NamespaceRegistry } from './registry.ts';
export type { DrainOptions } from './safety/drain.ts';
export { DEFAULT_LIMITS, type Limits } from './safety/limits.ts';
export { createSessions, type SessionOptions, type Sessions } from './session.ts';
export type { AppEnv, OnCreateFn } from './types.ts';
