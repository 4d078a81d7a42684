/**
 * The repair command with an object Orthanc accepted but the index cannot hold (a Study Instance
 * UID that is not a UID, as a malformed C-STORE can carry): the change feed records it once as
 * unindexable instead of retrying it forever, the drift count reports it apart from repairable
 * drift, and reconcile still repairs everything else and answers 200 (it used to stop at the first
 * such object with a 400, leaving the rest unrepaired).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../../scripts/services/orthanc.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { tinyDicom } from '../helpers/tiny-dicom.js';

let t: TestApp;
let admin: string;
const created: string[] = [];

function orthanc(path: string, init: RequestInit = {}): Promise<Response> {
  const s = stack();
  return fetch(`${s.orthanc.url}${path}`, {
    ...init,
    headers: { authorization: basicAuth(s.orthanc.username, s.orthanc.password), ...init.headers },
  });
}

async function postToOrthanc(bytes: Buffer): Promise<string> {
  const res = await orthanc('/instances', {
    method: 'POST',
    body: bytes,
    headers: { 'content-type': 'application/dicom' },
  });
  expect(res.status).toBe(200);
  const id = ((await res.json()) as { ID: string }).ID;
  created.push(id);
  return id;
}

const drift = async () => {
  const res = await t.app.inject({ method: 'GET', url: '/api/admin/drift', headers: bearer(admin) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as {
    missingFromIndex: number;
    unindexable: number;
    examples: { missingFromIndex: string[]; unindexable: string[] };
  };
};

beforeAll(async () => {
  t = await buildTestApp({ name: 'repair' });
  admin = await t.adminToken();
});

afterAll(async () => {
  for (const id of created) await orthanc(`/instances/${id}`, { method: 'DELETE' });
  await t?.close();
});

describe('repair with an unindexable object in Orthanc', () => {
  it('reports it as unindexable, repairs the rest, and answers 200', async () => {
    // Stop the feed so reconcile is the one that meets both objects first.
    await t.app.changeFeed.stop();
    const bad = await postToOrthanc(tinyDicom({ studyUid: '1.2.abc/../x' }).bytes);
    const good = tinyDicom();
    const goodId = await postToOrthanc(good.bytes);

    const before = await drift();
    expect(before.examples.missingFromIndex).toEqual(expect.arrayContaining([bad, goodId]));

    const res = await t.app.inject({ method: 'POST', url: '/api/admin/reconcile', headers: bearer(admin) });
    expect(res.statusCode, res.body).toBe(200);
    const r = res.json() as { indexed: number; unindexable: number; lost: string[] };
    expect(r.unindexable).toBeGreaterThanOrEqual(1);
    expect(r.indexed).toBeGreaterThanOrEqual(1);

    // The valid instance is now findable; the bad one is recorded with its reason.
    const q = await t.app.inject({
      method: 'GET',
      url: `/dicom-web/studies?StudyInstanceUID=${good.studyUid}`,
      headers: bearer(admin),
    });
    expect(q.statusCode).toBe(200);
    expect(q.json()).toHaveLength(1);
    const [row] = await t.db.query<{ reason: string }>(
      'SELECT reason FROM index_rejects WHERE orthanc_id = $1',
      [bad],
    );
    expect(row?.reason).toMatch(/StudyInstanceUID/);

    const after = await drift();
    expect(after.examples.missingFromIndex).not.toContain(bad);
    expect(after.examples.missingFromIndex).not.toContain(goodId);
    expect(after.examples.unindexable).toContain(bad);

    // A second run finds nothing new to index and still answers 200.
    const again = await t.app.inject({ method: 'POST', url: '/api/admin/reconcile', headers: bearer(admin) });
    expect(again.statusCode, again.body).toBe(200);
  });

  it('the change feed records an unindexable object once and keeps going', async () => {
    const t2 = await buildTestApp({ name: 'repair-feed' });
    try {
      const bad = await postToOrthanc(tinyDicom({ studyUid: '9.9.not-a-uid' }).bytes);
      const good = tinyDicom();
      await postToOrthanc(good.bytes);
      const deadline = Date.now() + 20_000;
      let rejected = 0;
      let indexed = 0;
      while (Date.now() < deadline && !(rejected && indexed)) {
        rejected = (await t2.db.query('SELECT 1 FROM index_rejects WHERE orthanc_id = $1', [bad])).length;
        indexed = (
          await t2.db.query('SELECT 1 FROM instances WHERE sop_instance_uid = $1', [good.sopInstanceUid])
        ).length;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(rejected, 'the bad object is recorded as unindexable').toBe(1);
      expect(indexed, 'the feed went on to index the next object').toBe(1);
    } finally {
      await t2.close();
    }
  });
});
