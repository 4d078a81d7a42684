/**
 * Login and sessions against the real app (PGlite, real Redis for rate limits): good and bad
 * credentials, TOTP, the rate limit, logout/revocation, disabled users locked out at once,
 * the browser cookie, and bad input answered with a 4xx and a reason.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { totpNow } from '../../server/src/identity/totp.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;

beforeAll(async () => {
  // Its own installation prefix: the login counts of other test files (same Redis, same client
  // address, same admin user) must not use up this file's limit of 5.
  t = await buildTestApp({
    name: 'auth',
    env: { RADLINK_LOGIN_RATE_LIMIT: '5', RADLINK_QUEUE_PREFIX: `auth${process.pid}` },
  });
  admin = await t.adminToken();
  await t.app.inject({
    method: 'POST',
    url: '/api/facilities',
    headers: bearer(admin),
    payload: { id: 'bv-auth', name: 'Bệnh viện Kiểm thử', tier: 'central', parentId: null },
  });
});
afterAll(async () => t?.close());

async function createUser(username: string, role = 'radiologist') {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/users',
    headers: bearer(admin),
    payload: {
      username,
      displayName: 'Bác sĩ Thử',
      role,
      facilityId: 'bv-auth',
      password: 'correct horse battery',
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string };
}

/** Each test logs in from its own loopback address, so only the rate-limit test meets the limit (5/min here). */
let clientAddress = '127.0.0.1';
const login = (payload: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: payload as object,
    headers,
    remoteAddress: clientAddress,
  });
let nextAddress = 10;
beforeEach(() => {
  clientAddress = `127.0.0.${nextAddress++}`;
});

describe('login', () => {
  it('returns a bearer token and an HttpOnly SameSite cookie for good credentials', async () => {
    await createUser('lan.nguyen');
    const res = await login({ username: 'Lan.Nguyen', password: 'correct horse battery' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { token: string; expiresIn: number; user: { role: string; username: string } };
    expect(body.user).toMatchObject({ role: 'radiologist', username: 'lan.nguyen' });
    expect(body.expiresIn).toBe(900);
    expect(body).not.toHaveProperty('user.passwordHash');
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/radlink_session=[0-9a-f-]{36}\./);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(body.token) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ username: 'lan.nguyen' });
  });

  it('refuses a wrong password and an unknown user with the same answer', async () => {
    const wrong = await login({ username: 'lan.nguyen', password: 'wrong password!' });
    const unknown = await login({ username: 'nobody.here', password: 'whatever123' });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json().code).toBe('RADLINK_BAD_CREDENTIALS');
    expect(unknown.json()).toMatchObject({ code: 'RADLINK_BAD_CREDENTIALS', message: wrong.json().message });
    // Refused logins are in the audit trail.
    const rows = await t.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE action = 'auth.login' AND outcome = 'denied' AND username = 'nobody.here'",
    );
    expect(rows[0]!.n).toBe(1);
  });

  it.each([
    [
      'malformed JSON',
      { payload: '{"username": ', headers: { 'content-type': 'application/json' } },
      400,
      'RADLINK_BAD_JSON',
    ],
    ['missing password', { payload: { username: 'x' } }, 400, 'RADLINK_VALIDATION'],
    ['extra property', { payload: { username: 'x', password: 'y', admin: true } }, 400, 'RADLINK_VALIDATION'],
    ['wrong type', { payload: { username: 42, password: ['y'] } }, 400, 'RADLINK_VALIDATION'],
    [
      'oversized body',
      { payload: { username: 'x', password: 'p'.repeat(2 * 1024 * 1024) } },
      413,
      'RADLINK_PAYLOAD_TOO_LARGE',
    ],
    [
      'unsupported media type',
      { payload: 'username=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      415,
      'RADLINK_UNSUPPORTED_MEDIA_TYPE',
    ],
  ])('answers %s with a 4xx and a reason', async (_name, req, status, code) => {
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', ...(req as object) });
    expect(res.statusCode).toBe(status);
    const body = res.json() as { code: string; message: string; requestId: string };
    expect(body.code).toBe(code);
    expect(body.message.length).toBeGreaterThan(5);
    expect(body.requestId).toBeTruthy();
  });

  it('rate-limits repeated attempts per client and user name', async () => {
    await createUser('rate.limited');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++)
      statuses.push((await login({ username: 'rate.limited', password: `bad-${i}-xxxxx` })).statusCode);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    // Even the right password is refused while limited...
    const limited = await login({ username: 'rate.limited', password: 'correct horse battery' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe('RADLINK_RATE_LIMITED');
    // ...but another account from the same client is not locked out.
    expect((await login({ username: 'lan.nguyen', password: 'correct horse battery' })).statusCode).toBe(200);
  });
});

