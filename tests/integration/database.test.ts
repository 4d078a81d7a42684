/**
 * The same migrations and invariants on both engines: embedded PGlite and a real PostgreSQL 15
 * (a private cluster started by the test setup). The audit table is append-only for every
 * role, including the owner, and the embedded database refuses a second process.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../scripts/services/postgres.js';
import { acquirePgliteLock, DatabaseLockedError, type Db, openDb } from '../../server/src/db/client.js';
import { migrate } from '../../server/src/db/migrate.js';
import { stack } from '../helpers/app.js';

const opened: Db[] = [];
afterAll(async () => {
  await Promise.allSettled(opened.map((d) => d.close()));
});

const engines: [string, () => Promise<Db>][] = [
  ['PGlite', async () => openDb({})],
  ['PostgreSQL 15', async () => openDb({ databaseUrl: await createDatabase(stack().postgresUrl) })],
];

describe.each(engines)('%s', (_name, open) => {
  it('applies every migration once; a second run is a no-op', async () => {
    const db = await open();
    opened.push(db);
    const first = await migrate(db);
    expect(first.length).toBeGreaterThan(0);
    expect(await migrate(db)).toEqual([]);
    const versions = await db.query<{ version: string }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(versions.map((v) => v.version)).toEqual(first);
  });

  it('keeps audit_events append-only: UPDATE, DELETE and TRUNCATE are refused, INSERT works', async () => {
    const db = await open();
    opened.push(db);
    await migrate(db);
    await db.query(
      "INSERT INTO audit_events (action, outcome, study_uid) VALUES ('test.read', 'success', '1.2.3')",
    );
    await expect(db.query("UPDATE audit_events SET outcome = 'denied'")).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
    await expect(db.exec('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
    await expect(db.tx(async (q) => q.query('DELETE FROM audit_events WHERE id > 0'))).rejects.toThrow(
      /append-only/,
    );
    const rows = await db.query<{ outcome: string }>('SELECT outcome FROM audit_events');
    expect(rows).toEqual([{ outcome: 'success' }]);
  });

  it('rolls a transaction back when it throws', async () => {
    const db = await open();
    opened.push(db);
    await migrate(db);
    await expect(
      db.tx(async (q) => {
        await q.query("INSERT INTO facilities (id, name, tier) VALUES ('tx-test', 'T', 'central')");
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.query("SELECT id FROM facilities WHERE id = 'tx-test'")).toEqual([]);
  });

  it('enforces the identity constraints (tier, username form, AE title uniqueness)', async () => {
    const db = await open();
    opened.push(db);
    await migrate(db);
    await expect(
      db.query("INSERT INTO facilities (id, name, tier) VALUES ('x1', 'X', 'village')"),
    ).rejects.toThrow();
    await db.query(
      "INSERT INTO facilities (id, name, tier) VALUES ('f-a', 'A', 'district'), ('f-b', 'B', 'commune')",
    );
    await db.query("INSERT INTO facility_ae_titles (ae_title, facility_id) VALUES ('CT_A', 'f-a')");
    await expect(
      db.query("INSERT INTO facility_ae_titles (ae_title, facility_id) VALUES ('CT_A', 'f-b')"),
    ).rejects.toThrow();
    await expect(
      db.query(
        "INSERT INTO users (username, display_name, role, facility_id, password_hash) VALUES ('../x', 'x', 'radiologist', 'f-a', 'h')",
      ),
    ).rejects.toThrow();
    // A clinical user must belong to a facility.
    await expect(
      db.query(
        "INSERT INTO users (username, display_name, role, password_hash) VALUES ('nofac', 'x', 'radiologist', 'h')",
      ),
    ).rejects.toThrow();
  });
});

describe('embedded database ownership', () => {
  it('refuses a second opener while the gateway holds the PGlite directory, and names the holder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'radlink-pglite-'));
    const db = await openDb({ pgliteDir: dir });
    try {
      // Simulate another live process holding the lock: our own pid is treated as "us", so use the parent's.
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(dir, 'radlink.lock'), String(process.ppid));
      let caught: unknown;
      try {
        acquirePgliteLock(dir);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(DatabaseLockedError);
      expect((caught as Error).message).toMatch(new RegExp(`in use by process ${process.ppid}`));
      // A stale lock (dead pid) is taken over.
      writeFileSync(join(dir, 'radlink.lock'), '999999999');
      const release = acquirePgliteLock(dir);
      release();
    } finally {
      await db.close();
    }
  });
});
