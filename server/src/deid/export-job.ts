/**
 * Builds one de-identified export: every instance of the chosen studies, read from Orthanc as
 * stored, de-identified with one UID key made for this export (so references stay consistent
 * across all its studies), streamed into a zip that streams into S3 under a flat key
 * (`export-<id>.zip`). The key is dropped when the export is done; nothing maps back.
 *
 * Zip layout: `<study>/<series>/<instance>.dcm` with the new UIDs, plus `manifest.json` (what was
 * exported, refused and flagged, by new UIDs and reasons only).
 *
 * Runs in the gateway, after the request answered 202: the gateway is the database writer, and
 * the work is I/O bound (Orthanc reads, S3 writes) apart from dcmjs's parse and write of each
 * instance (milliseconds). An export interrupted by a restart is marked failed at the next start.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import yazl from 'yazl';
import { deidentify } from './deidentify.js';
import { BASIC_PROFILE_CODE } from './profile.js';
import { uploadStream } from './s3-upload.js';
import { UidMapper } from './uid-map.js';

export const exportKey = (id: string) => `export-${id}.zip`;

export interface ExportSummary {
  instances: number;
  refused: number;
  flagged: number;
  sizeBytes: number;
}

export async function buildExport(
  app: FastifyInstance,
  exportId: string,
  studyUids: string[],
): Promise<ExportSummary> {
  const uids = new UidMapper(randomBytes(32));
  const zip = new yazl.ZipFile();
  const key = exportKey(exportId);
  const body = new PassThrough();
  zip.outputStream.pipe(body);
  const upload = uploadStream(app.s3, key, body, 'application/zip');
  // If the upload fails, stop feeding the zip at once instead of buffering the whole export.
  let uploadError: unknown;
  upload.catch((err) => {
    uploadError = err;
  });

  const manifest = {
    exportId,
    createdAt: new Date().toISOString(),
    profile: `DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile (${BASIC_PROFILE_CODE.CodingSchemeDesignator} ${BASIC_PROFILE_CODE.CodeValue})`,
    uidRemapping: 'keyed hash per export (key not kept)',
    studies: [] as { studyUid: string; instances: number }[],
    refused: [] as { studyUid: string; reason: string; count: number }[],
    flagged: [] as { sopInstanceUid: string; reason: string }[],
  };
  let instances = 0;
  let refusedTotal = 0;
  for (const studyUid of studyUids) {
    const rows = await app.db.query<{ orthanc_id: string | null }>(
      `SELECT i.orthanc_id FROM instances i JOIN series se ON se.series_uid = i.series_uid
        WHERE i.study_uid = $1 ORDER BY se.series_number NULLS LAST, se.series_uid, i.instance_number NULLS LAST, i.sop_instance_uid`,
      [studyUid],
    );
    const newStudy = uids.map(studyUid);
    const refused = new Map<string, number>();
    let count = 0;
    for (const r of rows) {
      if (uploadError) throw uploadError;
      if (!r.orthanc_id) {
        refused.set('not-in-archive', (refused.get('not-in-archive') ?? 0) + 1);
        continue;
      }
      const res = await app.orthanc.request('GET', `/instances/${r.orthanc_id}/file`);
      const bytes = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200) {
        refused.set('not-in-archive', (refused.get('not-in-archive') ?? 0) + 1);
        continue;
      }
      const out = deidentify(bytes, { uids });
      if (!out.ok) {
        refused.set(out.reason, (refused.get(out.reason) ?? 0) + 1);
        continue;
      }
      zip.addBuffer(out.bytes, `${out.studyUid}/${out.seriesUid}/${out.sopInstanceUid}.dcm`);
      if (out.flag) manifest.flagged.push({ sopInstanceUid: out.sopInstanceUid, reason: out.flag });
      count++;
    }
    instances += count;
    manifest.studies.push({ studyUid: newStudy, instances: count });
    for (const [reason, n] of refused) {
      manifest.refused.push({ studyUid: newStudy, reason, count: n });
      refusedTotal += n;
    }
  }
  zip.addBuffer(Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), 'manifest.json');
  zip.end();
  const sizeBytes = await upload;
  return { instances, refused: refusedTotal, flagged: manifest.flagged.length, sizeBytes };
}
