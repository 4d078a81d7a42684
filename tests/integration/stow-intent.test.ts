/**
 * STOW intents (issue 7, "faults, nothing lost"): an instance STOW stored in Orthanc but did not
 * live to index is attributed to its uploader's facility by the change feed, not left to system
 * admins only.
 *
 * The crash window is reproduced step by step as STOW runs it: the intent is written through the
 * gateway's own module (`app.stowIntents.record`, exactly the call stow-store.ts makes), the same
 * bytes are POSTed to Orthanc's REST API (the gateway's next step), and the gateway is then gone:
 * closed without indexing or releasing anything. A second gateway on the same PostgreSQL database
 * starts and its change feed finds the instance. Also: other bytes under the same UID are not
 * attributed by the intent; an intent never takes a study from its owner; a normal STOW leaves no
 * intent behind; the feed prunes stale intents when idle.
 */
import { createHash } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../../scripts/services/orthanc.js';
import { createDatabase, dropDatabase } from '../../scripts/services/postgres.js';
import { FacilityRepo } from '../../server/src/identity/facilities.js';
import type { Principal } from '../../server/src/identity/principal.js';
import { ChangeFeed } from '../../server/src/index/change-feed.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser, stow, stowOutcomes } from '../helpers/dicomweb.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const tag = Math.random().toString(36).slice(2, 8);
const FACILITY = `bv-intent-${tag}`;
const OTHER = `bv-other-${tag}`;
const PASSWORD = 'correct horse battery';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let pgUrl: string;
let t: TestApp; // the gateway on PostgreSQL; replaced by a "restarted" one in the first test
let doctor: string;
let outsider: string;

function orthanc(path: string, init: RequestInit = {}): Promise<Response> {
  const s = stack();
  return fetch(`${s.orthanc.url}${path}`, {
    ...init,
    headers: { authorization: basicAuth(s.orthanc.username, s.orthanc.password), ...init.headers },
  });
}

