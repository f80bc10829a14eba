/**
 * The HTTP side of a subscribe: which paths may be subscribed to, the GET request that runs the
 * path's route with the socket's identity, and what a refusal's response means as an
 * `unsubscribed` code.
 */
import type { Context } from 'hono';
import { CloseCode } from '../../protocol/codes.ts';
import type { Unsubscribed } from '../../protocol/frames.ts';
import { MAX_PATH_LENGTH } from '../wire/messages.ts';
import type { AppEnv } from '../types.ts';
import { namespacePath } from '../../protocol/paths.ts';

/** Request headers that describe the upgrade's own connection, not the client: never copied to a subscribe. */
const NOT_COPIED = new Set(['connection', 'upgrade', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'content-length']);

/** What every subscribe request of one socket is made from: its origin and the upgrade's headers (cookie, authorization...). */
export interface SubscribeBase {
  origin: string;
  headers: ReadonlyArray<readonly [string, string]>;
}

/** Taken from the upgrade request of a multiplexed socket, once. */
export function subscribeBase(c: Context<AppEnv>): SubscribeBase {
  const url = new URL(c.req.url);
  const headers: Array<[string, string]> = [];
  c.req.raw.headers.forEach((value, name) => {
    if (!NOT_COPIED.has(name) && !name.startsWith('proxy-') && !name.startsWith('sec-websocket-')) headers.push([name, value]);
  });
  return { origin: url.origin, headers };
}

/** The GET of `path` with the socket's headers. */
export function subscribeRequest(base: SubscribeBase, path: string): Request {
  return new Request(base.origin + path, { headers: base.headers as Array<[string, string]> });
}

/**
 * Why `path` cannot be subscribed to, or undefined when it can: an absolute path, at most
 * 1024 characters, given as the server names the namespace (dot segments resolved, percent
 * escapes decoded as the router decodes them, no query or fragment), not the multiplexed
 * endpoint itself. Its frames are tagged with that same string.
 */
export function badPath(path: string, muxPath: string): string | undefined {
  if (!path.startsWith('/') || path.startsWith('//')) return 'a subscription path starts with a single /';
  if (path.length > MAX_PATH_LENGTH) return `a subscription path has at most ${MAX_PATH_LENGTH} characters`;
  if (path.includes('?') || path.includes('#')) return 'a subscription path has no query or fragment';
  let normalized: string;
  try {
    normalized = namespacePath(path);
  } catch {
    return 'not a valid path';
  }
  if (normalized !== path) return `not a normalized path (the server names it ${normalized.slice(0, 100)})`;
  if (path === muxPath || path === `${muxPath}/`) return 'the multiplexed endpoint cannot be subscribed to';
  return undefined;
}

/** A refusal's HTTP status, when its body names no close code. */
const CODE_OF_STATUS: Record<number, number> = {
  400: CloseCode.INVALID_PARAMS,
  401: CloseCode.UNAUTHORIZED,
  403: CloseCode.FORBIDDEN,
  404: CloseCode.NOT_FOUND,
  429: CloseCode.TRY_AGAIN_LATER,
  503: CloseCode.TRY_AGAIN_LATER,
};

/** An internal error (1011): the route failed, and logged why. */
export const INTERNAL_ERROR = 1011;

/** The end of a subscribe that failed on the server (logged there, never detailed to the client). */
export const FAILED: Readonly<Unsubscribed> = Object.freeze({ code: INTERNAL_ERROR, reason: 'the server could not subscribe (it logged why)' });

/**
 * The `unsubscribed` data of a subscribe whose route answered `response` without taking the
 * subscription: the refusal's close code (as a direct socket would have closed), or one read
 * from its status; a route that answered 2xx is no namespace (a REST route).
 */
export async function refusalOf(response: Response): Promise<Unsubscribed> {
  if (response.ok) {
    discard(response);
    return { code: CloseCode.NOT_FOUND, reason: 'not a namespace' };
  }
  let body: { error?: unknown; closeCode?: unknown; retryAfter?: unknown } = {};
  // Only a JSON answer (a refusal's) is read: any other could stream on, and the socket's
  // subscribes wait for this one. The status says what it was.
  if (/^application\/json\b/i.test(response.headers.get('content-type') ?? '')) {
    try {
      body = (await response.json()) as typeof body;
    } catch {
      // Not JSON after all: the status says what it was.
    }
  } else {
    discard(response);
  }
  const given = typeof body.closeCode === 'number' && Number.isInteger(body.closeCode) ? body.closeCode : undefined;
  const code = given ?? CODE_OF_STATUS[response.status] ?? INTERNAL_ERROR;
  if (code === INTERNAL_ERROR) return FAILED;
  const reason = typeof body.error === 'string' ? body.error : `refused (${response.status})`;
  if (code !== CloseCode.TRY_AGAIN_LATER) return { code, reason };
  const retryAfter = typeof body.retryAfter === 'number' ? body.retryAfter : Number(response.headers.get('retry-after')) || 1;
  return { code, reason, retryAfter };
}

/** Lets go of a body nobody reads: a streamed answer (an event stream) would otherwise run on unread. */
function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}
