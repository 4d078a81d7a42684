import type { PrincipalRole } from '../../../contracts/roles.js';

/**
 * Who may call a route. Exactly one of `anonymous` or `roles` is set.
 * `audit` names the action written to the audit trail for every call (patient-data routes must
 * have one; the policy test checks that). `hourly` collapses high-volume reads (frames,
 * thumbnails) to one audit row per user x study x hour.
 * `any-user` means any logged-in user, never a share-link holder (role `patient`), which only
 * reaches routes that name it.
 */
export interface AccessRule {
  anonymous?: true;
  roles?: readonly PrincipalRole[] | 'any-user';
  /** Also accept the static metrics token (Prometheus scrapers cannot log in). */
  metricsToken?: true;
  audit?: { action: string; hourly?: true };
}
