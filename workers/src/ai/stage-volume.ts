/**
 * Stage 2, build the volume: every image of the series from Orthanc (compressed transfer
 * syntaxes decoded by Orthanc, load-series.ts), stacked with its geometry (volume.ts refuses
 * gantry tilt, mixed orientations, uneven spacing… with the reason — a permanent failure).
 * Leaves the voxels and the geometry, with the source SOP Instance UIDs in slice order, in the
 * work store.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import {
  decodeFiles,
  type LoadedSeries,
  loadSeriesFromOrthanc,
  type OrthancAccess,
  SeriesLoadError,
} from './load-series.js';
import { advance, previousState, type RunState, type StageJob, WORK } from './stage-common.js';
import { buildVolume, cross, dot, type Geometry, type Vec3, VolumeError } from './volume.js';
import { encodeFloats } from './volume-codec.js';
import type { WorkStore } from './work-store.js';

export interface VolumeMeta {
  geometry: Geometry;
  /** Source SOP Instance UIDs in slice order k. */
  sourceSops: string[];
  /** Orthanc id of one source image (its header gives the SEG/SR patient and study modules). */
  headerOrthancId: string | null;
  sopClassUid: string;
  frameOfReferenceUid: string;
  modality: string;
}

/** Slice indices in the order buildVolume stacks them (increasing position along the normal). */
export function sliceOrder(series: LoadedSeries): number[] {
  const o = series.slices[0]!.orientation;
  const normal = cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
  const key = series.slices.map((s) => dot(s.position as Vec3, normal));
  return key.map((_, n) => n).sort((a, b) => key[a]! - key[b]!);
}

export interface VolumeDeps {
  orthanc: OrthancAccess;
  work: WorkStore;
}

export async function volumeStage(job: StageJob, deps: VolumeDeps): Promise<RunState> {
  const started = Date.now();
  const prev = await previousState(job);
  if (!prev.selected) return advance(job, 'volume', prev, started);
  const d = job.data;
  await job.updateProgress({ stage: 'volume', percent: 10 });
  let series: LoadedSeries;
  try {
    if (d.sourceDir) {
      const dir = d.sourceDir;
      series = decodeFiles(
        readdirSync(dir)
          .filter((f) => !f.startsWith('.'))
          .sort()
          .map((f) => new Uint8Array(readFileSync(join(dir, f)))),
      );
    } else series = await loadSeriesFromOrthanc(deps.orthanc, d.seriesUid, 8);
  } catch (err) {
    if (err instanceof SeriesLoadError && !err.transient)
      throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  }
  let volume: ReturnType<typeof buildVolume>;
  try {
    volume = buildVolume(series.slices);
  } catch (err) {
    if (err instanceof VolumeError) throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  }
  const order = sliceOrder(series);
  const { data, ...geometry } = volume;
  const meta: VolumeMeta = {
    geometry,
    sourceSops: order.map((n) => series.sopInstanceUids[n]!),
    headerOrthancId: series.orthancIds[order[0]!] ?? null,
    sopClassUid: series.attributes.sopClassUid,
    frameOfReferenceUid: series.attributes.frameOfReferenceUid,
    modality: series.attributes.modality,
  };
  await deps.work.putBytes(deps.work.key(d.runId, d.attempt, WORK.volume), encodeFloats(data));
  await deps.work.putJson(deps.work.key(d.runId, d.attempt, WORK.volumeMeta), meta);
  await job.updateProgress({ stage: 'volume', percent: 25 });
  return advance(job, 'volume', prev, started);
}
