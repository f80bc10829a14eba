/**
 * The realtime client, for the browser (bundled to `public/client.js` by `npm run build:client`)
 * and for Node (pass the `ws` package as `options.WebSocket`). See `docs/client.md`.
 */
export { connect, RealtimeClient, type ClientOptions, type Frame, type NetworkEvents, type Status, type StatusDetail, type WebSocketConstructor, type WebSocketLike, type Welcome } from './client.ts';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
export { ClientErrorCode, RequestError } from './errors.ts';
export { CloseCode, ErrorCode, isPermanentClose } from '../ws/codes.ts';
