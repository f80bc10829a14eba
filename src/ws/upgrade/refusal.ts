import { CloseCode, isPermanentClose } from '../../protocol/codes.ts';

/**
 * A refused WebSocket upgrade. Thrown by any middleware of a namespace route; the app's error
 * handler turns it into what the client can see: a permanent refusal completes the upgrade and
 * closes at once with `closeCode` and the message as reason (a browser cannot read an HTTP status),
 * a retryable one answers with the HTTP `status` (503 or 429), which a browser sees as a failed
 * connection and retries.
 */
export class WsRefusal extends Error {
  override readonly name = 'WsRefusal';

  constructor(
    /** Close code sent to the client for a permanent refusal. */
    readonly closeCode: number,
    message: string,
    /** HTTP status used when the request is not an upgrade, or the refusal is retryable. */
    readonly status: 400 | 401 | 403 | 404 | 429 | 503,
    /**
     * Short fixed code of the cause, for logs and the `refused` metric (a bounded label: never
     * put a path or a user in it). Default: derived from the close code and status.
     */
    readonly reason: string = defaultReason(closeCode, status),
    /** Seconds a retryable refusal asks the client to wait (`Retry-After`). */
    readonly retryAfterSeconds = 2,
  ) {
    super(message);
  }

  /** Whether the client should retry later. */
  get retryable(): boolean {
    return !isPermanentClose(this.closeCode);
  }

  static invalidParams(message: string): WsRefusal {
    return new WsRefusal(CloseCode.INVALID_PARAMS, message, 400);
  }

  static unauthorized(message = 'a session is required'): WsRefusal {
    return new WsRefusal(CloseCode.UNAUTHORIZED, message, 401);
  }

  static forbidden(message = 'forbidden', reason?: string): WsRefusal {
    return new WsRefusal(CloseCode.FORBIDDEN, message, 403, reason);
  }

  static notFound(message = 'no namespace at this path'): WsRefusal {
    return new WsRefusal(CloseCode.NOT_FOUND, message, 404);
  }

  /** Retryable: server overloaded, limit reached or shutting down; the client is asked to wait `retryAfterSeconds`. */
  static unavailable(message: string, status: 429 | 503 = 503, reason?: string, retryAfterSeconds?: number): WsRefusal {
    return new WsRefusal(CloseCode.TRY_AGAIN_LATER, message, status, reason, retryAfterSeconds);
  }
}

/** The reasons of the framework's refusals (`WsRefusal.reason`, a label of the refused metric). */
export const RefusalReason = {
  INVALID_PARAMS: 'invalid_params',
  UNAUTHORIZED: 'unauthorized',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  /** Default of a retryable refusal with 503. */
  UNAVAILABLE: 'unavailable',
  /** Default of a retryable refusal with 429. */
  TOO_MANY: 'too_many',
  DRAINING: 'draining',
  CONNECTION_LIMIT: 'connection_limit',
  IP_LIMIT: 'ip_limit',
  /** One address's share of the admission rate used up. */
  IP_RATE: 'ip_rate',
  USER_LIMIT: 'user_limit',
  UPGRADE_RATE: 'upgrade_rate',
  NAMESPACE_LIMIT: 'namespace_limit',
  ORIGIN: 'origin',
  /** A multiplexed socket at `maxSubscriptions` (4429). */
  SUBSCRIPTION_LIMIT: 'subscription_limit',
  /** The multiplexed sockets of one address at `maxSubscriptionsPerIp` (1013). */
  SUBSCRIPTION_IP_LIMIT: 'subscription_ip_limit',
} as const;

const REASON_BY_CODE: Record<number, string> = {
  [CloseCode.INVALID_PARAMS]: RefusalReason.INVALID_PARAMS,
  [CloseCode.UNAUTHORIZED]: RefusalReason.UNAUTHORIZED,
  [CloseCode.FORBIDDEN]: RefusalReason.FORBIDDEN,
  [CloseCode.NOT_FOUND]: RefusalReason.NOT_FOUND,
};

function defaultReason(closeCode: number, status: number): string {
  return REASON_BY_CODE[closeCode] ?? (status === 429 ? RefusalReason.TOO_MANY : RefusalReason.UNAVAILABLE);
}
