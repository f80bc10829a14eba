/**
 * Helpers of the safety suites.
 */
import { TestClient, type TestApp } from '../helpers.ts';

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
