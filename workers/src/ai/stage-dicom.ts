/**
 * Stage 5, write the DICOM outputs: the SEG (one segment per finding; none when nothing was
 * found) and the TID 1500 SR, with UIDs derived from (series, model, version) so a repeated run
 * writes the very same objects. The patient and study modules come from a source image's
 * header, read here from Orthanc and never put in a job payload.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { readDataset } from './dcmjs.js';
import type { OrthancAccess } from './load-series.js';
import type { ModelSource } from './model-source.js';
import type { OutputContext } from './output-context.js';
import type { Finding } from './postprocess.js';
import { writeSeg } from './seg-writer.js';
import { writeSr } from './sr-writer.js';
import { advance, previousState, type RunState, type StageJob, WORK } from './stage-common.js';
import type { VolumeMeta } from './stage-volume.js';
import { runOutputUids } from './uids.js';
import { decodeLabels } from './volume-codec.js';
import type { WorkStore } from './work-store.js';

export interface DicomDeps {
  orthanc: OrthancAccess;
  work: WorkStore;
  models: ModelSource;
}

async function sourceFile(deps: DicomDeps, meta: VolumeMeta, sourceDir?: string): Promise<Uint8Array> {
  if (sourceDir) {
    const first = readdirSync(sourceDir)
      .filter((f) => !f.startsWith('.'))
      .sort()[0];
    if (!first) throw new UnrecoverableError('the source directory is empty');
    return new Uint8Array(readFileSync(join(sourceDir, first)));
  }
  if (!meta.headerOrthancId)
    throw new UnrecoverableError('no source image to copy the study attributes from');
  const auth = Buffer.from(`${deps.orthanc.username}:${deps.orthanc.password}`).toString('base64');
  const res = await fetch(`${deps.orthanc.url}/instances/${meta.headerOrthancId}/file`, {
    headers: { authorization: `Basic ${auth}` },
  });
  if (res.status === 404) throw new UnrecoverableError('the source image is no longer in Orthanc');
  if (!res.ok) throw new Error(`Orthanc answered ${res.status} for a source image`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function dicomStage(job: StageJob, deps: DicomDeps): Promise<RunState> {
  const started = Date.now();
  const prev = await previousState(job);
  if (!prev.selected || job.data.shadow) return advance(job, 'dicom', prev, started, { dicomWritten: false });
  const d = job.data;
  const w = deps.work;
  const manifest = await deps.models.manifest(d.modelId, d.modelVersion, d.modelSha256);
  const meta = await w.getJson<VolumeMeta>(w.key(d.runId, d.attempt, WORK.volumeMeta));
  const { findings, alert } = await w.getJson<{ findings: Finding[]; alert: { reason: string } }>(
    w.key(d.runId, d.attempt, WORK.findings),
  );
  const source = readDataset(await sourceFile(deps, meta, d.sourceDir));
  const ctx: OutputContext = {
    manifest,
    source,
    sourceSops: meta.sourceSops,
    sopClassUid: meta.sopClassUid,
    seriesUid: d.seriesUid,
    frameOfReferenceUid: meta.frameOfReferenceUid,
    geometry: meta.geometry,
    uids: runOutputUids(d.seriesUid, d.modelId, d.modelVersion),
    at: new Date(),
  };
  const segWritten = findings.length > 0;
  if (segWritten) {
    const labels = decodeLabels(await w.getBytes(w.key(d.runId, d.attempt, WORK.labels)));
    await w.putBytes(w.key(d.runId, d.attempt, WORK.seg), writeSeg(ctx, findings, labels));
  }
  await w.putBytes(
    w.key(d.runId, d.attempt, WORK.sr),
    writeSr(ctx, findings, { segWritten, alertReason: alert.reason }),
  );
  await job.updateProgress({ stage: 'dicom', percent: 88 });
  return advance(job, 'dicom', prev, started, { segWritten, dicomWritten: true });
}
