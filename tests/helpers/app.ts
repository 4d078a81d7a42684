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
