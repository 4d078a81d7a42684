/**
 * Request/response schemas of the remote-reading API (also its OpenAPI documentation). Every
 * response is declared, so no undeclared patient field leaves the server.
 */
import { Type } from '@sinclair/typebox';
import { FacilityId, Uuid } from '../identity/schemas.js';
import { PIN_PATTERN } from './signing/pin-keys.js';

export const Priority = Type.Union([Type.Literal('routine'), Type.Literal('urgent'), Type.Literal('stat')]);
export const RequestStatus = Type.Union([
  Type.Literal('requested'),
  Type.Literal('claimed'),
  Type.Literal('reported'),
  Type.Literal('signed'),
  Type.Literal('cancelled'),
]);
export const StudyUid = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)*$', maxLength: 64 });
export const Pin = Type.String({ pattern: PIN_PATTERN, description: 'Signing PIN: 6 to 12 digits' });
export const Lang = Type.Union([Type.Literal('vi'), Type.Literal('en')]);
const Iso = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
/** Free text typed by clinicians: NFC-normalised on the way in. */
const Text = (max: number, min = 0) => Type.String({ minLength: min, maxLength: max });

export const RequestIdParams = Type.Object({ requestId: Uuid });
export const ReportIdParams = Type.Object({ reportId: Uuid });

export const CreateRequestBody = Type.Object(
  {
    studyUid: StudyUid,
    targetFacilityId: FacilityId,
    specialtyPool: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,39}$' })),
    priority: Priority,
    clinicalInfo: Text(4000, 1),
    question: Text(2000, 1),
    accessionNumber: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,16}$' })),
  },
  { additionalProperties: false },
);

const Person = Type.Object({ id: Type.String(), name: Type.String() });

export const ReadRequest = Type.Object({
  id: Type.String(),
  studyUid: Type.String(),
  accessionNumber: Type.String(),
  accessionAssigned: Type.Boolean(),
  requestingFacilityId: Type.String(),
  requester: Person,
  targetFacilityId: Type.String(),
  specialtyPool: Nullable(Type.String()),
  priority: Priority,
  clinicalInfo: Type.String(),
  question: Type.String(),
  status: RequestStatus,
  claimedBy: Type.Union([Person, Type.Null()]),
  claimedAt: Nullable(Iso),
  dueAt: Iso,
  breached: Type.Boolean({
    description: 'Past its turnaround target (unsigned and overdue, or signed late)',
  }),
  createdAt: Iso,
  updatedAt: Iso,
  signedAt: Nullable(Iso),
  cancelledAt: Nullable(Iso),
  cancelReason: Nullable(Type.String()),
});

export const WorklistItem = Type.Object({
  request: ReadRequest,
  requestingFacilityName: Type.String(),
  waitingMinutes: Type.Integer(),
  aiFlag: Type.Union([Type.Boolean(), Type.Null()]),
  inMyPool: Type.Boolean({
    description: 'The request names a specialty pool I belong to (it sorts first for me)',
  }),
  patient: Type.Object({
    name: Nullable(Type.String()),
    id: Nullable(Type.String()),
    sex: Nullable(Type.String()),
    birthDate: Nullable(Type.String()),
  }),
  study: Type.Object({
    date: Nullable(Type.String()),
    description: Nullable(Type.String()),
    modalities: Type.Array(Type.String()),
    numInstances: Type.Integer(),
  }),
});

export const WorklistQuery = Type.Object(
  {
    status: Type.Optional(
      Type.Union([Type.Literal('open'), Type.Literal('all'), RequestStatus], { default: 'open' }),
    ),
    modality: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
    facilityId: Type.Optional(FacilityId),
    flagged: Type.Optional(Type.Boolean()),
    mine: Type.Optional(Type.Boolean()),
    pool: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9-]{0,39}$',
        description: '"mine": requests for my specialty pools; else one pool',
      }),
    ),
    targetFacilityId: Type.Optional(FacilityId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, default: 0 })),
  },
  { additionalProperties: false },
);

export const Message = Type.Object({
  id: Type.String(),
  author: Person,
  body: Type.String(),
  createdAt: Iso,
});

export const Signature = Type.Object({
  signerKind: Type.String(),
  signer: Person,
  certificateSerial: Type.String(),
  certStatus: Type.Literal('good'),
  certCheckedAt: Iso,
  signedAt: Iso,
  signature: Type.String({ description: 'Compact JWS with the certificate chain in x5c' }),
});

const MeasurementKindSchema = Type.Union([
  Type.Literal('length'),
  Type.Literal('angle'),
  Type.Literal('ellipse'),
  Type.Literal('rectangle'),
  Type.Literal('probe'),
]);
const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
export const Measurement = Type.Object({
  n: Type.Integer(),
  kind: MeasurementKindSchema,
  label: Nullable(Type.String()),
  value: Type.Number(),
  unit: Type.String(),
  seriesUid: Type.String(),
  sopInstanceUid: Type.String(),
  seriesNumber: Type.Union([Type.Integer(), Type.Null()]),
  instanceNumber: Type.Union([Type.Integer(), Type.Null()]),
  stats: Type.Union([
    Type.Object({ mean: NullableNumber, sd: NullableNumber, areaMm2: NullableNumber }),
    Type.Null(),
  ]),
  addedBy: Type.String(),
  addedAt: Iso,
});

