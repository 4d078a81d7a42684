/**
 * The audit trail's single writer. Routes do not write audit rows themselves: the policy entry
 * of a patient-data route names an action, and the onResponse hook here records who, what
 * (action + study), when, from where and the outcome, for every call of that route, allowed or
 * refused. Handlers add the study UID (`request.auditStudyUid`) when it is not a path parameter.
 *
 * High-volume reads (frames, thumbnails) are recorded once per user x study x hour: the
 * dedupe key is unique in the table, and an in-process set avoids re-sending known keys.
 * The row is written after the response is sent, so auditing never slows image delivery;
 * a failed write is logged and counted (radlink_audit_write_failures_total) for alerting.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Queryable } from '../db/client.js';

export type AuditOutcome = 'success' | 'denied' | 'not-found' | 'error';

export interface AuditEvent {
  action: string;
  outcome: AuditOutcome;
  userId?: string | null;
  username?: string | null;
  role?: string | null;
  facilityId?: string | null;
  studyUid?: string | null;
  resource?: string | null;
  clientIp?: string | null;
  statusCode?: number | null;
  detail?: Record<string, unknown> | null;
  /** Collapse repeated events with the same key into one row. */
  dedupeKey?: string | null;
}

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditWriter;
  }
  interface FastifyRequest {
    auditStudyUid: string | null;
    auditDetail: Record<string, unknown> | null;
  }
}

export function outcomeOf(statusCode: number): AuditOutcome {
  if (statusCode < 400) return 'success';
  if (statusCode === 401 || statusCode === 403) return 'denied';
  if (statusCode === 404) return 'not-found';
  return 'error';
}

export class AuditWriter {
  private readonly recentKeys = new Set<string>();
  failures = 0;
  constructor(private readonly db: Queryable) {}

  async write(e: AuditEvent): Promise<void> {
    if (e.dedupeKey && this.recentKeys.has(e.dedupeKey)) return;
    await this.db.query(
      `INSERT INTO audit_events (user_id, username, role, facility_id, action, study_uid, resource, client_ip,
                                 outcome, status_code, detail, dedupe_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (dedupe_key) DO NOTHING`,
      [
        e.userId ?? null,
        e.username ?? null,
        e.role ?? null,
        e.facilityId ?? null,
        e.action,
        e.studyUid ?? null,
        e.resource ?? null,
        e.clientIp ?? null,
        e.outcome,
        e.statusCode ?? null,
        e.detail ? JSON.stringify(e.detail) : null,
        e.dedupeKey ?? null,
      ],
    );
    if (e.dedupeKey) {
      // Bounded memory: the set only saves round trips; the unique key is what guarantees one row.
      if (this.recentKeys.size > 50_000) this.recentKeys.clear();
      this.recentKeys.add(e.dedupeKey);
    }
  }
}

function studyUidOf(request: FastifyRequest): string | null {
  if (request.auditStudyUid) return request.auditStudyUid;
  const params = request.params as Record<string, string> | undefined;
  if (params?.studyUid) return params.studyUid;
  // Wildcard DICOMweb routes: /dicom-web/studies/<uid>/...
  const m = /^\/dicom-web\/studies\/([0-9.]{1,64})(?:\/|$)/.exec(request.url);
  return m?.[1] ?? null;
}

export default fp(
  async (app: FastifyInstance, opts: { db: Queryable }) => {
    const writer = new AuditWriter(opts.db);
    app.decorate('audit', writer);
    app.decorateRequest('auditStudyUid', null);
    app.decorateRequest('auditDetail', null);

    app.addHook('onResponse', async (request, reply) => {
      const audit = request.routeOptions.config?.access?.audit;
      if (!audit) return;
      const p = request.principal;
      const studyUid = studyUidOf(request);
      const outcome = outcomeOf(reply.statusCode);
      const hour = new Date().toISOString().slice(0, 13);
      const dedupeKey =
        audit.hourly && outcome === 'success'
          ? `${audit.action}|${p?.userId ?? '-'}|${studyUid ?? '-'}|${hour}`
          : null;
      try {
        await writer.write({
          action: audit.action,
          outcome,
          userId: p?.userId,
          username: p?.username,
          role: p?.role,
          facilityId: p?.facilityId,
          studyUid,
          resource: `${request.method} ${request.routeOptions.url ?? ''}`,
          clientIp: request.ip,
          statusCode: reply.statusCode,
          detail: request.auditDetail,
          dedupeKey,
        });
      } catch (err) {
        writer.failures++;
        request.log.error({ err }, 'audit write failed');
      }
    });
  },
  { name: 'radlink-audit' },
);
