/**
 * Process environments for RadLink processes run against a test stack (tests and benchmarks).
 * Free of vitest imports, so benchmarks outside the test runner use the same definitions.
 */
import { join } from 'node:path';
import type { StackInfo } from './stack-info.js';

export const ADMIN_PASSWORD = 'admin-test-password';

/** The backing services every process reads (contracts/config.ts SERVICE_KEYS). */
export function serviceEnv(s: StackInfo): Record<string, string> {
  return {
    REDIS_URL: s.redisUrl,
    ORTHANC_URL: s.orthanc.url,
    ORTHANC_USERNAME: s.orthanc.username,
    ORTHANC_PASSWORD: s.orthanc.password,
    S3_ENDPOINT: s.s3.endpoint,
    S3_ACCESS_KEY: s.s3.accessKey,
    S3_SECRET_KEY: s.s3.secretKey,
    S3_BUCKET: s.s3.bucket,
    S3_REGION: s.s3.region,
  };
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
    // Every test file logs in as the same users from 127.0.0.1 against one Redis within minutes:
    // the production limit (10 per minute per address and user) would refuse them. Tests of the
    // limit itself set it back (auth.test.ts, hostile-http.test.ts).
    RADLINK_LOGIN_RATE_LIMIT: '1000',
    ...serviceEnv(s),
    ...overrides,
  };
}

/** Environment for the workers process (or startWorkers in-process) against the same stack. */
export function workersEnv(s: StackInfo, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    RADLINK_DATA: s.dataDir,
    RADLINK_LOG_LEVEL: 'info',
    RADLINK_WORKERS: 'archive',
    ...serviceEnv(s),
    ...overrides,
  };
}