/** What the gateway does right after writing the intent: POST the bytes to Orthanc's REST API. */
async function postToOrthanc(bytes: Buffer): Promise<string> {
  const res = await orthanc('/instances', {
    method: 'POST',
    body: bytes,
    headers: { 'content-type': 'application/dicom' },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { ID: string }).ID;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 20_000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

const instanceRow = (app: TestApp, sop: string) =>
  app.db
    .query<{ source: string; sha256: string | null; facility_id: string | null }>(
      `SELECT i.source, i.sha256, s.facility_id FROM instances i JOIN studies s ON s.study_uid = i.study_uid
        WHERE i.sop_instance_uid = $1`,
      [sop],
    )
    .then((r) => r[0]);

const intentRows = (app: TestApp, sops: string[]) =>
  app.db.query<{ sop_instance_uid: string }>(
    'SELECT sop_instance_uid FROM stow_intents WHERE sop_instance_uid = ANY($1::text[])',
    [sops],
  );

/** The principal STOW would act for: the doctor, as the database knows them. */
async function principalOf(app: TestApp, username: string): Promise<Principal> {
  const [u] = await app.db.query<{ id: string; facility_id: string }>(
    'SELECT id, facility_id FROM users WHERE username = $1',
    [username],
  );
  return {
    kind: 'user',
    userId: u!.id,
    username,
    role: 'referring_doctor',
    facilityId: u!.facility_id,
    sessionId: 'test',
    via: 'bearer',
  };
}

/** Moves the app's feed to the end of Orthanc's change log (the shared Orthanc's history is not this file's). */
async function feedFromNow(app: TestApp): Promise<void> {
  await app.app.changeFeed.stop();
  const { Last } = (await (await orthanc('/changes?last')).json()) as { Last: number };
  await app.db.query(
    `INSERT INTO feed_cursors (name, last_seq) VALUES ('orthanc-changes', $1)
     ON CONFLICT (name) DO UPDATE SET last_seq = EXCLUDED.last_seq`,
    [Last],
  );
  app.app.changeFeed.start();
}

const qido = (app: TestApp, token: string, studyUid: string) =>
  app.app
    .inject({ method: 'GET', url: `/dicom-web/studies?StudyInstanceUID=${studyUid}`, headers: bearer(token) })
    .then((r) => {
      expect(r.statusCode, r.body).toBe(200);
      return r.json() as unknown[];
    });

const applied = async (app: TestApp) => (await app.app.stowIntents.applied.get()).values[0]?.value ?? 0;

beforeAll(async () => {
  pgUrl = await createDatabase(stack().postgresUrl);
  t = await buildTestApp({ name: 'stow-intent', databaseUrl: pgUrl });
  await feedFromNow(t);
  doctor = await facilityUser(t, FACILITY, `intent.doctor.${tag}`, 'referring_doctor');
  outsider = await facilityUser(t, OTHER, `intent.other.${tag}`, 'referring_doctor');
}, 60_000);

afterAll(async () => {
  await t?.close();
  if (pgUrl) await dropDatabase(pgUrl).catch(() => undefined);
});

describe('STOW intents', () => {
  it('a gateway killed between Orthanc and the index: the restarted gateway attributes the instance to the uploader', async () => {
    const inst = makeInstance({ patientName: 'Trịnh^Văn Sự Cố', patientId: `INT-${tag}` });
    const who = await principalOf(t, `intent.doctor.${tag}`);
    // The dying gateway: it writes the intent and POSTs the bytes, and is gone before indexing.
    // Its feed is stopped first so that nothing of this process indexes the instance.
    await t.app.changeFeed.stop();
    const key = await t.app.stowIntents.record(
      who,
      inst.sopInstanceUid,
      sha256(inst.bytes),
      inst.bytes.length,
    );
    expect(key).not.toBeNull();
    await postToOrthanc(inst.bytes);
    await t.close();

    // The restarted gateway (same database): its change feed finds the orphan instance.
    t = await buildTestApp({ name: 'stow-intent-restarted', databaseUrl: pgUrl });
    const row = await waitFor('the orphan instance indexed', () => instanceRow(t, inst.sopInstanceUid));
    expect(row).toEqual({ source: 'stow', sha256: sha256(inst.bytes), facility_id: FACILITY });
    expect(await applied(t)).toBe(1);

    // The uploader's facility sees its study; another facility does not.
    doctor = await t.login(`intent.doctor.${tag}`, PASSWORD);
    outsider = await t.login(`intent.other.${tag}`, PASSWORD);
    expect(await qido(t, doctor, inst.studyUid)).toHaveLength(1);
    expect(await qido(t, outsider, inst.studyUid)).toEqual([]);

    // The intent did its work: the feed prunes it once caught up (its instance is indexed).
    await waitFor(
      'the used intent pruned',
      async () => (await intentRows(t, [inst.sopInstanceUid])).length === 0,
    );
  }, 90_000);

  it('other bytes under the intent’s SOP Instance UID stay unattributed (a REST upload, no facility)', async () => {
    const announced = makeInstance({ patientName: 'Phan^Thị Khác', seed: 1 });
    const other = makeInstance({
      studyUid: announced.studyUid,
      seriesUid: announced.seriesUid,
      sopInstanceUid: announced.sopInstanceUid,
      patientName: 'Phan^Thị Khác',
      seed: 2,
    });
    expect(sha256(other.bytes)).not.toBe(sha256(announced.bytes));
    const before = await applied(t);
    const who = await principalOf(t, `intent.doctor.${tag}`);
    await t.app.stowIntents.record(
      who,
      announced.sopInstanceUid,
      sha256(announced.bytes),
      announced.bytes.length,
    );
    await postToOrthanc(other.bytes);
    const row = await waitFor('the REST instance indexed', () => instanceRow(t, other.sopInstanceUid));
    expect(row).toEqual({ source: 'rest', sha256: null, facility_id: null });
    expect(await applied(t)).toBe(before);
    expect(await qido(t, doctor, other.studyUid)).toEqual([]);
  }, 60_000);

  it('an intent never takes a study from its owner', async () => {
    const first = makeInstance({ patientName: 'Lý^Văn Chủ' });
    const res = await stow(t, doctor, [first.bytes]);
    expect(res.statusCode, res.body).toBe(200);
    // Another facility's upload into that study, cut short after Orthanc (STOW itself would have
    // refused it, 0x0124; a gateway that died cannot have got that far, but the feed must not care).
    const second = makeInstance({ studyUid: first.studyUid, patientName: 'Lý^Văn Chủ' });
    const who = await principalOf(t, `intent.other.${tag}`);
    await t.app.stowIntents.record(who, second.sopInstanceUid, sha256(second.bytes), second.bytes.length);
    await postToOrthanc(second.bytes);
    const row = await waitFor('the second instance indexed', () => instanceRow(t, second.sopInstanceUid));
    expect(row?.facility_id).toBe(FACILITY);
    expect(await qido(t, outsider, first.studyUid)).toEqual([]);
  }, 60_000);

  it('the repair command attributes from the intent as the feed does', async () => {
    const inst = makeInstance({ patientName: 'Hồ^Thị Sửa Chữa' });
    const who = await principalOf(t, `intent.doctor.${tag}`);
    // The feed is held so that the repair's own path (repair/drift.ts: attributionOf, then the
    // indexer) is the one indexing; the whole repair would also index the shared Orthanc's history.
    await t.app.changeFeed.stop();
    try {
      await t.app.stowIntents.record(who, inst.sopInstanceUid, sha256(inst.bytes), inst.bytes.length);
      const orthancId = await postToOrthanc(inst.bytes);
      const attribution = await t.app.changeFeed.attributionOf(orthancId);
      expect(attribution).toMatchObject({ facilityId: FACILITY, source: 'stow', sha256: sha256(inst.bytes) });
      await t.app.indexer.indexOrthancInstance(orthancId, attribution);
    } finally {
      t.app.changeFeed.start();
    }
    expect(await instanceRow(t, inst.sopInstanceUid)).toEqual({
      source: 'stow',
      sha256: sha256(inst.bytes),
      facility_id: FACILITY,
    });
    expect(await qido(t, doctor, inst.studyUid)).toHaveLength(1);
  }, 60_000);

  it('a normal STOW leaves no intent behind', async () => {
    const study = makeInstance({ patientName: 'Đỗ^Thị Bình Thường' });
    const parts = [
      study,
      ...Array.from({ length: 7 }, () =>
        makeInstance({
          studyUid: study.studyUid,
          seriesUid: study.seriesUid,
          patientName: 'Đỗ^Thị Bình Thường',
        }),
      ),
    ];
    const res = await stow(
      t,
      doctor,
      parts.map((p) => p.bytes),
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(stowOutcomes(res.json()).stored).toHaveLength(parts.length);
    await t.app.stowIntents.drain();
    expect(
      await intentRows(
        t,
        parts.map((p) => p.sopInstanceUid),
      ),
    ).toEqual([]);
    for (const p of parts) expect((await instanceRow(t, p.sopInstanceUid))?.facility_id).toBe(FACILITY);
    expect(await qido(t, doctor, study.studyUid)).toHaveLength(1);
  });

  it('the change feed prunes, when idle, intents whose instance never came and intents of indexed instances', async () => {
    const who = await principalOf(t, `intent.doctor.${tag}`);
    const never = makeInstance({ patientName: 'Mai^Văn Chưa Tới' });
    const indexed = makeInstance({ patientName: 'Mai^Văn Đã Tới' });
    const fresh = makeInstance({ patientName: 'Mai^Văn Mới' });
    expect((await stow(t, doctor, [indexed.bytes])).statusCode).toBe(200);
    await t.app.stowIntents.drain();
    for (const i of [never, indexed, fresh])
      await t.db.query(
        'INSERT INTO stow_intents (sop_instance_uid, sha256, size_bytes, facility_id, user_id) VALUES ($1, $2, $3, $4, $5)',
        [i.sopInstanceUid, sha256(i.bytes), i.bytes.length, FACILITY, who.userId],
      );
    await t.db.query(
      "UPDATE stow_intents SET created_at = now() - interval '25 hours' WHERE sop_instance_uid = $1",
      [never.sopInstanceUid],
    );
    // A feed that reconciles every 200 ms when idle, in place of the app's (every 60 s).
    await t.app.changeFeed.stop();
    const feed = new ChangeFeed({
      db: t.db,
      orthanc: t.app.orthanc,
      indexer: t.app.indexer,
      facilities: new FacilityRepo(t.db),
      queues: t.app.queues,
      log: t.app.log,
      registry: new Registry(),
      intents: t.app.stowIntents,
      idleMs: 100,
      reconcileEveryMs: 200,
    });
    feed.start();
    try {
      await waitFor('stale intents pruned', async () => {
        const left = await intentRows(t, [never.sopInstanceUid, indexed.sopInstanceUid]);
        return left.length === 0;
      });
    } finally {
      await feed.stop();
      t.app.changeFeed.start();
    }
    // The fresh intent of an instance not (yet) in the index is kept.
    expect((await intentRows(t, [fresh.sopInstanceUid])).map((r) => r.sop_instance_uid)).toEqual([
      fresh.sopInstanceUid,
    ]);
  }, 60_000);
});
