/**
 * Prometheus metrics (prom-client), fed by the realtime server's events (`rt.events`) and its
 * registry. Every label is bounded: namespaces are counted by route pattern
 * (`/api/1/ws/hello-rooms/:roomName`), never by literal path or user, and close codes outside the
 * known set are folded into `other`, so that neither room names nor clients can grow the series.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CloseCode, ErrorCode, RefusalReason, type Namespace, type Realtime } from 'hono-namespaces';

/** Prefix of every metric of this server (process metrics keep their standard names). */
export const METRIC_PREFIX = 'hns_';

/** The metrics of one app. */
export interface Metrics {
  /** This app's metrics (without the process metrics). */
  readonly registry: Registry;
  /** Content type of `render()`. */
  readonly contentType: string;
  /** The Prometheus text exposition: this app's metrics and the process metrics. */
  render(): Promise<string>;
}

/** Options of `createMetrics`. */
export interface MetricsOptions {
  /** Include the standard process and Node metrics (CPU, memory, event-loop lag, GC). Default true. */
  processMetrics?: boolean;
}

// Close codes a client may send are any of 1000-4999: only these are labels, the rest is `other`.
const KNOWN_CLOSE_CODES = new Set<number>([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1015, ...Object.values(CloseCode)]);

/** The close code as a bounded label value. */
export function closeCodeLabel(code: number): string {
  return KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
}

let processRegistry: Registry | undefined;

