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
    'Login attempts allowed per client address and user name per minute.',
    10,
    1,
    10000,
  ),
  RADLINK_BODY_LIMIT_BYTES: Env.int('Largest JSON request body.', 1048576, 1024, 64 * 1048576),
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
  DATABASE_URL: Env.optUrl('PostgreSQL URL; unset: embedded PGlite under RADLINK_DATA/pglite.'),
  ...SERVICE_KEYS,
});

export type GatewayConfig = Static<typeof GatewayConfigSchema>;

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const cfg = loadConfig('gateway', GatewayConfigSchema, env);
  if (Boolean(cfg.RADLINK_TLS_CERT) !== Boolean(cfg.RADLINK_TLS_KEY)) {
    throw new ConfigError('gateway', ['RADLINK_TLS_CERT and RADLINK_TLS_KEY must be set together']);
  }
  return cfg;
}
