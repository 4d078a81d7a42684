/**
 * The gateway remembers valid sessions for a moment (frames arrive by the hundred) and verified
 * tokens until they expire; neither may delay a change of who the caller is. Logout, revocation
 * and disabling are covered in auth.test.ts; here: a role or facility change is seen by the very
 * next request of a session that was just used (and so remembered), and a revoked session is
 * refused at once even when the same token was verified a moment before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser, loginWithId, stow } from '../helpers/dicomweb.js';

let t: TestApp;
let admin: string;

beforeAll(async () => {
  t = await buildTestApp({ name: 'session-cache' });
  admin = await t.adminToken();
  await facilityUser(t, 'bv-cache-b', 'cache.other');
});
afterAll(async () => t?.close());

describe('remembered sessions', () => {
  it('a facility change takes effect on the next request, though the session was just used', async () => {
    await facilityUser(t, 'bv-cache-a', 'cache.mover');
    const { token, userId } = await loginWithId(t, 'cache.mover');
    const inst = makeInstance({ patientName: 'Đinh^Văn Chuyển' });
    expect((await stow(t, token, [inst.bytes])).statusCode).toBe(200);
    const url = `/dicom-web/studies/${inst.studyUid}/series/${inst.seriesUid}/instances/${inst.sopInstanceUid}/metadata`;
    for (let i = 0; i < 3; i++)
      expect((await t.app.inject({ method: 'GET', url, headers: bearer(token) })).statusCode).toBe(200);
    const moved = await t.app.inject({
      method: 'PATCH',
      url: `/api/users/${userId}`,
      headers: bearer(admin),
      payload: { facilityId: 'bv-cache-b' },
    });
    expect(moved.statusCode, moved.body).toBe(200);
    // The study belongs to the old facility: out of scope now, so 404 at once.
    expect((await t.app.inject({ method: 'GET', url, headers: bearer(token) })).statusCode).toBe(404);
  });

  it('a role change takes effect on the next request', async () => {
    await facilityUser(t, 'bv-cache-a', 'cache.role');
    const { token, userId } = await loginWithId(t, 'cache.role');
    const qido = () => t.app.inject({ method: 'GET', url: '/dicom-web/studies', headers: bearer(token) });
    expect((await qido()).statusCode).toBe(200);
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/users/${userId}`,
      headers: bearer(admin),
      payload: { role: 'model_manager', facilityId: null },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect((await qido()).statusCode).toBe(403);
  });

  it('logout refuses the same, just-verified token at once', async () => {
    await facilityUser(t, 'bv-cache-a', 'cache.logout');
    const { token } = await loginWithId(t, 'cache.logout');
    const me = () => t.app.inject({ method: 'GET', url: '/dicom-web/studies', headers: bearer(token) });
    expect((await me()).statusCode).toBe(200);
    expect((await me()).statusCode).toBe(200);
    const out = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) });
    expect(out.statusCode).toBeLessThan(300);
    const after = await me();
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ code: 'RADLINK_SESSION_REVOKED' });
  });
});
