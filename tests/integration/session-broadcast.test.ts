/**
 * Two gateways sharing one PostgreSQL database and one Redis, as a scaled-out site runs them.
 * Each remembers a valid session for up to 2 s (frames arrive by the hundred); a logout or a
 * disabled user on one gateway must still be refused by the other at once, not when its memory
 * lapses: the change is published on Redis (server/src/identity/session-broadcast.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../scripts/services/postgres.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { facilityUser, loginWithId } from '../helpers/dicomweb.js';

let a: TestApp;
let b: TestApp;
let admin: string;

beforeAll(async () => {
  const url = await createDatabase(stack().postgresUrl);
  const env = { RADLINK_LOGIN_RATE_LIMIT: '1000', RADLINK_QUEUE_PREFIX: `sessbc${process.pid}` };
  a = await buildTestApp({ name: 'session-bc-a', databaseUrl: url, env });
  b = await buildTestApp({ name: 'session-bc-b', databaseUrl: url, env });
  admin = await a.adminToken();
  // Both gateways subscribed: a message published before B listens would be lost (by design
  // advisory); wait until Redis counts two subscribers on the channel.
  const channel = `sessbc${process.pid}:sessions:forget`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [, n] = (await a.app.redis.pubsub('NUMSUB', channel)) as [string, number];
    if (Number(n) >= 2) break;
    if (Date.now() > deadline) throw new Error('the gateways did not subscribe');
    await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const studies = (t: TestApp, token: string) =>
  t.app.inject({ method: 'GET', url: '/dicom-web/studies?limit=1', headers: bearer(token) });

/** Milliseconds until gateway `t` refuses the token (401), polling; fails past `withinMs`. */
async function refusedWithin(t: TestApp, token: string, withinMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const res = await studies(t, token);
    if (res.statusCode === 401) return Date.now() - start;
    expect(res.statusCode).toBe(200);
    if (Date.now() - start > withinMs) throw new Error(`still accepted after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('session revocations across gateways', () => {
  it('a logout on one gateway is refused by the other at once, though it had just accepted the session', async () => {
    await facilityUser(a, 'bv-sessbc', 'sessbc.logout');
    const { token } = await loginWithId(a, 'sessbc.logout');
    // B verifies and remembers the session.
    for (let i = 0; i < 3; i++) expect((await studies(b, token)).statusCode).toBe(200);
    const out = await a.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) });
    expect(out.statusCode).toBeLessThan(300);
    // Within half the 2 s memory: without the broadcast B would accept it until the memory lapses.
    const ms = await refusedWithin(b, token, 1000);
    expect(ms).toBeLessThan(1000);
    expect((await studies(b, token)).json()).toMatchObject({ code: 'RADLINK_SESSION_REVOKED' });
  });

  it('a user disabled on one gateway is refused by the other at once', async () => {
    await facilityUser(a, 'bv-sessbc', 'sessbc.disabled');
    const { token, userId } = await loginWithId(b, 'sessbc.disabled');
    for (let i = 0; i < 3; i++) expect((await studies(b, token)).statusCode).toBe(200);
    const res = await a.app.inject({
      method: 'PATCH',
      url: `/api/users/${userId}`,
      headers: bearer(admin),
      payload: { disabled: true },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(await refusedWithin(b, token, 1000)).toBeLessThan(1000);
  });

  it('malformed messages on the channel are ignored and break neither gateway', async () => {
    await facilityUser(a, 'bv-sessbc', 'sessbc.keep');
    const { token } = await loginWithId(a, 'sessbc.keep');
    expect((await studies(b, token)).statusCode).toBe(200);
    const channel = `sessbc${process.pid}:sessions:forget`;
    for (const junk of ['not json', '{"session":"../../etc"}', '{"user":42}', '[]', 'null'])
      await a.app.redis.publish(channel, junk);
    await new Promise((r) => setTimeout(r, 100));
    expect((await studies(b, token)).statusCode).toBe(200);
    expect((await studies(a, token)).statusCode).toBe(200);
  });
});
