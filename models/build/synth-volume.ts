/**
 * A synthetic study's series as the engine sees it: Part 10 files → decodeImage → buildVolume
 * (the production path), plus the generator's lesion label mask mapped onto that volume's grid
 * (the generator indexes slices in instance order, the volume along the slice normal).
 */

import { patientToVoxel } from '../../scripts/demo/synth/geometry.js';
import type { SynthStudy } from '../../scripts/demo/synth/study.js';
import type { SeriesKind } from '../../scripts/demo/synth/tissues.js';
import { decodeImage } from '../../workers/src/ai/decode-dicom.js';
import {
  buildVolume,
  type Volume,
  patientToVoxel as volumeIndex,
  voxelToPatient,
} from '../../workers/src/ai/volume.js';

export interface SynthVolume {
  volume: Volume;
  /** Lesion labels (ground-truth label = index + 1) on the volume's grid. */
  labels: Uint8Array;
}

export function synthSeriesVolume(study: SynthStudy, kind: SeriesKind): SynthVolume {
  const series = study.series.find((s) => s.kind === kind);
  if (!series) throw new Error(`study has no ${kind} series`);
  if (!study.lesionMask) throw new Error('generate the study with withMask: true');
  const volume = buildVolume(series.instances.map((b) => decodeImage(b).slice));
  const g = study.groundTruth.geometry;
  const [D, H, W] = volume.dims;
  if (H !== g.rows || W !== g.cols) throw new Error('volume and ground truth grids differ in-plane');
  const labels = new Uint8Array(D * H * W);
  const plane = H * W;
  for (let k = 0; k < D; k++) {
    const p = voxelToPatient(volume, k, 0, 0);
    const kg = Math.round(patientToVoxel(g, p[0], p[1], p[2])[2]);
    labels.set(study.lesionMask.subarray(kg * plane, (kg + 1) * plane), k * plane);
  }
  return { volume, labels };
}

export { volumeIndex };