const Uid = StudyUid;
const Finite = (o: { minimum?: number; maximum?: number } = {}) =>
  Type.Number({ minimum: -1e9, maximum: 1e9, ...o });
export const AddMeasurementsBody = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        {
          kind: MeasurementKindSchema,
          label: Type.Optional(Type.String({ maxLength: 120 })),
          value: Finite(),
          unit: Type.String({ maxLength: 8 }),
          seriesUid: Uid,
          sopInstanceUid: Uid,
          stats: Type.Optional(
            Type.Object(
              {
                mean: Type.Optional(Finite()),
                sd: Type.Optional(Finite({ minimum: 0 })),
                areaMm2: Type.Optional(Finite({ minimum: 0 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 50 },
    ),
    version: Type.Optional(
      Type.Integer({ minimum: 1, description: 'The draft version last read; a stale one answers 409' }),
    ),
  },
  { additionalProperties: false },
);

export const Report = Type.Object({
  id: Type.String(),
  requestId: Type.String(),
  studyUid: Type.String(),
  parentReportId: Nullable(Type.String()),
  author: Person,
  templateId: Type.String(),
  language: Lang,
  fields: Type.Record(Type.String(), Type.String()),
  measurements: Type.Array(Measurement, {
    description: 'Viewer measurements inserted into the report (signed with it)',
  }),
  freeText: Type.String(),
  status: Type.Union([Type.Literal('draft'), Type.Literal('final')]),
  version: Type.Integer(),
  contentHash: Nullable(Type.String()),
  signedAt: Nullable(Iso),
  createdAt: Iso,
  updatedAt: Iso,
  signature: Type.Union([Signature, Type.Null()]),
});

export const ReportWithAddenda = Type.Object({ report: Report, addenda: Type.Array(Report) });

export const SaveDraftBody = Type.Object(
  {
    templateId: Type.String({ pattern: '^[a-z0-9-]{1,40}$' }),
    language: Lang,
    fields: Type.Record(Type.String({ pattern: '^[a-z0-9_]{1,40}$' }), Type.String({ maxLength: 8000 }), {
      maxProperties: 40,
    }),
    freeText: Text(20000),
    version: Type.Optional(
      Type.Integer({ minimum: 1, description: 'The version last read; a stale one answers 409' }),
    ),
  },
  { additionalProperties: false },
);

export const SignBody = Type.Object({ pin: Pin }, { additionalProperties: false });
export const AddendumBody = Type.Object(
  { language: Lang, freeText: Text(20000, 1), pin: Pin },
  { additionalProperties: false },
);

export const CertificateInfo = Type.Object({
  serial: Type.String(),
  subject: Type.String(),
  issuer: Type.String(),
  notBefore: Iso,
  notAfter: Iso,
});

const CopyVerdict = Type.Object({
  status: Type.Union([
    Type.Literal('valid'),
    Type.Literal('tampered'),
    Type.Literal('missing'),
    Type.Literal('pending'),
    Type.Literal('unavailable'),
  ]),
  reason: Type.String(),
  sha256: Nullable(Type.String()),
});

/** A signature's standing, as the staff and the public verification answer it. */
const VerifyStatus = Type.Union([
  Type.Literal('valid'),
  Type.Literal('tampered'),
  Type.Literal('revoked-since'),
  Type.Literal('revoked'),
  Type.Literal('untrusted'),
]);

export const VerifyResponse = Type.Object({
  reportId: Type.String(),
  status: VerifyStatus,
  reason: Type.String(),
  signedAt: Nullable(Iso),
  revokedAt: Nullable(Iso),
  contentHash: Nullable(Type.String()),
  signer: Type.Union([Person, Type.Null()]),
  certificate: Type.Union([CertificateInfo, Type.Null()]),
  demo: Type.Boolean({ description: 'Signed with the demo CA: not a legal signature' }),
  copies: Type.Optional(
    Type.Object(
      {
        pdf: CopyVerdict,
        dicom: CopyVerdict,
        sr: CopyVerdict,
      },
      {
        description:
          'The delivered copies (PDF in S3; Encapsulated PDF and Basic Text SR in the study) against the delivery record',
      },
    ),
  ),
});

const LangText = Type.Object({ vi: Type.String(), en: Type.String() });
export const TemplateSchema = Type.Object({
  id: Type.String(),
  modalities: Type.Array(Type.String()),
  region: Type.String(),
  title: LangText,
  fields: Type.Array(
    Type.Object({
      key: Type.String(),
      label: LangText,
      kind: Type.Union([Type.Literal('text'), Type.Literal('choice')]),
      options: Type.Optional(Type.Array(Type.Object({ value: Type.String(), label: LangText }))),
      requiredToSign: Type.Optional(Type.Boolean()),
    }),
  ),
});

/** What anyone holding a printed report may learn by its QR code: the signature's standing, no patient data. */
export const PublicVerifyResponse = Type.Object({
  reportId: Type.String(),
  status: VerifyStatus,
  reason: Type.String(),
  signedAt: Nullable(Iso),
  revokedAt: Nullable(Iso),
  contentHash: Nullable(Type.String()),
  signerName: Nullable(Type.String()),
  certificate: Type.Union([CertificateInfo, Type.Null()]),
  demo: Type.Boolean({ description: 'Signed with the demo CA: not a legal signature' }),
  addendum: Type.Boolean(),
});

export const PublicVerifyQuery = Type.Object({
  code: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$', description: 'The code printed with the QR code' }),
});
