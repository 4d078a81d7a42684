/**
 * The gateway's early look at a model's series rules, when a series' first instance is indexed:
 * modality, body part and series description are known then; the image count and slice
 * thickness are not, so the flow's first stage applies the full rules (workers'
 * select-series.ts) and a run whose series fails them ends as "skipped" with the reasons.
 * Same semantics as the workers' rules for the attributes checked here.
 */
import type { SeriesRule } from '../../../contracts/model-manifest.js';

export interface EarlySeriesFacts {
  modality: string | null;
  bodyPartExamined: string | null;
  seriesDescription: string | null;
}

export function mayMatch(f: EarlySeriesFacts, rules: readonly SeriesRule[]): boolean {
  return rules.some((r) => {
    if ((f.modality ?? '').toUpperCase() !== r.modality.toUpperCase()) return false;
    if (r.bodyPartExamined && f.bodyPartExamined) {
      const bp = f.bodyPartExamined.toUpperCase();
      if (!r.bodyPartExamined.some((b) => b.toUpperCase() === bp)) return false;
    }
    const desc = f.seriesDescription ?? '';
    if (r.seriesDescription && !new RegExp(r.seriesDescription, 'i').test(desc)) return false;
    if (r.excludeSeriesDescription && new RegExp(r.excludeSeriesDescription, 'i').test(desc)) return false;
    return true;
  });
}
