/**
 * THE access policy: every route the gateway serves has an entry here, keyed `METHOD url` with
 * Fastify's url syntax. The guard (guard.ts) refuses to register a route that has no entry, so
 * a route cannot be served by accident; tests/integration/policy.test.ts enumerates the
 * registered routes against this table and attacks each one with bad tokens.
 * HEAD follows GET. Anonymous routes are limited to health, login, opening a patient share link,
 * checking a printed report by its QR code,
 * the viewer's static files and the API docs.
 */
import { type PrincipalRole, type Role, SHARE_ROLE } from '../../../contracts/roles.js';
import type { AccessRule } from './rules.js';

const ADMINS: readonly Role[] = ['system_admin', 'facility_admin'];
/** Who works with images: facility staff (scoped by facility and grants), admins, workers. */
const IMAGE_READERS: readonly Role[] = [
  'system_admin',
  'facility_admin',
  'radiologist',
  'referring_doctor',
  'service',
];
const IMAGE_WRITERS: readonly Role[] = IMAGE_READERS;
/** Image reads also admit a share-link holder, whom the grants model confines to the link's study. */
const IMAGE_VIEWERS: readonly PrincipalRole[] = [...IMAGE_READERS, SHARE_ROLE];
/** Staff who may give a patient a share link: the owning facility's, or the signing radiologist (the handler narrows). */
const SHARERS: readonly Role[] = ['facility_admin', 'radiologist', 'referring_doctor'];
const PATIENT: readonly PrincipalRole[] = [SHARE_ROLE];
/** Remote reading: both sides of a request (handlers narrow to the two facilities). */
const READING: readonly Role[] = ['system_admin', 'facility_admin', 'radiologist', 'referring_doctor'];
/** Who manages AI models (registry, lifecycle, figures). */
const AI_MANAGERS: readonly Role[] = ['system_admin', 'model_manager'];
/** The reading side: worklists, claims. */
const READERS: readonly Role[] = ['system_admin', 'facility_admin', 'radiologist'];

function dicomweb(): Record<string, AccessRule> {
  const S = '/dicom-web/studies/:studyUid';
  const SE = `${S}/series/:seriesUid`;
  const I = `${SE}/instances/:sopInstanceUid`;
  const read = (action: string, hourly = false): AccessRule => ({
    roles: IMAGE_VIEWERS,
    audit: hourly ? { action, hourly: true } : { action },
  });
  return {
    // QIDO-RS
    'GET /dicom-web/studies': read('dicomweb.qido'),
    'GET /dicom-web/series': read('dicomweb.qido'),
    'GET /dicom-web/instances': read('dicomweb.qido'),
    [`GET ${S}/series`]: read('dicomweb.qido'),
    [`GET ${S}/instances`]: read('dicomweb.qido'),
    [`GET ${SE}/instances`]: read('dicomweb.qido'),
    // WADO-RS
    [`GET ${S}`]: read('dicomweb.retrieve'),
    [`GET ${S}/metadata`]: read('dicomweb.metadata', true),
    [`GET ${SE}`]: read('dicomweb.retrieve'),
    [`GET ${SE}/metadata`]: read('dicomweb.metadata', true),
    [`GET ${I}`]: read('dicomweb.retrieve', true),
    [`GET ${I}/metadata`]: read('dicomweb.metadata', true),
    [`GET ${I}/frames/:frames`]: read('dicomweb.frames', true),
    [`GET ${I}/bulk/:tag`]: read('dicomweb.frames', true),
    [`GET ${SE}/rendered`]: read('dicomweb.rendered', true),
    [`GET ${I}/rendered`]: read('dicomweb.rendered', true),
    [`GET ${I}/frames/:frames/rendered`]: read('dicomweb.rendered', true),
    [`GET ${S}/thumbnail`]: read('dicomweb.thumbnail', true),
    [`GET ${SE}/thumbnail`]: read('dicomweb.thumbnail', true),
    [`GET ${I}/thumbnail`]: read('dicomweb.thumbnail', true),
    [`GET ${I}/frames/:frames/thumbnail`]: read('dicomweb.thumbnail', true),
    // STOW-RS
    'POST /dicom-web/studies': { roles: IMAGE_WRITERS, audit: { action: 'dicomweb.stow' } },
    [`POST ${S}`]: { roles: IMAGE_WRITERS, audit: { action: 'dicomweb.stow' } },
    // WADO-URI (PS3.18 chapter 9)
    'GET /wado': read('dicomweb.wado-uri', true),
  };
}

