/** Key images (reading): the per-study list the viewer marks and shows. */
import type { FastifyInstance } from 'fastify';
import { KeyImagesRepo } from './repo.js';
import keyImageRoutes from './routes.js';

export default async function keyImagesPlugin(app: FastifyInstance) {
  await app.register(keyImageRoutes, { repo: new KeyImagesRepo(app.db) });
}
