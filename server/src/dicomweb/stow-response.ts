/**
 * The STOW-RS response (PS3.18 10.5.3): a DICOM JSON data set with ReferencedSOPSequence for what
 * was stored and FailedSOPSequence for what was not, plus the HTTP status that summarises them.
 * Pure, so the status rules are unit-tested.
 */
import type { FailureReason } from './stow-validate.js';

export type InstanceOutcome =
  | {
      status: 'stored';
      sopClassUid: string;
      sopInstanceUid: string;
      studyUid: string;
      seriesUid: string;
      /** True when an identical object was already stored (idempotent re-send). */
      alreadyStored: boolean;
      /** PS3.4 B.2.3 warning (0xB000, 0xB006, 0xB007) when stored with a warning. */
      warning?: number;
      /** Client-safe explanation of the warning, no patient data. */
      warningComment?: string;
    }
  | {
      status: 'failed';
      sopClassUid?: string;
      sopInstanceUid?: string;
      reason: FailureReason;
      /** Client-safe explanation, no patient data. */
      comment: string;
    };

type Attr = { vr: string; Value?: unknown[] };
export type DicomJsonDataset = Record<string, Attr>;

const ui = (v: string | undefined): Attr => (v ? { vr: 'UI', Value: [v] } : { vr: 'UI' });

/**
 * PS3.18 10.5.3.1 (Table 10.5.3-1): 200 when every instance was stored without warnings; 202 when
 * some were stored and some failed, or any carries a warning; 409 when none was stored. (400 and
 * 415 are decided before any instance is looked at.)
 */
export function stowHttpStatus(outcomes: InstanceOutcome[]): 200 | 202 | 409 {
  const stored = outcomes.filter((o) => o.status === 'stored');
  if (stored.length === 0) return 409;
  if (stored.length < outcomes.length) return 202;
  return stored.some((o) => o.status === 'stored' && o.warning !== undefined) ? 202 : 200;
}

export function stowResponseBody(
  outcomes: InstanceOutcome[],
  retrieveUrl: (o: { studyUid: string; seriesUid: string; sopInstanceUid: string }) => string,
  studyRetrieveUrl: string | undefined,
): DicomJsonDataset {
  const body: DicomJsonDataset = {};
  if (studyRetrieveUrl) body['00081190'] = { vr: 'UR', Value: [studyRetrieveUrl] };
  const failed = outcomes.flatMap((o) =>
    o.status === 'failed'
      ? [
          {
            '00081150': ui(o.sopClassUid),
            '00081155': ui(o.sopInstanceUid),
            '00081197': { vr: 'US', Value: [o.reason] },
            // Error Comment (0000,0902), as a C-STORE response would carry it: the reason in words.
            '00000902': { vr: 'LO', Value: [o.comment.slice(0, 64)] },
          },
        ]
      : [],
  );
  const referenced = outcomes.flatMap((o) =>
    o.status === 'stored'
      ? [
          {
            '00081150': ui(o.sopClassUid),
            '00081155': ui(o.sopInstanceUid),
            '00081190': { vr: 'UR', Value: [retrieveUrl(o)] },
            ...(o.warning !== undefined ? { '00081196': { vr: 'US', Value: [o.warning] } } : {}),
            ...(o.warning !== undefined && o.warningComment
              ? { '00000902': { vr: 'LO', Value: [o.warningComment.slice(0, 64)] } }
              : {}),
          },
        ]
      : [],
  );
  if (failed.length > 0) body['00081198'] = { vr: 'SQ', Value: failed };
  if (referenced.length > 0) body['00081199'] = { vr: 'SQ', Value: referenced };
  return body;
}
