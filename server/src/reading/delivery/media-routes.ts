/**
 * `GET /api/studies/:studyUid/media.zip`: the study as a zip to burn on a CD or copy on a USB
 * stick (DICOMDIR at the root, the files under DICOM/), streamed as it is written. Access is the
 * grants model's (out-of-scope studies answer 404); the download is audited by the policy table.
 */
import { join } from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import yazl from 'yazl';
import { canAccessStudy } from '../../access/study-access.js';
import { AppError } from '../../plugins/errors.js';
import { StudyUid } from '../schemas.js';
import { buildMediaFolder } from './media-zip.js';

export default async function mediaRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/studies/:studyUid/media.zip',
    {
      schema: {
        tags: ['delivery'],
        summary: 'The study as DICOM media (zip with a DICOMDIR) for a CD or a USB stick.',
        params: Type.Object({ studyUid: StudyUid }),
        produces: ['application/zip'],
        response: { 200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary' }) },
      },
    },
    async (request, reply) => {
      const { studyUid } = request.params;
      if (!(await canAccessStudy(app.db, request.principal!, studyUid)))
        throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
      request.auditStudyUid = studyUid;
      const media = await buildMediaFolder(
        app.db,
        app.orthanc,
        studyUid,
        join(app.config.RADLINK_DATA, 'tmp'),
      );
      const zip = new yazl.ZipFile();
      // DICOM media files are already compact or compressed; STORE keeps the zip fast to write.
      zip.addFile(media.dicomdir, 'DICOMDIR', { compress: false });
      for (const f of media.files) zip.addFile(f.path, f.fileId, { compress: false });
      zip.end();
      let cleaned = false;
      const cleanup = () => {
        if (!cleaned) {
          cleaned = true;
          void media.cleanup();
        }
      };
      zip.outputStream.on('end', cleanup);
      zip.outputStream.on('error', cleanup);
      reply.raw.on('close', cleanup);
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="study-media.zip"`)
        .header('cache-control', 'private, no-store')
        .send(zip.outputStream);
    },
  );
}
