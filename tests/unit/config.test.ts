import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../contracts/config.js';
import { loadGatewayConfig } from '../../server/src/config.js';

const VALID = {
  RADLINK_TOKEN_SECRET: 'x'.repeat(48),
  REDIS_URL: 'redis://127.0.0.1:6379',
  ORTHANC_URL: 'http://127.0.0.1:8042',
  ORTHANC_USERNAME: 'radlink',
  ORTHANC_PASSWORD: 'secret',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_ACCESS_KEY: 'a',
  S3_SECRET_KEY: 'b',
};

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadGatewayConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  return [];
}

describe('gateway configuration', () => {
  it('applies documented defaults and converts types', () => {
    const cfg = loadGatewayConfig(VALID);
    expect(cfg.RADLINK_PORT).toBe(8080);
    expect(cfg.RADLINK_DATA).toBe('./data');
    expect(cfg.RADLINK_TOKEN_TTL_SECONDS).toBe(900);
    expect(cfg.RADLINK_COOKIE_SECURE).toBe(false);
    expect(cfg.DATABASE_URL).toBeUndefined();
    const custom = loadGatewayConfig({ ...VALID, RADLINK_PORT: '9443', RADLINK_COOKIE_SECURE: 'true' });
    expect(custom.RADLINK_PORT).toBe(9443);
    expect(custom.RADLINK_COOKIE_SECURE).toBe(true);
  });

  it.each([
    ['missing required key', { ...VALID, REDIS_URL: undefined }, /^REDIS_URL is required/],
    ['empty string counts as missing', { ...VALID, ORTHANC_URL: '' }, /^ORTHANC_URL is required/],
    ['non-numeric port', { ...VALID, RADLINK_PORT: 'eighty' }, /^RADLINK_PORT="eighty" is invalid/],
    ['port out of range', { ...VALID, RADLINK_PORT: '70000' }, /^RADLINK_PORT="70000" is invalid/],
    [
      'short token secret',
      { ...VALID, RADLINK_TOKEN_SECRET: 'short' },
      /^RADLINK_TOKEN_SECRET="short" is invalid/,
    ],
    [
      'URL without scheme',
      { ...VALID, S3_ENDPOINT: 'localhost:9000' },
      /^S3_ENDPOINT="localhost:9000" is invalid/,
    ],
    ['unknown log level', { ...VALID, RADLINK_LOG_LEVEL: 'loud' }, /^RADLINK_LOG_LEVEL="loud" is invalid/],
    [
      'bad boolean',
      { ...VALID, RADLINK_COOKIE_SECURE: 'perhaps' },
      /^RADLINK_COOKIE_SECURE="perhaps" is invalid/,
    ],
    [
      'half a TLS pair',
      { ...VALID, RADLINK_TLS_CERT: '/etc/cert.pem' },
      /RADLINK_TLS_CERT and RADLINK_TLS_KEY/,
    ],
  ])('rejects %s, naming the key', (_name, env, pattern) => {
    const problems = problemsOf(env);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.some((p) => pattern.test(p))).toBe(true);
  });

  it('reports every bad key at once', () => {
    const problems = problemsOf({ RADLINK_PORT: 'x' });
    const keys = problems.map((p) => p.split(/[ =]/)[0]);
    for (const k of ['RADLINK_PORT', 'RADLINK_TOKEN_SECRET', 'REDIS_URL', 'ORTHANC_URL', 'S3_ENDPOINT']) {
      expect(keys).toContain(k);
    }
  });

  it.each(['1.5', '1e1', '0x10', '30 days', '3,000'])(
    'refuses %s for a whole-number key instead of truncating it',
    (value) => {
      const problems = problemsOf({ ...VALID, RADLINK_WEBHOOK_LOG_DELIVERED_DAYS: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^RADLINK_WEBHOOK_LOG_DELIVERED_DAYS=.*whole number/);
    },
  );

  it('accepts whole numbers written with a sign or surrounding spaces', () => {
    expect(loadGatewayConfig({ ...VALID, RADLINK_PORT: ' +8081 ' }).RADLINK_PORT).toBe(8081);
  });

  it('never echoes a secret value that is merely present', () => {
    // The error message quotes bad values, so a secret is quoted only when it is itself invalid.
    const problems = problemsOf({ ...VALID, ORTHANC_PASSWORD: 'topsecret', REDIS_URL: undefined });
    expect(problems.join('\n')).not.toContain('topsecret');
  });
});
