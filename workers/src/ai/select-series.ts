/**
 * Series selection rules as data (MONAI Deploy's selector idea): a series is processed by a
 * model when it matches any of the manifest's rules. Returns the reasons a series was not
 * selected, so "why did the AI not run on this?" has an answer.
 */
import type { SeriesRule } from '../../../contracts/model-manifest.js';

export interface SeriesFacts {
  modality: string;
  bodyPartExamined: string | undefined;
  seriesDescription: string;
  sliceThickness: number | undefined;
  imageCount: number;
}

function ruleProblems(f: SeriesFacts, r: SeriesRule): string[] {
  const out: string[] = [];
  if (f.modality.toUpperCase() !== r.modality.toUpperCase())
    out.push(`modality ${f.modality} is not ${r.modality}`);
  if (r.bodyPartExamined && f.bodyPartExamined !== undefined) {
    const bp = f.bodyPartExamined.toUpperCase();
    if (!r.bodyPartExamined.some((b) => b.toUpperCase() === bp))
      out.push(`body part ${f.bodyPartExamined} is not one of ${r.bodyPartExamined.join(', ')}`);
  }
  if (r.seriesDescription && !new RegExp(r.seriesDescription, 'i').test(f.seriesDescription))
    out.push(`series description does not match /${r.seriesDescription}/i`);
  if (r.excludeSeriesDescription && new RegExp(r.excludeSeriesDescription, 'i').test(f.seriesDescription))
    out.push(`series description matches the excluded /${r.excludeSeriesDescription}/i`);
  if (r.sliceThicknessMm) {
    const t = f.sliceThickness;
    if (t === undefined) out.push('slice thickness unknown');
    else if (t < r.sliceThicknessMm.min || t > r.sliceThicknessMm.max)
      out.push(`slice thickness ${t} mm outside ${r.sliceThicknessMm.min}–${r.sliceThicknessMm.max} mm`);
  }
  if (r.minSlices !== undefined && f.imageCount < r.minSlices)
    out.push(`${f.imageCount} images, fewer than ${r.minSlices}`);
  return out;
}

export function selectSeries(
  f: SeriesFacts,
  rules: readonly SeriesRule[],
): { selected: boolean; reasons: string[] } {
  const reasons: string[] = [];
  for (const [n, r] of rules.entries()) {
    const p = ruleProblems(f, r);
    if (p.length === 0) return { selected: true, reasons: [] };
    reasons.push(`rule ${n + 1}: ${p.join('; ')}`);
  }
  return { selected: false, reasons };
}
