/**
 * Delivery of signed reports, as built by the reading plugin: the service (PDF, DICOM copy,
 * verification of copies), its queue (started when the app is ready), and the routes (delivery
 * record, PDF, measurements, FHIR, the study's DICOM media zip).
 */
import type { FastifyInstance } from 'fastify';
import type { ReportDelivery } from '../reports.js';
import { verifyStoredReport } from '../reports.js';
import type { ReportRepo } from '../reports-repo.js';
import type { RequestRepo } from '../requests-repo.js';
import type { DemoSigner } from '../signing/demo-signer.js';
import type { Signer } from '../signing/signer.js';
import { ReportDeliveryService } from './deliver.js';
import { DeliveryRepo } from './delivery-repo.js';
import fhirRoutes from './fhir-routes.js';
import mediaRoutes from './media-routes.js';
import { DeliveryQueue } from './queue.js';
import deliveryRoutes from './routes.js';
import { CopyVerifier } from './verify-copies.js';

export interface DeliveryParts {
  delivery: ReportDelivery;
  service: ReportDeliveryService;
  deliveries: DeliveryRepo;
  queue: DeliveryQueue;
}

export function publicBaseUrl(app: FastifyInstance): string {
  const c = app.config;
  if (c.RADLINK_PUBLIC_URL) return c.RADLINK_PUBLIC_URL.replace(/\/+$/, '');
  const scheme = c.RADLINK_TLS_CERT ? 'https' : 'http';
  return `${scheme}://localhost:${c.RADLINK_PORT}`;
}

/** Builds the service and queue; the queue starts with the app and stops before it closes. */
export function createDelivery(
  app: FastifyInstance,
  deps: { reports: ReportRepo; requests: RequestRepo; signers: Map<string, Signer>; demoSigner: DemoSigner },
): DeliveryParts {
  const deliveries = new DeliveryRepo(app.db);
  const service = new ReportDeliveryService({
    db: app.db,
    s3: app.s3,
    orthanc: app.orthanc,
    indexer: app.indexer,
    reports: deps.reports,
    requests: deps.requests,
    deliveries,
    verify: (r, accession) => verifyStoredReport(deps, r, accession),
    publicBaseUrl: publicBaseUrl(app),
    log: app.log,
  });
  const queue = new DeliveryQueue({
    redis: app.redis,
    redisUrl: app.config.REDIS_URL,
    prefix: app.config.RADLINK_QUEUE_PREFIX,
    service,
    deliveries,
    registry: app.metrics.registry,
    log: app.log,
  });
  const copies = new CopyVerifier({
    deliveries,
    orthanc: app.orthanc,
    pdfObject: (row) => service.pdfObject(row),
  });
  app.addHook('onReady', async () => queue.start());
  app.addHook('preClose', async () => queue.stop());
  return {
    service,
    deliveries,
    queue,
    delivery: { onSigned: (id) => queue.enqueue(id), verifyCopies: (r) => copies.verify(r) },
  };
}

export async function registerDeliveryRoutes(
  app: FastifyInstance,
  parts: DeliveryParts,
  deps: { reports: ReportRepo; requests: RequestRepo },
): Promise<void> {
  await app.register(deliveryRoutes, { ...deps, deliveries: parts.deliveries, service: parts.service });
  await app.register(fhirRoutes, { ...deps, deliveries: parts.deliveries, service: parts.service });
  await app.register(mediaRoutes);
}
