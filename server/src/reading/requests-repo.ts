/**
 * Read requests: the SQL. Every state change is ONE conditional UPDATE whose WHERE clause
 * states the transition's precondition (`status = 'requested' AND claimed_by IS NULL` for a
 * claim), so concurrent callers — on one gateway or on many sharing a PostgreSQL — cannot both
 * win: the database serialises the row update and the loser sees zero rows. Who may attempt a
 * transition is decided by the routes (requests.ts), not here.
 */
import { noteGrantRevoked } from '../access/study-access.js';
import type { Db, Queryable } from '../db/client.js';
import { BREACHED_SQL, type Priority } from './turnaround.js';

export type RequestStatus = 'requested' | 'claimed' | 'reported' | 'signed' | 'cancelled';

export interface RequestRow {
  id: string;
  studyUid: string;
  accessionNumber: string;
  accessionAssigned: boolean;
  requestingFacilityId: string;
  requesterId: string;
  requesterName: string;
  targetFacilityId: string;
  specialtyPool: string | null;
  priority: Priority;
  clinicalInfo: string;
  question: string;
  status: RequestStatus;
  claimedById: string | null;
  claimedByName: string | null;
  claimedAt: Date | null;
  dueAt: Date;
  breached: boolean;
  createdAt: Date;
  updatedAt: Date;
  signedAt: Date | null;
  cancelledAt: Date | null;
  cancelReason: string | null;
}

export const REQUEST_COLS = `
  r.id, r.study_uid AS "studyUid", r.accession_number AS "accessionNumber",
  r.accession_assigned AS "accessionAssigned", r.requesting_facility_id AS "requestingFacilityId",
  r.requester_id AS "requesterId", ru.display_name AS "requesterName",
  r.target_facility_id AS "targetFacilityId", r.specialty_pool AS "specialtyPool", r.priority,
  r.clinical_info AS "clinicalInfo", r.question, r.status, r.claimed_by AS "claimedById",
  cu.display_name AS "claimedByName", r.claimed_at AS "claimedAt", r.due_at AS "dueAt",
  ${BREACHED_SQL} AS breached, r.created_at AS "createdAt", r.updated_at AS "updatedAt",
  r.signed_at AS "signedAt", r.cancelled_at AS "cancelledAt", r.cancel_reason AS "cancelReason"`;

export const REQUEST_FROM = `read_requests r
  JOIN users ru ON ru.id = r.requester_id
  LEFT JOIN users cu ON cu.id = r.claimed_by`;

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/** The API shape (schemas.ts ReadRequest). */
export function toApi(r: RequestRow) {
  return {
    id: r.id,
    studyUid: r.studyUid,
    accessionNumber: r.accessionNumber,
    accessionAssigned: r.accessionAssigned,
    requestingFacilityId: r.requestingFacilityId,
    requester: { id: r.requesterId, name: r.requesterName },
    targetFacilityId: r.targetFacilityId,
    specialtyPool: r.specialtyPool,
    priority: r.priority,
    clinicalInfo: r.clinicalInfo,
    question: r.question,
    status: r.status,
    claimedBy: r.claimedById ? { id: r.claimedById, name: r.claimedByName ?? '' } : null,
    claimedAt: iso(r.claimedAt),
    dueAt: iso(r.dueAt)!,
    breached: r.breached,
    createdAt: iso(r.createdAt)!,
    updatedAt: iso(r.updatedAt)!,
    signedAt: iso(r.signedAt),
    cancelledAt: iso(r.cancelledAt),
    cancelReason: r.cancelReason,
  };
}

export interface NewRequest {
  studyUid: string;
  requestingFacilityId: string;
  requesterId: string;
  targetFacilityId: string;
  specialtyPool: string | null;
  priority: Priority;
  clinicalInfo: string;
  question: string;
  /** Kept from the request or the study; null: assign one. */
  accessionNumber: string | null;
  tatMinutes: number;
}

export class DuplicateOpenRequest extends Error {}

function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string }).code === '23505';
}

export class RequestRepo {
  constructor(private readonly db: Db) {}

  async byId(id: string, q: Queryable = this.db): Promise<RequestRow | null> {
    const rows = await q.query<RequestRow>(`SELECT ${REQUEST_COLS} FROM ${REQUEST_FROM} WHERE r.id = $1`, [
      id,
    ]);
    return rows[0] ?? null;
  }

