/**
 * The patient's record of access to their study (Law 91/2025/QH15 on personal data protection:
 * the data subject's right to know who processed their data and when), read from the audit
 * trail, which records every access to patient data (audit/audit.ts).
 *
 * Decision: staff appear as role + facility, never by personal name. The facility is the data
 * controller the patient deals with and is accountable for its staff; naming individual health
 * workers to anyone holding the link would expose them without adding to the patient's rights.
 * The facility's own trail (GET /api/audit) keeps the named record, so a patient's request for
 * the individual can be answered by the facility.
 *
 * Shown: every audited event on this study (reads, images, reports, share-link management, refused
 * attempts), including the patient's own accesses through share links ("you") and wrong-PIN
 * attempts on them. Not shown: reading this log itself (it is not access to the medical data).
 * High-volume image reads appear once per reader × hour, as the audit trail records them.
 */
import type { Queryable } from '../db/client.js';

const ROLE_TEXT: Record<string, { vi: string; en: string }> = {
  system_admin: { vi: 'Quản trị hệ thống', en: 'System administrator' },
  facility_admin: { vi: 'Quản trị cơ sở y tế', en: 'Facility administrator' },
  radiologist: { vi: 'Bác sĩ chẩn đoán hình ảnh', en: 'Radiologist' },
  referring_doctor: { vi: 'Bác sĩ chỉ định', en: 'Referring doctor' },
  service: { vi: 'Dịch vụ tự động', en: 'Automatic service' },
  patient: { vi: 'Bạn (qua đường dẫn chia sẻ)', en: 'You (through a share link)' },
};

/** Actions by prefix, most specific first; the audit action itself is returned too. */
const ACTION_TEXT: [string, { vi: string; en: string }][] = [
  ['dicomweb.stow', { vi: 'Lưu hình ảnh vào hồ sơ', en: 'Stored images' }],
  ['dicomweb.qido', { vi: 'Tìm kiếm ca chụp', en: 'Searched the study' }],
  ['dicomweb.thumbnail', { vi: 'Xem ảnh thu nhỏ', en: 'Viewed thumbnails' }],
  ['dicomweb.metadata', { vi: 'Xem thông tin ảnh', en: 'Viewed image information' }],
  ['dicomweb', { vi: 'Xem hình ảnh', en: 'Viewed images' }],
  ['reading.request.create', { vi: 'Gửi yêu cầu đọc phim', en: 'Requested a remote read' }],
  ['reading.request.claim', { vi: 'Nhận đọc ca chụp', en: 'Took the study for reading' }],
  ['reading.request', { vi: 'Xem yêu cầu đọc phim', en: 'Handled the read request' }],
  ['reading.message', { vi: 'Trao đổi về ca chụp', en: 'Discussed the study' }],
  ['reading.report.save', { vi: 'Soạn kết quả', en: 'Drafted the report' }],
  ['reading.report.sign', { vi: 'Ký số kết quả', en: 'Signed the report' }],
  ['reading.report.addendum', { vi: 'Ký phụ lục bổ sung', en: 'Signed an addendum' }],
  ['reading.report.verify', { vi: 'Xác minh chữ ký kết quả', en: 'Verified the report signature' }],
  ['reading.report', { vi: 'Xem kết quả', en: 'Viewed the report' }],
  ['share.link.create', { vi: 'Tạo đường dẫn chia sẻ cho bạn', en: 'Created a share link for you' }],
  ['share.link.revoke', { vi: 'Thu hồi đường dẫn chia sẻ', en: 'Withdrew a share link' }],
  ['share.link', { vi: 'Xem danh sách đường dẫn chia sẻ', en: 'Viewed the share links' }],
  ['share.open', { vi: 'Mở đường dẫn chia sẻ', en: 'Opened the share link' }],
  ['share.view', { vi: 'Xem trang kết quả', en: 'Viewed the results page' }],
  ['share.report.pdf', { vi: 'Tải kết quả (PDF)', en: 'Downloaded the report (PDF)' }],
  [
    'study.media.download',
    { vi: 'Tải toàn bộ hình ảnh (đĩa DICOM)', en: 'Downloaded the images (DICOM media)' },
  ],
  ['share.close', { vi: 'Đóng phiên xem', en: 'Closed the viewing session' }],
];
const OTHER = { vi: 'Truy cập dữ liệu ca chụp', en: 'Accessed the study data' };

export function describeAction(action: string): { vi: string; en: string } {
  for (const [prefix, text] of ACTION_TEXT)
    if (action === prefix || action.startsWith(`${prefix}.`) || action.startsWith(`${prefix}-`)) return text;
  return OTHER;
}

export function roleText(role: string | null): { vi: string; en: string } | null {
  return role ? (ROLE_TEXT[role] ?? { vi: role, en: role }) : null;
}

export type ActorKind = 'you' | 'staff' | 'system' | 'unknown';

export function actorKind(role: string | null): ActorKind {
  if (role === 'patient') return 'you';
  if (role === 'service') return 'system';
  if (role) return 'staff';
  return 'unknown';
}

export interface AccessLogEntry {
  at: string;
  action: string;
  what: { vi: string; en: string };
  actor: {
    kind: ActorKind;
    role: string | null;
    label: { vi: string; en: string } | null;
    facility: string | null;
  };
  outcome: 'success' | 'denied' | 'not-found' | 'error';
}

export const ACCESS_LOG_NOTE = {
  vi:
    'Nhân viên y tế được hiển thị theo vai trò và cơ sở y tế. Việc xem hình ảnh được ghi một lần mỗi giờ ' +
    'cho mỗi người. Muốn biết tên người đã truy cập, hãy liên hệ cơ sở y tế.',
  en:
    'Health workers are shown by role and facility. Image viewing is recorded once per hour per person. ' +
    'To learn the name of someone who accessed your record, contact the facility.',
};

/** Audit actions on this study not shown to the patient: reading the log itself. */
const HIDDEN_ACTIONS = ['share.access-log'];

export async function accessLog(
  db: Queryable,
  studyUid: string,
  page: { limit: number; before?: number | undefined },
): Promise<{ entries: AccessLogEntry[]; nextBefore: number | null }> {
  const rows = await db.query<{
    id: string;
    at: Date;
    action: string;
    role: string | null;
    facility: string | null;
    outcome: AccessLogEntry['outcome'];
  }>(
    `SELECT a.id::text AS id, a.at, a.action, a.role, f.name AS facility, a.outcome
       FROM audit_events a LEFT JOIN facilities f ON f.id = a.facility_id
      WHERE a.study_uid = $1 AND a.action <> ALL ($2::text[]) AND ($3::bigint IS NULL OR a.id < $3::bigint)
      ORDER BY a.id DESC
      LIMIT $4`,
    [studyUid, HIDDEN_ACTIONS, page.before ?? null, page.limit + 1],
  );
  const more = rows.length > page.limit;
  const shown = rows.slice(0, page.limit);
  return {
    entries: shown.map((r) => ({
      at: new Date(r.at).toISOString(),
      action: r.action,
      what: describeAction(r.action),
      actor: { kind: actorKind(r.role), role: r.role, label: roleText(r.role), facility: r.facility },
      outcome: r.outcome,
    })),
    nextBefore: more ? Number(shown[shown.length - 1]!.id) : null,
  };
}
