/**
 * Window/level presets (width, centre in modality units: HU for CT) and the MR "auto" window.
 * Pure data and arithmetic, table-tested in tests/unit/viewer-presets.test.ts. The CT values
 * are the usual reading-room ones (brain, lung, mediastinum, abdomen, liver, bone).
 */

export interface WindowPreset {
  id: 'ct-brain' | 'ct-lung' | 'ct-mediastinum' | 'ct-abdomen' | 'ct-liver' | 'ct-bone';
  /** Translation key in the `imaging` namespace. */
  i18nKey: string;
  width: number;
  center: number;
  /** Keyboard digit that applies it. */
  key: string;
}

export const CT_PRESETS: readonly WindowPreset[] = [
  { id: 'ct-brain', i18nKey: 'preset.brain', width: 80, center: 40, key: '1' },
  { id: 'ct-lung', i18nKey: 'preset.lung', width: 1500, center: -600, key: '2' },
  { id: 'ct-mediastinum', i18nKey: 'preset.mediastinum', width: 350, center: 50, key: '3' },
  { id: 'ct-abdomen', i18nKey: 'preset.abdomen', width: 400, center: 40, key: '4' },
  { id: 'ct-liver', i18nKey: 'preset.liver', width: 150, center: 30, key: '5' },
  { id: 'ct-bone', i18nKey: 'preset.bone', width: 1800, center: 400, key: '6' },
];

export interface VoiRange {
  lower: number;
  upper: number;
}

/**
 * MR has no absolute scale, so "auto" windows the displayed slice on its own histogram: from the
 * 1st to the 99.5th percentile of the non-background pixels (background = the lowest 2% of the
 * value range, which an MR slice's air occupies). Robust to a few hot pixels, unlike min/max.
 */
export function autoWindow(pixels: ArrayLike<number>): VoiRange {
  const n = pixels.length;
  if (n === 0) return { lower: 0, upper: 1 };
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = pixels[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(max > min)) return { lower: min - 0.5, upper: min + 0.5 };
  const bins = 1024;
  const hist = new Uint32Array(bins);
  const scale = (bins - 1) / (max - min);
  const floor = min + (max - min) * 0.02;
  let counted = 0;
  for (let i = 0; i < n; i++) {
    const v = pixels[i]!;
    if (v <= floor) continue;
    hist[Math.round((v - min) * scale)]!++;
    counted++;
  }
  if (counted === 0) return { lower: min, upper: max };
  const at = (q: number) => {
    const target = q * counted;
    let acc = 0;
    for (let b = 0; b < bins; b++) {
      acc += hist[b]!;
      if (acc >= target) return min + b / scale;
    }
    return max;
  };
  const lower = at(0.01);
  const upper = at(0.995);
  return upper > lower ? { lower, upper } : { lower: min, upper: max };
}
