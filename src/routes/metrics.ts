/** `GET /metrics`: the Prometheus exposition, behind a bearer token unless configured public. */
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import type { Metrics } from '../metrics.ts';
import type { AppEnv } from 'hono-namespaces';

/** `token` undefined serves the metrics to anyone who reaches the port. */
export function metricsRoutes(metrics: Metrics, token: string | undefined) {
  const routes = new Hono<AppEnv>();
  if (token !== undefined) {
    // JSON bodies in the REST error shape; bearerAuth keeps its WWW-Authenticate header.
    const needed = 'send the METRICS_TOKEN as Authorization: Bearer <token>';
    routes.use(
      '/metrics',
      bearerAuth({
        token,
        noAuthenticationHeader: { message: { error: `a bearer token is required: ${needed}` } },
        invalidAuthenticationHeader: { message: { error: `malformed Authorization header: ${needed}` } },
        invalidToken: { message: { error: 'wrong bearer token: it must equal METRICS_TOKEN' } },
      }),
    );
  }
  return routes.get('/metrics', async (c) => c.body(await metrics.render(), 200, { 'content-type': metrics.contentType }));
}
