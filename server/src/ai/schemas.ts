/**
 * Request/response schemas of the AI API (also its OpenAPI documentation). The study results
 * shape is what the viewer and the report editor consume: keep it stable.
 */
import { Type } from '@sinclair/typebox';

const Nullable = <T extends ReturnType<typeof Type.String | typeof Type.Number>>(t: T) =>
  Type.Union([t, Type.Null()]);
const Iso = Type.String({ format: 'date-time' });
export const Uid = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)*$', maxLength: 64 });
export const RunId = Type.String({ pattern: '^[0-9a-f]{32}$' });
export const FindingId = Type.String({ format: 'uuid' });
export const ModelId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{1,62}$' });
export const Version = Type.String({
  pattern: '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(-[0-9A-Za-z.-]+)?$',
});
export const RunStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('skipped'),
]);
export const Verdict = Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]);

export const Feedback = Type.Object({
  verdict: Verdict,
  /** Display name of the radiologist. */
  by: Type.String(),
  byUserId: Type.String(),
  at: Iso,
  comment: Nullable(Type.String()),
});

export const AiFinding = Type.Object({
  findingId: Type.String(),
  label: Type.String(),
  segmentNumber: Type.Integer(),
  centroidLps: Type.Tuple([Type.Number(), Type.Number(), Type.Number()], {
    description: 'Centroid in patient coordinates (DICOM LPS, mm)',
  }),
  referencedSopInstanceUid: Type.String({ description: 'The source image nearest the centroid' }),
  longestDiameterMm: Type.Number({ description: 'Longest diameter in the acquisition (axial) plane' }),
  volumeMl: Type.Number(),
  meanIntensity: Type.Number({ description: 'Mean of the image over the finding (HU on CT)' }),
  confidence: Type.Number({ minimum: 0, maximum: 1 }),
  feedback: Type.Union([Feedback, Type.Null()]),
});

export const AiResult = Type.Object({
  resultId: Type.String(),
  seriesUid: Type.String(),
  model: Type.Object({ id: Type.String(), version: Type.String(), name: Type.String() }),
  status: RunStatus,
  shadow: Type.Boolean({ description: 'Shadow-mode result (shown to system admins only)' }),
  segSeriesUid: Nullable(Type.String()),
  segSopInstanceUid: Nullable(Type.String()),
  srSopInstanceUid: Nullable(Type.String()),
  flagged: Type.Boolean(),
  /** Why the run failed or was skipped; null otherwise. */
  failureReason: Nullable(Type.String()),
  /** "AI generated — not for clinical use" until the model is cleared. */
  label: Type.String(),
  findings: Type.Array(AiFinding),
});

export const StudyAiResults = Type.Object({ results: Type.Array(AiResult) });

export const FeedbackBody = Type.Object(
  { verdict: Verdict, comment: Type.Optional(Type.String({ maxLength: 2000 })) },
  { additionalProperties: false },
);

export const StageStatus = Type.Object({
  stage: Type.String(),
  state: Type.String({
    description: 'BullMQ state: waiting-children, waiting, active, delayed, completed, failed, unknown',
  }),
  progress: Nullable(Type.Number()),
  attemptsMade: Type.Integer(),
  failedReason: Nullable(Type.String()),
});

export const Run = Type.Object({
  resultId: Type.String(),
  studyUid: Type.String(),
  seriesUid: Type.String(),
  model: Type.Object({ id: Type.String(), version: Type.String() }),
  status: RunStatus,
  shadow: Type.Boolean(),
  attempt: Type.Integer(),
  failedStage: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  flagged: Type.Boolean(),
  queuedAt: Iso,
  startedAt: Nullable(Iso),
  finishedAt: Nullable(Iso),
  inferenceMs: Nullable(Type.Number()),
  queueWaitMs: Nullable(Type.Number()),
  totalMs: Nullable(Type.Number()),
  timings: Type.Union([
    Type.Record(Type.String(), Type.Object({ waitMs: Type.Number(), runMs: Type.Number() })),
    Type.Null(),
  ]),
});

export const RunWithStages = Type.Object({ run: Run, stages: Type.Array(StageStatus) });

export const ModelInfo = Type.Object({
  modelId: Type.String(),
  version: Type.String(),
  name: Type.String(),
  description: Type.String(),
  source: Type.Union([Type.Literal('bundled'), Type.Literal('uploaded')]),
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled'), Type.Literal('shadow')]),
  sha256: Type.String(),
  clinicalUse: Type.String(),
  label: Type.String(),
  intendedUse: Type.String(),
  enabledAt: Nullable(Iso),
  resultsWithdrawnAt: Nullable(Iso),
  registeredAt: Iso,
  updatedAt: Iso,
});

export const ModelParams = Type.Object({ modelId: ModelId, version: Version });
export const ModelIdParams = Type.Object({ modelId: ModelId });

const StatsRow = {
  runs: Type.Integer(),
  completed: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
  flagged: Type.Integer(),
  findings: Type.Integer(),
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  acceptanceRate: Nullable(Type.Number()),
  meanInferenceMs: Nullable(Type.Number()),
  p95InferenceMs: Nullable(Type.Number()),
  meanQueueWaitMs: Nullable(Type.Number()),
  meanTotalMs: Nullable(Type.Number()),
};
export const AiStats = Type.Object({
  since: Nullable(Iso),
  models: Type.Array(Type.Object({ modelId: Type.String(), version: Type.String(), ...StatsRow })),
  facilities: Type.Array(Type.Object({ facilityId: Nullable(Type.String()), ...StatsRow })),
});

export const FlaggedStudy = Type.Object({
  studyUid: Type.String(),
  facilityId: Type.String(),
  patient: Type.Object({ name: Nullable(Type.String()), id: Nullable(Type.String()) }),
  studyDate: Nullable(Type.String()),
  studyDescription: Nullable(Type.String()),
  modalities: Type.Array(Type.String()),
  flaggedAt: Nullable(Iso),
  reasons: Type.Array(Type.String()),
  prompt: Type.String({ description: 'What the facility should do: request a remote read' }),
});
