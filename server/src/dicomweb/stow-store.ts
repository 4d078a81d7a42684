/**
 * Stores one validated instance: the access, identity and duplicate rules of STOW-RS, then
 * Orthanc, then the index. Every outcome is a value (stored or a failure with a reason), never
 * an exception, so one bad instance or a dead Orthanc cannot break the rest of a request.
 *
 * Invariants:
 *  - A SOP Instance UID names one object. Re-sending the identical bytes (same SHA-256) is an
 *    idempotent success; different bytes under a known UID are refused (0x0111) and the stored
 *    object is left untouched. Orthanc alone cannot guarantee this: its instance id hashes
 *    PatientID too, so a different PatientID under the same UIDs would be stored as a second
 *    instance — hence the check of every holder of the UID after `POST /instances`.
 *  - Work on one SOP Instance UID is serialised within this process (two parts of one request, or
 *    two requests, carrying the same UID).
 *  - An instance into an existing study is accepted only from callers who can see that study;
 *    the refusal (0x0124) does not say who owns it.
 *  - An instance Orthanc stored but the index could not record is removed again, so nothing is
 *    half-stored.
 *  - Before Orthanc sees an instance, its STOW intent is on record (index/stow-intents.ts): if this
 *    process dies before the index write, the change feed attributes it to the uploader all the same.
 */
import type { FastifyInstance } from 'fastify';
import { canAccessStudy } from '../access/study-access.js';
import { Batcher } from '../db/batcher.js';
import type { Db } from '../db/client.js';
import type { Principal } from '../identity/principal.js';
import type { IntentKey } from '../index/stow-intents.js';
import { AppError } from '../plugins/errors.js';
import { orthancInstancesOf, storedSha256 } from './orthanc-files.js';
import type { InstanceOutcome } from './stow-response.js';
import { FAILURE, type ValidInstance } from './stow-validate.js';

/** Chains work per key: each call runs after the previous one for the same key settled. */
export type KeyedLocks = Map<string, Promise<unknown>>;

async function withUidLock<T>(m: KeyedLocks, uid: string, fn: () => Promise<T>): Promise<T> {
  const prev = m.get(uid) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  m.set(uid, tail);
  try {
    return await run;
  } finally {
    if (m.get(uid) === tail) m.delete(uid);
  }
}

export interface StoreContext {
  app: FastifyInstance;
  principal: Principal;
  /** The STOW plugin's per-SOP-Instance-UID locks (shared by all its requests). */
  locks: KeyedLocks;
  /** Per-request memo of study access decisions. */
  studyAccess: Map<string, Promise<boolean>>;
  /** The STOW plugin's index lookup by SOP Instance UID (`indexLookup`), shared by its requests. */
  lookup: Batcher<string, IndexedCopy | undefined>;
}

/** What the index knows of a stored object: its SHA-256, or where Orthanc keeps it. */
export interface IndexedCopy {
  sha256: string | null;
  orthanc_id: string | null;
}

/**
 * Index rows by SOP Instance UID, the lookups of concurrent parts in one statement: one round trip
 * to the database per batch, not per instance (each costs the gateway a socket write and a read).
 */
export function indexLookup(db: Db): Batcher<string, IndexedCopy | undefined> {
  return new Batcher<string, IndexedCopy | undefined>(async (uids) => {
    const rows = await db.query<IndexedCopy & { sop_instance_uid: string }>(
      'SELECT sop_instance_uid, sha256, orthanc_id FROM instances WHERE sop_instance_uid = ANY($1::text[])',
      [uids],
    );
    const byUid = new Map(rows.map((r) => [r.sop_instance_uid, r]));
    return uids.map((u) => byUid.get(u));
  });
}

function reasonOf(err: unknown): string {
  if (err instanceof AppError) return err.message;
  return 'internal error';
}

