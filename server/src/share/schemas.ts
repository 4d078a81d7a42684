/**
 * Request and response schemas of the share-link API (also the OpenAPI documentation, and the
 * contract the patient page `/#/s/<token>` is built on). Responses declare every field, so
 * nothing undeclared about the patient leaves the server.
 */
import { Type } from '@sinclair/typebox';
import { LINK_TOKEN_PATTERN } from './secrets.js';

const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
const StudyUid = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)*$', maxLength: 64 });
const Iso = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const SecretKind = Type.Union([Type.Literal('pin'), Type.Literal('birth-year')]);

export const StudyParams = Type.Object({ studyUid: StudyUid });
export const LinkParams = Type.Object({ studyUid: StudyUid, linkId: Uuid });
export const ReportParams = Type.Object({ reportId: Uuid });

export const CreateLinkBody = Type.Object(
  {
    secret: Type.Optional(SecretKind),
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })),
  },
  { additionalProperties: false },
);

export const ShareLink = Type.Object({
  id: Uuid,
  studyUid: StudyUid,
  secretKind: SecretKind,
  status: Type.Union([
    Type.Literal('active'),
    Type.Literal('expired'),
    Type.Literal('revoked'),
    Type.Literal('locked'),
  ]),
  createdAt: Iso,
  expiresAt: Iso,
  createdBy: Type.Object({ id: Uuid, name: Type.String(), role: Type.String() }),
  revokedAt: Nullable(Iso),
  revokedBy: Type.Union([Type.Object({ id: Uuid, name: Type.String() }), Type.Null()]),
  failedAttempts: Type.Integer(),
  lockedAt: Nullable(Iso),
  openCount: Type.Integer(),
  lastOpenedAt: Nullable(Iso),
});

export const CreatedLink = Type.Object({
  link: ShareLink,
  /** `${publicBaseUrl}/#/s/<token>`: the token rides in the fragment, which browsers never send. */
  url: Type.String(),
  token: Type.String({ pattern: LINK_TOKEN_PATTERN }),
  /** The PIN, shown this once (only its scrypt hash is kept); null for a birth-year link. */
  pin: Nullable(Type.String({ pattern: '^\\d{6}$' })),
  qr: Type.Object({
    svg: Type.String({ description: 'SVG document' }),
    png: Type.String({ contentEncoding: 'base64', description: 'PNG, 512 px, base64' }),
  }),
  slip: Type.Object({
    pdf: Type.String({ contentEncoding: 'base64', description: 'One-page A4 PDF, base64' }),
  }),
});

export const OpenBody = Type.Object(
  {
    token: Type.String({ pattern: LINK_TOKEN_PATTERN }),
    pin: Type.Optional(Type.String({ maxLength: 16 })),
    birthYear: Type.Optional(Type.Integer({ minimum: 0, maximum: 9999 })),
  },
  { additionalProperties: false },
);

export const OpenResponse = Type.Object({
  /** Bearer for API clients (`Authorization: Bearer rls_…`); browsers also get the HttpOnly cookie. */
  token: Type.String(),
  expiresAt: Iso,
  expiresIn: Type.Integer({ description: 'seconds' }),
  linkExpiresAt: Iso,
});

export const Ok = Type.Object({ ok: Type.Literal(true) });

const Verification = Type.Object({
  status: Type.Union([
    Type.Literal('valid'),
    Type.Literal('tampered'),
    Type.Literal('revoked-since'),
    Type.Literal('revoked'),
    Type.Literal('untrusted'),
  ]),
  reason: Type.String(),
  /** The demo CA signs for testing only: not a legal signature. */
  demo: Type.Boolean(),
  checkedAt: Iso,
});

export const PatientReport = Type.Object({
  id: Uuid,
  /** Set on an addendum: the report it amends. */
  parentReportId: Nullable(Uuid),
  title: Type.String(),
  language: Type.Union([Type.Literal('vi'), Type.Literal('en')]),
  sections: Type.Array(Type.Object({ label: Type.String(), text: Type.String() })),
  freeText: Type.String(),
  signer: Type.Object({ name: Type.String() }),
  signedAt: Iso,
  verification: Verification,
  /** GET /api/share/reports/:id/pdf when the PDF has been made. */
  pdfAvailable: Type.Boolean(),
});

export const ShareMe = Type.Object({
  studyUid: StudyUid,
  facility: Type.Object({ id: Nullable(Type.String()), name: Nullable(Type.String()) }),
  study: Type.Object({
    date: Nullable(Type.String({ description: 'DICOM DA, YYYYMMDD' })),
    description: Nullable(Type.String()),
    modalities: Type.Array(Type.String()),
    numSeries: Type.Integer(),
    numInstances: Type.Integer(),
  }),
  series: Type.Array(
    Type.Object({
      seriesUid: Type.String(),
      modality: Nullable(Type.String()),
      seriesNumber: Type.Union([Type.Integer(), Type.Null()]),
      description: Nullable(Type.String()),
      numInstances: Type.Integer(),
    }),
  ),
  reports: Type.Array(PatientReport),
  link: Type.Object({ expiresAt: Iso }),
  session: Type.Object({ expiresAt: Iso }),
});

export const AccessLogQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
    /** Cursor from `nextBefore` of the previous page. */
    before: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export const AccessLogEntry = Type.Object({
  at: Iso,
  /** The audit action (e.g. dicomweb.frames, reading.report.read, share.open). */
  action: Type.String(),
  /** A short human description of the action, in Vietnamese and English. */
  what: Type.Object({ vi: Type.String(), en: Type.String() }),
  actor: Type.Object({
    /** 'you': through a share link of this study; 'staff': a health worker; 'system': an automatic process. */
    kind: Type.Union([
      Type.Literal('you'),
      Type.Literal('staff'),
      Type.Literal('system'),
      Type.Literal('unknown'),
    ]),
    role: Nullable(Type.String()),
    /** The role in words; staff are shown by role and facility, never by personal name. */
    label: Type.Union([Type.Object({ vi: Type.String(), en: Type.String() }), Type.Null()]),
    facility: Nullable(Type.String()),
  }),
  outcome: Type.Union([
    Type.Literal('success'),
    Type.Literal('denied'),
    Type.Literal('not-found'),
    Type.Literal('error'),
  ]),
});

export const AccessLog = Type.Object({
  studyUid: StudyUid,
  entries: Type.Array(AccessLogEntry),
  /** Pass as `before` for the next (older) page; null at the end. */
  nextBefore: Type.Union([Type.Integer(), Type.Null()]),
  note: Type.Object({ vi: Type.String(), en: Type.String() }),
});
