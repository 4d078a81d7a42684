/**
 * Key images (reading): the per-study list the viewer marks and shows, published into the study
 * as a DICOM Key Object Selection after each change (publish.ts). Publications under way finish
 * before the app closes.
 */
import type { FastifyInstance } from 'fastify';
import { KosPublisher } from './publish.js';
import { KeyImagesRepo } from './repo.js';
import keyImageRoutes from './routes.js';

export default async function keyImagesPlugin(app: FastifyInstance) {
  const publisher = new KosPublisher({
    db: app.db,
    orthanc: app.orthanc,
    indexer: app.indexer,
    log: app.log,
  });
  app.addHook('preClose', async () => publisher.drain());
  await app.register(keyImageRoutes, { repo: new KeyImagesRepo(app.db), publisher });
}