  /**
   * Creates the request and, in the same transaction, the grant that shares the study (and the
   * patient's priors at the requesting facility) with the target: there is never a request the
   * target cannot open, nor a grant without its request.
   */
  async create(n: NewRequest): Promise<RequestRow> {
    try {
      return await this.db.tx(async (q) => {
        const [row] = await q.query<{ id: string }>(
          `INSERT INTO read_requests (study_uid, requesting_facility_id, requester_id, target_facility_id,
                                      specialty_pool, priority, clinical_info, question,
                                      accession_number, accession_assigned, due_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                   COALESCE($9, 'RL' || lpad(nextval('read_request_accession_seq')::text, 10, '0')),
                   $9::text IS NULL, now() + make_interval(mins => $10))
           RETURNING id`,
          [
            n.studyUid,
            n.requestingFacilityId,
            n.requesterId,
            n.targetFacilityId,
            n.specialtyPool,
            n.priority,
            n.clinicalInfo,
            n.question,
            n.accessionNumber,
            n.tatMinutes,
          ],
        );
        await q.query(
          `INSERT INTO study_grants (study_uid, facility_id, include_priors, reason, source_id, granted_by)
           VALUES ($1, $2, true, 'read-request', $3, $4)`,
          [n.studyUid, n.targetFacilityId, row!.id, n.requesterId],
        );
        return (await this.byId(row!.id, q))!;
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new DuplicateOpenRequest();
      throw e;
    }
  }

  /** Cancels a request nobody has claimed and revokes its grant; false when it was claimed meanwhile. */
  async cancel(id: string, reason: string): Promise<boolean> {
    const cancelled = await this.db.tx(async (q) => {
      const rows = await q.query(
        `UPDATE read_requests SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2, updated_at = now()
          WHERE id = $1 AND status = 'requested' AND claimed_by IS NULL RETURNING id`,
        [id, reason],
      );
      if (rows.length === 0) return false;
      await q.query(
        `UPDATE study_grants SET revoked_at = now()
          WHERE source_id = $1 AND reason = 'read-request' AND revoked_at IS NULL`,
        [id],
      );
      return true;
    });
    // After commit: cached access decisions of this process are dropped (wado-cache.ts).
    if (cancelled) noteGrantRevoked();
    return cancelled;
  }

  /** The claim: exactly one caller wins a request; the others get false. */
  async claim(id: string, userId: string, targetFacilityId: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE read_requests SET status = 'claimed', claimed_by = $2, claimed_at = now(), updated_at = now(),
              first_claimed_at = COALESCE(first_claimed_at, now())
        WHERE id = $1 AND target_facility_id = $3 AND status = 'requested' AND claimed_by IS NULL
        RETURNING id`,
      [id, userId, targetFacilityId],
    );
    return rows.length === 1;
  }

  /** Gives a claimed request back to the queue; `byUserId` null: an admin releasing anyone's claim. */
  async release(id: string, byUserId: string | null): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE read_requests SET status = 'requested', claimed_by = NULL, claimed_at = NULL, updated_at = now()
        WHERE id = $1 AND status IN ('claimed', 'reported') AND ($2::uuid IS NULL OR claimed_by = $2::uuid)
        RETURNING id`,
      [id, byUserId],
    );
    return rows.length === 1;
  }

  /** Moves the claim to another radiologist; `byUserId` null: an admin (may also assign an unclaimed request). */
  async reassign(id: string, toUserId: string, byUserId: string | null): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE read_requests
          SET status = CASE WHEN status = 'requested' THEN 'claimed' ELSE status END,
              claimed_by = $2, claimed_at = now(), updated_at = now(),
              first_claimed_at = COALESCE(first_claimed_at, now())
        WHERE id = $1 AND status IN ('requested', 'claimed', 'reported')
          AND ($3::uuid IS NULL OR claimed_by = $3::uuid)
        RETURNING id`,
      [id, toUserId, byUserId],
    );
    return rows.length === 1;
  }

  async list(
    visible: { sql: string; params: unknown[] },
    status: RequestStatus | null,
    limit: number,
    offset: number,
  ) {
    const params: unknown[] = [...visible.params];
    let where = visible.sql;
    if (status) {
      params.push(status);
      where += ` AND r.status = $${params.length}`;
    }
    params.push(limit, offset);
    return this.db.query<RequestRow>(
      `SELECT ${REQUEST_COLS} FROM ${REQUEST_FROM} WHERE ${where}
        ORDER BY r.created_at DESC, r.id LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
  }
}
