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

/** Vietnamese facility tiers, highest first: requests for reads go up, reports come down. */
export const FACILITY_TIERS = ['central', 'provincial', 'district', 'commune'] as const;
export type FacilityTier = (typeof FACILITY_TIERS)[number];
