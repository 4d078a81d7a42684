/**
 * STOW intents against the real schema (in-memory PGlite): concurrent records share insert
 * statements (group commit) and are all durable when `record` resolves; callers without a
 * facility record nothing; releases are batched; pruning removes intents of indexed instances and
 * old ones, and keeps fresh ones whose instance is not indexed. (The change feed's use of intents
 * against Orthanc is tests/integration/stow-intent.test.ts.)
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDb, type Queryable } from '../../server/src/db/client.js';
import { migrate } from '../../server/src/db/migrate.js';
import type { Principal } from '../../server/src/identity/principal.js';
import { StowIntents } from '../../server/src/index/stow-intents.js';

let db: Db;
/** Statements sent to the database, by their first words (the real database answers them). */
const sent: string[] = [];
let counted: Db;

const principal = (facilityId: string | null): Principal => ({
  kind: 'user',
  userId: '00000000-0000-4000-8000-000000000001',
  username: 'bs.thu',
  role: facilityId ? 'referring_doctor' : 'system_admin',
  facilityId,
  sessionId: 's',
  via: 'bearer',
});
const sha = (n: number) => n.toString(16).padStart(64, '0');
const intents = () =>
  new StowIntents({ db: counted, log: pino({ level: 'silent' }), registry: new Registry() });
const rows = () =>
  db.query<{ sop_instance_uid: string; sha256: string; facility_id: string; user_id: string }>(
    'SELECT sop_instance_uid, sha256, facility_id, user_id FROM stow_intents ORDER BY sop_instance_uid',
  );

beforeAll(async () => {
  db = await openDb({});
  await migrate(db);
  await db.query("INSERT INTO facilities (id, name, tier) VALUES ('bv-intent', 'Bệnh viện Thử', 'district')");
  const count: Queryable['query'] = (sql, params) => {
    sent.push(sql.trim().split(/\s+/).slice(0, 3).join(' '));
    return db.query(sql, params);
  };
  counted = {
    ...db,
    kind: db.kind,
    query: count,
    tx: db.tx.bind(db),
    exec: db.exec.bind(db),
    close: db.close.bind(db),
  };
});
afterAll(async () => db?.close());
beforeEach(async () => {
  sent.length = 0;
  await db.query('DELETE FROM stow_intents');
});

describe('STOW intents', () => {
  it('group-commits concurrent records: all durable on resolve, in fewer statements than records', async () => {
    const s = intents();
    const keys = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        s.record(principal('bv-intent'), `1.2.3.${i + 100}`, sha(i), 1000 + i),
      ),
    );
    expect(keys.every((k) => k !== null)).toBe(true);
    const stored = await rows();
    expect(stored).toHaveLength(40);
    expect(stored[0]).toMatchObject({ facility_id: 'bv-intent', user_id: principal(null).userId });
    const inserts = sent.filter((q) => q.startsWith('INSERT INTO stow_intents')).length;
    // The first record goes alone, the 39 queued behind it in one more statement.
    expect(inserts).toBeGreaterThanOrEqual(1);
    expect(inserts).toBeLessThanOrEqual(2);
  });

  it('records nothing for a caller without a facility', async () => {
    const s = intents();
    expect(await s.record(principal(null), '1.2.3.1', sha(1), 10)).toBeNull();
    expect(await rows()).toEqual([]);
    expect(sent).toEqual([]);
  });

  it('an identical (UID, bytes) pair recorded twice keeps one row; a failed insert rejects its callers', async () => {
    const s = intents();
    await s.record(principal('bv-intent'), '1.2.3.2', sha(2), 10);
    await s.record(principal('bv-intent'), '1.2.3.2', sha(2), 10);
    expect(await rows()).toHaveLength(1);
    // A facility that no longer exists (deleted mid-request) is refused by the foreign key.
    await expect(s.record(principal('bv-gone'), '1.2.3.3', sha(3), 10)).rejects.toThrow();
    expect((await rows()).map((r) => r.sop_instance_uid)).toEqual(['1.2.3.2']);
  });

  it('releases in batches, without the caller waiting; drain() waits for them', async () => {
    const s = intents();
    const keys = await Promise.all(
      Array.from({ length: 12 }, (_, i) => s.record(principal('bv-intent'), `1.2.4.${i}`, sha(i), 10)),
    );
    sent.length = 0;
    for (const k of keys) s.release(k!);
    await s.drain();
    expect(await rows()).toEqual([]);
    const deletes = sent.filter((q) => q.startsWith('DELETE FROM stow_intents')).length;
    expect(deletes).toBeLessThanOrEqual(2);
  });

  it('releases only the released (UID, bytes) pair', async () => {
    const s = intents();
    const a = await s.record(principal('bv-intent'), '1.2.5.1', sha(1), 10);
    await s.record(principal('bv-intent'), '1.2.5.1', sha(2), 10);
    s.release(a!);
    await s.drain();
    expect((await rows()).map((r) => r.sha256)).toEqual([sha(2)]);
  });

  it('prunes intents of indexed instances and old ones; keeps fresh unindexed ones', async () => {
    const s = intents();
    for (const [sop, n] of [
      ['1.2.6.1', 1],
      ['1.2.6.2', 2],
      ['1.2.6.3', 3],
    ] as const)
      await s.record(principal('bv-intent'), sop, sha(n), 10);
    // 1.2.6.1 is indexed (its STOW release was lost); 1.2.6.2 is two days old; 1.2.6.3 is fresh.
    await db.query("INSERT INTO studies (study_uid) VALUES ('1.2.6')");
    await db.query("INSERT INTO series (series_uid, study_uid) VALUES ('1.2.6.0', '1.2.6')");
    await db.query(
      "INSERT INTO instances (sop_instance_uid, series_uid, study_uid, source) VALUES ('1.2.6.1', '1.2.6.0', '1.2.6', 'stow')",
    );
    await db.query(
      "UPDATE stow_intents SET created_at = now() - interval '2 days' WHERE sop_instance_uid = '1.2.6.2'",
    );
    expect(await s.prune()).toBe(2);
    expect((await rows()).map((r) => r.sop_instance_uid)).toEqual(['1.2.6.3']);
    // A shorter age limit takes the fresh one too once it is older than that.
    await db.query("UPDATE stow_intents SET created_at = now() - interval '2 hours'");
    expect(await s.prune(3_600_000)).toBe(1);
    expect(await rows()).toEqual([]);
    expect(await s.prune()).toBe(0);
    await db.query("DELETE FROM studies WHERE study_uid = '1.2.6'");
  });
});
