/**
 * Queue names and job payloads shared by the gateway (producer, results consumer) and the
 * workers. Payloads carry UIDs and Orthanc ids only, never patient data: BullMQ keeps job data
 * in Redis in clear text. Job ids are derived from the UIDs (no ':' — BullMQ reserves it), so
 * re-enqueueing the same work is a no-op while the job exists.
 */
export const QUEUES = {
  archive: 'archive',
  thumbnails: 'thumbnails',
  results: 'results',
  // Signed reports' PDF and DICOM copies; consumed by the gateway itself (it reads the report).
  delivery: 'delivery',
  // Remote-reading notifications, consumed inside the gateway (server/src/reading).
  statEscalation: 'stat-escalation',
  webhooks: 'webhooks',
  // The AI flow (workers/src/ai/ai-workers.ts), one queue per stage; ai-models validates models.
  aiFetch: 'ai-fetch',
  aiVolume: 'ai-volume',
  aiInfer: 'ai-infer',
  aiPostprocess: 'ai-postprocess',
  aiDicom: 'ai-dicom',
  aiStore: 'ai-store',
  aiReport: 'ai-report',
  aiModels: 'ai-models',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Copy one stored instance from Orthanc to the S3 archive, content-addressed. */
export interface ArchiveJob {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  /** Orthanc's instance id (a hash of the UIDs), to fetch the file. */
  orthancId: string;
}

/**
 * Redis key that exists while a gateway is receiving STOW-RS uploads (set with a short expiry and
 * refreshed; server/src/dicomweb/ingest-signal.ts). Archive jobs yield to uploads while it exists,
 * for a bounded time (workers/src/archive/yield.ts). Advisory: nothing depends on it for correctness.
 */
export const ingestBusyKey = (prefix: string) => `${prefix}:ingest-busy`;
/** Expiry of the ingest key: a gateway that dies mid-upload stops holding archive jobs back after this. */
export const INGEST_BUSY_TTL_MS = 1000;

/** Render and cache a series thumbnail. */
export interface ThumbnailJob {
  studyUid: string;
  seriesUid: string;
}

/** The next escalation step of an unclaimed STAT read request (server/src/reading/escalation.ts). */
export interface StatEscalationJob {
  requestId: string;
  /** The level this step moves the request to (1: its pool, 2 and up: the facility admins). */
  level: number;
}

/** POST one webhook delivery (server/src/reading/webhooks-delivery.ts); the row holds the payload. */
export interface WebhookJob {
  deliveryId: string;
}

/** Make the PDF and DICOM copies of one signed report or addendum (server/src/reading/delivery). */
export interface DeliveryJob {
  reportId: string;
}

/** What workers hand back to the gateway, which alone writes the database. */
export type ResultMessage =
  | {
      kind: 'archived';
      sopInstanceUid: string;
      archiveKey: string;
      sha256: string;
      sizeBytes: number;
      /** ISO time the copy was verified in S3. */
      archivedAt: string;
    }
  | { kind: 'archive-failed'; sopInstanceUid: string; reason: string }
  | { kind: 'thumbnail'; studyUid: string; seriesUid: string; objectKey: string }
  | { kind: 'ai-started'; runId: string; attempt: number; startedAt: string }
  | {
      kind: 'ai-findings';
      runId: string;
      attempt: number;
      selected: boolean;
      /** Why the series was not processed (the model's series rules), when not selected. */
      notSelectedReasons: string[];
      findings: AiFindingMessage[];
      flagged: boolean;
      alertReason: string | null;
      segSeriesUid: string | null;
      segSopInstanceUid: string | null;
      srSeriesUid: string | null;
      srSopInstanceUid: string | null;
      /** Network time of the sliding window (what a bare onnxruntime run costs). */
      inferenceMs: number;
      timings: AiStageTimings;
      finishedAt: string;
    }
  | { kind: 'ai-failed'; runId: string; attempt: number; stage: string; reason: string; failedAt: string }
  /** A worker validated a model bundled in its models directory and put it in S3. */
  | {
      kind: 'ai-model-available';
      modelId: string;
      version: string;
      sha256: string;
      manifestKey: string;
      onnxKey: string;
    };

/**
 * Every stage of one AI run gets the same payload: the run and what it reads, by id only. The
 * run id is derived from (series, model, version) by the gateway; `attempt` counts explicit
 * re-runs, so a re-run gets fresh job ids while the SEG/SR UIDs (derived from the run) stay.
 * `modelSha256` names the exact model.onnx the workers must load (from S3 when not bundled).
 */
export interface InferJobData {
  runId: string;
  attempt: number;
  studyUid: string;
  seriesUid: string;
  modelId: string;
  modelVersion: string;
  modelSha256: string;
  /**
   * Shadow mode: findings go to the gateway only; no SEG/SR is written into the study, where
   * every DICOMweb viewer would show them to clinicians.
   */
  shadow: boolean;
  /** Read the series from this directory of Part 10 files instead of Orthanc (dev/tests only). */
  sourceDir?: string;
}

/** `ai-models` jobs: validate an uploaded model held in S3 under these keys. */
export interface ModelValidateJob {
  manifestKey: string;
  onnxKey: string;
}
export interface ModelValidateResult {
  ok: boolean;
  problems: Array<{ path: string; reason: string }>;
}

/** One AI finding as the gateway stores it (measurements on the series grid, LPS millimetres). */
export interface AiFindingMessage {
  index: number;
  segmentNumber: number;
  label: string;
  centroidLps: [number, number, number];
  /** The source image nearest the centroid. */
  referencedSopInstanceUid: string;
  longestDiameterMm: number;
  axialLongestDiameterMm: number;
  volumeMl: number;
  meanIntensity: number;
  confidence: number;
}

/** Per-stage wait (queued → started) and run times, milliseconds. */
export type AiStageTimings = Record<string, { waitMs: number; runMs: number }>;

/**
 * S3 keys of a registered model (flat, like the archive's): the network by content hash, the
 * manifest by id and version. Workers fetch both by these keys when the model is not bundled.
 */
export const modelObjectKeys = (modelId: string, version: string, sha256: string) => ({
  manifestKey: `ai-model-${modelId}-${version}-manifest.json`,
  onnxKey: `ai-model-${sha256}.onnx`,
});

export const jobId = (...parts: string[]) => parts.join('_').replace(/:/g, '-');
