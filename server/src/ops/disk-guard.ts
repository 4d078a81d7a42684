/**
 * Refuses writes before a volume fills up. A full disk under Orthanc's storage or the database
 * corrupts neither by design, but it fails writes half-way and stalls the whole site; refusing
 * early, while there is still room, keeps every acknowledged object intact and tells the
 * modality to retry later.
 *
 * Watched: the directories of RADLINK_DISK_WATCH_DIRS (default: Orthanc's storage under
 * RADLINK_DATA and RADLINK_DATA itself, where PGlite lives). Free space is what an unprivileged
 * writer may use (statfs bavail). A result is reused for a second, so a burst of STOW requests
 * costs one statfs per volume, not one per request.
 *
 * STOW answers 503 (PS3.18 10.5.3: the service is unable to store now) with Retry-After, a
 * Warning header naming the code, and a Store Instances Response whose FailedSOPSequence carries
 * FailureReason A700 "Refused: Out of Resources" (PS3.4 Annex B.2.3). Nothing has been read or
 * written at that point.
 */
import { existsSync, statfsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ERRORS } from '../../../contracts/errors.js';

const CACHE_MS = 1000;
export const RETRY_AFTER_SECONDS = 300;

export interface VolumeState {
  path: string;
  freeBytes: number;
}

export interface DiskVerdict {
  ok: boolean;
  minFreeBytes: number;
  volumes: VolumeState[];
}

/** The nearest existing directory (statfs needs one); a watched directory may not exist yet. */
function existing(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export class DiskGuard {
  private cached: { at: number; verdict: DiskVerdict } | null = null;
  constructor(
    readonly dirs: string[],
    private readonly minFreeBytes: number,
  ) {}

  static fromConfig(cfg: {
    RADLINK_DATA: string;
    RADLINK_DISK_WATCH_DIRS?: string;
    RADLINK_DISK_MIN_FREE_MB: number;
  }) {
    const dirs = cfg.RADLINK_DISK_WATCH_DIRS
      ? cfg.RADLINK_DISK_WATCH_DIRS.split(',')
          .map((d) => d.trim())
          .filter(Boolean)
      : [join(cfg.RADLINK_DATA, 'orthanc', 'storage'), cfg.RADLINK_DATA];
    return new DiskGuard(dirs, cfg.RADLINK_DISK_MIN_FREE_MB * 1024 * 1024);
  }

  check(now = Date.now()): DiskVerdict {
    if (this.cached && now - this.cached.at < CACHE_MS) return this.cached.verdict;
    const volumes = this.dirs.map((d) => {
      const path = existing(d);
      const s = statfsSync(path);
      return { path, freeBytes: Number(s.bavail) * Number(s.bsize) };
    });
    const verdict = {
      ok: volumes.every((v) => v.freeBytes >= this.minFreeBytes),
      minFreeBytes: this.minFreeBytes,
      volumes,
    };
    this.cached = { at: now, verdict };
    return verdict;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    diskGuard: DiskGuard;
  }
}

/**
 * Called first thing by STOW: true when the request was refused (the reply is sent), false when
 * there is room. The refusal names no path or size: those are for the operator's log and metrics.
 */
export function refuseWhenDiskFull(app: FastifyInstance, reply: FastifyReply): boolean {
  const verdict = app.diskGuard.check();
  if (verdict.ok) return false;
  app.log.warn(
    { volumes: verdict.volumes, minFreeBytes: verdict.minFreeBytes },
    'STOW refused: free disk space below RADLINK_DISK_MIN_FREE_MB',
  );
  const message = ERRORS.RADLINK_STORAGE_FULL.message;
  // Discard the upload so the client reads the answer instead of a reset connection.
  reply.request.raw.resume();
  void reply
    .code(ERRORS.RADLINK_STORAGE_FULL.statusCode)
    .header('retry-after', String(RETRY_AFTER_SECONDS))
    .header('warning', `299 RadLink "RADLINK_STORAGE_FULL: ${message}"`)
    .type('application/dicom+json')
    .send({
      '00081198': {
        vr: 'SQ',
        Value: [
          {
            '00081197': { vr: 'US', Value: [0xa700] },
            '00000902': { vr: 'LO', Value: ['Out of resources: storage nearly full'] },
          },
        ],
      },
    });
  return true;
}