/** Default metrics are process-wide: collected once into one registry, whatever the number of apps. */
function processMetricsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** Creates the metrics of `rt` and subscribes them to its events. */
export function createMetrics(rt: Realtime, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const m = (name: string) => `${METRIC_PREFIX}${name}`;
  const byPattern = ['pattern'] as const;

  const connections = new Gauge({ name: m('connections'), help: 'Members of namespaces (direct connections and subscriptions of multiplexed sockets), by namespace pattern', labelNames: byPattern, registers: [registry] });
  const namespaces = new Gauge({ name: m('namespaces'), help: 'Live namespaces on this instance, by pattern', labelNames: byPattern, registers: [registry] });
  const accepted = new Counter({ name: m('upgrades_accepted_total'), help: 'WebSocket upgrades accepted, by namespace pattern', labelNames: byPattern, registers: [registry] });
  const refused = new Counter({ name: m('upgrades_refused_total'), help: 'WebSocket upgrades refused, by reason', labelNames: ['reason'] as const, registers: [registry] });
  const disconnects = new Counter({ name: m('disconnects_total'), help: 'Closed connections, by namespace pattern and close code', labelNames: ['pattern', 'code'] as const, registers: [registry] });
  const duration = new Histogram({
    name: m('connection_duration_seconds'),
    help: 'How long connections lasted, by namespace pattern',
    labelNames: byPattern,
    buckets: [1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600],
    registers: [registry],
  });
  const received = new Counter({ name: m('messages_received_total'), help: 'Frames received from clients, by namespace pattern', labelNames: byPattern, registers: [registry] });
  const sent = new Counter({ name: m('messages_sent_total'), help: 'Frames sent to clients (broadcasts, replies, errors), by namespace pattern', labelNames: byPattern, registers: [registry] });
  const fanout = new Histogram({
    name: m('broadcast_fanout'),
    help: 'Local clients reached by one broadcast on this instance, by namespace pattern',
    labelNames: byPattern,
    buckets: [0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
    registers: [registry],
  });
  const errorsSent = new Counter({ name: m('errors_sent_total'), help: 'Error frames sent to clients, by error code', labelNames: ['code'] as const, registers: [registry] });
  const handlerErrors = new Counter({ name: m('handler_errors_total'), help: 'Handlers that threw, by namespace pattern and handler', labelNames: ['pattern', 'handler'] as const, registers: [registry] });
  const rateLimited = new Counter({ name: m('messages_rate_limited_total'), help: 'Client messages refused by the rate limit, by namespace pattern', labelNames: byPattern, registers: [registry] });
  const slowConsumers = new Counter({ name: m('slow_consumer_disconnects_total'), help: 'Clients disconnected for reading too slowly, by namespace pattern', labelNames: byPattern, registers: [registry] });
  const replays = new Counter({ name: m('replay_requests_total'), help: 'Replay requests answered, by namespace pattern and result (served, gap)', labelNames: ['pattern', 'result'] as const, registers: [registry] });
  const published = new Counter({ name: m('broker_published_total'), help: 'Payloads published through the broker', registers: [registry] });
  const publishedBytes = new Counter({ name: m('broker_published_bytes_total'), help: 'Bytes published through the broker', registers: [registry] });
  const busReceived = new Counter({ name: m('broker_received_total'), help: 'Payloads received from the broker', registers: [registry] });
  const busErrors = new Counter({
    name: m('broker_errors_total'),
    help: 'Broker failures, by operation (publish: a broadcast refused; subscribe; malformed: a payload dropped)',
    labelNames: ['op'] as const,
    registers: [registry],
  });
  /** A gauge read at scrape time: 1 while `service` is healthy, 0 while degraded. */
  function upGauge(name: string, what: string, service: { readonly kind: string; state(): string }): void {
    new Gauge({
      name: m(name),
      help: `1 when ${what} is healthy, 0 when degraded`,
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        this.set({ kind: service.kind }, service.state() === 'ok' ? 1 : 0);
      },
    });
  }
  upGauge('broker_up', 'the broker (bus and logs)', rt.broker);
  upGauge('presence_up', 'presence (members across instances)', rt.presence);
  new Gauge({
    name: m('draining'),
    help: '1 while the server is shutting down (draining its connections)',
    registers: [registry],
    collect() {
      this.set(rt.draining ? 1 : 0);
    },
  });

  // Known label values start at 0, so that rate() and alerts see the first occurrence.
  for (const reason of Object.values(RefusalReason)) refused.inc({ reason }, 0);
  for (const code of Object.values(ErrorCode)) errorsSent.inc({ code }, 0);
  for (const op of ['publish', 'subscribe', 'malformed'] as const) busErrors.inc({ op }, 0);

  // Children per pattern, so the hot path does not hash label sets on every frame.
  const children = new Map<string, ReturnType<typeof bind>>();
  function bind(pattern: string) {
    return {
      connections: connections.labels(pattern),
      namespaces: namespaces.labels(pattern),
      accepted: accepted.labels(pattern),
      duration: duration.labels(pattern),
      received: received.labels(pattern),
      sent: sent.labels(pattern),
      fanout: fanout.labels(pattern),
    };
  }
  function of(ns: Namespace) {
    const pattern = ns.pattern || '(none)';
    let c = children.get(pattern);
    if (!c) children.set(pattern, (c = bind(pattern)));
    return c;
  }

  rt.registry.on('create', (ns) => of(ns).namespaces.inc());
  rt.registry.on('delete', (ns) => of(ns).namespaces.dec());
  const ev = rt.events;
  ev.on('connect', ({ ns }) => {
    const c = of(ns);
    c.accepted.inc();
    c.connections.inc();
  });
  ev.on('disconnect', ({ ns, code, durationMs }) => {
    const c = of(ns);
    c.connections.dec();
    c.duration.observe(durationMs / 1000);
    disconnects.inc({ pattern: ns.pattern, code: closeCodeLabel(code) });
  });
  ev.on('refused', ({ reason }) => refused.inc({ reason }));
  ev.on('message', ({ ns }) => of(ns).received.inc());
  ev.on('delivered', ({ ns, recipients, broadcast }) => {
    const c = of(ns);
    if (recipients > 0) c.sent.inc(recipients);
    if (broadcast) c.fanout.observe(recipients);
  });
  ev.on('replied', ({ ns }) => of(ns).sent.inc());
  ev.on('errorSent', ({ code }) => errorsSent.inc({ code }));
  ev.on('handlerError', ({ ns, handler }) => handlerErrors.inc({ pattern: ns.pattern, handler }));
  ev.on('rateLimited', ({ ns }) => rateLimited.inc({ pattern: ns.pattern }));
  ev.on('slowConsumer', ({ ns }) => slowConsumers.inc({ pattern: ns.pattern }));
  ev.on('replay', ({ ns, result }) => replays.inc({ pattern: ns.pattern, result }));
  ev.on('published', ({ bytes }) => {
    published.inc();
    publishedBytes.inc(bytes);
  });
  ev.on('received', () => busReceived.inc());
  ev.on('brokerError', ({ op }) => busErrors.inc({ op }));

  const exposed = options.processMetrics === false ? registry : Registry.merge([processMetricsRegistry(), registry]);
  return {
    registry,
    contentType: exposed.contentType,
    render: () => exposed.metrics(),
  };
}
