/**
 * Leases on periodic maintenance jobs (table maintenance_leases, migration 046), so that of
 * several gateways sharing one database only one runs a job at a time. Taking a lease is one
 * atomic upsert that succeeds only when the lease is free or expired; the holder renews it as it
 * progresses and deletes it when done. A holder that dies leaves a lease that expires on its own
 * (after `ttlSeconds`), so a crash delays the job by at most that, never forever. Times are the
 * database's clock, the one every gateway shares.
 *
 * Why not an advisory lock: a transaction-level one needs a transaction open for the whole run,
 * which keeps its snapshot and holds VACUUM back (measured: backend_xmin stays set); a
 * session-level one needs a dedicated connection, which the pooled Db does not hand out.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from './client.js';

export interface Lease {
  readonly name: string;
  readonly holder: string;
  /** Extends the lease; false when it was lost (expired and taken by someone else). */
  renew(): Promise<boolean>;
  /** Gives it up (only if still held by this holder). */
  release(): Promise<void>;
}

/** The lease on `name` for `ttlSeconds`, or null while someone else holds it. */
export async function tryLease(db: Queryable, name: string, ttlSeconds: number): Promise<Lease | null> {
  const holder = randomUUID();
  const [got] = await db.query(
    `INSERT INTO maintenance_leases (name, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
     ON CONFLICT (name) DO UPDATE
       SET holder = EXCLUDED.holder, acquired_at = now(), expires_at = EXCLUDED.expires_at
       WHERE maintenance_leases.expires_at <= now()
     RETURNING holder`,
    [name, holder, ttlSeconds],
  );
  if (!got) return null;
  return {
    name,
    holder,
    async renew() {
      const rows = await db.query(
        `UPDATE maintenance_leases SET expires_at = now() + make_interval(secs => $3)
          WHERE name = $1 AND holder = $2 RETURNING 1`,
        [name, holder, ttlSeconds],
      );
      return rows.length === 1;
    },
    async release() {
      await db.query('DELETE FROM maintenance_leases WHERE name = $1 AND holder = $2', [name, holder]);
    },
  };
}
