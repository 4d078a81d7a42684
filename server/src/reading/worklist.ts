/**
 * The radiologist's worklist: the open requests sent to my facility, worst first — priority
 * (STAT, urgent, routine), then my specialty pools' requests (pools.ts has the rule), then studies
 * an AI model flagged, then the longest waiting. It shows the patient and study (the request's
 * grant shares them with my facility) and who holds each claim, so a claimed request is visibly
 * locked.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { scopeOf, studyScopeSql } from '../access/study-access.js';
import { AppError } from '../plugins/errors.js';
import { inMyPoolSql, poolRankSql } from './pools.js';
import { REQUEST_COLS, REQUEST_FROM, type RequestRow, toApi } from './requests-repo.js';
import { WorklistItem, WorklistQuery } from './schemas.js';
import { PRIORITY_RANK_SQL } from './turnaround.js';

interface WorklistRow extends RequestRow {
  requestingFacilityName: string;
  waitingMinutes: number;
  aiFlag: boolean | null;
  patientName: string | null;
  patientId: string | null;
  patientSex: string | null;
  patientBirthDate: string | null;
  studyDate: string | null;
  studyDescription: string | null;
  modalities: string[];
  numInstances: number;
  inMyPool: boolean;
  studyVisible: boolean;
}

export default async function worklistRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/worklist',
    {
      schema: {
        tags: ['reading'],
        summary: 'Read requests for my facility: priority, AI flag, then waiting time.',
        querystring: WorklistQuery,
        response: { 200: Type.Array(WorklistItem) },
      },
    },
    async (request) => {
      const p = request.principal!;
      const q = request.query;
      const params: unknown[] = [];
      const where: string[] = [];
      const add = (sql: (n: string) => string, v: unknown) => {
        params.push(v);
        where.push(sql(`$${params.length}`));
      };
      if (p.role === 'system_admin') {
        if (q.targetFacilityId) add((n) => `r.target_facility_id = ${n}`, q.targetFacilityId);
      } else {
        if (!p.facilityId) throw new AppError('RADLINK_FORBIDDEN', 'The worklist belongs to a facility.');
        add((n) => `r.target_facility_id = ${n}`, p.facilityId);
      }
      const status = q.status ?? 'open';
      if (status === 'open') where.push("r.status IN ('requested', 'claimed', 'reported')");
      else if (status !== 'all') add((n) => `r.status = ${n}`, status);
      if (q.modality) add((n) => `${n}::text = ANY (s.modalities)`, q.modality);
      if (q.facilityId) add((n) => `r.requesting_facility_id = ${n}`, q.facilityId);
      if (q.flagged !== undefined) where.push(q.flagged ? 's.ai_flag IS TRUE' : 's.ai_flag IS NOT TRUE');
      if (q.mine) add((n) => `r.claimed_by = ${n}`, p.userId);
      // Specialty pools (pools.ts): my pools' requests first; other pools' after their head start.
      params.push(p.userId, app.config.RADLINK_POOL_FIRST_MINUTES);
      const me = `$${params.length - 1}`;
      const poolRank = poolRankSql(me, `$${params.length}`);
      if (q.pool === 'mine') where.push(inMyPoolSql(me));
      else if (q.pool) add((n) => `r.specialty_pool = ${n}`, q.pool);
      // The patient and study are shown only while the grants model lets the caller see the study:
      // a cancelled request stays listed (status=all|cancelled) but its revoked grant no longer
      // shares the patient's identity.
      const visible = studyScopeSql(scopeOf(p), 's', params.length + 1);
      params.push(...visible.params);
      params.push(q.limit ?? 50, q.offset ?? 0);
      const rows = await app.db.query<WorklistRow>(
        `SELECT ${REQUEST_COLS}, f.name AS "requestingFacilityName",
                floor(extract(epoch FROM (now() - r.created_at)) / 60)::int AS "waitingMinutes",
                s.ai_flag AS "aiFlag", s.patient_name AS "patientName", s.patient_id AS "patientId",
                s.patient_sex AS "patientSex", s.patient_birth_date AS "patientBirthDate",
                s.study_date AS "studyDate", s.study_description AS "studyDescription",
                s.modalities, s.num_instances AS "numInstances", ${inMyPoolSql(me)} AS "inMyPool",
                ${visible.sql} AS "studyVisible"
           FROM ${REQUEST_FROM}
           JOIN studies s ON s.study_uid = r.study_uid
           JOIN facilities f ON f.id = r.requesting_facility_id
          WHERE ${where.length ? where.join(' AND ') : 'TRUE'}
          ORDER BY ${PRIORITY_RANK_SQL}, ${poolRank}, (s.ai_flag IS TRUE) DESC, r.created_at, r.id
          LIMIT $${params.length - 1} OFFSET $${params.length}`,
        params,
      );
      request.auditDetail = { count: rows.length };
      return rows.map((r) => ({
        request: toApi(r),
        requestingFacilityName: r.requestingFacilityName,
        waitingMinutes: r.waitingMinutes,
        aiFlag: r.aiFlag,
        inMyPool: r.inMyPool,
        patient: r.studyVisible
          ? { name: r.patientName, id: r.patientId, sex: r.patientSex, birthDate: r.patientBirthDate }
          : { name: null, id: null, sex: null, birthDate: null },
        study: {
          date: r.studyVisible ? r.studyDate : null,
          description: r.studyVisible ? r.studyDescription : null,
          modalities: r.modalities,
          numInstances: r.numInstances,
        },
      }));
    },
  );
}
