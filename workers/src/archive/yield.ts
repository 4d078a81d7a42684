/**
 * Archive copies yield to uploads. While a gateway reports STOW-RS uploads in progress (the
 * ingest key, contracts/jobs.ts), an archive job waits before reading from Orthanc and writing
 * to S3: on a small machine the copy (Orthanc file read, hashing, the S3 upload and its
 * verification) competes for the same cores as the upload, and the upload is what a person or a
 * modality is waiting on. Once the uploads pause, the backlog is copied at full speed.
 *
 * Invariants:
 *  - Bounded: a job yields until at most MAX_YIELD_MS after it was enqueued (never more than
 *    MAX_YIELD_MS from now, whatever the enqueuer's clock said), so the archive lag grows by at
 *    most that much however long uploads last (issue 3: archive lag p99 < 10 s).
 *  - Advisory: Redis failing to answer ends the wait at once; the copy itself never depends on it.
 */
import type { Redis } from 'ioredis';

/** Longest a job waits for uploads to pause, counted from its enqueueing. */
export const MAX_YIELD_MS = 3000;
/** How often the ingest key is looked at while waiting. */
const POLL_MS = 100;

export interface YieldOptions {
  maxYieldMs?: number;
  pollMs?: number;
  now?: () => number;
}

/** Waits while the ingest key exists, until `enqueuedAt + maxYieldMs`; returns the milliseconds waited. */
export async function yieldToUploads(
  redis: Pick<Redis, 'exists'>,
  key: string,
  enqueuedAt: number,
  o: YieldOptions = {},
): Promise<number> {
  const now = o.now ?? Date.now;
  const start = now();
  const deadline = Math.min(enqueuedAt, start) + (o.maxYieldMs ?? MAX_YIELD_MS);
  const poll = o.pollMs ?? POLL_MS;
  for (;;) {
    const t = now();
    if (t >= deadline) break;
    let busy: boolean;
    try {
      busy = (await redis.exists(key)) === 1;
    } catch {
      break;
    }
    if (!busy) break;
    await new Promise((r) => setTimeout(r, Math.min(poll, Math.max(1, deadline - now()))));
  }
  return now() - start;
}
