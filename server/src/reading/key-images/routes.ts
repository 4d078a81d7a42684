/**
 * Key images of a study: `GET/PUT/DELETE /api/studies/:studyUid/key-images[/:sopInstanceUid[/:frame]]`.
 * One list per study, shared by everyone who reads it (what a Key Object Selection in the study
 * would hold). Reading needs access to the study; marking and unmarking are for radiologists
 * with access (policy/table.ts). Out-of-scope or unknown studies answer 404, never 403, so their
 * existence is not revealed; an instance that is not in the study answers 404 too. Every call is
 * audited through its policy entry, with the instance and frame in the detail.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canAccessStudy } from '../../access/study-access.js';
import { AppError } from '../../plugins/errors.js';
import type { KosPublisher } from './publish.js';
import type { KeyImagesRepo } from './repo.js';
import { FrameParams, InstanceParams, KeyImage, KeyImageBody, KeyImageList, StudyParams } from './schemas.js';

const NO_STUDY = () => new AppError('RADLINK_NOT_FOUND', 'No such study.');
const NO_INSTANCE = () => new AppError('RADLINK_NOT_FOUND', 'No such image in this study.');
const NO_FRAME = () => new AppError('RADLINK_NOT_FOUND', 'The image has no such frame.');
const NOT_MARKED = () => new AppError('RADLINK_NOT_FOUND', 'The image is not a key image of this study.');

export default async function keyImageRoutes(
  fastify: FastifyInstance,
  opts: { repo: KeyImagesRepo; publisher: KosPublisher },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { repo, publisher } = opts;
  const base = '/api/studies/:studyUid/key-images';

  app.get(
    base,
    {
      schema: {
        tags: ['reading'],
        summary: 'The key images of a study, in series and instance order, with notes and who marked them.',
        params: StudyParams,
        response: { 200: KeyImageList },
      },
    },
    async (request) => {
      const { studyUid } = request.params;
      if (!(await canAccessStudy(app.db, request.principal!, studyUid))) throw NO_STUDY();
      const [keyImages, publication] = await Promise.all([repo.list(studyUid), publisher.state(studyUid)]);
      request.auditDetail = { count: keyImages.length };
      return { studyUid, keyImages, ...(publication ? { publication } : {}) };
    },
  );

  const put = async (
    p: { studyUid: string; sopInstanceUid: string; frame?: number },
    body: KeyImageBody,
    request: FastifyRequest,
  ) => {
    const frame = p.frame ?? 1;
    const principal = request.principal!;
    if (!(await canAccessStudy(app.db, principal, p.studyUid))) throw NO_STUDY();
    const inst = await repo.instance(p.studyUid, p.sopInstanceUid);
    if (!inst) throw NO_INSTANCE();
    if (frame > inst.frames) throw NO_FRAME();
    const note = body.note?.trim() ? body.note.trim() : null;
    const { entry, created } = await repo.upsert({
      studyUid: p.studyUid,
      seriesUid: inst.seriesUid,
      sopInstanceUid: p.sopInstanceUid,
      frame,
      note,
      userId: principal.userId,
    });
    request.auditDetail = { sopInstanceUid: p.sopInstanceUid, frame, created, withNote: note !== null };
    // After the mark is stored; publication never fails the request (publish.ts).
    publisher.schedule(p.studyUid, principal.userId);
    return { entry, created };
  };

  const del = async (
    p: { studyUid: string; sopInstanceUid: string; frame?: number },
    request: FastifyRequest,
  ) => {
    const frame = p.frame ?? 1;
    if (!(await canAccessStudy(app.db, request.principal!, p.studyUid))) throw NO_STUDY();
    if (!(await repo.remove(p.studyUid, p.sopInstanceUid, frame))) throw NOT_MARKED();
    request.auditDetail = { sopInstanceUid: p.sopInstanceUid, frame };
    publisher.schedule(p.studyUid, request.principal!.userId);
  };

  const putSchema = {
    tags: ['reading'],
    summary:
      'Mark an image (frame 1, or the frame given) as a key image, with an optional note; re-marking updates the note.',
    body: KeyImageBody,
    response: { 200: KeyImage, 201: KeyImage },
  };
  app.put(
    `${base}/:sopInstanceUid`,
    { schema: { ...putSchema, params: InstanceParams } },
    async (request, reply) => {
      const { entry, created } = await put(request.params, request.body, request);
      return reply.code(created ? 201 : 200).send(entry);
    },
  );
  app.put(
    `${base}/:sopInstanceUid/:frame`,
    { schema: { ...putSchema, params: FrameParams } },
    async (request, reply) => {
      const { entry, created } = await put(request.params, request.body, request);
      return reply.code(created ? 201 : 200).send(entry);
    },
  );

  const delSchema = {
    tags: ['reading'],
    summary: 'Unmark a key image.',
    response: { 204: Type.Null() },
  };
  app.delete(
    `${base}/:sopInstanceUid`,
    { schema: { ...delSchema, params: InstanceParams } },
    async (request, reply) => {
      await del(request.params, request);
      return reply.code(204).send(null);
    },
  );
  app.delete(
    `${base}/:sopInstanceUid/:frame`,
    { schema: { ...delSchema, params: FrameParams } },
    async (request, reply) => {
      await del(request.params, request);
      return reply.code(204).send(null);
    },
  );
}
