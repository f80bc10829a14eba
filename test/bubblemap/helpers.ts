/** Helpers of the bubble map tests: REST calls with a session cookie, and a socket to a map. */
import { TestClient, type TestApp } from '../helpers.ts';

export async function call(app: TestApp, method: string, path: string, cookie?: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: { ...(cookie ? { cookie } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Creates a map as the user of `cookie`; returns its id. */
export async function createMap(app: TestApp, cookie: string, body: { title?: string; requiredRoles?: string[] } = {}): Promise<string> {
  const { status, json } = await call(app, 'POST', '/api/1/bubblemap', cookie, { title: 'Plan', ...body });
  if (status !== 201) throw new Error(`create map: ${status} ${JSON.stringify(json)}`);
  return json.map.id as string;
}

export const mapUrl = (app: TestApp, mapId: string) => app.wsUrl(`/api/1/ws/bubblemap/${mapId}`);

/** Joins a map and reads its `welcome`. */
export function joinMap(app: TestApp, mapId: string, cookie: string) {
  return TestClient.connect(mapUrl(app, mapId), { cookie });
}
