import { describe, expect, it } from 'vitest';
import { lookupRule, POLICY } from '../../server/src/policy/table.js';

describe('access policy table', () => {
  it('is the only source of anonymous access: health, login, opening a share link, checking a printed report, CORS preflight, viewer files, docs', () => {
    const anonymous = Object.entries(POLICY)
      .filter(([, r]) => r.anonymous)
      .map(([k]) => k)
      .sort();
    expect(anonymous).toEqual([
      'GET /api/verify/reports/:reportId',
      'GET /healthz',
      'GET /readyz',
      'OPTIONS *',
      'POST /api/auth/login',
      'POST /api/share/open',
    ]);
  });

  it('every rule is either anonymous or has roles, never both', () => {
    for (const [key, rule] of Object.entries(POLICY)) {
      expect(Boolean(rule.anonymous) !== Boolean(rule.roles), key).toBe(true);
    }
  });

  it('every DICOMweb route is audited', () => {
    for (const [key, rule] of Object.entries(POLICY))
      if (key.includes('/dicom-web')) expect(rule.audit, key).toBeDefined();
  });

  it.each([
    ['GET', '/api/docs', true],
    ['GET', '/api/docs/static/*', true],
    ['GET', '/', true],
    ['GET', '/*', true],
    ['HEAD', '/*', true],
    ['POST', '/api/docs/json', false],
    ['GET', '/api/secret', false],
    ['GET', '/api/docsx', false],
    ['DELETE', '/', false],
  ])('%s %s anonymous by prefix: %s', (method, url, found) => {
    const rule = lookupRule(method, url);
    expect(Boolean(rule?.anonymous)).toBe(found);
  });

  it('HEAD follows GET', () => {
    expect(lookupRule('HEAD', '/api/auth/me')).toBe(POLICY['GET /api/auth/me']);
  });
});
