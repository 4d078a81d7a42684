/**
 * STOW intents: who an instance is being stored for, written before STOW-RS POSTs it to Orthanc.
 *
 * STOW indexes an instance right after Orthanc acknowledges it, with the uploader's facility. If
 * the gateway dies between the two, the change feed later finds an instance that came in over
 * Orthanc's REST API and has no index row; without this record it would index it with no facility
 * (system admins only), and the uploading facility would lose sight of its own study. With it, the
 * feed (and the repair command, which attributes as the feed does) attributes the instance to the
 * uploader's facility, source 'stow'.
 *
 * Invariants:
 *  - An intent is durable before the POST it announces (`record` resolves after the commit), so
 *    every instance Orthanc acknowledged to STOW has one until it is indexed.
 *  - An intent applies only to an instance that Orthanc received over its REST API, that is not
 *    indexed yet, and whose stored bytes hash to the intent's SHA-256: the same SOP Instance UID
 *    with other bytes (another sender, a modified object) is not attributed by it.
 *  - An intent never changes an owner: the index sets a study's facility once (indexer.ts), so the
 *    worst an intent can do is fill a facility that would otherwise stay empty.
 *  - STOW removes an intent once the instance's fate is known: indexed, refused by Orthanc, or a
 *    duplicate. When it is not (the connection to Orthanc broke mid-POST, or the index write
 *    failed and Orthanc may still hold the object), the intent stays for the feed to use.
 *  - Writes are group-committed: requests in flight while one insert runs share the next one, so
 *    the STOW path pays one short statement per batch, not per instance, and nothing waits for
 *    a timer. Removal is batched the same way and not awaited by STOW: a removal lost in a
 *    crash leaves an intent for an indexed instance, which never applies again and is pruned.
 *  - Pruning (`prune`) removes intents of indexed SOP Instance UIDs, and intents older than
 *    MAX_AGE_MS whatever became of them. The change feed prunes only when it has caught up with
 *    Orthanc, so every instance Orthanc received before then was offered to it with its intent.
 */
import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { Batcher } from '../db/batcher.js';
import type { Db } from '../db/client.js';
import { storedSha256 } from '../dicomweb/orthanc-files.js';
import type { Principal } from '../identity/principal.js';
import type { OrthancClient } from '../plugins/orthanc.js';
import type { Attribution } from './indexer.js';

declare module 'fastify' {
  interface FastifyInstance {
    stowIntents: StowIntents;
  }
}

/** How long an intent whose instance never got indexed is kept (for the repair command). */
export const MAX_AGE_MS = 24 * 3_600_000;
/** Rows per statement: bounds the parameter arrays; larger backlogs take several statements. */
const MAX_BATCH = 500;

export interface IntentKey {
  sopInstanceUid: string;
  sha256: string;
}

interface Intent extends IntentKey {
  sizeBytes: number;
  facilityId: string;
  userId: string;
}

export interface StowIntentsOptions {
  db: Db;
  log: FastifyBaseLogger;
  registry: Registry;
}

export class StowIntents {
  private readonly inserts: Batcher<Intent, void>;
  private readonly removals: Batcher<IntentKey, void>;
  /** Instances the change feed or the repair attributed from an intent. */
  readonly applied: Counter;

  constructor(private readonly o: StowIntentsOptions) {
    this.inserts = Batcher.ofWrites((items: Intent[]) => this.insert(items), MAX_BATCH);
    this.removals = Batcher.ofWrites((items: IntentKey[]) => this.remove(items), MAX_BATCH);
    this.applied = new Counter({
      name: 'radlink_stow_intents_applied_total',
      help: "Instances the change feed or the repair attributed to their STOW uploader from a STOW intent (STOW's process stopped before indexing them, or the feed got there first)",
      registers: [o.registry],
    });
  }

  /**
   * Records, durably, that `principal` is about to store these bytes. Returns the key to release
   * afterwards, or null when there is nothing to record (a caller without a facility: the
   * instance would be indexed without one anyway).
   */
  async record(
    principal: Principal,
    sopInstanceUid: string,
    sha256: string,
    sizeBytes: number,
  ): Promise<IntentKey | null> {
    if (!principal.facilityId || principal.kind !== 'user') return null;
    const intent: Intent = {
      sopInstanceUid,
      sha256,
      sizeBytes,
      facilityId: principal.facilityId,
      userId: principal.userId,
    };
    await this.inserts.call(intent);
    return { sopInstanceUid, sha256 };
  }

