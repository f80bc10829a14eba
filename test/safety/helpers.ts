/**
 * Helpers of the safety suites: an app with some limits changed, and waiting for a refusal.
 */
import { loadConfig, type Config } from '../../src/config.ts';
import type { Limits } from '../../src/ws/safety/limits.ts';
import { startApp, TestClient, type TestApp } from '../helpers.ts';

/** Starts the app with the given limits over the defaults. */
export function startWithLimits(limits: Partial<Limits>, overrides: Partial<Config> = {}): Promise<TestApp> {
  return startApp({ ...overrides, limits: { ...loadConfig({}).limits, ...limits } });
}

/** The HTTP status of a refused upgrade (fails if the upgrade succeeds). */
export async function refusedStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const client = await TestClient.open(url, headers);
    await client.close();
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status !== undefined) return status;
    throw err;
  }
  throw new Error('the upgrade was accepted');
}

/** A room path of the reference app. */
export const roomUrl = (app: TestApp, name: string) => app.wsUrl(`/api/1/ws/hello-rooms/${name}`);
