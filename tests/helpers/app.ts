/**
 * Builds the real gateway app for a test file against the shared stack (Orthanc, Redis, S3
 * from the integration global setup), on PGlite in memory or on a fresh PostgreSQL database.
 * Logs go to the stack's log directory so the log-scan tier can read them.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { buildApp } from '../../server/src/app.js';
import { createClients } from '../../server/src/clients.js';
import { type GatewayConfig, loadGatewayConfig } from '../../server/src/config.js';
import { type Db, openDb } from '../../server/src/db/client.js';
import { createLogger } from '../../server/src/logger.js';
import { ADMIN_PASSWORD, gatewayEnv } from './stack-env.js';
import type { StackInfo } from './stack-info.js';

export function stack(): StackInfo {
  return inject('stack');
}

// Environment builders live in stack-env.ts (no vitest import: benchmarks use them too).
export { ADMIN_PASSWORD, gatewayEnv, workersEnv } from './stack-env.js';

export interface TestApp {
  app: FastifyInstance;
  config: GatewayConfig;
  db: Db;
  login(username: string, password: string, totp?: string): Promise<string>;
  adminToken(): Promise<string>;
  close(): Promise<void>;
}

export async function buildTestApp(opts: {
  name: string;
  env?: Record<string, string | undefined>;
  /** A PostgreSQL URL; default: PGlite in memory. */
  databaseUrl?: string;
}): Promise<TestApp> {
  const s = stack();
  const config = loadGatewayConfig(gatewayEnv(s, { DATABASE_URL: opts.databaseUrl, ...opts.env }));
  // Tests use a private in-memory PGlite unless given PostgreSQL.
  const clients = await createClients(config, opts.databaseUrl ? {} : { db: await openDb({}) });
  const db = clients.db;
  const logger = createLogger('info', join(s.logDir, `gateway-${opts.name}.log`), false);
  const app = await buildApp({ config, ...clients, db, logger });
  await app.ready();
  let adminToken: string | undefined;
  const login = async (username: string, password: string, totp?: string) => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username, password, ...(totp ? { totp } : {}) },
    });
    if (res.statusCode !== 200) throw new Error(`login ${username} failed: ${res.statusCode} ${res.body}`);
    return (res.json() as { token: string }).token;
  };
  return {
    app,
    config,
    db,
    login,
    async adminToken() {
      adminToken ??= await login('admin', ADMIN_PASSWORD);
      return adminToken;
    },
    async close() {
      await app.close();
      await Promise.allSettled([clients.orthanc.close(), clients.redis.quit(), db.close()]);
      logger.flush();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * Waits until the app's change feed has processed every change Orthanc had when called. The
 * integration tier shares one Orthanc, and a new app's feed starts from change 0: by the time a
 * file runs, it may first have thousands of other files' instances to index. Tests that time how
 * fast a new instance is indexed (the 10 s DIMSE target) measure from a caught-up feed, as in a
 * running site; the catch-up of a fresh gateway over an existing archive is not that figure.
 */
export async function feedCaughtUp(t: TestApp, timeoutMs = 240_000): Promise<void> {
  const { Last } = await t.app.orthanc.json<{ Last: number }>('GET', '/changes?last');
  const t0 = Date.now();
  for (;;) {
    const [row] = await t.db.query<{ last_seq: string }>(
      "SELECT last_seq FROM feed_cursors WHERE name = 'orthanc-changes'",
    );
    if (Number(row?.last_seq ?? 0) >= Last) return; // no row yet: nothing processed (Orthanc empty)
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`change feed still at ${row?.last_seq ?? 'none'} of ${Last} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
