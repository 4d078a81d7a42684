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
import type { StackInfo } from './stack-info.js';

export const ADMIN_PASSWORD = 'admin-test-password';

export function stack(): StackInfo {
  return inject('stack');
}

export function gatewayEnv(
  s: StackInfo,
  overrides: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    RADLINK_DATA: s.dataDir,
    RADLINK_TOKEN_SECRET: 'test-token-secret-0123456789abcdef0123456789',
    RADLINK_ADMIN_PASSWORD: ADMIN_PASSWORD,
    RADLINK_LOG_LEVEL: 'info',
    RADLINK_VIEWER_DIR: join(s.dataDir, 'no-viewer'),
    REDIS_URL: s.redisUrl,
    ORTHANC_URL: s.orthanc.url,
    ORTHANC_USERNAME: s.orthanc.username,
    ORTHANC_PASSWORD: s.orthanc.password,
    S3_ENDPOINT: s.s3.endpoint,
    S3_ACCESS_KEY: s.s3.accessKey,
    S3_SECRET_KEY: s.s3.secretKey,
    S3_BUCKET: s.s3.bucket,
    S3_REGION: s.s3.region,
    ...overrides,
  };
}

/** Environment for the workers process (or startWorkers in-process) against the same stack. */
export function workersEnv(s: StackInfo, overrides: Record<string, string> = {}): Record<string, string> {
  const g = gatewayEnv(s);
  const keys = [
    'REDIS_URL',
    'ORTHANC_URL',
    'ORTHANC_USERNAME',
    'ORTHANC_PASSWORD',
    'S3_ENDPOINT',
    'S3_ACCESS_KEY',
    'S3_SECRET_KEY',
    'S3_BUCKET',
    'S3_REGION',
  ];
  return {
    RADLINK_DATA: s.dataDir,
    RADLINK_LOG_LEVEL: 'info',
    RADLINK_WORKERS: 'archive',
    ...Object.fromEntries(keys.map((k) => [k, g[k]!])),
    ...overrides,
  };
}

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