export async function storeInstance(
  ctx: StoreContext,
  bytes: Buffer,
  v: ValidInstance,
  sha256: string,
): Promise<InstanceOutcome> {
  const ids = { sopClassUid: v.sopClassUid, sopInstanceUid: v.sopInstanceUid };
  const stored = (alreadyStored: boolean): InstanceOutcome => ({
    status: 'stored',
    ...ids,
    studyUid: v.studyUid,
    seriesUid: v.seriesUid,
    alreadyStored,
    ...(v.warning ? { warning: v.warning.reason, warningComment: v.warning.comment } : {}),
  });
  const fail = (reason: InstanceOutcome & { status: 'failed' }): InstanceOutcome => reason;
  const { app } = ctx;
  let intent: IntentKey | null = null;
  // Set when Orthanc may hold the instance without an index row: the intent then stays, so the
  // change feed attributes the instance to the uploader when it finds it.
  let keepIntent = false;
  try {
    if (!(await studyAllowed(ctx, v.studyUid))) {
      return fail({
        status: 'failed',
        ...ids,
        reason: FAILURE.NOT_AUTHORISED,
        comment: 'You may not add instances to this study.',
      });
    }
    return await withUidLock(ctx.locks, v.sopInstanceUid, async () => {
      const duplicate: InstanceOutcome = {
        status: 'failed',
        ...ids,
        reason: FAILURE.DUPLICATE_SOP_INSTANCE,
        comment: 'A different object is already stored under this SOP Instance UID.',
      };
      // 1. Known to the index?
      // (Under the UID's lock, so the batch's statement starts after any earlier write of it.)
      const known = await ctx.lookup.call(v.sopInstanceUid);
      if (known) {
        const existingSha =
          known.sha256 ?? (known.orthanc_id ? await storedSha256(app.orthanc, known.orthanc_id) : null);
        return existingSha === sha256 ? stored(true) : duplicate;
      }
      // 2. Store. An object Orthanc already holds but the index does not (yet) know, e.g. a
      // C-STORE the change feed has not reached, shows up below: as "AlreadyStored" when it has
      // the same Orthanc id (then its bytes decide), or as a second holder of the UID.
      // The intent first: should this process die between Orthanc's answer and the index write,
      // the change feed still attributes the instance to the uploader (index/stow-intents.ts).
      intent = await app.stowIntents.record(ctx.principal, v.sopInstanceUid, sha256, bytes.length);
      const res = await app.orthanc.request('POST', '/instances', {
        body: bytes,
        headers: { 'content-type': 'application/dicom' },
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) return fail(orthancFailure(res.statusCode, text, ids));
      const answer = JSON.parse(text) as { ID: string; Status: string };
      const created = answer.Status === 'Success';
      if (!created && (await storedSha256(app.orthanc, answer.ID)) !== sha256) return duplicate;
      // A concurrent writer elsewhere may have stored another object under this UID meanwhile.
      const holders = await orthancInstancesOf(app.orthanc, v.sopInstanceUid);
      if (created && holders.length > 1) {
        await removeFromOrthanc(app, answer.ID);
        return duplicate;
      }
      try {
        await app.indexer.indexOrthancInstance(
          answer.ID,
          attribution(ctx, sha256, bytes.length, v.transferSyntaxUid),
          v,
        );
      } catch (err) {
        keepIntent = true;
        if (created) await removeFromOrthanc(app, answer.ID);
        app.log.error({ err, orthancId: answer.ID }, 'STOW: indexing failed; instance removed from Orthanc');
        return fail({
          status: 'failed',
          ...ids,
          reason: FAILURE.PROCESSING_FAILURE,
          comment: `Indexing failed: ${reasonOf(err)}`,
        });
      }
      return stored(!created);
    });
  } catch (err) {
    keepIntent = true;
    app.log.warn({ err, sopInstanceUid: v.sopInstanceUid }, 'STOW: instance not stored');
    return fail({ status: 'failed', ...ids, reason: FAILURE.PROCESSING_FAILURE, comment: reasonOf(err) });
  } finally {
    if (intent && !keepIntent) app.stowIntents.release(intent);
  }
}

function attribution(ctx: StoreContext, sha256: string, sizeBytes: number, transferSyntaxUid: string) {
  return {
    facilityId: ctx.principal.facilityId,
    source: 'stow' as const,
    sha256,
    sizeBytes,
    transferSyntaxUid,
  };
}

/** A study that exists must be in the caller's scope; a new study is theirs to create. */
function studyAllowed(ctx: StoreContext, studyUid: string): Promise<boolean> {
  let p = ctx.studyAccess.get(studyUid);
  if (!p) {
    p = (async () => {
      const rows = await ctx.app.db.query('SELECT 1 FROM studies WHERE study_uid = $1', [studyUid]);
      return rows.length === 0 || canAccessStudy(ctx.app.db, ctx.principal, studyUid);
    })();
    ctx.studyAccess.set(studyUid, p);
  }
  return p;
}

async function removeFromOrthanc(app: FastifyInstance, orthancId: string): Promise<void> {
  try {
    const res = await app.orthanc.request('DELETE', `/instances/${orthancId}`);
    res.body.resume();
  } catch (err) {
    app.log.error({ err, orthancId }, 'STOW: could not remove an instance from Orthanc');
  }
}

/** Orthanc's refusal mapped to a STOW failure reason. Orthanc's error text may quote the file, so it is not echoed. */
function orthancFailure(
  statusCode: number,
  text: string,
  ids: { sopClassUid: string; sopInstanceUid: string },
): InstanceOutcome & { status: 'failed' } {
  let orthancError = '';
  try {
    orthancError = String((JSON.parse(text) as { OrthancError?: string }).OrthancError ?? '');
  } catch {
    /* not JSON */
  }
  if (statusCode === 507 || /full/i.test(orthancError)) {
    return {
      status: 'failed',
      ...ids,
      reason: FAILURE.OUT_OF_RESOURCES,
      comment: 'The archive is out of storage space.',
    };
  }
  if (statusCode === 400) {
    return {
      status: 'failed',
      ...ids,
      reason: FAILURE.CANNOT_UNDERSTAND,
      comment: 'The archive could not read this file.',
    };
  }
  return {
    status: 'failed',
    ...ids,
    reason: FAILURE.PROCESSING_FAILURE,
    comment: `The archive answered ${statusCode}.`,
  };
}
