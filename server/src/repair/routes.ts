/**
 * The repair command, through the gateway (system admins):
 *   GET  /api/admin/drift      what is in one copy of the archive and missing from another (read-only)
 *   POST /api/admin/reconcile  repair it (see drift.ts), and report what was done and what is lost
 * Both answer with SOP Instance UIDs only (capped lists): operators need to find the instances,
 * not to see patient data.
 */
import type { FastifyInstance } from 'fastify';
import { measureDrift, repairDrift } from './drift.js';

const LIST_CAP = 1000;
const uidList = { type: 'array', items: { type: 'string' }, maxItems: LIST_CAP } as const;
const cap = (xs: string[]) => xs.slice(0, LIST_CAP);

export default async function repairRoutes(app: FastifyInstance) {
  const deps = () => ({ db: app.db, orthanc: app.orthanc, s3: app.s3 });

  app.get(
    '/api/admin/drift',
    {
      schema: {
        tags: ['admin'],
        summary: 'Count instances missing from Orthanc, the index or the S3 archive (no changes made).',
        response: {
          200: {
            type: 'object',
            properties: {
              orthancInstances: { type: 'integer' },
              indexedInstances: { type: 'integer' },
              archivedObjects: { type: 'integer' },
              missingFromIndex: { type: 'integer' },
              missingFromOrthanc: { type: 'integer' },
              missingFromArchive: { type: 'integer' },
              unindexable: { type: 'integer' },
              examples: {
                type: 'object',
                properties: {
                  missingFromIndex: uidList,
                  unindexable: uidList,
                  missingFromOrthanc: uidList,
                  missingFromArchive: uidList,
                },
                required: ['missingFromIndex', 'missingFromOrthanc', 'missingFromArchive'],
              },
            },
            required: [
              'orthancInstances',
              'indexedInstances',
              'archivedObjects',
              'missingFromIndex',
              'missingFromOrthanc',
              'missingFromArchive',
              'unindexable',
              'examples',
            ],
          },
        },
      },
    },
    async () => {
      const d = await measureDrift(deps());
      return {
        orthancInstances: d.orthancInstances,
        indexedInstances: d.indexedInstances,
        archivedObjects: d.archivedObjects,
        missingFromIndex: d.missingFromIndex.length,
        missingFromOrthanc: d.missingFromOrthanc.length,
        missingFromArchive: d.missingFromArchive.length,
        unindexable: d.unindexable.length,
        examples: {
          unindexable: cap(d.unindexable),
          missingFromIndex: cap(d.missingFromIndex),
          missingFromOrthanc: cap(d.missingFromOrthanc),
          missingFromArchive: cap(d.missingFromArchive),
        },
      };
    },
  );

  app.post(
    '/api/admin/reconcile',
    {
      schema: {
        tags: ['admin'],
        summary: 'Repair drift: index what Orthanc has, restore from S3 what Orthanc lost, re-archive.',
        response: {
          200: {
            type: 'object',
            properties: {
              indexed: { type: 'integer' },
              unindexable: { type: 'integer' },
              restoredToOrthanc: { type: 'integer' },
              archiveJobs: { type: 'integer' },
              lost: uidList,
            },
            required: ['indexed', 'unindexable', 'restoredToOrthanc', 'archiveJobs', 'lost'],
          },
        },
      },
    },
    async (request) => {
      const r = await repairDrift({
        ...deps(),
        indexer: app.indexer,
        queues: app.queues,
        attributionOf: (id) => app.changeFeed.attributionOf(id),
        log: request.log,
      });
      request.auditDetail = {
        indexed: r.indexed,
        unindexable: r.unindexable,
        restored: r.restoredToOrthanc,
        archiveJobs: r.archiveJobs,
        lost: r.lost.length,
      };
      return { ...r, lost: cap(r.lost) };
    },
  );
}
