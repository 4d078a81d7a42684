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

/** Render and cache a series thumbnail. */
export interface ThumbnailJob {
  studyUid: string;
  seriesUid: string;
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
  | { kind: 'thumbnail'; studyUid: string; seriesUid: string; objectKey: string };

export const jobId = (...parts: string[]) => parts.join('_').replace(/:/g, '-');
