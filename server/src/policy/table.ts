/**
 * THE access policy: every route the gateway serves has an entry here, keyed `METHOD url` with
 * Fastify's url syntax. The guard (guard.ts) refuses to register a route that has no entry, so
 * a route cannot be served by accident; tests/integration/policy.test.ts enumerates the
 * registered routes against this table and attacks each one with bad tokens.
 * HEAD follows GET. Anonymous routes are limited to health, login, the viewer's static files
 * and the API docs.
 */
import type { Role } from '../../../contracts/roles.js';
import type { AccessRule } from './rules.js';

const ADMINS: readonly Role[] = ['system_admin', 'facility_admin'];
/** Until the scoped DICOMweb gateway lands, the raw pass-through is for admins and services only. */
const ARCHIVE_READERS: readonly Role[] = ['system_admin', 'service'];

export const POLICY: Record<string, AccessRule> = {
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

  // Audit trail
  'GET /api/audit': { roles: ADMINS, audit: { action: 'audit.read' } },

  // DICOMweb (thin pass-through; replaced by the scoped gateway)
  'GET /dicom-web/studies': { roles: ARCHIVE_READERS, audit: { action: 'dicomweb.qido' } },
  'POST /dicom-web/studies': { roles: ARCHIVE_READERS, audit: { action: 'dicomweb.stow' } },
  'GET /dicom-web/studies/*': { roles: ARCHIVE_READERS, audit: { action: 'dicomweb.retrieve', hourly: true } },
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
    if (p.prefix === '/' ? STATIC_ROUTE.test(url) : url === p.prefix || url.startsWith(`${p.prefix}/`)) return p.rule;
  }
  return undefined;
}
