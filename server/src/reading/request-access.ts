/**
 * Who may see and act on a read request. Two facilities share it: the requesting one (its
 * clinical staff follow the request and receive the report) and the target (its radiologists
 * and admins read it). Everyone else gets 404, as for studies: existence is not revealed.
 */
import type { Principal } from '../identity/principal.js';
import { AppError } from '../plugins/errors.js';

export interface RequestParties {
  requestingFacilityId: string;
  targetFacilityId: string;
  requesterId: string;
  claimedById: string | null;
}

export const NO_REQUEST = () => new AppError('RADLINK_NOT_FOUND', 'No such read request.');

export function isRequesterSide(p: Principal, r: RequestParties): boolean {
  return (
    p.facilityId === r.requestingFacilityId &&
    ['referring_doctor', 'radiologist', 'facility_admin'].includes(p.role)
  );
}

export function isReaderSide(p: Principal, r: RequestParties): boolean {
  return p.facilityId === r.targetFacilityId && ['radiologist', 'facility_admin'].includes(p.role);
}

export function maySee(p: Principal, r: RequestParties): boolean {
  return p.role === 'system_admin' || isRequesterSide(p, r) || isReaderSide(p, r);
}

/** The SQL twin of maySee over `read_requests r`, for lists; parameters appended from $n. */
export function visibleSql(p: Principal, firstParam: number): { sql: string; params: unknown[] } {
  if (p.role === 'system_admin') return { sql: 'TRUE', params: [] };
  if (!p.facilityId) return { sql: 'FALSE', params: [] };
  const f = `$${firstParam}::text`;
  const reader = ['radiologist', 'facility_admin'].includes(p.role);
  return {
    sql: reader
      ? `(r.requesting_facility_id = ${f} OR r.target_facility_id = ${f})`
      : `r.requesting_facility_id = ${f}`,
    params: [p.facilityId],
  };
}