  /** The instance is indexed (or was never stored): its intent is removed in the next batch. */
  release(key: IntentKey): void {
    this.removals.call(key).catch((err: Error) => {
      // Harmless: prune() removes it once its instance is indexed, or when it is old.
      this.o.log.warn({ err: err.message }, 'STOW intent not removed; left to pruning');
    });
  }

  /** Waits for queued writes (before the database closes). */
  async drain(): Promise<void> {
    await Promise.all([this.inserts.idle(), this.removals.idle()]);
  }

  private async insert(items: Intent[]): Promise<void> {
    // One statement for the whole batch. An identical (UID, bytes) pair already recorded, by a
    // concurrent request of another gateway, is the same object: the first record stands.
    await this.o.db.query(
      `INSERT INTO stow_intents (sop_instance_uid, sha256, size_bytes, facility_id, user_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
       ON CONFLICT DO NOTHING`,
      [
        items.map((i) => i.sopInstanceUid),
        items.map((i) => i.sha256),
        items.map((i) => i.sizeBytes),
        items.map((i) => i.facilityId),
        items.map((i) => i.userId),
      ],
    );
  }

  private async remove(items: IntentKey[]): Promise<void> {
    await this.o.db.query(
      `DELETE FROM stow_intents
        WHERE (sop_instance_uid, sha256) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [items.map((i) => i.sopInstanceUid), items.map((i) => i.sha256)],
    );
  }

  /**
   * The attribution STOW would have given an instance Orthanc received over REST, when its intent
   * is on record and the stored bytes are the announced ones; otherwise null (attributed as any
   * REST upload). Costs one query for an instance already indexed or while no intent is pending;
   * a small Orthanc read (`/instances/{id}`) otherwise, and the file's hash only when an intent
   * of the same UID and size exists.
   */
  async attributionFor(
    orthanc: OrthancClient,
    orthancId: string,
    transferSyntaxUid: string | null,
  ): Promise<Attribution | null> {
    // CASE: the table of intents is looked at only for an instance that is not indexed.
    const [state] = await this.o.db.query<{ look: boolean }>(
      `SELECT CASE WHEN EXISTS (SELECT 1 FROM instances WHERE orthanc_id = $1) THEN false
                   ELSE EXISTS (SELECT 1 FROM stow_intents) END AS look`,
      [orthancId],
    );
    if (!state?.look) return null;
    const inst = await orthanc.json<{ FileSize?: number; MainDicomTags?: { SOPInstanceUID?: string } }>(
      'GET',
      `/instances/${orthancId}`,
    );
    const sop = inst.MainDicomTags?.SOPInstanceUID?.trim();
    if (!sop) return null;
    const candidates = await this.o.db.query<{
      sha256: string;
      size_bytes: string;
      facility_id: string;
      user_id: string;
    }>(
      'SELECT sha256, size_bytes::text, facility_id, user_id FROM stow_intents WHERE sop_instance_uid = $1',
      [sop],
    );
    const sized = candidates.filter(
      (c) => inst.FileSize === undefined || Number(c.size_bytes) === inst.FileSize,
    );
    if (sized.length === 0) return null;
    const sha256 = await storedSha256(orthanc, orthancId);
    const match = sized.find((c) => c.sha256 === sha256);
    if (!match) {
      this.o.log.warn({ orthancId }, 'STOW intent found for an instance with other bytes; not applied');
      return null;
    }
    this.applied.inc();
    this.o.log.info(
      { orthancId, facilityId: match.facility_id, userId: match.user_id },
      'instance stored through STOW but not indexed by it: attributed from its STOW intent',
    );
    return {
      facilityId: match.facility_id,
      source: 'stow',
      sha256,
      sizeBytes: Number(match.size_bytes),
      transferSyntaxUid,
    };
  }

  /** Removes intents that can no longer apply (see the header); returns how many. */
  async prune(maxAgeMs = MAX_AGE_MS): Promise<number> {
    const rows = await this.o.db.query(
      `DELETE FROM stow_intents si
        WHERE si.created_at < now() - make_interval(secs => $1::double precision)
           OR EXISTS (SELECT 1 FROM instances i WHERE i.sop_instance_uid = si.sop_instance_uid)
       RETURNING 1`,
      [maxAgeMs / 1000],
    );
    if (rows.length > 0) this.o.log.info({ pruned: rows.length }, 'STOW intents pruned');
    return rows.length;
  }
}