export const POLICY: Record<string, AccessRule> = {
  // CORS preflight (registered by @fastify/cors only when RADLINK_CORS_ORIGINS is set)
  'OPTIONS *': { anonymous: true },

  // Health and docs
  'GET /healthz': { anonymous: true },
  'GET /readyz': { anonymous: true },
  'GET /metrics': { roles: ['system_admin'], metricsToken: true },

  // Authentication
  'POST /api/auth/login': { anonymous: true },
  'POST /api/auth/logout': { roles: 'any-user' },
  'POST /api/auth/refresh': { roles: 'any-user' },
  'GET /api/auth/me': { roles: 'any-user' },
  'GET /api/auth/sessions': { roles: 'any-user' },
  'DELETE /api/auth/sessions/:sessionId': { roles: 'any-user' },
  'POST /api/auth/password': { roles: 'any-user' },
  'POST /api/auth/totp/setup': { roles: 'any-user' },
  'POST /api/auth/totp/enable': { roles: 'any-user' },
  'POST /api/auth/totp/disable': { roles: 'any-user' },

  // Facilities and users (facility admins are confined to their facility by the handlers)
  'GET /api/facilities': { roles: 'any-user' },
  'POST /api/facilities': { roles: ['system_admin'] },
  'PATCH /api/facilities/:facilityId': { roles: ['system_admin'] },
  'PUT /api/facilities/:facilityId/ae-titles': { roles: ADMINS },
  'GET /api/users': { roles: ADMINS },
  'POST /api/users': { roles: ADMINS },
  'PATCH /api/users/:userId': { roles: ADMINS },
  'POST /api/users/:userId/password': { roles: ADMINS },
  'DELETE /api/users/:userId/sessions': { roles: ADMINS },

  // Archive (copies of every instance in S3): backlog and lag for operators
  'GET /api/archive/status': { roles: ['system_admin'] },
  'GET /api/admin/drift': { roles: ['system_admin'], audit: { action: 'admin.drift' } },
  'POST /api/admin/reconcile': { roles: ['system_admin'], audit: { action: 'admin.reconcile' } },

  // Audit trail
  'GET /api/audit': { roles: ADMINS, audit: { action: 'audit.read' } },

  // Remote reading (server/src/reading): who sees which request is decided by the handlers
  // (requesting and target facility only; others 404). Every route touching patient data is audited.
  'POST /api/requests': {
    roles: ['referring_doctor', 'radiologist', 'facility_admin'],
    audit: { action: 'reading.request.create' },
  },
  'GET /api/requests': { roles: READING, audit: { action: 'reading.request.list' } },
  'GET /api/requests/:requestId': { roles: READING, audit: { action: 'reading.request.read' } },
  'POST /api/requests/:requestId/cancel': { roles: READING, audit: { action: 'reading.request.cancel' } },
  'POST /api/requests/:requestId/claim': {
    roles: ['radiologist'],
    audit: { action: 'reading.request.claim' },
  },
  'POST /api/requests/:requestId/release': { roles: READERS, audit: { action: 'reading.request.release' } },
  'POST /api/requests/:requestId/reassign': { roles: READERS, audit: { action: 'reading.request.reassign' } },
  'GET /api/requests/:requestId/messages': { roles: READING, audit: { action: 'reading.message.read' } },
  'POST /api/requests/:requestId/messages': { roles: READING, audit: { action: 'reading.message.create' } },
  'GET /api/worklist': { roles: READERS, audit: { action: 'reading.worklist' } },
  'GET /api/report-templates': { roles: 'any-user' },
  'PUT /api/requests/:requestId/report': { roles: ['radiologist'], audit: { action: 'reading.report.save' } },
  'GET /api/requests/:requestId/report': { roles: READING, audit: { action: 'reading.report.read' } },
  'GET /api/reports/:reportId': { roles: READING, audit: { action: 'reading.report.read' } },
  'POST /api/reports/:reportId/sign': { roles: ['radiologist'], audit: { action: 'reading.report.sign' } },
  'POST /api/reports/:reportId/addenda': {
    roles: ['radiologist'],
    audit: { action: 'reading.report.addendum' },
  },
  'GET /api/reports/:reportId/verify': { roles: READING, audit: { action: 'reading.report.verify' } },
  // The printed QR code: anyone holding the paper; the printed code is the credential.
  'GET /api/verify/reports/:reportId': { anonymous: true, audit: { action: 'reading.report.verify.public' } },
  // Delivery of signed reports (server/src/reading/delivery): copies, PDF, measurements, FHIR, media.
  'GET /api/reports/:reportId/delivery': { roles: READING, audit: { action: 'reading.report.delivery' } },
  'GET /api/reports/:reportId/pdf': { roles: READING, audit: { action: 'reading.report.pdf' } },
  'POST /api/reports/:reportId/measurements': {
    roles: ['radiologist'],
    audit: { action: 'reading.report.measurements' },
  },
  'GET /api/fhir/ServiceRequest/:requestId': {
    roles: READING,
    audit: { action: 'fhir.service-request.read' },
  },
  'GET /api/fhir/DiagnosticReport/:reportId': {
    roles: READING,
    audit: { action: 'fhir.diagnostic-report.read' },
  },
  'GET /api/fhir/DiagnosticReport': { roles: READING, audit: { action: 'fhir.diagnostic-report.search' } },
  // The patient may take the study home from a share link too (the film replacement's CD).
  'GET /api/studies/:studyUid/media.zip': { roles: IMAGE_VIEWERS, audit: { action: 'study.media.download' } },
  // Attachments, STAT escalation, live events, pools, webhooks and figures (reading/events-plugin.ts)
  'POST /api/requests/:requestId/attachments': {
    roles: ['referring_doctor', 'radiologist', 'facility_admin'],
    audit: { action: 'reading.attachment.upload' },
  },
  'GET /api/requests/:requestId/attachments': {
    roles: READING,
    audit: { action: 'reading.attachment.list' },
  },
  'GET /api/requests/:requestId/attachments/:attachmentId': {
    roles: READING,
    audit: { action: 'reading.attachment.download' },
  },
  'DELETE /api/requests/:requestId/attachments/:attachmentId': {
    roles: ['referring_doctor', 'radiologist', 'facility_admin'],
    audit: { action: 'reading.attachment.delete' },
  },
  'GET /api/requests/:requestId/escalation': { roles: READING, audit: { action: 'reading.escalation.read' } },
  'POST /api/requests/:requestId/acknowledge': {
    roles: READERS,
    audit: { action: 'reading.request.acknowledge' },
  },
  'GET /api/events': { roles: READING, audit: { action: 'reading.events.subscribe' } },
  'GET /api/reading/figures': { roles: READING },
  'GET /api/facilities/:facilityId/pools': { roles: READING },
  'PUT /api/facilities/:facilityId/pools/:pool': { roles: ADMINS, audit: { action: 'reading.pool.update' } },
  'DELETE /api/facilities/:facilityId/pools/:pool': {
    roles: ADMINS,
    audit: { action: 'reading.pool.delete' },
  },
  'PUT /api/facilities/:facilityId/pools/:pool/members/:userId': {
    roles: ADMINS,
    audit: { action: 'reading.pool.member.add' },
  },
  'DELETE /api/facilities/:facilityId/pools/:pool/members/:userId': {
    roles: ADMINS,
    audit: { action: 'reading.pool.member.remove' },
  },
  'PUT /api/facilities/:facilityId/webhook': { roles: ADMINS, audit: { action: 'reading.webhook.update' } },
  'GET /api/facilities/:facilityId/webhook': { roles: ADMINS },
  'DELETE /api/facilities/:facilityId/webhook': {
    roles: ADMINS,
    audit: { action: 'reading.webhook.delete' },
  },
  'GET /api/facilities/:facilityId/webhook/deliveries': { roles: ADMINS },
  'GET /api/signing/ca': { roles: 'any-user' },
  'POST /api/signing/enrol': { roles: ['radiologist'], audit: { action: 'signing.enrol' } },
  'GET /api/signing/certificate': { roles: ['radiologist'] },
  'POST /api/signing/certificates/:serial/revoke': {
    roles: ['radiologist', 'facility_admin', 'system_admin'],
    audit: { action: 'signing.revoke' },
  },

  // Patient share links (server/src/share). Staff create, list and revoke links for one study;
  // opening a link (token + PIN or birth year) is the share holder's login, so it is anonymous
  // like /api/auth/login; what an opened link reaches is the routes naming the patient role.
  'POST /api/studies/:studyUid/share-links': { roles: SHARERS, audit: { action: 'share.link.create' } },
  'GET /api/studies/:studyUid/share-links': {
    roles: [...SHARERS, 'system_admin'],
    audit: { action: 'share.link.list' },
  },
  'POST /api/studies/:studyUid/share-links/:linkId/revoke': {
    roles: [...SHARERS, 'system_admin'],
    audit: { action: 'share.link.revoke' },
  },
  'POST /api/share/open': { anonymous: true, audit: { action: 'share.open' } },
  'POST /api/share/close': { roles: PATIENT, audit: { action: 'share.close' } },
  'GET /api/share/me': { roles: PATIENT, audit: { action: 'share.view' } },
  'GET /api/share/access-log': { roles: PATIENT, audit: { action: 'share.access-log' } },
  'GET /api/share/reports/:reportId/pdf': { roles: PATIENT, audit: { action: 'share.report.pdf' } },

  // AI (server/src/ai): the registry and lifecycle for model managers; results scoped by study access
  // (shadow results for system admins only); feedback by radiologists.
  'GET /api/ai/models': { roles: AI_MANAGERS },
  'POST /api/ai/models': { roles: AI_MANAGERS, audit: { action: 'ai.model.upload' } },
  'POST /api/ai/models/:modelId/versions/:version/enable': {
    roles: AI_MANAGERS,
    audit: { action: 'ai.model.enable' },
  },
  'POST /api/ai/models/:modelId/versions/:version/disable': {
    roles: AI_MANAGERS,
    audit: { action: 'ai.model.disable' },
  },
  'POST /api/ai/models/:modelId/versions/:version/shadow': {
    roles: AI_MANAGERS,
    audit: { action: 'ai.model.shadow' },
  },
  'POST /api/ai/models/:modelId/versions/:version/withdraw': {
    roles: AI_MANAGERS,
    audit: { action: 'ai.model.withdraw' },
  },
  'POST /api/ai/models/:modelId/rollback': { roles: AI_MANAGERS, audit: { action: 'ai.model.rollback' } },
  'GET /api/ai/stats': { roles: AI_MANAGERS },
  'GET /api/ai/runs': { roles: AI_MANAGERS },
  'GET /api/ai/runs/:runId': {
    roles: ['system_admin', 'facility_admin', 'radiologist', 'referring_doctor', 'model_manager'],
    audit: { action: 'ai.run.read' },
  },
  'POST /api/ai/runs/:runId/rerun': { roles: AI_MANAGERS, audit: { action: 'ai.run.rerun' } },
  'GET /api/studies/:studyUid/ai-results': { roles: IMAGE_READERS, audit: { action: 'ai.results.read' } },
  // Key images (server/src/reading/key-images): staff with access to the study read the list;
  // radiologists with access mark and unmark (handlers check the study scope, 404 outside it).
  'GET /api/studies/:studyUid/key-images': { roles: IMAGE_READERS, audit: { action: 'key-images.read' } },
  'PUT /api/studies/:studyUid/key-images/:sopInstanceUid': {
    roles: ['radiologist'],
    audit: { action: 'key-images.mark' },
  },
  'PUT /api/studies/:studyUid/key-images/:sopInstanceUid/:frame': {
    roles: ['radiologist'],
    audit: { action: 'key-images.mark' },
  },
  'DELETE /api/studies/:studyUid/key-images/:sopInstanceUid': {
    roles: ['radiologist'],
    audit: { action: 'key-images.unmark' },
  },
  'DELETE /api/studies/:studyUid/key-images/:sopInstanceUid/:frame': {
    roles: ['radiologist'],
    audit: { action: 'key-images.unmark' },
  },
  'POST /api/ai/findings/:findingId/feedback': {
    roles: ['radiologist'],
    audit: { action: 'ai.finding.feedback' },
  },
  'GET /api/ai/flagged-studies': { roles: READING, audit: { action: 'ai.flagged.list' } },
  'POST /api/reports/:reportId/ai-findings': {
    roles: ['radiologist'],
    audit: { action: 'reading.report.ai-findings' },
  },

  // Operations (server/src/ops): break-glass emergency access (flagged in the audit trail, reviewed
  // by admins), retention policies, runs and legal holds (facility admins: their facility only).
  'POST /api/studies/:studyUid/break-glass': {
    roles: ['radiologist', 'referring_doctor'],
    audit: { action: 'break-glass.open' },
  },
  'GET /api/break-glass': { roles: ADMINS, audit: { action: 'break-glass.list' } },
  'POST /api/break-glass/:grantId/review': { roles: ADMINS, audit: { action: 'break-glass.review' } },
  'GET /api/facilities/:facilityId/retention': { roles: ADMINS },
  'PUT /api/facilities/:facilityId/retention': {
    roles: ADMINS,
    audit: { action: 'retention.policy.update' },
  },
  'POST /api/retention/run': { roles: ADMINS, audit: { action: 'retention.run' } },
  'PUT /api/studies/:studyUid/legal-hold': { roles: ADMINS, audit: { action: 'retention.hold.place' } },
  'DELETE /api/studies/:studyUid/legal-hold': { roles: ADMINS, audit: { action: 'retention.hold.release' } },

  // De-identified exports for research and AI training (server/src/deid).
  'POST /api/exports': { roles: ADMINS, audit: { action: 'export.create' } },
  'GET /api/exports/:exportId': { roles: ADMINS, audit: { action: 'export.read' } },
  'GET /api/exports/:exportId/download': { roles: ADMINS, audit: { action: 'export.download' } },

  // DICOMweb (PS3.18). Which studies a caller sees is decided by the grants model
  // (server/src/access/study-access.ts); out-of-scope studies answer 404.
  ...dicomweb(),
};

/** Route families registered by third-party plugins, matched by prefix. */
export const PREFIX_POLICY: { method: string; prefix: string; rule: AccessRule }[] = [
  { method: 'GET', prefix: '/api/docs', rule: { anonymous: true } },
  // The built viewer (index.html, assets) is public; everything it shows comes from guarded APIs.
  { method: 'GET', prefix: '/', rule: { anonymous: true } },
];

/** Prefix routes may only be the ones above: a plugin route elsewhere must be listed exactly. */
const STATIC_ROUTE = /^\/(\*|assets\/\*|index\.html|favicon\.ico|locales\/\*)?$/;

export function lookupRule(method: string, url: string): AccessRule | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  const exact = POLICY[`${m} ${url}`];
  if (exact) return exact;
  for (const p of PREFIX_POLICY) {
    if (p.method !== m) continue;
    if (p.prefix === '/' ? STATIC_ROUTE.test(url) : url === p.prefix || url.startsWith(`${p.prefix}/`))
      return p.rule;
  }
  return undefined;
}
