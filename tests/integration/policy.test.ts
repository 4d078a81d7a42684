/**
 * The access policy, checked against what the app really registered: every route has a rule
 * (else the app would not boot: proven below), and every non-anonymous route refuses each kind
 * of bad credential before any handler runs.
 */
import cookie from '@fastify/cookie';
import Fastify from 'fastify';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../contracts/roles.js';
import { SessionRepo } from '../../server/src/identity/sessions.js';
import { TokenService } from '../../server/src/identity/tokens.js';
import guard from '../../server/src/policy/guard.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
const tokensByRole = new Map<Role, string>();
let disabledToken: string;
let validSid: string;
let validSub: string;

const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  t = await buildTestApp({ name: 'policy' });
  admin = await t.adminToken();
  await t.app.inject({
    method: 'POST',
    url: '/api/facilities',
    headers: bearer(admin),
    payload: { id: 'bv-policy', name: 'Policy', tier: 'central', parentId: null },
  });
  for (const role of ROLES) {
    const username = `role.${role.replace('_', '-')}`;
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/users',
      headers: bearer(admin),
      payload: {
        username,
        displayName: role,
        role,
        facilityId: ['system_admin', 'model_manager', 'service'].includes(role) ? null : 'bv-policy',
        password: 'policy password 1',
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    tokensByRole.set(role, await t.login(username, 'policy password 1'));
  }
  const d = await t.app.inject({
    method: 'POST',
    url: '/api/users',
    headers: bearer(admin),
    payload: {
      username: 'soon.disabled',
      displayName: 'D',
      role: 'system_admin',
      facilityId: null,
      password: 'policy password 1',
    },
  });
  disabledToken = await t.login('soon.disabled', 'policy password 1');
  await t.app.inject({
    method: 'PATCH',
    url: `/api/users/${d.json().id}`,
    headers: bearer(admin),
    payload: { disabled: true },
  });
  const me = (
    await t.app.inject({ method: 'GET', url: '/api/auth/sessions', headers: bearer(admin) })
  ).json() as { id: string }[];
  validSid = me[0]!.id;
  validSub = (
    (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).json() as {
      id: string;
    }
  ).id;
});
afterAll(async () => t?.close());

function concreteUrl(url: string): string {
  return url
    .replace(/:sessionId|:userId/g, '00000000-0000-4000-8000-000000000000')
    .replace(/:facilityId/g, 'bv-policy')
    .replace(/:[A-Za-z]+/g, '1.2.3')
    .replace(/\*$/, '1.2.3/series');
}

async function badTokens(): Promise<[string, string][]> {
  const claims = { sid: validSid };
  const base = (j: SignJWT) => j.setSubject(validSub).setIssuer('radlink').setAudience('radlink-api');
  return [
    [
      'expired',
      await base(new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }))
        .setExpirationTime(Math.floor(Date.now() / 1000) - 5)
        .sign(enc(t.config.RADLINK_TOKEN_SECRET)),
    ],
    [
      'forged signature',
      await base(new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }))
        .setExpirationTime('1h')
        .sign(enc('an attacker key that is long enough 0123')),
    ],
    [
      'alg none',
      new UnsecuredJWT(claims)
        .setSubject(validSub)
        .setIssuer('radlink')
        .setAudience('radlink-api')
        .setExpirationTime('1h')
        .encode(),
    ],
    ['disabled user', disabledToken],
    ['malformed', 'abc.def'],
  ];
}

describe('access policy over registered routes', () => {
  it('registers a meaningful set of routes, each with a rule', () => {
    expect(t.app.registeredRoutes.length).toBeGreaterThan(20);
    for (const r of t.app.registeredRoutes) expect(r.rule, `${r.method} ${r.url}`).toBeDefined();
  });

  it('anonymous routes are only health, login, opening a share link, checking a printed report, viewer files and API docs', () => {
    const anon = t.app.registeredRoutes.filter((r) => r.rule.anonymous).map((r) => r.url);
    for (const url of anon) {
      expect(
        url === '/healthz' ||
          url === '/readyz' ||
          url === '/api/auth/login' ||
          url === '/api/share/open' ||
          url === '/api/verify/reports/:reportId' ||
          url === '/' ||
          url === '/*' ||
          url.startsWith('/api/docs'),
        url,
      ).toBe(true);
    }
  });

  it('refuses every bad credential on every protected route, and a wrong role with 403', async () => {
    const bad = await badTokens();
    let checks = 0;
    let wrongRoleChecks = 0;
    for (const r of t.app.registeredRoutes) {
      if (r.rule.anonymous || r.method === 'HEAD') continue;
      const url = concreteUrl(r.url);
      const method = r.method as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
      const none = await t.app.inject({ method, url });
      expect(none.statusCode, `${r.method} ${r.url} without a token`).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      for (const [name, token] of bad) {
        const res = await t.app.inject({ method, url, headers: bearer(token) });
        expect(res.statusCode, `${r.method} ${r.url} with ${name} token`).toBe(401);
        checks++;
      }
      if (r.rule.roles !== 'any-user') {
        const outsider = ROLES.find((role) => !(r.rule.roles as readonly Role[]).includes(role))!;
        const res = await t.app.inject({ method, url, headers: bearer(tokensByRole.get(outsider)!) });
        expect(res.statusCode, `${r.method} ${r.url} as ${outsider}`).toBe(403);
        expect(res.json().code).toBe('RADLINK_FORBIDDEN');
        wrongRoleChecks++;
      }
    }
    expect(checks).toBeGreaterThan(100);
    expect(wrongRoleChecks).toBeGreaterThan(10);
  });

  it('a route with no policy entry cannot be registered, so the app does not boot', async () => {
    const app = Fastify();
    await app.register(cookie);
    await app.register(guard, {
      tokens: new TokenService('x'.repeat(48), 60),
      sessions: new SessionRepo(t.db, 60),
    });
    await expect(
      (async () => {
        app.get('/api/not-in-the-table', async () => 'leak');
        await app.ready();
      })(),
    ).rejects.toThrow(/GET \/api\/not-in-the-table has no entry in the access policy/);
    await app.close().catch(() => {});
  });
});
