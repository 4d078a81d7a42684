/**
 * A study as DICOM interchange media (PS3.10/PS3.11) for a CD or a USB stick: every instance as
 * stored in Orthanc (byte for byte) under a DICOM file ID, plus the DICOMDIR that indexes them,
 * built by DCMTK's dcmmkdir (General Purpose profile; a non-standard transfer syntax is kept as
 * stored, with a warning, rather than re-encoded: the copy must stay identical to the archive).
 *
 * File IDs follow PS3.10 8.5: components of at most 8 characters from A–Z, 0–9 and '_', at most
 * 8 levels: DICOM/S0001/I00001 (series in series-number order, images in instance order).
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { Queryable } from '../../db/client.js';
import { openStoredFile, orthancInstancesOf } from '../../dicomweb/orthanc-files.js';
import { AppError } from '../../plugins/errors.js';
import type { OrthancClient } from '../../plugins/orthanc.js';

const run = promisify(execFile);

export interface MediaFile {
  /** Path inside the zip ("/"-separated), the DICOM file ID. */
  fileId: string;
  /** Path on disk. */
  path: string;
}

export interface MediaFolder {
  dir: string;
  files: MediaFile[];
  dicomdir: string;
  cleanup(): Promise<void>;
}

export const seriesComponent = (i: number) => `S${String(i + 1).padStart(4, '0')}`;
export const imageComponent = (i: number) => `I${String(i + 1).padStart(5, '0')}`;

/** Writes the study's files and DICOMDIR into a fresh directory under `tmpRoot`. */
export async function buildMediaFolder(
  db: Queryable,
  orthanc: OrthancClient,
  studyUid: string,
  tmpRoot: string,
): Promise<MediaFolder> {
  const rows = await db.query<{ sop_instance_uid: string; series_uid: string; orthanc_id: string | null }>(
    `SELECT i.sop_instance_uid, i.series_uid, i.orthanc_id
       FROM instances i JOIN series s ON s.series_uid = i.series_uid
      WHERE i.study_uid = $1
      ORDER BY s.series_number NULLS LAST, s.series_uid, i.instance_number NULLS LAST, i.sop_instance_uid`,
    [studyUid],
  );
  if (rows.length === 0) throw new AppError('RADLINK_NOT_FOUND', 'The study has no instances.');
  if (rows.length > 99_999) throw new AppError('RADLINK_CONFLICT', 'The study is too large for one medium.');
  await mkdir(tmpRoot, { recursive: true });
  const dir = await mkdtemp(join(tmpRoot, 'media-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const seriesIndex = new Map<string, number>();
    const perSeries = new Map<string, number>();
    const files: MediaFile[] = [];
    for (const r of rows) {
      if (!seriesIndex.has(r.series_uid)) seriesIndex.set(r.series_uid, seriesIndex.size);
      const s = seriesIndex.get(r.series_uid)!;
      const n = perSeries.get(r.series_uid) ?? 0;
      perSeries.set(r.series_uid, n + 1);
      const fileId = `DICOM/${seriesComponent(s)}/${imageComponent(n)}`;
      const path = join(dir, ...fileId.split('/'));
      await mkdir(join(path, '..'), { recursive: true });
      const orthancId = r.orthanc_id ?? (await orthancInstancesOf(orthanc, r.sop_instance_uid))[0];
      if (!orthancId)
        throw new AppError('RADLINK_NOT_FOUND', 'An instance of the study is no longer archived.');
      const res = await openStoredFile(orthanc, orthancId);
      await pipeline(res.body, createWriteStream(path));
      files.push({ fileId, path });
    }
    const dicomdir = join(dir, 'DICOMDIR');
    try {
      await run(
        'dcmmkdir',
        ['-q', '+r', '-Nxc', '-Nec', '-Nrc', '+I', '+F', 'RADLINK', '+D', dicomdir, 'DICOM'],
        { cwd: dir, timeout: 120_000, maxBuffer: 4 * 1024 * 1024 },
      );
    } catch (e) {
      // dcmmkdir's messages may quote attribute values: keep them out of the error and the log.
      throw new AppError(
        'RADLINK_INTERNAL',
        `dcmmkdir could not index the study (exit ${(e as { code?: unknown }).code ?? 'unknown'}).`,
      );
    }
    return { dir, files, dicomdir, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
