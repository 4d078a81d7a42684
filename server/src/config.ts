/**
 * The gateway's configuration. Every key is an environment variable; README's table is
 * generated from (and tested against) this schema. Services are URLs: the start script fills
 * them in for the embedded services it launches, a hospital sets them for its own.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ConfigError, Env, loadConfig, SERVICE_KEYS } from '../../contracts/config.js';

export const GatewayConfigSchema = Type.Object({
  RADLINK_DATA: Env.str('Directory for all local state (embedded database, secrets, logs).', './data'),
  RADLINK_HOST: Env.str('Address the gateway listens on.', '0.0.0.0'),
  RADLINK_PORT: Env.port('HTTP(S) port of the gateway.', 8080),
  RADLINK_PUBLIC_URL: Env.optUrl(
    'External base URL (used in BulkDataURIs, share links); default: derived from the request.',
  ),
  RADLINK_TLS_CERT: Env.optStr('PEM certificate file; with RADLINK_TLS_KEY the gateway serves HTTPS.'),
  RADLINK_TLS_KEY: Env.optStr('PEM private key file for RADLINK_TLS_CERT.'),
  RADLINK_LOG_LEVEL: Env.enumOf(
    'Log level.',
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    'info',
  ),
  RADLINK_LOG_FILE: Env.optStr('Also append JSON logs to this file.'),
  RADLINK_TOKEN_SECRET: Type.String({
    description:
      'Secret (>= 32 chars) that signs bearer tokens; the start script generates one per installation.',
    minLength: 32,
  }),
  RADLINK_TOKEN_TTL_SECONDS: Env.int('Lifetime of a bearer token.', 900, 30, 86400),
  RADLINK_SESSION_TTL_SECONDS: Env.int(
    'Idle lifetime of a login session (browser cookie).',
    43200,
    60,
    30 * 86400,
  ),
  RADLINK_LOGIN_RATE_LIMIT: Env.int(
    'Login attempts allowed per client address and user name per minute (also share-link opens per address).',
    10,
    1,
    10000,
  ),
  RADLINK_BODY_LIMIT_BYTES: Env.int('Largest JSON request body.', 1048576, 1024, 64 * 1048576),
  RADLINK_HEADERS_TIMEOUT_MS: Env.int(
    'A client must send its request headers within this time (cuts off slow-header attacks).',
    20_000,
    500,
    120_000,
  ),
  RADLINK_REQUEST_TIMEOUT_MS: Env.int(
    'Longest time for a whole request, body included (large STOW uploads over slow links need minutes).',
    1_800_000,
    10_000,
    2 ** 31 - 1,
  ),
  RADLINK_COOKIE_SECURE: Env.bool('Mark the session cookie Secure (set when served over HTTPS).', false),
  RADLINK_ADMIN_PASSWORD: Env.optStr(
    'Password for the initial "admin" user, created when the user table is empty.',
  ),
  RADLINK_VIEWER_DIR: Env.optStr('Directory of the built viewer served at /; default viewer/dist.'),
  RADLINK_TRUST_PROXY: Env.bool('Trust X-Forwarded-* headers (set behind a reverse proxy).', false),
  RADLINK_METRICS_TOKEN: Env.optStr('Static bearer token that may read /metrics (for Prometheus).'),
  RADLINK_STOW_MAX_INSTANCE_BYTES: Env.int(
    'Largest instance (one multipart part) STOW-RS accepts.',
    1073741824,
    1024,
    2 ** 40,
  ),
  RADLINK_STOW_MAX_REQUEST_BYTES: Env.int(
    'Largest STOW-RS request body (all parts together).',
    4294967296,
    1024,
    2 ** 42,
  ),
  RADLINK_THUMBNAIL_SIZE: Env.int(
    'Longest side of thumbnails in pixels (rendered once, cached in S3).',
    128,
    16,
    1024,
  ),
  RADLINK_CORS_ORIGINS: Env.optStr(
    'Comma-separated browser origins allowed to call the API (CORS); unset: none.',
  ),
  RADLINK_TAT_STAT_MINUTES: Env.int(
    'Turnaround target of a STAT read request (request to signed report).',
    60,
    5,
    43200,
  ),
  RADLINK_TAT_URGENT_MINUTES: Env.int('Turnaround target of an urgent read request.', 240, 5, 43200),
  RADLINK_TAT_ROUTINE_MINUTES: Env.int('Turnaround target of a routine read request.', 1440, 5, 43200),
  RADLINK_POOL_FIRST_MINUTES: Env.int(
    "How long a request for a specialty pool sorts ahead for the pool's members only; then for every radiologist of the facility.",
    15,
    0,
    1440,
  ),
  RADLINK_STAT_ESCALATE_POOL_SECONDS: Env.int(
    'An unclaimed, unacknowledged STAT request alerts its pool again after this delay.',
    300,
    1,
    86400,
  ),
  RADLINK_STAT_ESCALATE_ADMIN_SECONDS: Env.int(
    "Then the reading facility's admins, after this further delay, and again at this interval (up to 10 times).",
    300,
    1,
    86400,
  ),
  RADLINK_ATTACHMENT_MAX_BYTES: Env.int(
    'Largest attachment (JPEG, PNG or PDF) on a read request.',
    20 * 1048576,
    1024,
    1024 * 1048576,
  ),
  RADLINK_SSE_HEARTBEAT_SECONDS: Env.int(
    'Interval of heartbeat comments on /api/events streams.',
    25,
    1,
    300,
  ),
  RADLINK_EVENT_LOG_HOURS: Env.int('How long reading events are kept for Last-Event-ID replay.', 24, 1, 720),
  RADLINK_WEBHOOK_ATTEMPTS: Env.int(
    'Delivery attempts of one webhook event before it is marked failed.',
    8,
    1,
    50,
  ),
  RADLINK_WEBHOOK_RETRY_BASE_MS: Env.int(
    'First retry delay of a failed webhook delivery (doubles with each attempt).',
    10000,
    10,
    3600000,
  ),
  RADLINK_WEBHOOK_ALLOW_LOOPBACK: Env.bool(
    'Allow webhook URLs on loopback or link-local addresses (tests only; private LANs are always allowed).',
    false,
  ),
  RADLINK_WEBHOOK_LOG_DELIVERED_DAYS: Env.int(
    'Days a delivered webhook delivery stays in the delivery log (counted from its delivery); then it is pruned.',
    30,
    1,
    3650,
  ),
  RADLINK_WEBHOOK_LOG_FAILED_DAYS: Env.int(
    'Days a failed webhook delivery stays in the delivery log (counted from its last attempt); at least the delivered period.',
    90,
    1,
    3650,
  ),
  RADLINK_SHARE_TTL_DAYS: Env.int(
    'Default lifetime of a patient share link in days (staff may choose 1 to 365 per link).',
    30,
    1,
    365,
  ),
  RADLINK_SHARE_SESSION_SECONDS: Env.int(
    'Lifetime of a viewing session opened from a share link (never beyond the link expiry).',
    7200,
    300,
    86400,
  ),
  RADLINK_SHARE_MAX_ATTEMPTS: Env.int(
    'Wrong PINs (or birth years) in a row that lock a share link until staff issue a new one.',
    5,
    1,
    100,
  ),
  RADLINK_DISK_MIN_FREE_MB: Env.int(
    'STOW-RS refuses (503, Retry-After) while a watched volume has less free space than this.',
    2048,
    0,
    2 ** 30,
  ),
  RADLINK_DISK_WATCH_DIRS: Env.optStr(
    "Comma-separated directories whose volumes the free-space check watches; default: Orthanc's storage and RADLINK_DATA.",
  ),
  RADLINK_BREAK_GLASS_MINUTES: Env.int('Lifetime of a break-glass (emergency) access grant.', 60, 5, 1440),
  RADLINK_RETENTION_INTERVAL_HOURS: Env.int(
    'Hours between scheduled retention runs (0: only when an admin starts one).',
    24,
    0,
    8760,
  ),
  DATABASE_URL: Env.optUrl('PostgreSQL URL; unset: embedded PGlite under RADLINK_DATA/pglite.'),
  ...SERVICE_KEYS,
});

export type GatewayConfig = Static<typeof GatewayConfigSchema>;

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const cfg = loadConfig('gateway', GatewayConfigSchema, env);
  if (Boolean(cfg.RADLINK_TLS_CERT) !== Boolean(cfg.RADLINK_TLS_KEY)) {
    throw new ConfigError('gateway', ['RADLINK_TLS_CERT and RADLINK_TLS_KEY must be set together']);
  }
  // A failed delivery is what an admin investigates: it must not leave the log before the
  // successes around it do.
  if (cfg.RADLINK_WEBHOOK_LOG_FAILED_DAYS < cfg.RADLINK_WEBHOOK_LOG_DELIVERED_DAYS) {
    throw new ConfigError('gateway', [
      `RADLINK_WEBHOOK_LOG_FAILED_DAYS=${cfg.RADLINK_WEBHOOK_LOG_FAILED_DAYS} must be at least RADLINK_WEBHOOK_LOG_DELIVERED_DAYS=${cfg.RADLINK_WEBHOOK_LOG_DELIVERED_DAYS}`,
    ]);
  }
  return cfg;
}