describe('TOTP second factor', () => {
  it('enrols, then requires and checks the code at login, then can be disabled', async () => {
    await createUser('totp.user');
    const token = await t.login('totp.user', 'correct horse battery');
    const setup = await t.app.inject({ method: 'POST', url: '/api/auth/totp/setup', headers: bearer(token) });
    expect(setup.statusCode).toBe(200);
    const { secret, otpauthUri } = setup.json() as { secret: string; otpauthUri: string };
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/RadLink:totp\.user\?/);
    // Not enforced until confirmed with a code.
    expect((await login({ username: 'totp.user', password: 'correct horse battery' })).statusCode).toBe(200);
    const badEnable = await t.app.inject({
      method: 'POST',
      url: '/api/auth/totp/enable',
      headers: bearer(token),
      payload: { code: '000000' },
    });
    expect(badEnable.statusCode).toBe(401);
    const enable = await t.app.inject({
      method: 'POST',
      url: '/api/auth/totp/enable',
      headers: bearer(token),
      payload: { code: await totpNow(secret) },
    });
    expect(enable.statusCode).toBe(200);

    const noCode = await login({ username: 'totp.user', password: 'correct horse battery' });
    expect(noCode.statusCode).toBe(401);
    expect(noCode.json().code).toBe('RADLINK_TOTP_REQUIRED');
    const wrongCode = await login({
      username: 'totp.user',
      password: 'correct horse battery',
      totp: '123456',
    });
    expect(wrongCode.json().code).toBe(
      (await totpNow(secret)) === '123456' ? undefined : 'RADLINK_TOTP_INVALID',
    );
    // The code is asked for only after the password was right: a wrong password says nothing about TOTP.
    const wrongPw = await login({ username: 'totp.user', password: 'not the password', totp: '123456' });
    expect(wrongPw.json().code).toBe('RADLINK_BAD_CREDENTIALS');
    clientAddress = '127.0.0.250'; // the same user on a second device: below the per-client limit of 5
    const ok = await login({
      username: 'totp.user',
      password: 'correct horse battery',
      totp: await totpNow(secret),
    });
    expect(ok.statusCode).toBe(200);

    const disable = await t.app.inject({
      method: 'POST',
      url: '/api/auth/totp/disable',
      headers: bearer(token),
      payload: { password: 'correct horse battery', code: await totpNow(secret) },
    });
    expect(disable.statusCode).toBe(200);
    expect((await login({ username: 'totp.user', password: 'correct horse battery' })).statusCode).toBe(200);
  });
});

describe('sessions', () => {
  it('logout revokes the token at once, though it has not expired', async () => {
    await createUser('logout.user');
    const token = await t.login('logout.user', 'correct horse battery');
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) })).statusCode,
    ).toBe(200);
    expect(
      (await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) })).statusCode,
    ).toBe(200);
    const after = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('RADLINK_SESSION_REVOKED');
  });

  it('revoking one of my sessions ends only that one', async () => {
    await createUser('two.phones');
    const a = await t.login('two.phones', 'correct horse battery');
    const b = await t.login('two.phones', 'correct horse battery');
    const list = (
      await t.app.inject({ method: 'GET', url: '/api/auth/sessions', headers: bearer(a) })
    ).json() as {
      id: string;
      current: boolean;
    }[];
    expect(list).toHaveLength(2);
    const other = list.find((s) => !s.current)!;
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/auth/sessions/${other.id}`, headers: bearer(a) }))
        .statusCode,
    ).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(a) })).statusCode).toBe(
      200,
    );
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(b) })).statusCode).toBe(
      401,
    );
  });

  it('a disabled user is locked out at once, on every session, and cannot log in', async () => {
    const u = await createUser('to.disable');
    const token = await t.login('to.disable', 'correct horse battery');
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/users/${u.id}`,
      headers: bearer(admin),
      payload: { disabled: true },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().disabled).toBe(true);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) })).statusCode,
    ).toBe(401);
    const again = await login({ username: 'to.disable', password: 'correct horse battery' });
    expect(again.statusCode).toBe(401);
    expect(again.json().code).toBe('RADLINK_USER_DISABLED');
  });

  it('the browser session cookie authenticates GETs, refreshes tokens, and refuses cross-origin writes', async () => {
    await createUser('cookie.user');
    const res = await login({ username: 'cookie.user', password: 'correct horse battery' });
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } });
    expect(me.statusCode).toBe(200);
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/api/auth/refresh',
      headers: { cookie, origin: 'http://localhost:80', host: 'localhost:80' },
    });
    expect(refresh.statusCode).toBe(200);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(refresh.json().token) }))
        .statusCode,
    ).toBe(200);
    const csrf = await t.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie, origin: 'https://evil.example' },
    });
    expect(csrf.statusCode).toBe(403);
    const tampered = await t.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      headers: { cookie: `${cookie}x` },
    });
    expect(tampered.statusCode).toBe(401);
  });

  it('changing my password ends my other sessions', async () => {
    await createUser('pw.change');
    const a = await t.login('pw.change', 'correct horse battery');
    const b = await t.login('pw.change', 'correct horse battery');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(a),
      payload: { currentPassword: 'correct horse battery', newPassword: 'a new long password' },
    });
    expect(res.statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(a) })).statusCode).toBe(
      200,
    );
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(b) })).statusCode).toBe(
      401,
    );
    expect((await login({ username: 'pw.change', password: 'a new long password' })).statusCode).toBe(200);
  });
});

describe('administration scope', () => {
  it('a facility admin manages only clinical users of their own facility', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/api/facilities',
      headers: bearer(admin),
      payload: { id: 'bv-other', name: 'Khác', tier: 'district', parentId: 'bv-auth' },
    });
    await createUser('fac.admin', 'facility_admin');
    const fa = await t.login('fac.admin', 'correct horse battery');
    const mk = (payload: object) =>
      t.app.inject({ method: 'POST', url: '/api/users', headers: bearer(fa), payload });
    const base = { displayName: 'X', password: 'correct horse battery' };
    expect(
      (await mk({ ...base, username: 'ok.doc', role: 'referring_doctor', facilityId: 'bv-auth' })).statusCode,
    ).toBe(201);
    expect(
      (await mk({ ...base, username: 'bad.one', role: 'system_admin', facilityId: null })).statusCode,
    ).toBe(404);
    expect(
      (await mk({ ...base, username: 'bad.two', role: 'radiologist', facilityId: 'bv-other' })).statusCode,
    ).toBe(404);
    const listed = (await t.app.inject({ method: 'GET', url: '/api/users', headers: bearer(fa) })).json() as {
      facilityId: string;
    }[];
    expect(listed.length).toBeGreaterThan(1);
    expect(listed.every((u) => u.facilityId === 'bv-auth')).toBe(true);
  });
});
