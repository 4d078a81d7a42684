/**
 * Tells the archive workers that STOW-RS uploads are being received, so that archive copies do
 * not take the CPU from them (on a small machine Orthanc, the gateway, the archive worker and S3
 * share a few cores; the copy can wait a moment, the modality or uploader cannot). While any STOW
 * request of this process is in progress, the ingest key (contracts/jobs.ts) is kept alive: set
 * with a short expiry and refreshed. When the last one ends, the key is removed if it still holds
 * this process's token (another gateway that set it since keeps it).
 *
 * Invariants:
 *  - Advisory only: a lost or stale key changes when archive copies run, never whether. The
 *    workers bound how long one job yields (workers/src/archive/yield.ts), so the archive lag
 *    stays bounded whatever the key says, and a gateway that dies mid-upload holds nothing back
 *    for longer than the key's expiry.
 *  - Never throws into STOW: Redis trouble is logged once per outage and otherwise ignored.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { INGEST_BUSY_TTL_MS, ingestBusyKey } from '../../../contracts/jobs.js';

/** Refresh well within the expiry, so a busy gateway's key never lapses between refreshes. */
const REFRESH_MS = Math.floor(INGEST_BUSY_TTL_MS / 3);

/** Deletes the key only if it still holds our token (compare-and-delete, atomic in Redis). */
const RELEASE_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

export class IngestSignal {
  private readonly key: string;
  private readonly token = randomBytes(8).toString('hex');
  private active = 0;
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly log: FastifyBaseLogger,
  ) {
    this.key = ingestBusyKey(prefix);
  }

  /** Marks one upload as in progress; the returned function ends it (calling it again does nothing). */
  begin(): () => void {
    this.active++;
    if (this.active === 1) {
      this.touch();
      this.timer = setInterval(() => this.touch(), REFRESH_MS);
      this.timer.unref();
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.active--;
      if (this.active === 0) this.idle();
    };
  }

  /** Stops refreshing (the app is closing); the key lapses by itself. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private idle(): void {
    this.close();
    this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.token).then(
      () => this.recovered(),
      (err: Error) => this.failed(err),
    );
  }

  private touch(): void {
    this.redis.set(this.key, this.token, 'PX', INGEST_BUSY_TTL_MS).then(
      () => this.recovered(),
      (err: Error) => this.failed(err),
    );
  }

  private recovered(): void {
    this.failing = false;
  }

  private failed(err: Error): void {
    if (this.failing) return;
    this.failing = true;
    this.log.warn(
      { err: err.message },
      'ingest signal not written (archive copies will not yield to uploads)',
    );
  }
}
