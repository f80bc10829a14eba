/**
 * The realtime client, for the browser (bundled to `public/client.js` by `npm run build:client`)
 * and for Node (pass the `ws` package as `options.WebSocket`). See `docs/client.md`.
 */
export { connect, RealtimeClient } from './client.ts';
export { connectMany, MultiplexClient, type MultiplexOptions, type SubscribeOptions, type Subscription } from './multiplex.ts';
export type { NamespaceChannel, RequestOptions } from './channel.ts';
export type { ClientOptions, Frame, NetworkEvents, ReplayHead, ResyncResult, Status, StatusDetail, WebSocketConstructor, WebSocketLike, Welcome } from './types.ts';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
export { ClientErrorCode, RequestError } from './errors.ts';
export { CloseCode, ErrorCode, isPermanentClose, type MultiplexWelcome } from '../protocol/index.ts';
export type { AckData, ContractAt, ContractOf, NamespaceContract, UntypedContract } from '../protocol/contract.ts';
