/**
 * The realtime client, for the browser (bundled to `public/client.js` by `npm run build:client`)
 * and for Node (pass the `ws` package as `options.WebSocket`). See `docs/client.md`.
 */
export { connect, RealtimeClient } from './client.ts';
export type { ClientOptions, Frame, NetworkEvents, ReplayHead, ResyncResult, Status, StatusDetail, WebSocketConstructor, WebSocketLike, Welcome } from './types.ts';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
export { ClientErrorCode, RequestError } from './errors.ts';
export { CloseCode, ErrorCode, isPermanentClose } from '../protocol/index.ts';
