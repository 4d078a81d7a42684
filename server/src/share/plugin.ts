/**
 * Patient share links, registered as one plugin: the staff routes (create, list, revoke) and the
 * patient routes (open, view, access log, report PDF, close). The share sessions themselves are
 * built by app.ts, because the guard authenticates them on every route (DICOMweb included).
 */
import type { FastifyInstance } from 'fastify';
import { DeliveryRepo } from '../reading/delivery/delivery-repo.js';
import { ReportRepo } from '../reading/reports-repo.js';
import { DemoCa } from '../reading/signing/demo-ca.js';
import { DemoSigner } from '../reading/signing/demo-signer.js';
import type { Signer } from '../reading/signing/signer.js';
import { LinkRepo } from './links-repo.js';
import patientShareRoutes from './patient-routes.js';
import { PatientReports } from './patient-view.js';
import type { ShareSessions } from './share-sessions.js';
import { SlipRenderer } from './slip.js';
import staffShareRoutes from './staff-routes.js';

export interface SharePluginOptions {
  sessions: ShareSessions;
}

export default async function sharePlugin(app: FastifyInstance, opts: SharePluginOptions) {
  const links = new LinkRepo(app.db);
  // Verification goes to the signer that made each signature, as the reading API does.
  const demoSigner = new DemoSigner(app.db, await DemoCa.ensure(app.db, app.config.RADLINK_TOKEN_SECRET));
  const signers = new Map<string, Signer>([[demoSigner.kind, demoSigner]]);
  const deliveries = new DeliveryRepo(app.db);
  const reports = new PatientReports(app.db, new ReportRepo(app.db), { signers, demoSigner }, deliveries);

  await app.register(staffShareRoutes, {
    links,
    slips: new SlipRenderer(),
    defaultTtlDays: app.config.RADLINK_SHARE_TTL_DAYS,
  });
  await app.register(patientShareRoutes, {
    links,
    sessions: opts.sessions,
    reports,
    deliveries,
    maxAttempts: app.config.RADLINK_SHARE_MAX_ATTEMPTS,
    openRateLimit: app.config.RADLINK_LOGIN_RATE_LIMIT,
    cookieSecure: app.config.RADLINK_COOKIE_SECURE,
  });
}
