/**
 * Per-installation secrets, generated on first start and kept in `<data>/secrets.json`.
 *
 * Invariants:
 * - the file is only ever readable by its owner (mode 0600), re-asserted on every load because a
 *   backup restore or a careless `cp` may have widened it;
 * - values never change once written (tokens, Orthanc's stored credentials and the S3 archive
 *   would be orphaned), so a load only fills in keys that are missing (e.g. after an upgrade that
 *   added one) and rewrites the file atomically;
 * - generated values use a URL- and shell-safe alphabet so they can be put into URLs
 *   (`postgres://user:pass@…`) and environment variables without escaping.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface Secrets {
  /** HTTP credentials of the private Orthanc (RegisteredUsers), used by gateway and workers. */
  orthancUsername: string;
  orthancPassword: string;
  /** RADLINK_TOKEN_SECRET: signs bearer tokens; >= 48 characters. */
  tokenSecret: string;
  /** RADLINK_ADMIN_PASSWORD: the initial `admin` user's password (demo mode / first start). */
  adminPassword: string;
  /** Keys for the embedded S3 (s3rver accepts any, but the gateway must be configured with some). */
  s3AccessKey: string;
  s3SecretKey: string;
  /** Password of the `radlink` role of an embedded PostgreSQL cluster. */
  postgresPassword: string;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniform random string (rejection sampling keeps the distribution unbiased). */
export function randomToken(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: bytes above it would favour the first characters.
      if (byte < 248 && out.length < length) out += ALPHABET[byte % ALPHABET.length];
    }
  }
  return out;
}

function generate(): Secrets {
  return {
    orthancUsername: 'radlink',
    orthancPassword: randomToken(32),
    tokenSecret: randomToken(64),
    adminPassword: randomToken(20),
    s3AccessKey: `RL${randomToken(18).toUpperCase()}`,
    s3SecretKey: randomToken(40),
    postgresPassword: randomToken(32),
  };
}

export function secretsPath(dataDir: string): string {
  return join(dataDir, 'secrets.json');
}

/** Atomic write: readers see either the old or the new file, never a torn one. */
function writeSecrets(file: string, secrets: Secrets): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600); // the umask may have masked bits, never widened them; be explicit anyway
  renameSync(tmp, file);
}

/** Loads `<data>/secrets.json`, creating it (or the missing keys) on first use. */
export function loadOrCreateSecrets(dataDir: string): Secrets {
  const file = secretsPath(dataDir);
  mkdirSync(dirname(file), { recursive: true });
  if (!existsSync(file)) {
    const fresh = generate();
    writeSecrets(file, fresh);
    return fresh;
  }
  let stored: Partial<Secrets>;
  try {
    stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>;
  } catch (err) {
    // Never silently regenerate: that would lock the installation out of its own data.
    throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix or restore it from a backup`);
  }
  const defaults = generate();
  const merged = { ...defaults, ...stored } as Secrets;
  const missing = (Object.keys(defaults) as (keyof Secrets)[]).filter(
    (k) => typeof stored[k] !== 'string' || stored[k] === '',
  );
  for (const k of missing) merged[k] = defaults[k];
  if (missing.length > 0) writeSecrets(file, merged);
  else chmodSync(file, 0o600);
  return merged;
}
