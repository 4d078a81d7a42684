/**
 * Remote reading, registered as one plugin: read requests and their discussion, the worklist,
 * reports with templates, signing and verification. The demo CA is loaded (created on the
 * deployment's first start) before any route is served.
 */
import type { FastifyInstance } from 'fastify';
import { FacilityRepo } from '../identity/facilities.js';
import { UserRepo } from '../identity/users.js';
import { createDelivery, registerDeliveryRoutes } from './delivery/plugin.js';
import { registerNotifications } from './events-plugin.js';
import messageRoutes from './messages.js';
import { ReadingMetrics } from './metrics.js';
import reportRoutes from './reports.js';
import { ReportRepo } from './reports-repo.js';
import requestRoutes from './requests.js';
import { RequestRepo } from './requests-repo.js';
import { DemoCa } from './signing/demo-ca.js';
import { DemoSigner } from './signing/demo-signer.js';
import signingRoutes from './signing/routes.js';
import type { Signer } from './signing/signer.js';
import worklistRoutes from './worklist.js';

export default async function readingPlugin(app: FastifyInstance) {
  const requests = new RequestRepo(app.db);
  const reports = new ReportRepo(app.db);
  const metrics = new ReadingMetrics(app.metrics.registry, app.db);
  const ca = await DemoCa.ensure(app.db, app.config.RADLINK_TOKEN_SECRET);
  const demoSigner = new DemoSigner(app.db, ca);
  // A national-CA adapter would be added here and made the signer; the demo signer stays in
  // `signers` so reports it signed keep verifying.
  const signers = new Map<string, Signer>([[demoSigner.kind, demoSigner]]);

  // Before the routes that publish events: it decorates `readingEvents` and `specialtyPools`.
  await registerNotifications(app, {
    requests,
    users: new UserRepo(app.db),
    facilities: new FacilityRepo(app.db),
  });
  await app.register(requestRoutes, {
    requests,
    users: new UserRepo(app.db),
    facilities: new FacilityRepo(app.db),
    metrics,
  });
  await app.register(messageRoutes, { requests });
  await app.register(worklistRoutes);
  const delivery = createDelivery(app, { reports, requests, signers, demoSigner });
  await app.register(reportRoutes, {
    requests,
    reports,
    signer: demoSigner,
    signers,
    demoSigner,
    metrics,
    delivery: delivery.delivery,
  });
  await registerDeliveryRoutes(app, delivery, { reports, requests });
  await app.register(signingRoutes, { ca, signer: demoSigner });
}
