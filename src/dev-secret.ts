/**
 * The session secret of a development run: generated once and kept in a local file (ignored by
 * git), so that `npm start` after a restart still knows everyone who signed in. Production never
 * gets here: there `SESSION_SECRET` is required (src/config.ts).
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from './config.ts';

/** The secret kept in `file`, and whether this call created it. */
export interface DevSecret {
  secret: string;
  created: boolean;
}

/**
 * Reads the secret kept in `file`, or creates the file (mode 0600, its folder 0700) with a new
 * random one. Throws `ConfigError` when the file cannot be read or written, or holds no usable
 * secret.
 */
export function devSecret(file: string): DevSecret {
  const existing = read(file);
  if (existing !== undefined) return { secret: existing, created: false };
  const secret = randomBytes(32).toString('hex');
  const draft = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(draft, `${secret}\n`, { mode: 0o600 });
    // A link appears whole or not at all, and fails if the file exists: of two instances started
    // together, one writes the secret and the other reads it.
    linkSync(draft, file);
    return { secret, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { secret: read(file) ?? secret, created: false };
    throw new ConfigError(`cannot keep the development session secret in ${file} (${(err as Error).message}): set SESSION_SECRET, or DEV_SECRET_FILE to a writable path`);
  } finally {
    rmSync(draft, { force: true });
  }
}

function read(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the development session secret in ${file} (${(err as Error).message}): set SESSION_SECRET, or DEV_SECRET_FILE to a readable path`);
  }
  const secret = text.trim();
  if (secret.length < 32) throw new ConfigError(`${file} holds no session secret of 32 or more characters: delete it to have a new one made`);
  return secret;
}
