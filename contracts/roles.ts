/**
 * Who a user is, in one place. Roles are coarse; what a role may see is further
 * narrowed by facility and by grants (see server/src/policy).
 */
export const ROLES = [
  'system_admin',
  'facility_admin',
  'radiologist',
  'referring_doctor',
  'model_manager',
  'service',
] as const;
export type Role = (typeof ROLES)[number];

/**
 * Not a user role: the holder of an opened patient share link (server/src/share). It is never
 * stored in `users`; the policy table names it on the few read routes a link may reach, and the
 * grants model confines it to the link's one study.
 */
export const SHARE_ROLE = 'patient';
/** Who a request can be made by: a user's role, or a share-link holder. */
export type PrincipalRole = Role | typeof SHARE_ROLE;

/** Vietnamese facility tiers, highest first: requests for reads go up, reports come down. */
export const FACILITY_TIERS = ['central', 'provincial', 'district', 'commune'] as const;
export type FacilityTier = (typeof FACILITY_TIERS)[number];
