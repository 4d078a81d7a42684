/**
 * Which report a caller may see, for the delivery routes: the same rule as the reading API
 * (both facilities of the request; drafts for the reading side only), 404 otherwise, and the
 * study recorded for the audit trail.
 */
import type { Principal } from '../../identity/principal.js';
import { AppError } from '../../plugins/errors.js';
import { maySeeReport } from '../reports.js';
import type { ReportRepo, ReportRow } from '../reports-repo.js';
import type { RequestRepo, RequestRow } from '../requests-repo.js';

export const NO_REPORT = () => new AppError('RADLINK_NOT_FOUND', 'No such report.');

export async function visibleReport(
  reports: ReportRepo,
  requests: RequestRepo,
  p: Principal,
  id: string,
  audit: { auditStudyUid: string | null },
): Promise<{ r: ReportRow; req: RequestRow }> {
  const r = await reports.byId(id);
  const req = r ? await requests.byId(r.requestId) : null;
  if (!r || !req || !maySeeReport(p, req, r)) throw NO_REPORT();
  audit.auditStudyUid = r.studyUid;
  return { r, req };
}
